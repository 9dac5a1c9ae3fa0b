"""Case workflow, deadlines and staff (issue 8)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class StaffAccount(Base):
    """A staff member: one unit, one role, a memory-hard password hash and a sealed TOTP secret."""

    __tablename__ = "staff"
    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    totp_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # No longer read or written (issue 14: failed logins are throttled per address, in memory,
    # not counted on the account); kept until a revision drops them.
    failed_logins: Mapped[int] = mapped_column(sa.Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where urging alerts (催办) are mailed, when a mail server is configured (issue 18).
    email: Mapped[str | None] = mapped_column(sa.String(254))
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('registrar','triage_officer','handler','supervisor','leader','custodian','admin')",
            name="role",
        ),
    )


class StaffRelation(Base):
    """A relation a staff member declared (a relative, a former colleague …): blocks assignment (回避)."""

    __tablename__ = "staff_relations"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.ForeignKey("staff.username"), index=True)
    person_name: Mapped[str] = mapped_column(sa.String(100))
    person_unit: Mapped[str | None] = mapped_column(sa.String(200))
    relation: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A bearer token (only its SHA-256 is kept) with an absolute expiry."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    username: Mapped[str] = mapped_column(sa.ForeignKey("staff.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseState(Base):
    """The workflow's view of one report: which unit owns it, who handles it, sealing, merging,
    and the review (复查/复核) stage."""

    __tablename__ = "case_states"
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True)
    owner_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    handler: Mapped[str | None] = mapped_column(sa.String(64))
    sealed: Mapped[bool] = mapped_column(sa.Boolean)
    merged_into: Mapped[str | None] = mapped_column(sa.String(32))
    review_stage: Mapped[int] = mapped_column(sa.Integer)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseTransfer(Base):
    """A transfer (转办 up, down or sideways), an assignment down (交办), or a forward elsewhere."""

    __tablename__ = "case_transfers"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    from_unit: Mapped[str] = mapped_column(sa.String(16))
    to_unit: Mapped[str | None] = mapped_column(sa.String(16))
    to_organ: Mapped[str | None] = mapped_column(sa.String(100))
    sealed: Mapped[bool] = mapped_column(sa.Boolean)
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("kind IN ('upward','downward','sideways','assign_down','forward')", name="kind"),
    )


class CaseDeadline(Base):
    """One running period of a case under a named rule (intake.deadlines)."""

    __tablename__ = "case_deadlines"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    rule: Mapped[str] = mapped_column(sa.String(48))
    unit_code: Mapped[str] = mapped_column(sa.String(16), index=True)
    start_on: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    extensions: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What scoping needs of the case, kept by triggers (migration 0032) from ``case_states`` and
    # ``reports``: the owner, sealed (by the workflow or the stored triage), the receiving unit.
    # The deadline board scopes and counts from this table alone.
    case_owner: Mapped[str | None] = mapped_column(sa.String(16))
    case_sealed: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    case_received_by: Mapped[str | None] = mapped_column(sa.String(16))
    __table_args__ = (
        sa.CheckConstraint("status IN ('open','met','cancelled')", name="status"),
        sa.Index(
            "ix_case_deadlines_open",
            "due_on",
            "case_owner",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        ),
    )


class RecusalRequest(Base):
    """A request that someone step aside (回避): from the informant or a staff member."""

    __tablename__ = "recusal_requests"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("status IN ('pending','granted','denied')", name="status"),)
