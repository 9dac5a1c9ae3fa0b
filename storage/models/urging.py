"""Automatic urging (催办) and supervision notices (督办函) (issue 18 item 4): the staff alerts of
each unit with their per-user read state and mail delivery, and the notices an upper unit sends."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class StaffAlert(Base):
    """One alert to a unit's staff: a deadline that turned yellow or red (once per deadline and
    colour: the unique pair), a step of a supervision notice, or a walk-in video reception waiting
    for one of the unit's officers (issue 20; no mail). ``mail_status`` tracks the e-mail
    (NULL: none sent, no server or no address; pending, sent, retrying, failed)."""

    __tablename__ = "staff_alerts"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(sa.String(16), index=True)
    # A case's alert, or (issue 20) a walk-in's: a video reception session waiting for an officer,
    # with no report yet.
    report_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reception_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    deadline_id: Mapped[int | None] = mapped_column(sa.Integer)
    notice_id: Mapped[int | None] = mapped_column(sa.Integer)
    rule: Mapped[str | None] = mapped_column(sa.String(48))
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mail_status: Mapped[str | None] = mapped_column(sa.String(12))
    mail_error: Mapped[str | None] = mapped_column(sa.String(200))
    __table_args__ = (sa.UniqueConstraint("deadline_id", "kind", name="uq_staff_alerts_deadline_kind"),)


class StaffAlertRead(Base):
    """Who of the unit has read an alert, and when."""

    __tablename__ = "staff_alert_reads"
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_alerts.id"), primary_key=True)
    username: Mapped[str] = mapped_column(sa.ForeignKey("staff.username"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SupervisionNotice(Base):
    """A supervision notice (督办函) from an upper unit to the unit handling a case: pending (待答复)
    until answered (已答复), then closed (已办结) by the supervisor or sent back to pending."""

    __tablename__ = "supervision_notices"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    from_unit: Mapped[str] = mapped_column(sa.String(16))
    to_unit: Mapped[str] = mapped_column(sa.String(16), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    reply_due: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(12))
    answer: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(sa.String(64))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(sa.String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("status IN ('pending','answered','closed')", name="status"),)
