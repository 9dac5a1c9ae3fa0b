"""The intake pipeline: every channel's reports come through :meth:`Pipeline.accept`.

Order of work for one report: validate → seal identity and handles → store attachments → one
transaction (idempotency on (channel, external id), case number, report row, vault entries,
first audit event, follow-up jobs) → only then the :class:`Receipt`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from intake import given_identity, receipts
from intake.clock import Clock, china_year
from intake.domain import (
    CHANNELS,
    STATUS_LABELS,
    CaseStatus,
    ImportedCase,
    Receipt,
    Reply,
    Submission,
    normalise_query_code,
)
from intake.errors import Conflict, NotFound, RateLimited, ValidationError
from intake.filing_redaction import Redacted, redact_submission, redact_texts
from intake.jurisdiction import Jurisdiction
from intake.limits import FIELD_LABELS, FIELD_LIMITS, MAX_CONTENT, MAX_EXTERNAL_ID
from intake.metrics import Metrics
from intake.ratelimit import bucket, clock_seconds
from intake.text import check_text
from intake.timeline import case_timeline, level_of
from intake.vault_service import identifiers_of, informant_alias
from storage import keys, vault
from storage.conversations import ConversationStore
from storage.database import Database
from storage.errors import DatabaseUnavailable
from storage.keys import Keyring
from storage.records import AcceptResult, NewReport, StoredBlob

log = logging.getLogger("intake.pipeline")


# Identifiers the in-text redaction finds that are indexed as the informant's own.
INDEXED_IN_TEXT = frozenset({"id_number", "mobile", "landline", "email"})


def new_query_code() -> str:
    """16 random decimal digits (≈53 bits), from the OS's CSPRNG: one uniform draw below 10¹⁶,
    the same distribution as 16 independent digits at a thirtieth of the cost."""
    return f"{secrets.randbelow(10**16):016d}"


class Pipeline:
    def __init__(
        self,
        db: Database,
        jurisdiction: Jurisdiction,
        clock: Clock,
        metrics: Metrics,
        *,
        status_attempts_per_minute: int = 10,
        reports_per_informant_per_hour: int = 30,
        receipt_window: timedelta = timedelta(hours=24),
    ) -> None:
        self._db = db  # private: what the engines above need is offered below
        self.jurisdiction = jurisdiction
        self.clock = clock
        self.metrics = metrics
        self._keys = db.keyring
        self._receipt_window = receipt_window
        # Signs every receipt with the deployment's Ed25519 key (derived from the keyring).
        self.receipts = receipts.ReceiptBook(db.keyring)
        self._divisions = frozenset(jurisdiction.divisions())
        # The units that take reports: the receiving unit and every unit below it, intake points
        # (villages) included. The chain above it is in the file for routing only.
        self.receiving_units = jurisdiction.subtree(jurisdiction.receiving_unit)
        seconds = clock_seconds(clock)  # the service clock: tests step it instead of sleeping
        # Every budget is counted across the workers of a PostgreSQL deployment (issue 21).
        self.shared_limits = db.shared_limits
        per_minute = status_attempts_per_minute
        self._per_client = bucket(db.shared_limits, "status", per_minute, max(1, per_minute), seconds)
        # Across all clients: bounds distributed guessing of query codes.
        self._global_misses = bucket(db.shared_limits, "status-misses", 6000, 600, seconds)
        # Per informant, keyed by the blind index of their strongest identifier: one person (or
        # one phone number) cannot flood the offices, and nobody has to decrypt anything to tell.
        per_hour = reports_per_informant_per_hour
        self._per_informant = bucket(db.shared_limits, "informant", per_hour / 60, max(1, per_hour), seconds)

    # --- what the dialogue engines share with the pipeline ------------------------------------

    @property
    def conversations(self) -> ConversationStore:
        """The platform dialogues' state (drafts sealed), for :mod:`intake.conversations`."""
        return self._db.conversations

    @property
    def keyring(self) -> Keyring:
        """The key material the dialogue engines key their conversations by (blind indexes)."""
        return self._keys

    async def attach(
        self, case_no: str, filename: str, content_type: str, data: bytes, actor: str
    ) -> uuid.UUID:
        """Store a file that arrived after its report (encrypted) as an attachment of the case;
        LookupError when there is no such case."""
        report = await self._db.reports.get(case_no)
        if report is None:
            raise LookupError("no such case")
        blob = await asyncio.to_thread(self._db.blobs.put, filename, content_type, data)
        try:
            await self._db.conversations.add_attachment(report.id, blob, self.clock.now(), actor)
        except BaseException:
            self._db.blobs.discard([blob])
            raise
        return blob.id

    # --- filing -------------------------------------------------------------------------------

    async def accept(self, sub: Submission, *, imported: ImportedCase | None = None) -> Receipt:
        """File one report. ``imported``: a historical case from an office's records, filed on its
        own date and status under its import key, with no receipt kept, no per-informant limit
        (one person may have written many times over the years) and no triage job (the import
        triages its cases itself, in bulk)."""
        self._validate(sub)
        if imported is not None and sub.external_id is not None:
            raise ValueError("an imported case is keyed by its import key")  # a programming error
        now = imported.received_at if imported else self.clock.now()
        report_id = uuid.uuid4()
        code = new_query_code()
        anonymous = sub.anonymous or sub.reporter.is_empty()
        clean = await redact_submission(sub, anonymous)
        secrets_ = await self._seal_submission(sub, report_id, anonymous, clean)
        if not imported:
            await self._limit_informant(sub, secrets_.indexes)
        fingerprint = receipt = None
        if sub.external_id is not None:
            fingerprint = self._keys.mac("request-fingerprint", self._canonical(sub))
            receipt = self._seal_receipt(sub, fingerprint, code)
        blobs: list[StoredBlob] = []
        if clean.evidence:
            blobs = await asyncio.to_thread(
                lambda: [self._db.blobs.put(a.filename, a.content_type, a.data) for a in clean.evidence]
            )
        new = NewReport(
            id=report_id,
            channel=sub.channel,
            request_fingerprint=fingerprint,
            query_hash=self._query_hash(code),
            receipt_sealed=receipt,
            receiving_unit=sub.receiving_unit or self.jurisdiction.receiving_unit,
            handling_unit=None,
            title=clean.title,
            content=clean.content,
            category=sub.category,
            accused_name=sub.accused.name,
            accused_unit=sub.accused.unit,
            accused_position=sub.accused.position,
            location_code=sub.location.division_code,
            location_text=sub.location.text,
            anonymous=anonymous,
            informant_alias=informant_alias(self._keys, secrets_.indexes, report_id),
            blind_indexes=secrets_.indexes,
            redaction_terms=secrets_.redaction_terms,
            received_at=now,
            case_year=china_year(now),
            sealed=secrets_.entries,
            attachments=blobs,
            event_payload={
                "channel": sub.channel,
                "anonymous": anonymous,
                "attachments": len(blobs),
                "sealed": [s.kind for s in secrets_.entries],
                "redacted": len(clean.found),
                **({"imported": True} if imported else {}),
            },
            jobs=self._filing_jobs(now, imported, receipt),
            **self._filing_origin(sub, imported),
        )
        result = await self._store_report(new, blobs)
        answer = self._receipt_of(sub, result, code, fingerprint, imported)
        if imported is not None:
            return answer  # nobody is given a receipt for a case of the old records
        # The signed receipt (受理回执): the same for a retry, which files nothing new (the same
        # text, unit and first receipt time give the same deterministic Ed25519 signature).
        digest = receipts.report_sha256(clean.title, clean.content)
        signed = self.receipts.sign(answer.case_no, new.receiving_unit, answer.received_at, digest)
        return replace(answer, signed=signed)

    async def _seal_submission(
        self, sub: Submission, report_id: uuid.UUID, anonymous: bool, clean: Redacted
    ) -> vault.SealedSubmission:
        """Everything identifying, sealed for the vault in one storage call. Blind indexes of the
        informant's identifiers recognise the same person across reports and channels without
        decrypting anything; what the redaction found in the text counts only for the kinds that
        identify on their own (not names, addresses or cards)."""
        seal = partial(
            vault.seal_submission,
            self._keys,
            report_id,
            identity=None if anonymous else dict(vars(sub.reporter)),
            handles=dict(sub.handles),
            proofs=[vault.ProofFile(a.filename, a.content_type, a.data) for a in clean.proofs],
            in_text=clean.found,
            identifiers=identifiers_of(
                sub,
                anonymous=anonymous,
                extra=[(f["kind"], f["text"]) for f in clean.found if f["kind"] in INDEXED_IN_TEXT],
            ),
            given=clean.given,
        )
        return await asyncio.to_thread(seal) if clean.proofs else seal()

    async def _limit_informant(self, sub: Submission, indexes: list[vault.BlindIndex]) -> None:
        """The per-informant rate, keyed by the strongest identifier's blind index."""
        if indexes and (wait := await self._per_informant.take(indexes[0].mac)) > 0:
            self.metrics.reports_throttled.labels(sub.channel).inc()
            raise RateLimited("您提交得过于频繁，请稍后再试。", retry_after=max(1, round(wait)))

    def _filing_jobs(
        self, now: datetime, imported: ImportedCase | None, receipt: bytes | None
    ) -> list[tuple[str, dict[str, Any], datetime]]:
        # Triage runs right after the acknowledgement, from the durable queue.
        jobs: list[tuple[str, dict[str, Any], datetime]] = [] if imported else [("triage", {}, now)]
        if receipt:
            jobs.append(("expire_receipt", {}, now + self._receipt_window))
        return jobs

    @staticmethod
    def _filing_origin(sub: Submission, imported: ImportedCase | None) -> dict[str, Any]:
        """The fields a historical case takes from its old records, and a new report's defaults."""
        if imported is None:
            return {"external_id": sub.external_id, "status": "received", "actor": None, "history": []}
        return {
            "external_id": imported.key,
            "status": imported.status,
            "actor": imported.actor,
            "history": [(kind, at, dict(payload)) for kind, at, payload in imported.history],
        }

    async def _store_report(self, new: NewReport, blobs: list[StoredBlob]) -> AcceptResult:
        try:
            result = await self._db.reports.accept(new)
        except DatabaseUnavailable:
            # The commit may have gone through before the connection was lost: the attachments
            # stay (a retry with the same key finds the report; unused blobs only take space).
            raise
        except BaseException:
            self._db.blobs.discard(blobs)
            raise
        if not result.created:
            self._db.blobs.discard(blobs)
        return result

    def _receipt_of(
        self,
        sub: Submission,
        result: AcceptResult,
        code: str,
        fingerprint: str | None,
        imported: ImportedCase | None,
    ) -> Receipt:
        if not result.created:
            self.metrics.reports_duplicate.labels(sub.channel).inc()
            if imported is not None:
                return Receipt(result.case_no, None, sub.channel, result.status, result.received_at, False)
            if result.request_fingerprint != fingerprint:
                raise Conflict("这个幂等键已用于另一份不同内容的举报。", code="idempotency_key_reused")
            code_again = self._open_receipt(sub, fingerprint, result.receipt_sealed)
            log.info("report retried", extra={"case_no": result.case_no, "channel": sub.channel})
            return Receipt(result.case_no, code_again, sub.channel, result.status, result.received_at, False)
        self.metrics.reports_accepted.labels(sub.channel).inc()
        if imported is not None:
            # No query code: nobody was ever given one for a case filed in the old system.
            log.debug("case imported", extra={"case_no": result.case_no, "channel": sub.channel})
            return Receipt(result.case_no, None, sub.channel, result.status, result.received_at, True)
        log.info("report accepted", extra={"case_no": result.case_no, "channel": sub.channel})
        return Receipt(result.case_no, code, sub.channel, result.status, result.received_at, True)

    def _validate(self, sub: Submission) -> None:
        if sub.channel not in CHANNELS:
            raise ValueError(f"unknown channel tag {sub.channel!r}")  # a programming error, not input
        if not sub.content or not sub.content.strip():
            raise ValidationError("请填写举报内容。", code="content_required")
        if len(sub.content) > MAX_CONTENT:
            raise ValidationError(f"举报内容不能超过 {MAX_CONTENT} 字。", code="content_too_long")
        values = {
            "title": sub.title,
            "category": sub.category,
            "accused.name": sub.accused.name,
            "accused.unit": sub.accused.unit,
            "accused.position": sub.accused.position,
            "location.text": sub.location.text,
            "reporter.name": sub.reporter.name,
            "reporter.id_number": sub.reporter.id_number,
            "reporter.phone": sub.reporter.phone,
            "reporter.address": sub.reporter.address,
        }
        for name, value in values.items():
            if value is not None and len(value) > FIELD_LIMITS[name]:
                raise ValidationError(
                    f"{FIELD_LABELS[name]}不能超过 {FIELD_LIMITS[name]} 字。", code="field_too_long"
                )
        # The edge refuses or strips these already; this is the last line for any path that did not.
        check_text(
            sub.content,
            *values.values(),
            sub.location.division_code,
            sub.external_id,
            *(a.filename for a in sub.attachments),
        )
        code = sub.location.division_code
        if code is not None and not (code.isascii() and code.isdigit() and 2 <= len(code) <= 12):
            raise ValidationError("发生地点的行政区划代码应为 2 至 12 位数字。", code="invalid_division_code")
        if code is not None and code not in self._divisions:
            # Every channel's location is a place of this jurisdiction: triage and the staff's
            # views read it as one (an unknown code routed nowhere and was shown as is).
            raise ValidationError("发生地点的行政区划代码不在本辖区内。", code="unknown_division")
        self.check_unit(sub.receiving_unit)
        if sub.external_id is not None and not (1 <= len(sub.external_id) <= MAX_EXTERNAL_ID):
            raise ValidationError(
                f"幂等键长度应为 1 至 {MAX_EXTERNAL_ID} 个字符。", code="invalid_idempotency_key"
            )

    def check_unit(self, code: str | None) -> None:
        """A receiving unit named by an entry point: one of this platform's units, or a 4xx."""
        if code is None or code in self.receiving_units:
            return
        if not (code.isascii() and code.isdigit() and 2 <= len(code) <= 12):
            raise ValidationError("受理单位代码应为 2 至 12 位数字。", code="invalid_unit")
        raise ValidationError("本平台没有这个单位。", code="unknown_unit")

    @staticmethod
    def _canonical(sub: Submission) -> bytes:
        # The handles are left out: a retry may come from another address. (Built by hand rather
        # than with dataclasses.asdict, which would deep-copy every attachment's bytes.)
        doc = {
            "channel": sub.channel,
            "content": sub.content,
            "title": sub.title,
            "category": sub.category,
            "accused": vars(sub.accused),
            "location": vars(sub.location),
            "reporter": vars(sub.reporter),
            "anonymous": sub.anonymous,
            "external_id": sub.external_id,
            **({"receiving_unit": sub.receiving_unit} if sub.receiving_unit else {}),
            "attachments": [{"filename": a.filename, "size": len(a.data)} for a in sub.attachments],
        }
        return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()

    @staticmethod
    def _receipt_binding(sub: Submission, fingerprint: str) -> str:
        # Only a retry carrying the same key *and* the same content can recover the query code.
        return f"{sub.channel}/{sub.external_id}/{fingerprint}"

    def _seal_receipt(self, sub: Submission, fingerprint: str, code: str) -> bytes:
        return keys.seal_receipt(self._keys, self._receipt_binding(sub, fingerprint), code)

    def _open_receipt(self, sub: Submission, fingerprint: str | None, sealed: bytes | None) -> str | None:
        if sealed is None or fingerprint is None:
            return None
        return keys.open_receipt(self._keys, self._receipt_binding(sub, fingerprint), sealed)

    def mac(self, purpose: str, data: bytes) -> str:
        """A keyed hash for channels (rate-limit keys, form tokens) without handing out key material."""
        return self._keys.mac(purpose, data)

    def _query_hash(self, code: str) -> str:
        return self._keys.mac("query-code", code.encode())

    # --- following a case ---------------------------------------------------------------------

    async def _throttle(self, client_key: str) -> None:
        wait = await self._per_client.take(client_key)
        if wait:
            self.metrics.status_lookups.labels("throttled").inc()
            raise RateLimited("查询过于频繁，请稍后再试。", retry_after=max(1, round(wait)))

    async def _miss(self) -> NotFound:
        self.metrics.status_lookups.labels("miss").inc()
        if await self._global_misses.take("*"):
            log.warning("query-code misses above the global limit")
        return NotFound("查询码无效，或没有对应的举报。", code="not_found")

    async def status(self, raw_code: str, client_key: str) -> CaseStatus:
        await self._throttle(client_key)
        code = normalise_query_code(raw_code)
        record = await self._db.reports.status_by_query_hash(self._query_hash(code)) if code else None
        if record is None:
            raise await self._miss()
        self.metrics.status_lookups.labels("hit").inc()
        replies = [Reply(m.at, m.body) for m in record.messages if m.direction == "out"]
        followups = sum(1 for m in record.messages if m.direction == "in")
        levels = {u.code: u.level for u in self.jurisdiction.units}
        steps = case_timeline(await self._db.reports.events(record.report_id), level_of(levels))
        return CaseStatus(
            record.case_no,
            record.channel,
            record.status,
            STATUS_LABELS.get(record.status, record.status),
            record.received_at,
            record.updated_at,
            replies,
            followups,
            tuple(steps),
        )

    async def add_followup(self, raw_code: str, content: str, channel: str, client_key: str) -> str:
        """The informant adds information to their case. Returns the case number."""
        await self._throttle(client_key)
        if not content or not content.strip():
            raise ValidationError("请填写补充内容。", code="content_required")
        if len(content) > MAX_CONTENT:
            raise ValidationError(f"补充内容不能超过 {MAX_CONTENT} 字。", code="content_too_long")
        check_text(content)
        code = normalise_query_code(raw_code)
        record = await self._db.reports.status_by_query_hash(self._query_hash(code)) if code else None
        if record is None:
            raise await self._miss()
        clean, found = await self._redact_informant_text(record.report_id, record.accused_name, content)
        # The informant's own details written into a follow-up are sealed like the report's.
        sealed = vault.seal(self._keys, record.report_id, "in_text", {"found": found}) if found else None
        await self._db.reports.add_message(
            record.report_id,
            "in",
            channel,
            clean,
            self.clock.now(),
            actor=f"channel:{channel}",
            sealed=sealed,
        )
        self.metrics.followups.labels(channel).inc()
        log.info("follow-up added", extra={"case_no": record.case_no, "channel": channel})
        return record.case_no

    async def _redact_informant_text(
        self, report_id: uuid.UUID, accused_name: str | None, text: str
    ) -> tuple[str, list[dict[str, str]]]:
        """A text the informant sent after filing, redacted of their own details (the patterns,
        and the values they gave at filing by the keyed hashes stored then: the vault is not
        opened for this), and what was found."""
        stored = await self._db.reports.redaction_terms(report_id)
        terms = None
        if stored:
            hashers = {
                alg: vault.redaction_term_hasher(self._keys, alg, report_id)
                for alg in {t.alg for t in stored}
            }
            terms = given_identity.HashedTerms(stored, hashers)
        clean, found = await redact_texts(terms, accused_name, text)
        return clean, found

    async def scrub(self, report_id: uuid.UUID, accused_name: str | None, text: str) -> str:
        """An informant's comment or reason (a rating, a review request), redacted like a
        follow-up; the details found are dropped, not kept (nobody needs them back)."""
        clean, _found = await self._redact_informant_text(report_id, accused_name, text)
        return str(clean)
