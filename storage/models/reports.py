"""Reports and what every report has: units, the audit chain, case counters, attachments, the
message thread and the job queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


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
        sa.CheckConstraint(
            "level IN ('central','province','city','county','township','village')", name="level"
        ),
    )


# A stored triage result that asks for a person: the predicate of the partial index the manual
# triage queue reads (``ix_reports_needs_review``), per dialect; a query must say the same.
NEEDS_REVIEW = {
    "postgresql": "(triage ->> 'needs_review') = 'true'",
    "sqlite": "json_extract(triage, '$.needs_review') = 1",
}


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
    # Indexed with received_at (0028): the accused alert reads a name's reports of 90 days.
    accused_name: Mapped[str | None] = mapped_column(sa.String(100))
    accused_unit: Mapped[str | None] = mapped_column(sa.String(200))
    accused_position: Mapped[str | None] = mapped_column(sa.String(100))
    location_code: Mapped[str | None] = mapped_column(sa.String(12))
    location_text: Mapped[str | None] = mapped_column(sa.String(200))
    anonymous: Mapped[bool] = mapped_column(sa.Boolean)
    informant_alias: Mapped[str] = mapped_column(sa.String(32))
    receiving_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    handling_unit: Mapped[str | None] = mapped_column(sa.ForeignKey("units.code"), index=True)
    # The case's owner as the workflow set it: a copy of ``case_states.owner_unit`` kept by
    # triggers (migration 0034), NULL until the workflow acts. The case belongs to
    # ``coalesce(owner_unit, receiving_unit)`` (``storage.workflow_store.owner_unit``).
    owner_unit: Mapped[str | None] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(24))
    # Triage fields, filled by the triage job after the acknowledgement.
    scope: Mapped[str | None] = mapped_column(sa.String(24))
    level: Mapped[str | None] = mapped_column(sa.String(16))
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    confidence: Mapped[float | None] = mapped_column(sa.Float)
    duplicate_of: Mapped[str | None] = mapped_column(sa.String(32))
    triage: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Keyed hashes (per report) of the identity values the informant gave, for redacting their
    # follow-ups without decrypting anything: ``storage.vault.pack_redaction_terms``. Cleared by
    # crypto-shredding. A column rather than a table: one more row per report cost the accept
    # transaction three times as much.
    redaction_terms: Mapped[str | None] = mapped_column(sa.Text)
    __table_args__ = (
        sa.Index("ix_reports_accused_name_received_at", "accused_name", "received_at"),
        # The newest reports of a status, in order: the queue's lists (migration 0033).
        sa.Index("ix_reports_status_received_at", "status", "received_at"),
        # The newest reports of a status owned by a few units: a county's lists (migration 0034).
        sa.Index(
            "ix_reports_status_owner",
            "status",
            sa.text("coalesce(owner_unit, receiving_unit)"),
            "received_at",
        ),
        # The manual triage queue, oldest first (migration 0031).
        sa.Index(
            "ix_reports_needs_review",
            "received_at",
            "case_no",
            postgresql_where=sa.text(NEEDS_REVIEW["postgresql"]),
            sqlite_where=sa.text(NEEDS_REVIEW["sqlite"]),
        ),
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
