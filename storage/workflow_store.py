"""Storage for the case workflow (issue 8): case states, transfers, deadlines, recusal requests and
merges. Staff accounts, sessions and declared relations are :mod:`storage.staff_store`.

Every write is one named transaction on the group-commit writer and writes its audit events in
the same transaction. A case transition is a :class:`CaseChange` applied by
:func:`apply_case_change_txn` (both in :mod:`storage.case_change`), which refuses (``StaleCase``)
when the report is no longer in the status the change was decided from, so two people acting at
once cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from storage.audit import utc
from storage.case_change import CaseChange, NewDeadline, StaleCase, apply_case_change_txn, default_state
from storage.db import Batch
from storage.records import AttachmentRef
from storage.tables import CD, CS, CT, RQ, A, R, cols, record_of

if TYPE_CHECKING:
    from storage.database import Database

__all__ = [
    "CASES",
    "AttachmentRecord",
    "CaseChange",  # the change and its transaction are storage.case_change: importable from here
    "CaseRow",
    "CaseStateRecord",
    "DeadlineRecord",
    "NewDeadline",
    "RecusalRecord",
    "StaleCase",
    "TransferRecord",
    "WorkflowStore",
    "apply_case_change_txn",
    "in_scope",
    "owner_unit",
    "sealed_case",
]


# --- records ---------------------------------------------------------------------------------------


def owner_unit() -> Any:
    """The unit a case belongs to: its owner, or the receiving unit until the workflow acted. The
    report row's copy of the owner (migration 0034), so no list needs ``case_states`` to know whose
    a case is, and ``ix_reports_status_owner`` serves a few units' lists of one status."""
    return sa.func.coalesce(R.c.owner_unit, R.c.receiving_unit)


def sealed_case() -> Any:
    """Sealed by the workflow, or by the stored triage before the workflow acted on it: the same
    rule as the case view (Workflow._load), so a list never shows what a page hides."""
    return sa.or_(
        sa.func.coalesce(CS.c.sealed, sa.false()),
        sa.func.coalesce(R.c.triage["sealed"].as_boolean(), sa.false()),
    )


# Reports with their workflow state: what :func:`in_scope` filters.
CASES = R.outerjoin(CS, CS.c.report_id == R.c.id)


def in_values(column: Any, values: Sequence[str], dialect: str) -> Any:
    """``column IN values``; on PostgreSQL the values travel as one array (a city's scope is
    thousands of units: not as many parameters)."""
    if dialect == "postgresql":
        return column.in_(sa.select(sa.func.unnest(sa.bindparam(None, list(values), type_=ARRAY(sa.String)))))
    return column.in_(list(values))


def in_scope(units: Sequence[str], hide_sealed_received_by: Sequence[str], dialect: str = "sqlite") -> Any:
    """The cases a staff member's scope (``intake.staff.Scope``) sees, over :data:`CASES`: owned
    by one of ``units``, and not sealed away from the receiving unit (S1 art 15)."""
    return sa.and_(in_values(owner_unit(), units, dialect), not_sealed_away(hide_sealed_received_by))


def any_of(column: Any, values: Sequence[str], dialect: str) -> Any:
    """``column IN values`` as a test of each row: on PostgreSQL ``column = ANY(array)``, one
    parameter (a city's scope as an expanded ``IN`` list took SQLAlchemy 30-40 ms to compile, per
    query), and the planner still walks the lists' ``received_at`` order (the ``IN (SELECT
    unnest…)`` of :func:`in_values` makes it join every case of the scope first)."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(sa.String)))
    return column.in_(list(values))


def in_scope_filter(units: Sequence[str], hide_sealed_received_by: Sequence[str], dialect: str) -> Any:
    """:func:`in_scope` with the owner tested row by row (:func:`any_of`)."""
    return sa.and_(any_of(owner_unit(), units, dialect), not_sealed_away(hide_sealed_received_by))


def not_sealed_away(
    hide_sealed_received_by: Sequence[str], sealed: Any = None, received_by: Any = None
) -> Any:
    """The half of :func:`in_scope` that is not the owner: no sealed case received by one of
    ``hide_sealed_received_by``; ``sealed`` and ``received_by`` are the case's (by default
    :func:`sealed_case` and the report's receiving unit; a deadline row carries its own copies)."""
    sealed = sealed_case() if sealed is None else sealed
    received_by = R.c.receiving_unit if received_by is None else received_by
    return sa.not_(sa.and_(sealed, received_by.in_(list(hide_sealed_received_by))))


@dataclass(frozen=True)
class CaseStateRecord:
    owner_unit: str
    handler: str | None
    sealed: bool
    merged_into: str | None
    review_stage: int
    replied_at: datetime | None
    concluded_at: datetime | None


@dataclass(frozen=True)
class DeadlineRecord:
    id: int
    report_id: uuid.UUID
    case_no: str
    rule: str
    unit_code: str
    start_on: date
    due_on: date
    extensions: int
    status: str


@dataclass(frozen=True)
class TransferRecord:
    kind: str
    from_unit: str
    to_unit: str | None
    to_organ: str | None
    sealed: bool
    actor: str
    at: datetime


@dataclass(frozen=True)
class RecusalRecord:
    id: int
    requested_by: str
    target: str | None
    reason: str
    status: str
    at: datetime


@dataclass(frozen=True)
class AttachmentRecord(AttachmentRef):
    """An evidence attachment of a case (identity proofs are in the vault, never here)."""

    at: datetime


@dataclass(frozen=True)
class CaseRow:
    """A line of a staff queue."""

    report_id: uuid.UUID
    case_no: str
    channel: str
    status: str
    title: str | None
    category: str | None
    triage_category: str | None
    owner_unit: str
    receiving_unit: str
    handler: str | None
    sealed: bool
    informant_alias: str
    received_at: datetime
    next_due: date | None


# --- the store -------------------------------------------------------------------------------------


class WorkflowStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- cases ------------------------------------------------------------------------------------

    async def apply(self, change: CaseChange) -> list[int]:
        created: list[int] = await self._db.writer.run(lambda b: apply_case_change_txn(b, change))
        return created

    async def state(self, report_id: uuid.UUID) -> CaseStateRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(sa.select(CS).where(CS.c.report_id == report_id))).first()
        if row is None:
            return None
        return record_of(CaseStateRecord, row, sealed=bool(row.sealed))

    async def mark_sealed(self, report_id: uuid.UUID, owner: str, at: datetime) -> bool:
        """Triage found the case must go up sealed: the receiving unit loses sight of it at once.
        False when the case already has a state (the workflow decides from there)."""

        async def seal_case_txn(batch: Batch) -> bool:
            have = (
                await batch.conn.execute(sa.select(CS.c.report_id).where(CS.c.report_id == report_id))
            ).first()
            if have is not None:
                return False
            await batch.conn.execute(
                sa.insert(CS).values(report_id=report_id, **(default_state(owner, at) | {"sealed": True}))
            )
            return True

        done: bool = await self._db.writer.run(seal_case_txn)
        return done

    async def cases(
        self,
        *,
        units: Sequence[str],
        hide_sealed_received_by: Sequence[str],
        status: str | None = None,
        channel: str | None = None,
        due_by: date | None = None,
        case_nos: Sequence[str] | None = None,
        limit: int = 200,
    ) -> list[CaseRow]:
        owner = owner_unit()
        sealed = sealed_case()
        next_due = (
            sa.select(sa.func.min(CD.c.due_on))
            .where(CD.c.report_id == R.c.id, CD.c.status == "open")
            .scalar_subquery()
        )
        query = (
            sa.select(
                R.c.id.label("report_id"),
                *cols(R, "case_no channel status title category triage receiving_unit informant_alias"),
                R.c.received_at,
                owner.label("owner_unit"),
                CS.c.handler,
                sealed.label("sealed"),
                next_due.label("next_due"),
            )
            .select_from(CASES)
            .where(in_scope_filter(units, hide_sealed_received_by, self._db.dialect))
            .order_by(R.c.received_at.desc(), R.c.case_no.desc())
            .limit(limit)
        )
        if status:
            query = query.where(R.c.status == status)
        if channel:
            query = query.where(R.c.channel == channel)
        if due_by is not None:
            query = query.where(next_due <= due_by)
        if case_nos is not None:
            query = query.where(R.c.case_no.in_(list(case_nos)))
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            record_of(CaseRow, r, triage_category=(r.triage or {}).get("category"), sealed=bool(r.sealed))
            for r in rows
        ]

    async def deadlines(
        self,
        *,
        report_id: uuid.UUID | None = None,
        deadline_id: int | None = None,
        units: Sequence[str] | None = None,
        due_by: date | None = None,
        open_only: bool = False,
    ) -> list[DeadlineRecord]:
        query = sa.select(CD, R.c.case_no).join(R, R.c.id == CD.c.report_id).order_by(CD.c.due_on, CD.c.id)
        if report_id is not None:
            query = query.where(CD.c.report_id == report_id)
        if deadline_id is not None:
            query = query.where(CD.c.id == deadline_id)
        if units is not None:
            query = query.where(CD.c.unit_code.in_(list(units)))
        if due_by is not None:
            query = query.where(CD.c.due_on <= due_by)
        if open_only:
            query = query.where(CD.c.status == "open")
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [record_of(DeadlineRecord, r) for r in rows]

    async def board(
        self,
        *,
        units: Sequence[str],
        hide_sealed_received_by: Sequence[str],
        today: date,
        due_by: date,
        limit: int,
    ) -> tuple[list[DeadlineRecord], list[DeadlineRecord], list[tuple[str, int, int]]]:
        """The deadline board of a scope (the cases :func:`in_scope` sees): its open deadlines
        overdue before ``today`` and those due from ``today`` to ``due_by``, the first ``limit`` of
        each, soonest first; and the count of each per deadline unit, over all of them.

        Scoped by the case's owner, seal and receiving unit that each deadline row carries
        (migration 0032), as :func:`in_scope` scopes the case: the counts read the open deadlines
        alone, not every report they belong to."""
        visible = sa.and_(
            CD.c.status == "open",
            CD.c.due_on <= due_by,
            any_of(CD.c.case_owner, units, self._db.dialect),
            not_sealed_away(hide_sealed_received_by, CD.c.case_sealed, CD.c.case_received_by),
        )
        scoped = sa.select(CD, R.c.case_no).join(R, R.c.id == CD.c.report_id).where(visible)
        overdue_q = scoped.where(CD.c.due_on < today).order_by(CD.c.due_on, CD.c.id).limit(limit)
        soon_q = scoped.where(CD.c.due_on >= today).order_by(CD.c.due_on, CD.c.id).limit(limit)
        late = sa.case((CD.c.due_on < today, 1), else_=0)
        counts_q = (
            sa.select(CD.c.unit_code, sa.func.sum(late), sa.func.sum(1 - late))
            .where(visible)
            .group_by(CD.c.unit_code)
            .order_by(CD.c.unit_code)
        )
        async with self._db.read_engine.connect() as conn:
            overdue = [record_of(DeadlineRecord, r) for r in await conn.execute(overdue_q)]
            soon = [record_of(DeadlineRecord, r) for r in await conn.execute(soon_q)]
            counts = [(u, int(a), int(b)) for u, a, b in await conn.execute(counts_q)]
        return overdue, soon, counts

    async def transfers(self, report_id: uuid.UUID) -> list[TransferRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(CT).where(CT.c.report_id == report_id).order_by(CT.c.id))
            return [record_of(TransferRecord, r, sealed=bool(r.sealed)) for r in rows]

    async def recusals(self, report_id: uuid.UUID) -> list[RecusalRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(RQ).where(RQ.c.report_id == report_id).order_by(RQ.c.id))
            return [record_of(RecusalRecord, r) for r in rows]

    async def attachments(self, report_id: uuid.UUID) -> list[AttachmentRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(A.c.id, A.c.content_type, A.c.size, A.c.created_at)
                .where(A.c.report_id == report_id)
                .order_by(A.c.created_at, A.c.id)
            )
            return [AttachmentRecord(r.id, r.content_type, r.size, utc(r.created_at)) for r in rows]

    async def record_access(
        self, report_id: uuid.UUID | None, kind: str, actor: str, at: datetime, **detail: Any
    ) -> None:
        """An audit event for a read that matters (a case or an evidence attachment opened by staff;
        a search or a statistics query, which belong to no one case: ``report_id`` None)."""

        async def record_access_txn(batch: Batch) -> None:
            batch.event(report_id, kind, actor, at, detail)

        await self._db.writer.run(record_access_txn)

    async def merged_channels(self, case_no: str) -> list[tuple[str, str]]:
        """(case number, channel) of every report merged into ``case_no``."""
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(R.c.case_no, R.c.channel)
                .join(CS, CS.c.report_id == R.c.id)
                .where(CS.c.merged_into == case_no)
                .order_by(R.c.received_at)
            )
            return [(r.case_no, r.channel) for r in rows]

    async def reminder(self, deadline_id: int, at: datetime) -> bool:
        """The reminder job: an event on the case when the deadline is still open."""

        async def deadline_reminder_txn(batch: Batch) -> bool:
            row = (
                await batch.conn.execute(sa.select(CD).where(CD.c.id == deadline_id, CD.c.status == "open"))
            ).first()
            if row is None:
                return False
            batch.event(
                row.report_id,
                "deadline_reminder",
                "system:deadlines",
                at,
                {"deadline_id": deadline_id, "rule": row.rule, "due_on": row.due_on.isoformat()},
            )
            return True

        sent: bool = await self._db.writer.run(deadline_reminder_txn)
        return sent

    async def search(self, words: Sequence[str], limit: int = 200) -> list[str]:
        """Case numbers whose title or text contains every word (the words come jieba-tokenized)."""
        query = sa.select(R.c.case_no).order_by(R.c.received_at.desc()).limit(limit)
        for w in words:
            pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                sa.or_(R.c.content.like(pattern, escape="\\"), R.c.title.like(pattern, escape="\\"))
            )
        async with self._db.read_engine.connect() as conn:
            return list((await conn.execute(query)).scalars())
