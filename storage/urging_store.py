"""Storage for automatic urging (催办) and supervision notices (督办函), issue 18 item 4.

An alert goes to one unit's staff; each member's reading of it is a row of its own. Every alert
is written with its audit event on the case and, in the same transaction, an ``alert_mail`` job:
the mail goes out (or waits for a mail server that is down) after the transaction, never within
a request. A deadline alerts once per colour: the scan checks before it writes, and the unique
(deadline, kind) pair stands behind that check.

A walk-in video reception session (issue 20) alerts the receiving unit's officers too: an alert
on the session, not on a case (there is none yet), written with the session itself
(:meth:`storage.reception_store.ReceptionStore.book`) and without mail. It stays unread for no one
once an officer has taken the session, or the session is over: that is read from the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.db import Batch
from storage.tables import AL, ALR, CD, RS, SN, J, R, S, record_of

if TYPE_CHECKING:
    from storage.database import Database

ALERT_MAIL_JOB = "alert_mail"
SCAN_JOB = "deadline_scan"
WALK_IN_ALERT = "reception_walk_in"
MAIL_ATTEMPTS = 20  # with the worker's backoff (capped at an hour): about a day of retries
_SCAN_LOCK = 0x5CA4_0018  # the transaction advisory lock that keeps one scan queued (PostgreSQL)


@dataclass(frozen=True)
class NewAlert:
    unit_code: str
    report_id: uuid.UUID | None
    kind: str
    deadline_id: int | None = None
    notice_id: int | None = None
    rule: str | None = None
    due_on: date | None = None
    session_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AlertRecord:
    id: int
    unit_code: str
    case_no: str | None  # None: a walk-in's alert, on a session with no case yet
    kind: str
    deadline_id: int | None
    notice_id: int | None
    rule: str | None
    due_on: date | None
    created_at: datetime
    mail_status: str | None
    mail_error: str | None
    read: bool
    # A walk-in's session: its township room, its state and the officer who took it.
    session_id: uuid.UUID | None = None
    township_unit: str | None = None
    session_status: str | None = None
    session_officer: str | None = None

    @property
    def handled(self) -> bool:
        """A walk-in's alert once an officer took the session or it is over (nobody to join)."""
        return self.session_id is not None and (
            self.session_officer is not None or self.session_status in SESSION_OVER
        )


@dataclass(frozen=True)
class NoticeRecord:
    id: int
    report_id: uuid.UUID
    from_unit: str
    to_unit: str
    reason: str
    reply_due: date | None
    status: str
    answer: str | None
    created_by: str
    created_at: datetime
    answered_by: str | None
    answered_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None


SESSION_OVER = ("filed", "cancelled")


async def insert_alert_txn(
    batch: Batch, alert: NewAlert, at: datetime, *, mail: bool = True, actor: str = "system:urging"
) -> int:
    """One alert with its event (on the case, when it has one) and, unless ``mail`` is off, its
    mail job; returns its id."""
    values = {k: getattr(alert, k) for k in NewAlert.__dataclass_fields__}
    new_id: int = (
        await batch.conn.execute(
            sa.insert(AL)
            .values(**values, created_at=at, mail_status="pending" if mail else None)
            .returning(AL.c.id)
        )
    ).scalar_one()
    payload: dict[str, Any] = {"alert_id": new_id, "kind": alert.kind, "unit": alert.unit_code}
    if alert.deadline_id is not None:
        payload |= {"deadline_id": alert.deadline_id, "rule": alert.rule}
    if alert.notice_id is not None:
        payload["notice_id"] = alert.notice_id
    if alert.session_id is not None:
        payload["session"] = str(alert.session_id)
    batch.event(alert.report_id, "staff_alerted", actor, at, payload)
    if mail:
        batch.job(ALERT_MAIL_JOB, {"alert_id": new_id}, at, at, MAIL_ATTEMPTS)
    return new_id


class UrgingStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- deadline alerts -----------------------------------------------------------------------

    async def deadline_alerts(self, candidates: Sequence[NewAlert], at: datetime) -> list[int]:
        """Write the alerts of deadlines that turned yellow or red, skipping each (deadline, kind)
        alerted already and each deadline closed since it was read; returns the new ids."""

        async def deadline_alerts_txn(batch: Batch) -> list[int]:
            created = []
            for alert in candidates:
                have = await batch.conn.execute(
                    sa.select(AL.c.id).where(AL.c.deadline_id == alert.deadline_id, AL.c.kind == alert.kind)
                )
                still_open = await batch.conn.execute(
                    sa.select(CD.c.id).where(CD.c.id == alert.deadline_id, CD.c.status == "open")
                )
                if have.first() is None and still_open.first() is not None:
                    created.append(await insert_alert_txn(batch, alert, at))
            return created

        ids: list[int] = await self._db.writer.run(deadline_alerts_txn)
        return ids

    async def alerted_deadlines(self, deadline_ids: Sequence[int]) -> set[tuple[int, str]]:
        """The (deadline, kind) pairs among ``deadline_ids`` that have their alert already."""
        if not deadline_ids:
            return set()
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(AL.c.deadline_id, AL.c.kind).where(AL.c.deadline_id.in_(list(deadline_ids)))
            )
            return {(int(r.deadline_id), str(r.kind)) for r in rows}

    async def schedule_scan(self, run_after: datetime, now: datetime) -> bool:
        """Queue the periodic scan unless one is pending (each worker calls this at start; each
        scan queues the next)."""

        async def schedule_scan_txn(batch: Batch) -> bool:
            conn = batch.conn
            if conn.dialect.name == "postgresql":
                locked = await conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_SCAN_LOCK)))
                if not locked.scalar():
                    return False
            pending = await conn.execute(
                sa.select(J.c.id).where(J.c.kind == SCAN_JOB, J.c.status == "pending").limit(1)
            )
            if pending.first() is not None:
                return False
            batch.job(SCAN_JOB, {}, run_after, now)
            return True

        scheduled: bool = await self._db.writer.run(schedule_scan_txn)
        return scheduled

    # --- the inbox ------------------------------------------------------------------------------

    @staticmethod
    def _alerts(read: Any) -> Any:
        """Alerts with their case number (when on a case) and their session (when a walk-in's)."""
        return (
            sa.select(
                AL,
                R.c.case_no,
                read.label("read"),
                RS.c.township_unit,
                RS.c.status.label("session_status"),
                RS.c.officer.label("session_officer"),
            )
            .outerjoin(R, R.c.id == AL.c.report_id)
            .outerjoin(RS, RS.c.id == AL.c.session_id)
        )

    @staticmethod
    def _of_unit(unit: str, skip_kinds: Sequence[str]) -> list[Any]:
        where = [AL.c.unit_code == unit]
        if skip_kinds:
            where.append(AL.c.kind.not_in(list(skip_kinds)))
        return where

    async def inbox(
        self, unit: str, username: str, *, skip_kinds: Sequence[str] = (), limit: int = 200
    ) -> list[AlertRecord]:
        """The unit's alerts, newest first, with ``username``'s read state; ``skip_kinds`` are
        left out (a walk-in's alert for staff who cannot join a session)."""
        read = sa.select(ALR.c.alert_id).where(ALR.c.alert_id == AL.c.id, ALR.c.username == username).exists()
        query = (
            self._alerts(read)
            .where(*self._of_unit(unit, skip_kinds))
            .order_by(AL.c.created_at.desc(), AL.c.id.desc())
            .limit(limit)
        )
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [record_of(AlertRecord, r, read=bool(r.read)) for r in rows]

    async def unread(self, unit: str, username: str, *, skip_kinds: Sequence[str] = ()) -> int:
        """The unit's alerts ``username`` has not read, a walk-in's only while it waits for an
        officer (taken or over, it asks nothing of anyone)."""
        read = sa.select(ALR.c.alert_id).where(ALR.c.alert_id == AL.c.id, ALR.c.username == username)
        handled = sa.select(RS.c.id).where(
            RS.c.id == AL.c.session_id, sa.or_(RS.c.officer.is_not(None), RS.c.status.in_(SESSION_OVER))
        )
        query = (
            sa.select(sa.func.count())
            .select_from(AL)
            .where(*self._of_unit(unit, skip_kinds), ~read.exists(), ~handled.exists())
        )
        async with self._db.read_engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def mark_read(self, unit: str, username: str, alert_ids: Sequence[int] | None, at: datetime) -> int:
        """Mark the unit's alerts ``alert_ids`` (all when None) read by ``username``; alerts of other
        units are left alone. Returns how many were newly marked."""

        async def mark_alerts_read_txn(batch: Batch) -> int:
            query = sa.select(AL.c.id).where(
                AL.c.unit_code == unit,
                ~sa.select(ALR.c.alert_id)
                .where(ALR.c.alert_id == AL.c.id, ALR.c.username == username)
                .exists(),
            )
            if alert_ids is not None:
                query = query.where(AL.c.id.in_(list(alert_ids)))
            ids = list((await batch.conn.execute(query)).scalars())
            if ids:
                await batch.conn.execute(
                    sa.insert(ALR), [{"alert_id": i, "username": username, "read_at": at} for i in ids]
                )
            return len(ids)

        marked: int = await self._db.writer.run(mark_alerts_read_txn)
        return marked

    # --- mail -------------------------------------------------------------------------------------

    async def alert(self, alert_id: int) -> AlertRecord | None:
        query = self._alerts(sa.false())
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(query.where(AL.c.id == alert_id))).first()
        return None if row is None else record_of(AlertRecord, row, read=False)

    async def unit_addresses(self, unit: str) -> list[str]:
        """The e-mail addresses of the unit's enabled staff."""
        query = (
            sa.select(S.c.email)
            .where(S.c.unit_code == unit, S.c.email.is_not(None), S.c.disabled_at.is_(None))
            .order_by(S.c.username)
        )
        async with self._db.read_engine.connect() as conn:
            return [str(e) for e in (await conn.execute(query)).scalars()]

    async def set_mail_status(self, alert_id: int, status: str | None, error: str | None = None) -> None:
        async def alert_mail_status_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(AL)
                .where(AL.c.id == alert_id)
                .values(mail_status=status, mail_error=None if error is None else error[:200])
            )

        await self._db.writer.run(alert_mail_status_txn)

    # --- supervision notices --------------------------------------------------------------------

    async def notices(self, report_id: uuid.UUID) -> list[NoticeRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(SN).where(SN.c.report_id == report_id).order_by(SN.c.id))
            return [record_of(NoticeRecord, r) for r in rows]
