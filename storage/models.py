"""SQLAlchemy table models. The schema of record is the Alembic chain in ``storage/migrations``;
``tests/test_migrations.py`` checks that the two agree on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A naming convention lets Alembic's batch mode (SQLite) find constraints by name.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UTCDateTime = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class Unit(Base):
    """A commission or office in the jurisdiction's org tree, keyed by its division code."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(24))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("units.code"), index=True)
    division_code: Mapped[str] = mapped_column(sa.String(12))
    division_name: Mapped[str] = mapped_column(sa.String(100))
    __table_args__ = (
        sa.CheckConstraint("level IN ('central','province','city','county','township')", name="level"),
    )


class Report(Base):
    __tablename__ = "reports"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    case_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    query_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    receipt_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    title: Mapped[str | None] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    category: Mapped[str | None] = mapped_column(sa.String(64))
    accused_name: Mapped[str | None] = mapped_column(sa.String(100))
    accused_unit: Mapped[str | None] = mapped_column(sa.String(200))
    accused_position: Mapped[str | None] = mapped_column(sa.String(100))
    location_code: Mapped[str | None] = mapped_column(sa.String(12))
    location_text: Mapped[str | None] = mapped_column(sa.String(200))
    anonymous: Mapped[bool] = mapped_column(sa.Boolean)
    informant_alias: Mapped[str] = mapped_column(sa.String(32))
    receiving_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    handling_unit: Mapped[str | None] = mapped_column(sa.ForeignKey("units.code"), index=True)
    status: Mapped[str] = mapped_column(sa.String(24), index=True)
    # Triage fields, filled by the triage job after the acknowledgement.
    scope: Mapped[str | None] = mapped_column(sa.String(24))
    level: Mapped[str | None] = mapped_column(sa.String(16))
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    confidence: Mapped[float | None] = mapped_column(sa.Float)
    duplicate_of: Mapped[str | None] = mapped_column(sa.String(32))
    triage: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id"),
        sa.CheckConstraint(
            "channel IN ('web','app','wechat','weibo','phone','sms','telegram','letter','visit','video')",
            name="channel",
        ),
    )


class ReportEvent(Base):
    """The append-only audit trail: one global hash chain over every event (全程留痕)."""

    __tablename__ = "report_events"
    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    report_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditHead(Base):
    """One row: the last sequence number and hash of the chain, locked by each writing transaction."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


class CaseCounter(Base):
    """Per receiving unit and year, the last case sequence number handed out."""

    __tablename__ = "case_counters"
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    unit_code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    last: Mapped[int] = mapped_column(sa.BigInteger)


class VaultEntry(Base):
    """A sealed identity or channel handle: envelope-encrypted, bound to its own id and report id."""

    __tablename__ = "vault_entries"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    kek_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    nonce: Mapped[bytes] = mapped_column(sa.LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Attachment(Base):
    """A file sent with a report; its bytes (and original name) live encrypted on disk."""

    __tablename__ = "attachments"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    blob_path: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    """The two-way thread of a case: informant follow-ups (in) and office replies (out)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    direction: Mapped[str] = mapped_column(sa.String(4))
    channel: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("direction IN ('in','out')", name="direction"),)


class Job(Base):
    """The durable queue for work after the acknowledgement."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(12))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    max_attempts: Mapped[int] = mapped_column(sa.Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.Index("ix_jobs_status_run_after", "status", "run_after"),
        sa.CheckConstraint("status IN ('pending','running','done','dead')", name="status"),
    )


# --- the identity vault (issue 3) -----------------------------------------------------------------


class VaultKey(Base):
    """A key-encryption key version as the database knows it (never the key itself): its public
    check value, when it was first seen, when every data key was re-wrapped to it, when retired."""

    __tablename__ = "vault_keys"
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    provider: Mapped[str] = mapped_column(sa.String(32))
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VaultCustodian(Base):
    """Someone who may ask for, approve and open reveals (a username until staff accounts exist)."""

    __tablename__ = "vault_custodians"
    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    added_by: Mapped[str] = mapped_column(sa.String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VaultRevealRequest(Base):
    """A custodian's request to reveal one report's identity, handles or IP address."""

    __tablename__ = "vault_reveal_requests"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    requester: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    commission_ref: Mapped[str | None] = mapped_column(sa.String(200))
    approvals_needed: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("kind IN ('identity','handle','ip')", name="kind"),
        sa.CheckConstraint("status IN ('pending','approved','denied','expired','opened')", name="status"),
    )


class VaultRevealDecision(Base):
    """One custodian's approval or denial of a reveal request (one each)."""

    __tablename__ = "vault_reveal_decisions"
    request_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vault_reveal_requests.id"), primary_key=True)
    custodian: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    decision: Mapped[str] = mapped_column(sa.String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("decision IN ('approve','deny')", name="decision"),)


class VaultBlindIndex(Base):
    """A keyed hash of one of an informant's identifiers, per report: same MAC, same informant."""

    __tablename__ = "vault_blind_indexes"
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    alg: Mapped[str] = mapped_column(sa.String(16))
    mac: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- platform dialogues (issue 5: WeChat and Weibo) ------------------------------------------------


class Conversation(Base):
    """Where an informant is in a platform channel's guided dialogue. Keyed by the blind index of
    their channel handle (an HMAC, never the openid or uid itself); the draft is sealed."""

    __tablename__ = "conversations"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[str] = mapped_column(sa.String(24))
    draft: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    last_inbound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChannelMessage(Base):
    """A platform message already seen (keyed hash of its id), so that a platform's retries get
    the first answer again (sealed, kept a day) instead of being processed twice."""

    __tablename__ = "channel_messages"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(8))
    reply: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    __table_args__ = (sa.CheckConstraint("status IN ('pending','done')", name="status"),)
