"""What the informant sends back about the handling (issue 17): the rating of an answer and the
requests against it (复查, 复核, 异议)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class CaseFeedback(Base):
    """The informant's rating of an answer (满意度评价, issue 17): once per answer, the answer being
    the case's ``replied_at`` when it was rated."""

    __tablename__ = "case_feedback"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    reply_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rating: Mapped[str] = mapped_column(sa.String(24))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.UniqueConstraint("report_id", "reply_at", name="uq_case_feedback_answer"),
        sa.CheckConstraint("rating IN ('satisfied','basically_satisfied','dissatisfied')", name="rating"),
    )


class ReviewRequest(Base):
    """An informant's request against the handling (issue 17): 复查 (review) and 复核 (re-review)
    go to the next level up; an objection (异议) stays with the unit that answered."""

    __tablename__ = "review_requests"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text)
    from_unit: Mapped[str] = mapped_column(sa.String(16))
    to_unit: Mapped[str] = mapped_column(sa.String(16))
    channel: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_on: Mapped[date] = mapped_column(sa.Date)
    deadline_id: Mapped[int | None] = mapped_column(sa.Integer)
    __table_args__ = (sa.CheckConstraint("kind IN ('review','re_review','objection')", name="kind"),)
