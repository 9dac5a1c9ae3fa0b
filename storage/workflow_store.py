"""Storage for the case workflow (issue 8): case states, transfers, deadlines, recusal requests and
merges. Staff accounts, sessions and declared relations are :mod:`storage.staff_store`.

Every write is one named transaction on the group-commit writer and writes its audit events in
the same transaction. A case transition is described by a :class:`CaseChange` and applied by
:func:`apply_case_change_txn`, which refuses (``StaleCase``) when the report is no longer in the
status the change was decided from, so two people acting at once cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from storage import models
from storage.audit import utc
from storage.db import Batch

if TYPE_CHECKING:
    from storage.database import Database

R = cast(sa.Table, models.Report.__table__)
M = cast(sa.Table, models.Message.__table__)
E = cast(sa.Table, models.ReportEvent.__table__)
S = cast(sa.Table, models.StaffAccount.__table__)
SR = cast(sa.Table, models.StaffRelation.__table__)
SS = cast(sa.Table, models.StaffSession.__table__)
CS = cast(sa.Table, models.CaseState.__table__)
CT = cast(sa.Table, models.CaseTransfer.__table__)
CD = cast(sa.Table, models.CaseDeadline.__table__)
RQ = cast(sa.Table, models.RecusalRequest.__table__)
AT = cast(sa.Table, models.Attachment.__table__)


class StaleCase(Exception):
    """The case changed since the action was decided (another person acted first)."""


# --- records ---------------------------------------------------------------------------------------


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
class AttachmentRecord:
    """An evidence attachment of a case (identity proofs are in the vault, never here)."""

    id: uuid.UUID
    content_type: str
    size: int
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


@dataclass
class NewDeadline:
    rule: str
    unit_code: str
    start_on: date
    due_on: date
    reminder_at: datetime | None = None


@dataclass
class CaseChange:
    """Everything one workflow action writes, applied in one transaction."""

    report_id: uuid.UUID
    expect_status: str | None
    actor: str
    at: datetime
    event_kind: str
    event_payload: dict[str, Any]
    status: str | None = None
    handling_unit: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    transfer: dict[str, Any] | None = None
    deadlines: list[NewDeadline] = field(default_factory=list)
    close_deadlines: dict[str, str] = field(default_factory=dict)  # rule → met | cancelled
    extend_deadline: tuple[int, date] | None = None
    reply: tuple[str, str] | None = None  # (channel, text) written to the thread
    notify_job: tuple[str, dict[str, Any]] | None = None
    recusal: dict[str, Any] | None = None
    decide_recusal: tuple[int, str] | None = None
    also_events: list[tuple[uuid.UUID, str, dict[str, Any]]] = field(default_factory=list)


def _default_state(owner: str, at: datetime) -> dict[str, Any]:
    return {
        "owner_unit": owner,
        "handler": None,
        "sealed": False,
        "merged_into": None,
        "review_stage": 0,
        "replied_at": None,
        "concluded_at": None,
        "updated_at": at,
    }


async def apply_case_change_txn(batch: Batch, change: CaseChange) -> list[int]:
    """Apply one workflow action; returns the ids of the deadlines it created."""
    conn = batch.conn
    report = (
        await conn.execute(sa.select(R.c.status, R.c.receiving_unit).where(R.c.id == change.report_id))
    ).first()
    if report is None:
        raise StaleCase("report vanished")
    if change.expect_status is not None and report.status != change.expect_status:
        raise StaleCase(f"status is {report.status}")
    values: dict[str, Any] = {"updated_at": change.at}
    if change.status is not None:
        values["status"] = change.status
    if change.handling_unit is not None:
        values["handling_unit"] = change.handling_unit
    updated = await conn.execute(
        sa.update(R).where(R.c.id == change.report_id, R.c.status == report.status).values(**values)
    )
    if updated.rowcount != 1:
        raise StaleCase("status changed")
    have = (await conn.execute(sa.select(CS.c.report_id).where(CS.c.report_id == change.report_id))).first()
    if have is None:
        row = _default_state(report.receiving_unit, change.at) | change.state | {"updated_at": change.at}
        await conn.execute(sa.insert(CS).values(report_id=change.report_id, **row))
    elif change.state:
        await conn.execute(
            sa.update(CS)
            .where(CS.c.report_id == change.report_id)
            .values(**change.state, updated_at=change.at)
        )
    if change.transfer is not None:
        await conn.execute(
            sa.insert(CT).values(
                report_id=change.report_id, actor=change.actor, at=change.at, **change.transfer
            )
        )
    for rule, status in change.close_deadlines.items():
        await conn.execute(
            sa.update(CD)
            .where(CD.c.report_id == change.report_id, CD.c.rule == rule, CD.c.status == "open")
            .values(status=status, closed_at=change.at)
        )
    if change.extend_deadline is not None:
        deadline_id, new_due = change.extend_deadline
        await conn.execute(
            sa.update(CD)
            .where(CD.c.id == deadline_id, CD.c.status == "open")
            .values(due_on=new_due, extensions=CD.c.extensions + 1)
        )
    created: list[int] = []
    for d in change.deadlines:
        new_id = (
            await conn.execute(
                sa.insert(CD)
                .values(
                    report_id=change.report_id,
                    rule=d.rule,
                    unit_code=d.unit_code,
                    start_on=d.start_on,
                    due_on=d.due_on,
                    extensions=0,
                    status="open",
                    created_at=change.at,
                )
                .returning(CD.c.id)
            )
        ).scalar_one()
        created.append(new_id)
        if d.reminder_at is not None:
            batch.job("deadline_reminder", {"deadline_id": new_id}, d.reminder_at, change.at)
    if change.reply is not None:
        channel, text = change.reply
        await conn.execute(
            sa.insert(M).values(
                report_id=change.report_id, direction="out", channel=channel, body=text, at=change.at
            )
        )
    if change.recusal is not None:
        await conn.execute(
            sa.insert(RQ).values(report_id=change.report_id, at=change.at, status="pending", **change.recusal)
        )
    if change.decide_recusal is not None:
        rid, decision = change.decide_recusal
        await conn.execute(
            sa.update(RQ)
            .where(RQ.c.id == rid, RQ.c.report_id == change.report_id, RQ.c.status == "pending")
            .values(status=decision, decided_by=change.actor, decided_at=change.at)
        )
    payload = dict(change.event_payload)
    if created:
        payload["deadline_ids"] = created
    batch.event(change.report_id, change.event_kind, change.actor, change.at, payload)
    for other_id, kind, other_payload in change.also_events:
        batch.event(other_id, kind, change.actor, change.at, other_payload)
    if change.notify_job is not None:
        kind, job_payload = change.notify_job
        batch.job(kind, job_payload, change.at, change.at)
    return created


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
        return CaseStateRecord(
            row.owner_unit,
            row.handler,
            bool(row.sealed),
            row.merged_into,
            row.review_stage,
            utc(row.replied_at) if row.replied_at else None,
            utc(row.concluded_at) if row.concluded_at else None,
        )

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
                sa.insert(CS).values(report_id=report_id, **(_default_state(owner, at) | {"sealed": True}))
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
        owner = sa.func.coalesce(CS.c.owner_unit, R.c.receiving_unit)
        # Sealed by the workflow, or by the stored triage before the workflow acted on it: the
        # same rule as the case view (Workflow._load), so a list never shows what a page hides.
        sealed = sa.or_(
            sa.func.coalesce(CS.c.sealed, sa.false()),
            sa.func.coalesce(R.c.triage["sealed"].as_boolean(), sa.false()),
        )
        next_due = (
            sa.select(sa.func.min(CD.c.due_on))
            .where(CD.c.report_id == R.c.id, CD.c.status == "open")
            .scalar_subquery()
        )
        query = (
            sa.select(
                R.c.id,
                R.c.case_no,
                R.c.channel,
                R.c.status,
                R.c.title,
                R.c.category,
                R.c.triage,
                R.c.receiving_unit,
                R.c.informant_alias,
                R.c.received_at,
                owner.label("owner"),
                CS.c.handler,
                sealed.label("sealed"),
                next_due.label("next_due"),
            )
            .select_from(R.outerjoin(CS, CS.c.report_id == R.c.id))
            .where(owner.in_(list(units)))
            .where(sa.not_(sa.and_(sealed, R.c.receiving_unit.in_(list(hide_sealed_received_by)))))
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
            CaseRow(
                r.id,
                r.case_no,
                r.channel,
                r.status,
                r.title,
                r.category,
                (r.triage or {}).get("category"),
                r.owner,
                r.receiving_unit,
                r.handler,
                bool(r.sealed),
                r.informant_alias,
                utc(r.received_at),
                r.next_due,
            )
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
        return [
            DeadlineRecord(
                r.id,
                r.report_id,
                r.case_no,
                r.rule,
                r.unit_code,
                r.start_on,
                r.due_on,
                r.extensions,
                r.status,
            )
            for r in rows
        ]

    async def transfers(self, report_id: uuid.UUID) -> list[TransferRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(CT).where(CT.c.report_id == report_id).order_by(CT.c.id))
            return [
                TransferRecord(r.kind, r.from_unit, r.to_unit, r.to_organ, bool(r.sealed), r.actor, utc(r.at))
                for r in rows
            ]

    async def recusals(self, report_id: uuid.UUID) -> list[RecusalRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(RQ).where(RQ.c.report_id == report_id).order_by(RQ.c.id))
            return [
                RecusalRecord(r.id, r.requested_by, r.target, r.reason, r.status, utc(r.at)) for r in rows
            ]

    async def attachments(self, report_id: uuid.UUID) -> list[AttachmentRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(AT.c.id, AT.c.content_type, AT.c.size, AT.c.created_at)
                .where(AT.c.report_id == report_id)
                .order_by(AT.c.created_at, AT.c.id)
            )
            return [AttachmentRecord(r.id, r.content_type, r.size, utc(r.created_at)) for r in rows]

    async def record_access(
        self, report_id: uuid.UUID, kind: str, actor: str, at: datetime, **detail: Any
    ) -> None:
        """An audit event for a read that matters (e.g. an evidence attachment opened by staff)."""

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
