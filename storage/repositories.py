"""Repositories: intent-named async methods over the tables, returning plain records.

Writes go through the database's group-commit writer; each write method is one named step inside
the writer's transaction (``*_txn``). Reads use the read pool.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.accept import accept_reports_txn, vault_row
from storage.audit import utc
from storage.audit_store import AuditRepository, event_record
from storage.db import Batch
from storage.job_store import JobRepository
from storage.models.reports import NEEDS_REVIEW
from storage.records import (
    AcceptResult,
    CaseStatusRecord,
    EventRecord,
    MessageRecord,
    NewReport,
    ReportSummary,
    UnitRecord,
)
from storage.redaction_terms import redaction_terms_of
from storage.tables import A, E, M, R, U, V, cols, one_of, record_of
from storage.vault import RedactionTerm, SealedEntry
from storage.workflow_store import CASES, in_scope_filter

if TYPE_CHECKING:
    from storage.database import Database

# The job queue and the audit trail's reads have their own modules; importable from here as before.
__all__ = ["AuditRepository", "JobRepository", "ReportRepository", "UnitRepository"]


class ReportRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def accept(self, report: NewReport) -> AcceptResult:
        result: AcceptResult = await self._db.writer.submit(accept_reports_txn, report)
        return result

    async def status_by_query_hash(self, query_hash: str) -> CaseStatusRecord | None:
        async with self._db.read_engine.connect() as conn:
            query = sa.select(*cols(R, "id case_no channel status received_at updated_at accused_name"))
            row = (await conn.execute(query.where(R.c.query_hash == query_hash))).first()
            if row is None:
                return None
            messages = await _messages(conn, row.id)
        return record_of(CaseStatusRecord, row, report_id=row.id, messages=messages)

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
                await batch.conn.execute(sa.insert(V), [vault_row(sealed, at)])
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
        return [event_record(row) for row in rows]

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

    async def triage_signatures(self, chunk: int = 50_000) -> AsyncIterator[tuple[list[str], list[bytes]]]:
        """(case numbers, near-duplicate signatures) of every triaged report, oldest first,
        ``chunk`` at a time: only each result's signature is read (at a million reports, reading
        the whole results and holding them all at once took 55 s and 426 MiB)."""
        signature = R.c.triage["signature"].as_string()
        async with self._db.read_engine.connect() as conn:
            result = await conn.stream(
                sa.select(R.c.case_no, signature)
                .where(R.c.triage.is_not(None))
                .order_by(R.c.received_at, R.c.case_no)
                .execution_options(yield_per=chunk)
            )
            async for rows in result.partitions():
                found = [(c, sig) for c, sig in rows if isinstance(sig, str)]
                if found:
                    yield [c for c, _ in found], [base64.b64decode(sig) for _, sig in found]

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

    async def needing_review(
        self,
        limit: int,
        *,
        units: Sequence[str] | None = None,
        hide_sealed_received_by: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Reports whose stored triage result asks for a person (the manual triage queue), oldest
        first: read through the partial index of those (``ix_reports_needs_review``), not by
        parsing every stored result. With ``units``, those of one scope (``intake.staff.Scope``,
        as the queue scopes), chosen in the query: the oldest ``limit`` of everyone's held a
        county's own back once a province's backlog was longer."""
        keep = ("category", "scope", "level", "unit", "priority", "confidence")
        query = (
            sa.select(R.c.case_no, R.c.received_at, R.c.triage)
            .where(sa.text(NEEDS_REVIEW[self._db.dialect]))
            .order_by(R.c.received_at, R.c.case_no)
            .limit(limit)
        )
        if units is not None:
            query = query.select_from(CASES).where(
                in_scope_filter(units, hide_sealed_received_by, self._db.dialect)
            )
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                {"case_no": case_no, "received_at": utc(received_at).isoformat()}
                | {k: doc.get(k) for k in keep}
                for case_no, received_at, doc in rows
            ]

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
    return record_of(ReportSummary, row, attachments=attachments, messages=messages or [])


_UNITS_LOCK = 0x756E6974735F7379  # pg_advisory_xact_lock key of the units' sync


class UnitRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync(self, units: Sequence[UnitRecord]) -> None:
        """Make the units table match the jurisdiction file (insert new, update changed)."""

        fields = ("name", "level", "kind", "parent_code", "division_code", "division_name")

        async def sync_units_txn(batch: Batch) -> None:
            if batch.conn.dialect.name == "postgresql":
                # Workers starting at once on a fresh database: one syncs, the next finds it done.
                await batch.conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_UNITS_LOCK})"))
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
            if any((have[code][1], have[code][3]) != (c["level"], c["parent_code"]) for code, c in changed):
                # A unit moved in the tree: the statistics' subtree rows count each report in its
                # owner's subtrees as they were; every report is counted again.
                await batch.conn.execute(
                    sa.text(
                        "INSERT INTO stats_pending (report_id, seq) SELECT id, 0 FROM reports WHERE true "
                        "ON CONFLICT (report_id) DO NOTHING"
                    )
                )

        await self._db.writer.run(sync_units_txn)

    async def all(self) -> list[UnitRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(U).order_by(U.c.code))
            return [record_of(UnitRecord, r) for r in rows]
