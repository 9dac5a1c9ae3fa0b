"""One workflow action as one transaction: a :class:`CaseChange` applied by
:func:`apply_case_change_txn`, in named steps.

The change refuses (``StaleCase``) when the report is no longer in the status it was decided from,
so two people acting at once cannot both win. Then it writes the case state, a transfer, the
deadlines it closes, extends or opens, the step of its problem clue, a reply to the thread, a
recusal request or its decision, and its audit events and notification job, all in the same
transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from storage.clue_store import ClueWrite, StaleClue, write_clue_txn
from storage.db import Batch
from storage.tables import CD, CS, CT, RQ, SN, M, R
from storage.urging_store import NewAlert, insert_alert_txn


class StaleCase(Exception):
    """The case changed since the action was decided (another person acted first)."""


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
    clue: ClueWrite | None = None  # a step of the case's problem clue (线索处置, issue 18)
    # A supervision notice (督办函) written, or one moved on from the status it was decided in:
    # (id, that status, the new values); alerts to units' inboxes (notice_id None: the new notice).
    notice: dict[str, Any] | None = None
    notice_update: tuple[int, str, dict[str, Any]] | None = None
    alerts: list[NewAlert] = field(default_factory=list)


def default_state(owner: str, at: datetime) -> dict[str, Any]:
    """The case state a report has before the workflow first writes one."""
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
    receiving_unit = await _update_report_txn(batch, change)
    await _write_state_txn(batch, change, receiving_unit)
    if change.transfer is not None:
        await batch.conn.execute(
            sa.insert(CT).values(
                report_id=change.report_id, actor=change.actor, at=change.at, **change.transfer
            )
        )
    await _update_deadlines_txn(batch, change)
    if change.clue is not None:
        try:
            await write_clue_txn(batch, change.report_id, change.clue, change.at)
        except StaleClue as exc:
            raise StaleCase(str(exc)) from None
    created = [await _open_deadline_txn(batch, change, d) for d in change.deadlines]
    if change.reply is not None:
        channel, text = change.reply
        await batch.conn.execute(
            sa.insert(M).values(
                report_id=change.report_id, direction="out", channel=channel, body=text, at=change.at
            )
        )
    await _write_recusal_txn(batch, change)
    notice_id = await _write_notice_txn(batch, change)
    _record_change(batch, change, created, notice_id)
    for alert in change.alerts:
        if alert.notice_id is None and notice_id is not None:
            alert = NewAlert(**{**alert.__dict__, "notice_id": notice_id})
        await insert_alert_txn(batch, alert, change.at)
    return created


async def _write_notice_txn(batch: Batch, change: CaseChange) -> int | None:
    """A new supervision notice (returns its id), or a step of one: ``StaleCase`` when the
    notice left the status the step was decided from (two people acting at once)."""
    if change.notice is not None:
        new_id: int = (
            await batch.conn.execute(
                sa.insert(SN)
                .values(report_id=change.report_id, created_at=change.at, **change.notice)
                .returning(SN.c.id)
            )
        ).scalar_one()
        return new_id
    if change.notice_update is not None:
        notice_id, status, values = change.notice_update
        done = await batch.conn.execute(
            sa.update(SN)
            .where(SN.c.id == notice_id, SN.c.report_id == change.report_id, SN.c.status == status)
            .values(**values)
        )
        if done.rowcount != 1:
            raise StaleCase("notice changed")
        return notice_id
    return None


async def _update_report_txn(batch: Batch, change: CaseChange) -> str:
    """The report's status and handling unit, if still in the status the change was decided from
    (``StaleCase`` otherwise); returns its receiving unit."""
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
    receiving_unit: str = report.receiving_unit
    return receiving_unit


async def _write_state_txn(batch: Batch, change: CaseChange, receiving_unit: str) -> None:
    """The case state: created on the first change (owned by the receiving unit), else updated."""
    conn = batch.conn
    have = (await conn.execute(sa.select(CS.c.report_id).where(CS.c.report_id == change.report_id))).first()
    if have is None:
        row = default_state(receiving_unit, change.at) | change.state | {"updated_at": change.at}
        await conn.execute(sa.insert(CS).values(report_id=change.report_id, **row))
    elif change.state:
        await conn.execute(
            sa.update(CS)
            .where(CS.c.report_id == change.report_id)
            .values(**change.state, updated_at=change.at)
        )


async def _update_deadlines_txn(batch: Batch, change: CaseChange) -> None:
    """Close the open deadlines of the rules the change ends; extend the one it extends."""
    for rule, status in change.close_deadlines.items():
        await batch.conn.execute(
            sa.update(CD)
            .where(CD.c.report_id == change.report_id, CD.c.rule == rule, CD.c.status == "open")
            .values(status=status, closed_at=change.at)
        )
    if change.extend_deadline is not None:
        deadline_id, new_due = change.extend_deadline
        await batch.conn.execute(
            sa.update(CD)
            .where(CD.c.id == deadline_id, CD.c.status == "open")
            .values(due_on=new_due, extensions=CD.c.extensions + 1)
        )


async def _open_deadline_txn(batch: Batch, change: CaseChange, d: NewDeadline) -> int:
    """A new running deadline, with its reminder job when it has one; returns its id."""
    new_id: int = (
        await batch.conn.execute(
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
    if d.reminder_at is not None:
        batch.job("deadline_reminder", {"deadline_id": new_id}, d.reminder_at, change.at)
    return new_id


async def _write_recusal_txn(batch: Batch, change: CaseChange) -> None:
    """A new recusal request, or the decision on a pending one."""
    if change.recusal is not None:
        await batch.conn.execute(
            sa.insert(RQ).values(report_id=change.report_id, at=change.at, status="pending", **change.recusal)
        )
    if change.decide_recusal is not None:
        rid, decision = change.decide_recusal
        await batch.conn.execute(
            sa.update(RQ)
            .where(RQ.c.id == rid, RQ.c.report_id == change.report_id, RQ.c.status == "pending")
            .values(status=decision, decided_by=change.actor, decided_at=change.at)
        )


def _record_change(batch: Batch, change: CaseChange, created: list[int], notice_id: int | None) -> None:
    """The change's audit event (with the deadlines it opened and the notice it wrote), the events
    it adds on other reports, and its notification job."""
    payload = dict(change.event_payload)
    if created:
        payload["deadline_ids"] = created
    if notice_id is not None:
        payload["notice_id"] = notice_id
    batch.event(change.report_id, change.event_kind, change.actor, change.at, payload)
    for other_id, kind, other_payload in change.also_events:
        batch.event(other_id, kind, change.actor, change.at, other_payload)
    if change.notify_job is not None:
        kind, job_payload = change.notify_job
        batch.job(kind, job_payload, change.at, change.at)
