"""Video reception sessions (issue 9) and the pieces of their recordings."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class ReceptionSession(Base):
    """A booked video reception session (视频接访): a township room, the receiving county (or city)
    unit, a slot, what the citizen comes about, the sealed identity until the session files its
    report, consent, minutes and the case it filed."""

    __tablename__ = "reception_sessions"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    township_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    host_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    slot_minutes: Mapped[int] = mapped_column(sa.Integer)
    # Opened at once with the citizen in the room (issue 20), not booked on a slot.
    walk_in: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false(), default=False)
    status: Mapped[str] = mapped_column(sa.String(12), index=True)
    accused_name: Mapped[str | None] = mapped_column(sa.String(100))
    accused_unit: Mapped[str | None] = mapped_column(sa.String(200))
    accused_position: Mapped[str | None] = mapped_column(sa.String(100))
    accused_rank: Mapped[str | None] = mapped_column(sa.String(16))
    facts: Mapped[str] = mapped_column(sa.Text)
    identity_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    linked_report_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id"))
    booked_by: Mapped[str] = mapped_column(sa.String(64))
    officer: Mapped[str | None] = mapped_column(sa.String(64))
    attendees: Mapped[list[str] | None] = mapped_column(sa.JSON)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes: Mapped[str | None] = mapped_column(sa.Text)
    minutes_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_no: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("status IN ('booked','live','minutes','filed','cancelled')", name="status"),
    )


class ReceptionChunk(Base):
    """One piece of a session's recording (an encrypted blob file), as the server's recorder wrote
    it (``part``: whose media, ``host`` or ``officer``) or as the browser uploaded it (no part)."""

    __tablename__ = "reception_chunks"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reception_sessions.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    part: Mapped[str | None] = mapped_column(sa.String(16))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    blob_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.UniqueConstraint("session_id", "seq"),)


# --- rooms shared by several server workers on PostgreSQL (issue 21) -------------------------------
# On SQLite (one process) the rooms live in memory and these tables stay empty.


class ReceptionRoom(Base):
    """A room's sequence of seat changes: every change takes the row (which orders the changes of
    one room across workers) and numbers its event, so a seat that joined at ``seq`` ignores the
    events it already saw in its welcome."""

    __tablename__ = "reception_rooms"
    room: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReceptionSeat(Base):
    """Who sits in a room, on which worker: connected, or dropped (``dropped_at``) and kept for the
    grace period."""

    __tablename__ = "reception_seats"
    room: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seat: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    worker: Mapped[str] = mapped_column(sa.String(64), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    connected: Mapped[bool] = mapped_column(sa.Boolean)
    dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceptionWorker(Base):
    """A server worker's lease: renewed every few seconds; the seats of a worker whose lease ran
    out (killed, frozen, cut off) are dropped and then expire."""

    __tablename__ = "reception_workers"
    worker: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReceptionSpentToken(Base):
    """A room token spent on a join (its nonce), until it expires: a token joins once."""

    __tablename__ = "reception_spent_tokens"
    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires: Mapped[int] = mapped_column(sa.BigInteger, index=True)


class ReceptionSignal(Base):
    """A signaling message too large for a NOTIFY payload (an SDP of up to 32 KiB): the
    notification carries its id; swept after a minute."""

    __tablename__ = "reception_signals"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    payload: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
