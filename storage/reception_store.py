"""Storage for video reception sessions (issue 9): bookings, consent, minutes and recordings.

Every write is one named transaction on the group-commit writer with its audit event. The citizen's
identity given at booking is sealed at once (AES-GCM under a key derived from the keyring, bound to
the session id, like the staff TOTP secrets) and kept only until the session files its report:
then it goes into the vault through the pipeline and is erased here. Recording chunks are written
as encrypted blob files (:mod:`storage.blobs`) as they arrive; the whole recording is read back
once, to be attached to the case, and the chunk files are then removed.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from storage.audit import utc
from storage.db import Batch
from storage.reception_chunks import RecordingChunks
from storage.tables import RC, RS, R, record_of
from storage.urging_store import WALK_IN_ALERT, NewAlert, insert_alert_txn

if TYPE_CHECKING:
    from storage.database import Database


IDENTITY_PURPOSE = "reception-identity"
# A session under way: live, its minutes awaiting the citizen, or a walk-in waiting for an officer.
ACTIVE = sa.or_(RS.c.status.in_(("live", "minutes")), sa.and_(RS.c.walk_in, RS.c.status == "booked"))


@dataclass(frozen=True)
class NewBooking:
    id: uuid.UUID
    township_unit: str
    host_unit: str
    slot_start: datetime
    slot_minutes: int
    accused_name: str | None
    accused_unit: str | None
    accused_position: str | None
    accused_rank: str | None
    facts: str
    identity: dict[str, str] | None
    linked_report_id: uuid.UUID | None
    booked_by: str
    reminders: tuple[datetime, ...] = ()
    walk_in: bool = False


@dataclass(frozen=True)
class SessionRecord:
    """A session as staff may see it: never the identity (only whether one is sealed)."""

    id: uuid.UUID
    township_unit: str
    host_unit: str
    slot_start: datetime
    slot_minutes: int
    walk_in: bool
    status: str
    accused_name: str | None
    accused_unit: str | None
    accused_position: str | None
    accused_rank: str | None
    facts: str
    has_identity: bool
    linked_report_id: uuid.UUID | None
    booked_by: str
    officer: str | None
    attendees: list[str]
    consent_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    minutes: str | None
    minutes_confirmed_at: datetime | None
    case_no: str | None
    recording_chunks: int
    recording_bytes: int


class ReceptionStore(RecordingChunks):
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- the sealed identity ----------------------------------------------------------------------

    def _seal(self, session_id: uuid.UUID, identity: dict[str, str]) -> bytes:
        nonce = secrets.token_bytes(12)
        aead = self._db.keyring.aead(IDENTITY_PURPOSE)
        plaintext = json.dumps(identity, ensure_ascii=False).encode()
        return nonce + aead.encrypt(nonce, plaintext, b"reception/" + session_id.bytes)

    def _open(self, session_id: uuid.UUID, sealed: bytes) -> dict[str, str]:
        aead = self._db.keyring.aead(IDENTITY_PURPOSE)
        try:
            plaintext = aead.decrypt(sealed[:12], sealed[12:], b"reception/" + session_id.bytes)
        except InvalidTag:
            raise ValueError(f"reception session {session_id}: sealed identity failed") from None
        value: dict[str, str] = json.loads(plaintext)
        return value

    # --- bookings ---------------------------------------------------------------------------------

    async def book(self, actor: str, now: datetime, **fields: Any) -> bool:
        """Create the booking (the fields of :class:`NewBooking`); False when the township room's
        slot is held already (a walk-in: when the room has a session under way). A walk-in is
        written with its alert in the receiving unit's inbox (no mail: the officers' open pages
        sound, and the citizen is waiting)."""
        new = NewBooking(**fields)
        sealed = self._seal(new.id, new.identity) if new.identity else None

        async def reception_book_txn(batch: Batch) -> bool:
            if (await batch.conn.execute(self._held(new))).first() is not None:
                return False
            await batch.conn.execute(
                sa.insert(RS).values(
                    id=new.id,
                    township_unit=new.township_unit,
                    host_unit=new.host_unit,
                    slot_start=new.slot_start,
                    slot_minutes=new.slot_minutes,
                    walk_in=new.walk_in,
                    status="booked",
                    accused_name=new.accused_name,
                    accused_unit=new.accused_unit,
                    accused_position=new.accused_position,
                    accused_rank=new.accused_rank,
                    facts=new.facts,
                    identity_sealed=sealed,
                    linked_report_id=new.linked_report_id,
                    booked_by=new.booked_by,
                    created_at=now,
                    updated_at=now,
                )
            )
            batch.event(
                new.linked_report_id,
                "reception_booked",
                actor,
                now,
                {
                    "session": str(new.id),
                    "township": new.township_unit,
                    "host_unit": new.host_unit,
                    "slot": new.slot_start.isoformat(),
                    "walk_in": new.walk_in,
                    "identity_sealed": sealed is not None,
                },
            )
            for at in new.reminders:
                batch.job("reception_reminder", {"session_id": str(new.id)}, at, now)
            if new.walk_in:  # the receiving unit's officers are alerted in their inbox, with it
                alert = NewAlert(new.host_unit, None, WALK_IN_ALERT, session_id=new.id)
                await insert_alert_txn(batch, alert, now, mail=False, actor="system:reception")
            return True

        booked: bool = await self._db.writer.run(reception_book_txn)
        return booked

    @staticmethod
    def _held(new: NewBooking) -> sa.Select[Any]:
        """What stands in the new session's way: each township room holds its own slot (the
        receiving unit's officers are a pool, so townships book the same slot side by side), and
        a walk-in needs the township's room free of any session under way."""
        if new.walk_in:
            return sa.select(RS.c.id).where(RS.c.township_unit == new.township_unit, ACTIVE)
        return sa.select(RS.c.id).where(
            RS.c.township_unit == new.township_unit,
            RS.c.slot_start == new.slot_start,
            RS.c.status != "cancelled",
        )

    async def cancel(self, session_id: uuid.UUID, actor: str, now: datetime) -> str | None:
        # A cancelled booking keeps nothing of who booked it: the sealed identity goes with it.
        return await self._transition(
            session_id,
            ("booked",),
            "cancelled",
            actor,
            now,
            "reception_cancelled",
            {},
            {"identity_sealed": None},
        )

    async def report_id_of(self, case_no: str) -> uuid.UUID | None:
        async with self._db.read_engine.connect() as conn:
            found: uuid.UUID | None = (
                await conn.execute(sa.select(R.c.id).where(R.c.case_no == case_no))
            ).scalar_one_or_none()
        return found

    # --- reading ----------------------------------------------------------------------------------

    def _select(self) -> sa.Select[Any]:
        chunks = (
            sa.select(
                RC.c.session_id,
                sa.func.count().label("n"),
                sa.func.coalesce(sa.func.sum(RC.c.size), 0).label("bytes"),
            )
            .group_by(RC.c.session_id)
            .subquery()
        )
        return sa.select(RS, chunks.c.n, chunks.c.bytes).outerjoin(chunks, chunks.c.session_id == RS.c.id)

    @staticmethod
    def _record(row: Any) -> SessionRecord:
        return record_of(
            SessionRecord,
            row,
            has_identity=row.identity_sealed is not None,
            attendees=list(row.attendees or []),
            recording_chunks=int(row.n or 0),
            recording_bytes=int(row.bytes or 0),
        )

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(self._select().where(RS.c.id == session_id))).first()
        return None if row is None else self._record(row)

    async def between(
        self, units: list[str], start: datetime, end: datetime, *, by: str = "host_unit"
    ) -> list[SessionRecord]:
        """Sessions whose slot starts in [start, end), of the given receiving (or township) units."""
        column = RS.c.host_unit if by == "host_unit" else RS.c.township_unit
        query = (
            self._select()
            .where(column.in_(units), RS.c.slot_start >= start, RS.c.slot_start < end)
            .order_by(RS.c.slot_start, RS.c.township_unit)
        )
        async with self._db.read_engine.connect() as conn:
            return [self._record(r) for r in await conn.execute(query)]

    async def active(self, townships: list[str]) -> list[SessionRecord]:
        """Sessions under way (live, waiting for the citizen to confirm the minutes, or a walk-in
        waiting for its officer) in these township rooms."""
        query = self._select().where(RS.c.township_unit.in_(townships), ACTIVE)
        async with self._db.read_engine.connect() as conn:
            return [self._record(r) for r in await conn.execute(query.order_by(RS.c.slot_start))]

    async def taken_slots(self, township: str, start: datetime, end: datetime) -> set[datetime]:
        """The slots this township room holds already (walk-ins hold none)."""
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(RS.c.slot_start).where(
                    RS.c.township_unit == township,
                    ~RS.c.walk_in,
                    RS.c.slot_start >= start,
                    RS.c.slot_start < end,
                    RS.c.status != "cancelled",
                )
            )
            return {utc(r.slot_start) for r in rows}

    # --- the session's course ---------------------------------------------------------------------

    async def _transition(
        self,
        session_id: uuid.UUID,
        allowed: tuple[str, ...],
        status: str | None,
        actor: str,
        now: datetime,
        kind: str,
        payload: dict[str, Any],
        values: dict[str, Any] | None = None,
    ) -> str | None:
        """None when done; otherwise the status that did not allow it (``missing``: no session)."""

        async def reception_transition_txn(batch: Batch) -> str | None:
            row = (
                await batch.conn.execute(
                    sa.select(RS.c.status, RS.c.linked_report_id).where(RS.c.id == session_id)
                )
            ).first()
            if row is None or row.status not in allowed:
                return str(row.status) if row else "missing"
            changes = dict(values or {})
            if status is not None:
                changes["status"] = status
            changes["updated_at"] = now
            await batch.conn.execute(
                sa.update(RS).where(RS.c.id == session_id, RS.c.status == row.status).values(**changes)
            )
            batch.event(row.linked_report_id, kind, actor, now, {"session": str(session_id), **payload})
            return None

        refused: str | None = await self._db.writer.run(reception_transition_txn)
        return refused

    async def consent(
        self, session_id: uuid.UUID, attendees: list[str], actor: str, now: datetime
    ) -> str | None:
        """The citizen confirmed on the township screen that the session is recorded and who
        attends: the session is live from then on."""
        return await self._transition(
            session_id,
            ("booked",),
            "live",
            actor,
            now,
            "reception_consent",
            {"attendees": attendees},
            {"attendees": attendees, "consent_at": now, "started_at": now},
        )

    async def claim(self, session_id: uuid.UUID, officer: str, actor: str, now: datetime) -> str | None:
        """One officer of the receiving unit's pool takes the session: None when it is theirs now
        (or was already), otherwise who holds it (or ``status:<status>`` when it is over)."""

        async def reception_claim_txn(batch: Batch) -> str | None:
            row = (
                await batch.conn.execute(
                    sa.select(RS.c.status, RS.c.officer, RS.c.linked_report_id).where(RS.c.id == session_id)
                )
            ).first()
            if row is None or row.status in ("filed", "cancelled"):
                return f"status:{row.status if row else 'missing'}"
            if row.officer is not None:
                return None if row.officer == officer else str(row.officer)
            await batch.conn.execute(
                sa.update(RS)
                .where(RS.c.id == session_id, RS.c.officer.is_(None))
                .values(officer=officer, updated_at=now)
            )
            payload = {"session": str(session_id), "officer": officer}
            batch.event(row.linked_report_id, "reception_officer_joined", actor, now, payload)
            return None

        held: str | None = await self._db.writer.run(reception_claim_txn)
        return held

    async def end(
        self, session_id: uuid.UUID, minutes: str, officer: str, actor: str, now: datetime
    ) -> str | None:
        """The officer ended the call and handed over the minutes for the citizen to confirm."""
        return await self._transition(
            session_id,
            ("live", "minutes"),
            "minutes",
            actor,
            now,
            "reception_ended",
            {"minutes_chars": len(minutes), "officer": officer},
            {"minutes": minutes, "officer": officer, "ended_at": now},
        )

    async def save_minutes(
        self, session_id: uuid.UUID, minutes: str, actor: str, now: datetime
    ) -> str | None:
        return await self._transition(
            session_id,
            ("live", "minutes"),
            None,
            actor,
            now,
            "reception_minutes_saved",
            {"minutes_chars": len(minutes)},
            {"minutes": minutes},
        )

    async def take_identity(self, session_id: uuid.UUID) -> dict[str, str] | None:
        """The sealed identity, opened for the pipeline to seal it into the vault (never shown)."""
        async with self._db.read_engine.connect() as conn:
            sealed = (
                await conn.execute(sa.select(RS.c.identity_sealed).where(RS.c.id == session_id))
            ).scalar_one_or_none()
        return self._open(session_id, sealed) if sealed else None

    async def filed(
        self, session_id: uuid.UUID, case_no: str, report_id: uuid.UUID, actor: str, now: datetime
    ) -> bool:
        """The citizen confirmed the minutes and the report is filed: link it, erase the identity."""

        async def reception_filed_txn(batch: Batch) -> bool:
            row = (await batch.conn.execute(sa.select(RS.c.status).where(RS.c.id == session_id))).first()
            if row is None or row.status != "minutes":
                return False
            await batch.conn.execute(
                sa.update(RS)
                .where(RS.c.id == session_id)
                .values(
                    status="filed",
                    case_no=case_no,
                    identity_sealed=None,
                    minutes_confirmed_at=now,
                    updated_at=now,
                )
            )
            batch.event(
                report_id,
                "reception_filed",
                actor,
                now,
                {"session": str(session_id), "case_no": case_no, "minutes_confirmed": True},
            )
            return True

        done: bool = await self._db.writer.run(reception_filed_txn)
        return done

    # --- audit --------------------------------------------------------------------------------------

    async def audit(
        self,
        kind: str,
        actor: str,
        now: datetime,
        payload: dict[str, Any],
        report_id: uuid.UUID | None = None,
    ) -> None:
        """An audit event of its own (a recording viewed, a supervisor watching, a private note)."""

        async def reception_audit_txn(batch: Batch) -> None:
            batch.event(report_id, kind, actor, now, payload)

        await self._db.writer.run(reception_audit_txn)
