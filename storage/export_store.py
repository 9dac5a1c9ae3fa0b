"""Reads and audit events for moving cases in and out (``intake reports import`` / ``export``).

The export reads the staff view of reports (never a vault entry, never the keyed hashes) in pages
by keyset, with each case's history (event kinds, times and status changes, not their actors or
payloads). The import asks which rows of a file are already in (their idempotency keys), and both
write one audit event per run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.audit import utc
from storage.db import Batch
from storage.records import StoredReport
from storage.tables import CS, E, R, cols, record_of

if TYPE_CHECKING:
    from storage.database import Database


# What of an event's payload goes into an export's history: status changes and the old system's
# own statuses and dates (all staff-side facts; the payloads' other keys may name staff).
HISTORY_KEYS = ("from", "to", "action", "status", "status_text", "closed_at", "result")


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    event: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportCase(StoredReport):
    """One case as it leaves the system: the staff view plus its history, never identity."""

    owner_unit: str
    triage: dict[str, Any] | None
    received_at: datetime
    updated_at: datetime
    history: list[HistoryItem]


@dataclass(frozen=True)
class ImportedRow:
    case_no: str
    triaged: bool


class ExportStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def cases(
        self,
        *,
        units: Sequence[str] | None,
        hide_sealed_received_by: Sequence[str] = (),
        status: str | None = None,
        channel: str | None = None,
        case_nos: Sequence[str] | None = None,
        page: int = 500,
    ) -> AsyncIterator[ExportCase]:
        """Cases owned by ``units`` (all when None), oldest first, a page per read."""
        owner = sa.func.coalesce(CS.c.owner_unit, R.c.receiving_unit)
        sealed = sa.func.coalesce(CS.c.sealed, sa.false())
        base = sa.select(
            *cols(R, "id case_no channel status title content category accused_name accused_unit"),
            *cols(R, "accused_position location_code location_text anonymous informant_alias"),
            R.c.receiving_unit,
            owner.label("owner_unit"),
            *cols(R, "triage received_at updated_at"),
        ).select_from(R.outerjoin(CS, CS.c.report_id == R.c.id))
        if units is not None:
            base = base.where(owner.in_(list(units)))
        if hide_sealed_received_by:
            base = base.where(sa.not_(sa.and_(sealed, R.c.receiving_unit.in_(list(hide_sealed_received_by)))))
        if status:
            base = base.where(R.c.status == status)
        if channel:
            base = base.where(R.c.channel == channel)
        if case_nos is not None:
            base = base.where(R.c.case_no.in_(list(case_nos)))
        after: tuple[datetime, str] | None = None
        while True:
            query = base.order_by(R.c.received_at, R.c.case_no).limit(page)
            if after is not None:
                query = query.where(
                    sa.or_(
                        R.c.received_at > after[0],
                        sa.and_(R.c.received_at == after[0], R.c.case_no > after[1]),
                    )
                )
            async with self._db.read_engine.connect() as conn:
                rows = (await conn.execute(query)).all()
                history = await _history(conn, [r.id for r in rows]) if rows else {}
            for r in rows:
                yield record_of(ExportCase, r, anonymous=bool(r.anonymous), history=history.get(r.id, []))
            if len(rows) < page:
                return
            after = (rows[-1].received_at, rows[-1].case_no)

    async def imported(self, key_prefix: str) -> dict[str, ImportedRow]:
        """The rows of one import file already filed: idempotency key → case number, triaged."""
        pattern = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = sa.select(R.c.external_id, R.c.case_no, R.c.triage.is_not(None).label("triaged")).where(
            R.c.external_id.like(pattern, escape="\\")
        )
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r.external_id: ImportedRow(r.case_no, bool(r.triaged)) for r in rows}

    async def record(self, kind: str, actor: str, at: datetime, payload: dict[str, Any]) -> None:
        """One audit event for an import or export run (counts, format, scope: no case content)."""

        async def record_interchange_txn(batch: Batch) -> None:
            batch.event(None, kind, actor, at, payload)

        await self._db.writer.run(record_interchange_txn)


async def _history(conn: Any, report_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[HistoryItem]]:
    rows = (
        await conn.execute(
            sa.select(E.c.report_id, E.c.kind, E.c.at, E.c.payload)
            .where(E.c.report_id.in_(list(report_ids)))
            .order_by(E.c.seq)
        )
    ).all()
    out: dict[uuid.UUID, list[HistoryItem]] = {}
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload or "{}")
        detail = {k: payload[k] for k in HISTORY_KEYS if payload.get(k) not in (None, "")}
        out.setdefault(row.report_id, []).append(HistoryItem(utc(row.at), row.kind, detail))
    return out
