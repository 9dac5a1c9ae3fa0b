"""What the notifier keeps and reads: its ``notify`` jobs (queued, deferred, dead) and the
``informant_notified`` audit events that record each message sent.

SQL only; the rules (templates, rate limits, which channel) live in :mod:`intake.notifier`.

* A delivery is an audit event on the report (channel, template and job id; never the handle or
  the text), so staff see in the case's history that the informant was told, and the per-informant
  rate limit counts those events for every report sharing one of the report's blind indexes.
* A dead letter is a ``notify`` job in the jobs table's ``dead`` state; it keeps its payload (the
  message is not lost) and can be queued again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.audit import utc
from storage.db import Batch
from storage.tables import VB, E, J, R

if TYPE_CHECKING:
    from storage.database import Database


NOTIFY_JOB = "notify"
SENT_EVENT = "informant_notified"


@dataclass(frozen=True)
class ReportRef:
    case_no: str
    channel: str
    status: str
    anonymous: bool = True


@dataclass(frozen=True)
class DeadLetter:
    """A notification that gave up: enough for staff to act, nothing about who it was for."""

    job_id: int
    case_no: str | None
    channel: str | None
    template: str | None
    attempts: int
    last_error: str | None
    queued_at: datetime
    failed_at: datetime | None


@dataclass(frozen=True)
class Window:
    """Messages sent to one informant since a moment, and when the oldest of them was sent."""

    sent: int
    oldest: datetime | None


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def report_ref(self, report_id: uuid.UUID) -> ReportRef | None:
        async with self._db.read_engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(R.c.case_no, R.c.channel, R.c.status, R.c.anonymous).where(R.c.id == report_id)
                )
            ).first()
        return ReportRef(row.case_no, row.channel, row.status, bool(row.anonymous)) if row else None

    async def enqueue(
        self, payload: dict[str, Any], run_after: datetime, now: datetime, max_attempts: int
    ) -> None:
        async def enqueue_notification_txn(batch: Batch) -> None:
            batch.job(NOTIFY_JOB, payload, run_after, now, max_attempts)

        await self._db.writer.run(enqueue_notification_txn)

    async def record_sent(
        self, report_id: uuid.UUID, at: datetime, actor: str, detail: dict[str, Any]
    ) -> None:
        await self.record(report_id, SENT_EVENT, at, actor, detail)

    async def record(
        self, report_id: uuid.UUID, kind: str, at: datetime, actor: str, detail: dict[str, Any]
    ) -> None:
        """One event of the informant's notices on the case's audit chain (sent, owed, mailed)."""

        async def record_notification_txn(batch: Batch) -> None:
            batch.event(report_id, kind, actor, at, detail)

        await self._db.writer.run(record_notification_txn)

    async def sent_to_informant_since(self, report_id: uuid.UUID, since: datetime) -> Window:
        """Messages sent after ``since`` to the informant of ``report_id``: over every report that
        shares one of its blind indexes (the same person, as far as the system can tell without
        decrypting), or this report alone when it has none."""
        mine = VB.alias("mine")
        theirs = VB.alias("theirs")
        same_person = (
            sa.select(theirs.c.report_id)
            .join(mine, mine.c.mac == theirs.c.mac)
            .where(mine.c.report_id == report_id)
        )
        query = sa.select(sa.func.count(), sa.func.min(E.c.at)).where(
            E.c.kind == SENT_EVENT,
            E.c.at > since,
            sa.or_(E.c.report_id == report_id, E.c.report_id.in_(same_person)),
        )
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(query)).one()
        return Window(int(row[0]), utc(row[1]) if row[1] is not None else None)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._db.read_engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        J.c.id,
                        J.c.payload,
                        J.c.attempts,
                        J.c.last_error,
                        J.c.created_at,
                        J.c.finished_at,
                    )
                    .where(J.c.kind == NOTIFY_JOB, J.c.status == "dead")
                    .order_by(J.c.finished_at.desc(), J.c.id.desc())
                    .limit(limit)
                )
            ).all()
            ids = {_report_id(r.payload) for r in rows} - {None}
            refs: dict[uuid.UUID, tuple[str, str]] = {}
            if ids:
                found = await conn.execute(sa.select(R.c.id, R.c.case_no, R.c.channel).where(R.c.id.in_(ids)))
                refs = {r.id: (r.case_no, r.channel) for r in found}
        letters = []
        for r in rows:
            ref = refs.get(_report_id(r.payload))  # type: ignore[arg-type]
            template = r.payload.get("template") if isinstance(r.payload, dict) else None
            letters.append(
                DeadLetter(
                    job_id=r.id,
                    case_no=ref[0] if ref else None,
                    channel=ref[1] if ref else None,
                    template=str(template) if template else None,
                    attempts=r.attempts,
                    last_error=r.last_error,
                    queued_at=utc(r.created_at),
                    failed_at=utc(r.finished_at) if r.finished_at else None,
                )
            )
        return letters

    async def requeue_dead(self, job_id: int, now: datetime, actor: str = "system:notifier") -> bool:
        """Give a dead notification a fresh set of attempts; False if it is not a dead ``notify`` job.
        Who sent it again is an audit event on the case (``notification_requeued``)."""

        async def requeue_notification_txn(batch: Batch) -> bool:
            row = (
                await batch.conn.execute(
                    sa.select(J.c.payload).where(
                        J.c.id == job_id, J.c.kind == NOTIFY_JOB, J.c.status == "dead"
                    )
                )
            ).first()
            if row is None:
                return False
            await batch.conn.execute(
                sa.update(J)
                .where(J.c.id == job_id, J.c.status == "dead")
                .values(status="pending", attempts=0, run_after=now, locked_until=None, finished_at=None)
            )
            batch.event(_report_id(row.payload), "notification_requeued", actor, now, {"job_id": job_id})
            return True

        done: bool = await self._db.writer.run(requeue_notification_txn)
        return done


def _report_id(payload: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(payload.get("report_id")))
    except (AttributeError, ValueError):
        return None
