"""Repositories: intent-named async methods over the tables, returning plain records.

Writes go through the database's group-commit writer; each write method is one named step inside
the writer's transaction (``*_txn``). Reads use the read pool.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import models
from storage.audit import GENESIS, event_hash, utc
from storage.db import Batch, one_of
from storage.records import (
    AcceptResult,
    CaseStatusRecord,
    EventRecord,
    JobRecord,
    MessageRecord,
    NewReport,
    ReportSummary,
    StoredBlob,
    UnitRecord,
)
from storage.redaction_terms import redaction_terms_of
from storage.vault import RedactionTerm, SealedEntry, pack_redaction_terms
from storage.vault_store import insert_blind_indexes_txn

if TYPE_CHECKING:
    from storage.database import Database

R = cast(sa.Table, models.Report.__table__)
M = cast(sa.Table, models.Message.__table__)
E = cast(sa.Table, models.ReportEvent.__table__)
J = cast(sa.Table, models.Job.__table__)
U = cast(sa.Table, models.Unit.__table__)
C = cast(sa.Table, models.CaseCounter.__table__)
A = cast(sa.Table, models.Attachment.__table__)
V = cast(sa.Table, models.VaultEntry.__table__)
HEAD = cast(sa.Table, models.AuditHead.__table__)


def format_case_no(year: int, unit_code: str, seq: int) -> str:
    return f"{year}-{unit_code}-{seq:06d}"


async def accept_reports_txn(batch: Batch, reports: Sequence[NewReport]) -> list[AcceptResult]:
    """File many reports in the writer's transaction: idempotency, case numbers, rows, events, jobs."""
    keys: set[tuple[str, str]] = {(r.channel, r.external_id) for r in reports if r.external_id is not None}
    existing = await _existing_txn(batch.conn, keys) if keys else {}
    results, fresh, first_in_batch = _sort_out_retries(reports, existing)
    case_numbers = await _allocate_case_numbers_txn(batch.conn, [reports[i] for i in fresh])
    for i, case_no in zip(fresh, case_numbers, strict=True):
        r = reports[i]
        results[i] = AcceptResult(r.id, case_no, r.status, r.received_at, True, r.request_fingerprint)
    await _insert_reports_txn(batch.conn, [(reports[i], c) for i, c in zip(fresh, case_numbers, strict=True)])
    # How many earlier reports share an identifier with each new one (a repeat reporter), counted
    # on the blind indexes before this batch's own are added.
    earlier = await insert_blind_indexes_txn(
        batch, [(reports[i].id, reports[i].received_at, reports[i].blind_indexes) for i in fresh]
    )
    for i, case_no in zip(fresh, case_numbers, strict=True):
        _record_received(batch, reports[i], case_no, earlier.get(reports[i].id))
    for i, r in enumerate(reports):
        if results[i] is None:  # a retry of a report earlier in this batch: its original's answer
            j = first_in_batch[(r.channel, r.external_id)]  # type: ignore[index]
            first = results[j]
            assert first is not None
            results[i] = replace(first, created=False, receipt_sealed=reports[j].receipt_sealed)
    return [r for r in results if r is not None]


async def _existing_txn(conn: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], AcceptResult]:
    """The reports already filed under these (channel, external id) pairs: retries."""
    columns = (
        R.c.id,
        R.c.case_no,
        R.c.status,
        R.c.received_at,
        R.c.channel,
        R.c.external_id,
        R.c.request_fingerprint,
        R.c.receipt_sealed,
    )
    if conn.dialect.name == "postgresql":
        # The (channel, external id) pairs as one table joined on the unique index: one
        # statement text whatever the batch size, and an index probe per pair.
        pairs = sorted(keys)
        k = (
            sa.func.unnest(
                sa.bindparam(None, [c for c, _ in pairs], type_=postgresql.ARRAY(sa.String)),
                sa.bindparam(None, [e for _, e in pairs], type_=postgresql.ARRAY(sa.String)),
            )
            .table_valued("channel", "external_id")
            .render_derived(name="k")
        )
        query = sa.select(*columns).join_from(
            R, k, sa.and_(R.c.channel == k.c.channel, R.c.external_id == k.c.external_id)
        )
    else:
        query = sa.select(*columns).where(sa.tuple_(R.c.channel, R.c.external_id).in_(sorted(keys)))
    existing: dict[tuple[str, str], AcceptResult] = {}
    for row in await conn.execute(query):
        if (row.channel, row.external_id) not in keys:
            continue
        existing[(row.channel, row.external_id)] = AcceptResult(
            row.id,
            row.case_no,
            row.status,
            utc(row.received_at),
            False,
            row.request_fingerprint,
            row.receipt_sealed,
        )
    return existing


def _sort_out_retries(
    reports: Sequence[NewReport], existing: dict[tuple[str, str], AcceptResult]
) -> tuple[list[AcceptResult | None], list[int], dict[tuple[str, str], int]]:
    """Each report's answer when it is a retry of a stored one; the indexes of the fresh ones; and
    for each key the first report of this batch that carries it (later ones are its retries)."""
    results: list[AcceptResult | None] = [None] * len(reports)
    fresh: list[int] = []
    first_in_batch: dict[tuple[str, str], int] = {}
    for i, r in enumerate(reports):
        key = (r.channel, r.external_id) if r.external_id is not None else None
        if key is not None and key in existing:
            results[i] = existing[key]
        elif key is not None and key in first_in_batch:
            continue  # a retry racing its original inside one batch: resolved at the end
        else:
            fresh.append(i)
            if key is not None:
                first_in_batch[key] = i
    return results, fresh, first_in_batch


def _report_row(r: NewReport, case_no: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "case_no": case_no,
        "query_hash": r.query_hash,
        "channel": r.channel,
        "external_id": r.external_id,
        "request_fingerprint": r.request_fingerprint,
        "receipt_sealed": r.receipt_sealed,
        "title": r.title,
        "content": r.content,
        "category": r.category,
        "accused_name": r.accused_name,
        "accused_unit": r.accused_unit,
        "accused_position": r.accused_position,
        "location_code": r.location_code,
        "location_text": r.location_text,
        "anonymous": r.anonymous,
        "informant_alias": r.informant_alias,
        "redaction_terms": pack_redaction_terms(r.redaction_terms),
        "receiving_unit": r.receiving_unit,
        "handling_unit": r.handling_unit,
        "status": r.status,
        "received_at": r.received_at,
        "updated_at": max([r.received_at, *(at for _, at, _ in r.history)]),
    }


def _blob_row(r: NewReport, b: StoredBlob) -> dict[str, Any]:
    return {
        "id": b.id,
        "report_id": r.id,
        "content_type": b.content_type,
        "size": b.size,
        "blob_path": b.blob_path,
        "created_at": r.received_at,
    }


async def _insert_reports_txn(conn: Any, filed: Sequence[tuple[NewReport, str]]) -> None:
    """The new reports' rows, their vault entries and their attachments."""
    report_rows = [_report_row(r, case_no) for r, case_no in filed]
    vault_rows = [_vault_row(s, r.received_at) for r, _ in filed for s in r.sealed]
    blob_rows = [_blob_row(r, b) for r, _ in filed for b in r.attachments]
    if report_rows:
        await conn.execute(sa.insert(R), report_rows)
    if vault_rows:
        await conn.execute(sa.insert(V), vault_rows)
    if blob_rows:
        await conn.execute(sa.insert(A), blob_rows)


def _record_received(batch: Batch, r: NewReport, case_no: str, repeat_reporter: int | None) -> None:
    """The report's ``received`` audit event and its jobs (triage first)."""
    payload = {"case_no": case_no, **r.event_payload}
    if repeat_reporter:
        payload["repeat_reporter"] = repeat_reporter
    actor = r.actor or f"channel:{r.channel}"
    batch.event(r.id, "received", actor, r.received_at, payload)
    for kind, at, event_payload in r.history:  # an imported case's old history
        batch.event(r.id, kind, actor, at, event_payload)
    for kind, job_payload, run_after in r.jobs:
        batch.job(kind, {"report_id": str(r.id), "case_no": case_no, **job_payload}, run_after, r.received_at)


def _vault_row(s: SealedEntry, at: datetime) -> dict[str, Any]:
    return {
        "id": s.id,
        "report_id": s.report_id,
        "kind": s.kind,
        "kek_version": s.kek_version,
        "wrapped_key": s.wrapped_key,
        "nonce": s.nonce,
        "ciphertext": s.ciphertext,
        "created_at": at,
    }


async def _allocate_case_numbers_txn(conn: Any, reports: Sequence[NewReport]) -> list[str]:
    """Hand out per-(year, receiving unit) sequence numbers; the counter rows serialise writers.

    One statement per counter: the ``UPDATE … RETURNING`` both takes the row lock and reserves
    the numbers; only a counter's first use inserts it (a rival inserting the same row at the same
    moment makes this batch fail on the key, and the writer retries it alone).
    """
    if not reports:
        return []
    needed = Counter((r.case_year, r.receiving_unit) for r in reports)
    last: dict[tuple[int, str], int] = {}
    for (year, unit), n in sorted(needed.items()):
        row = (
            await conn.execute(
                sa.update(C)
                .where(C.c.year == year, C.c.unit_code == unit)
                .values(last=C.c.last + n)
                .returning(C.c.last)
            )
        ).first()
        if row is None:
            await conn.execute(sa.insert(C).values(year=year, unit_code=unit, last=n))
            last[(year, unit)] = 0
        else:
            last[(year, unit)] = row.last - n
    out = []
    for r in reports:
        key = (r.case_year, r.receiving_unit)
        last[key] += 1
        out.append(format_case_no(r.case_year, r.receiving_unit, last[key]))
    return out


class ReportRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def accept(self, report: NewReport) -> AcceptResult:
        result: AcceptResult = await self._db.writer.submit(accept_reports_txn, report)
        return result

    async def status_by_query_hash(self, query_hash: str) -> CaseStatusRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        R.c.id,
                        R.c.case_no,
                        R.c.channel,
                        R.c.status,
                        R.c.received_at,
                        R.c.updated_at,
                        R.c.accused_name,
                    ).where(R.c.query_hash == query_hash)
                )
            ).first()
            if row is None:
                return None
            messages = await _messages(conn, row.id)
        return CaseStatusRecord(
            row.id,
            row.case_no,
            row.channel,
            row.status,
            utc(row.received_at),
            utc(row.updated_at),
            messages,
            row.accused_name,
        )

    async def redaction_terms(self, report_id: uuid.UUID) -> list[RedactionTerm]:
        """The keyed hashes of the identity values the informant gave (for redacting follow-ups)."""
        return await redaction_terms_of(self._db, report_id)

    async def add_message(
        self,
        report_id: uuid.UUID,
        direction: str,
        channel: str,
        body: str,
        at: datetime,
        actor: str,
        sealed: SealedEntry | None = None,
    ) -> None:
        async def add_message_txn(batch: Batch) -> None:
            if sealed is not None:
                await batch.conn.execute(sa.insert(V), [_vault_row(sealed, at)])
            await batch.conn.execute(
                sa.insert(M).values(
                    report_id=report_id, direction=direction, channel=channel, body=body, at=at
                )
            )
            await batch.conn.execute(sa.update(R).where(R.c.id == report_id).values(updated_at=at))
            kind = "followup_added" if direction == "in" else "reply_added"
            payload: dict[str, Any] = {"channel": channel, "chars": len(body)}
            if sealed is not None:
                payload["sealed"] = [sealed.kind]
            batch.event(report_id, kind, actor, at, payload)

        await self._db.writer.run(add_message_txn)

    async def recent(
        self, *, limit: int = 50, status: str | None = None, channel: str | None = None
    ) -> list[ReportSummary]:
        query = sa.select(R).order_by(R.c.received_at.desc(), R.c.case_no.desc()).limit(limit)
        if status:
            query = query.where(R.c.status == status)
        if channel:
            query = query.where(R.c.channel == channel)
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_summary(row) for row in rows]

    async def get(self, case_no: str) -> ReportSummary | None:
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(sa.select(R).where(R.c.case_no == case_no))).first()
            if row is None:
                return None
            n_att = (
                await conn.execute(sa.select(sa.func.count()).select_from(A).where(A.c.report_id == row.id))
            ).scalar_one()
            messages = await _messages(conn, row.id)
        return _summary(row, attachments=n_att, messages=messages)

    async def get_many(self, case_nos: Sequence[str]) -> dict[str, ReportSummary]:
        """Many reports by case number in one query: their own fields only (``attachments`` and
        ``messages`` are not loaded and read 0 and empty). Missing case numbers are left out."""
        if not case_nos:
            return {}
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(sa.select(R).where(one_of(conn, R.c.case_no, case_nos)))).all()
        return {row.case_no: _summary(row) for row in rows}

    async def events(self, report_id: uuid.UUID) -> list[EventRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(E).where(E.c.report_id == report_id).order_by(E.c.seq))
            ).all()
        return [_event(row) for row in rows]

    async def count(self) -> int:
        async with self._db.read_engine.connect() as conn:
            n: int = (await conn.execute(sa.select(sa.func.count()).select_from(R))).scalar_one()
            return n

    async def set_triage(self, report_id: uuid.UUID, fields: dict[str, Any], at: datetime) -> None:
        async def set_triage_txn(batch: Batch) -> None:
            await batch.conn.execute(sa.update(R).where(R.c.id == report_id).values(**fields))
            batch.event(
                report_id,
                "triaged",
                "system:triage",
                at,
                {
                    k: v
                    for k, v in fields.items()
                    if k in ("scope", "level", "priority", "handling_unit", "duplicate_of")
                },
            )

        await self._db.writer.run(set_triage_txn)

    async def triage_signatures(self) -> list[tuple[str, bytes]]:
        """(case number, near-duplicate signature) of every triaged report, oldest first."""
        out: list[tuple[str, bytes]] = []
        async with self._db.read_engine.connect() as conn:
            result = await conn.stream(
                sa.select(R.c.case_no, R.c.triage)
                .where(R.c.triage.is_not(None))
                .order_by(R.c.received_at, R.c.case_no)
                .execution_options(yield_per=5000)
            )
            async for case_no, doc in result:
                sig = (doc or {}).get("signature")
                if isinstance(sig, str):
                    out.append((case_no, base64.b64decode(sig)))
        return out

    async def triage_signatures_since(self, seq: int) -> tuple[list[tuple[str, bytes]], int]:
        """(case number, signature) of the reports triaged after audit position ``seq``, and the
        position read up to: what other processes triaged since an index was loaded."""
        async with self._db.read_engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(E.c.seq, R.c.case_no, R.c.triage)
                    .join_from(E, R, E.c.report_id == R.c.id)
                    .where(E.c.seq > seq, E.c.kind == "triaged")
                    .order_by(E.c.seq)
                )
            ).all()
        out: list[tuple[str, bytes]] = []
        last = seq
        for row in rows:
            last = max(last, row.seq)
            sig = (row.triage or {}).get("signature")
            if isinstance(sig, str):
                out.append((row.case_no, base64.b64decode(sig)))
        return out, last

    async def correct_triage(
        self,
        report_id: uuid.UUID,
        columns: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        actor: str,
        at: datetime,
        kind: str = "triage_corrected",
    ) -> None:
        """Store staff's triage decision with its audit event: ``triage_corrected`` (what changed) or
        ``triage_confirmed`` (the suggestion accepted as it was: nothing for the retraining export)."""

        async def correct_triage_txn(batch: Batch) -> None:
            await batch.conn.execute(sa.update(R).where(R.c.id == report_id).values(updated_at=at, **columns))
            batch.event(report_id, kind, actor, at, {"before": before, "after": after})

        await self._db.writer.run(correct_triage_txn)

    async def needing_review(self, limit: int) -> list[dict[str, Any]]:
        """Reports whose stored triage result asks for a person (the manual triage queue)."""
        out: list[dict[str, Any]] = []
        async with self._db.read_engine.connect() as conn:
            result = await conn.stream(
                sa.select(R.c.case_no, R.c.received_at, R.c.triage)
                .where(R.c.triage.is_not(None))
                .order_by(R.c.received_at, R.c.case_no)
                .execution_options(yield_per=1000)
            )
            async for case_no, received_at, doc in result:
                if doc.get("needs_review"):
                    keep = ("category", "scope", "level", "unit", "priority", "confidence")
                    out.append(
                        {"case_no": case_no, "received_at": utc(received_at).isoformat()}
                        | {k: doc.get(k) for k in keep}
                    )
                    if len(out) >= limit:
                        break
        return out

    async def triage_corrections(self) -> list[tuple[str, str, str, Any, Any, str]]:
        """(case number, text, field, before, after, actor) of every staff correction."""
        out: list[tuple[str, str, str, Any, Any, str]] = []
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(R.c.case_no, R.c.title, R.c.content, E.c.payload, E.c.actor)
                .join(E, E.c.report_id == R.c.id)
                .where(E.c.kind == "triage_corrected")
                .order_by(E.c.seq)
            )
            for row in rows:
                change = json.loads(row.payload)
                text = "\n".join(t for t in (row.title, row.content) if t)
                for name, value in change["after"].items():
                    out.append((row.case_no, text, name, change["before"].get(name), value, row.actor))
        return out

    async def expire_receipt(self, report_id: uuid.UUID) -> None:
        async def expire_receipt_txn(batch: Batch) -> None:
            await batch.conn.execute(sa.update(R).where(R.c.id == report_id).values(receipt_sealed=None))

        await self._db.writer.run(expire_receipt_txn)


async def _messages(conn: Any, report_id: uuid.UUID) -> list[MessageRecord]:
    rows = await conn.execute(
        sa.select(M.c.direction, M.c.channel, M.c.body, M.c.at)
        .where(M.c.report_id == report_id)
        .order_by(M.c.at, M.c.id)
    )
    return [MessageRecord(r.direction, r.channel, r.body, utc(r.at)) for r in rows]


def _summary(row: Any, *, attachments: int = 0, messages: list[MessageRecord] | None = None) -> ReportSummary:
    return ReportSummary(
        id=row.id,
        case_no=row.case_no,
        channel=row.channel,
        status=row.status,
        title=row.title,
        content=row.content,
        category=row.category,
        accused_name=row.accused_name,
        accused_unit=row.accused_unit,
        accused_position=row.accused_position,
        location_code=row.location_code,
        location_text=row.location_text,
        anonymous=row.anonymous,
        informant_alias=row.informant_alias,
        receiving_unit=row.receiving_unit,
        handling_unit=row.handling_unit,
        scope=row.scope,
        level=row.level,
        priority=row.priority,
        triage=row.triage,
        received_at=utc(row.received_at),
        updated_at=utc(row.updated_at),
        attachments=attachments,
        messages=messages or [],
    )


def _event(row: Any) -> EventRecord:
    return EventRecord(
        row.seq, row.report_id, row.kind, row.actor, utc(row.at), row.payload, row.prev_hash, row.hash
    )


class UnitRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync(self, units: Sequence[UnitRecord]) -> None:
        """Make the units table match the jurisdiction file (insert new, update changed)."""

        fields = ("name", "level", "kind", "parent_code", "division_code", "division_name")

        async def sync_units_txn(batch: Batch) -> None:
            rows = await batch.conn.execute(sa.select(U.c.code, *(U.c[f] for f in fields)))
            have = {row[0]: tuple(row[1:]) for row in rows}
            fresh: list[dict[str, Any]] = []
            changed: list[tuple[str, dict[str, Any]]] = []
            for u in units:  # parents come first in the jurisdiction file
                values = (u.name, u.level, u.kind, u.parent_code, u.division_code, u.division_name)
                old = have.get(u.code)
                if old is None:
                    fresh.append({"code": u.code, **dict(zip(fields, values, strict=True))})
                elif old != values:
                    changed.append((u.code, dict(zip(fields, values, strict=True))))
            # New units in one statement per thousand (a city's tree is ~2,000 units, a
            # province's ~30,000), parents before their children; then the changed ones, whose
            # new parent may be one of the new.
            for start in range(0, len(fresh), 1000):
                await batch.conn.execute(sa.insert(U), fresh[start : start + 1000])
            for code, changes in changed:
                await batch.conn.execute(sa.update(U).where(U.c.code == code).values(**changes))

        await self._db.writer.run(sync_units_txn)

    async def all(self) -> list[UnitRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(U).order_by(U.c.code))
            return [
                UnitRecord(r.code, r.name, r.level, r.kind, r.parent_code, r.division_code, r.division_name)
                for r in rows
            ]


class JobRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, now: datetime, *, limit: int = 16, lease: timedelta = timedelta(minutes=5)
    ) -> list[JobRecord]:
        """Take due jobs (and jobs whose lease ran out); other workers skip the locked rows."""

        async def claim_jobs_txn(batch: Batch) -> list[JobRecord]:
            due = (
                sa.select(J.c.id)
                .where(
                    sa.or_(
                        sa.and_(J.c.status == "pending", J.c.run_after <= now),
                        sa.and_(J.c.status == "running", J.c.locked_until < now),
                    )
                )
                .order_by(J.c.run_after, J.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list((await batch.conn.execute(due)).scalars())
            if not ids:
                return []
            await batch.conn.execute(
                sa.update(J)
                .where(J.c.id.in_(ids))
                .values(status="running", attempts=J.c.attempts + 1, locked_until=now + lease)
            )
            rows = await batch.conn.execute(
                sa.select(J.c.id, J.c.kind, J.c.payload, J.c.attempts, J.c.max_attempts)
                .where(J.c.id.in_(ids))
                .order_by(J.c.id)
            )
            return [JobRecord(r.id, r.kind, r.payload, r.attempts, r.max_attempts) for r in rows]

        claimed: list[JobRecord] = await self._db.writer.run(claim_jobs_txn)
        return claimed

    async def finish(self, job_id: int, now: datetime) -> None:
        async def finish_job_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(J).where(J.c.id == job_id).values(status="done", finished_at=now, locked_until=None)
            )

        await self._db.writer.run(finish_job_txn)

    async def fail(self, job: JobRecord, error: str, now: datetime, retry_at: datetime) -> str:
        """Record a failed attempt: back to pending with a later ``run_after``, or dead."""
        status = "dead" if job.attempts >= job.max_attempts else "pending"

        async def fail_job_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(J)
                .where(J.c.id == job.id)
                .values(
                    status=status,
                    run_after=retry_at,
                    locked_until=None,
                    last_error=error[:500],
                    finished_at=now if status == "dead" else None,
                )
            )

        await self._db.writer.run(fail_job_txn)
        return status

    async def counts(self) -> dict[str, int]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(J.c.status, sa.func.count()).group_by(J.c.status))
            return {r[0]: int(r[1]) for r in rows}


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        """One read transaction that sees one state of the chain however long it is read.

        On PostgreSQL ``REPEATABLE READ`` (``READ COMMITTED`` would give every page, and the head,
        a newer snapshot while writers append); on SQLite the read pool's ``BEGIN`` under WAL keeps
        the snapshot of the first read until the transaction ends.
        """
        engine = self._db.read_engine
        if self._db.dialect == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        async with engine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    async def _events(conn: AsyncConnection, page: int) -> AsyncIterator[EventRecord]:
        after = 0
        while True:
            rows = (
                await conn.execute(sa.select(E).where(E.c.seq > after).order_by(E.c.seq).limit(page))
            ).all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            after = rows[-1].seq

    @staticmethod
    async def _head(conn: AsyncConnection) -> tuple[int, str]:
        row = (await conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash))).first()
        return (row.seq, row.hash) if row else (0, GENESIS)

    async def iter_events(self, page: int = 5000) -> AsyncIterator[EventRecord]:
        async with self._snapshot() as conn:
            async for ev in self._events(conn, page):
                yield ev

    async def head(self) -> tuple[int, str]:
        async with self._snapshot() as conn:
            return await self._head(conn)

    async def verify(self, page: int = 5000) -> tuple[bool, int, str]:
        """Recompute the chain. Returns (ok, events checked, what broke where).

        The head and every event are read in one snapshot: read apart, a writer appending in
        between made a whole chain look broken ("the chain ends at event N but the head records
        event N+k").
        """
        prev, expected_seq, n = GENESIS, 1, 0
        async with self._snapshot() as conn:
            head_seq, head_hash = await self._head(conn)
            async for ev in self._events(conn, page):
                if ev.seq != expected_seq:
                    return False, n, f"event {expected_seq} is missing (next is {ev.seq})"
                if ev.prev_hash != prev:
                    return False, n, f"event {ev.seq} does not link to event {ev.seq - 1}"
                if event_hash(prev, ev.seq, ev.report_id, ev.kind, ev.actor, ev.at, ev.payload) != ev.hash:
                    return False, n, f"event {ev.seq} was altered"
                prev, expected_seq, n = ev.hash, expected_seq + 1, n + 1
        if (head_seq, head_hash) != (n, prev):
            return False, n, f"the chain ends at event {n} but the head records event {head_seq}"
        return True, n, "ok"
