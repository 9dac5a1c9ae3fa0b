"""Storage for what the informant sends back about the handling (issue 17): the rating of an
answer (满意度评价) and the requests against it — 复查, 复核 and objections (异议).

Each write is one named transaction on the group-commit writer with its audit event. A rating is
kept once per answer (the unique ``(report_id, reply_at)`` decides a race); a review request is
applied together with the workflow's :class:`~storage.workflow_store.CaseChange` it comes with
(the case re-opened at the next level up, its deadline), so the two cannot part.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.audit import utc
from storage.case_change import CaseChange, StaleCase, apply_case_change_txn
from storage.db import Batch
from storage.tables import CS, RR
from storage.tables import FB as F

if TYPE_CHECKING:
    from storage.database import Database


class AlreadyRated(Exception):
    """This answer has been rated already."""


class NoAnswer(Exception):
    """The case has no answer to rate (yet)."""


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    reply_at: datetime
    rating: str
    comment: str | None
    channel: str
    at: datetime


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    kind: str
    reason: str
    from_unit: str
    to_unit: str
    channel: str
    at: datetime
    due_on: date
    deadline_id: int | None


@dataclass(frozen=True)
class NewReview:
    kind: str
    reason: str
    from_unit: str
    to_unit: str
    channel: str
    due_on: date


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def rate(
        self, report_id: uuid.UUID, rating: str, comment: str | None, channel: str, at: datetime
    ) -> FeedbackRecord:
        """Rate the case's current answer (its ``replied_at``). :class:`NoAnswer` when there is
        none, :class:`AlreadyRated` when it has a rating already."""

        async def rate_answer_txn(batch: Batch) -> FeedbackRecord:
            conn = batch.conn
            replied = (
                await conn.execute(sa.select(CS.c.replied_at).where(CS.c.report_id == report_id))
            ).scalar_one_or_none()
            if replied is None:
                raise NoAnswer()
            reply_at = utc(replied)
            have = (
                await conn.execute(
                    sa.select(F.c.id).where(F.c.report_id == report_id, F.c.reply_at == reply_at)
                )
            ).first()
            if have is not None:
                raise AlreadyRated()
            new_id = (
                await conn.execute(
                    sa.insert(F)
                    .values(
                        report_id=report_id,
                        reply_at=reply_at,
                        rating=rating,
                        comment=comment,
                        channel=channel,
                        at=at,
                    )
                    .returning(F.c.id)
                )
            ).scalar_one()
            # The rating is on the record; the comment's words stay in its own row.
            payload = {"rating": rating, "comment_chars": len(comment or ""), "channel": channel}
            batch.event(report_id, "feedback_given", "informant", at, payload)
            return FeedbackRecord(new_id, reply_at, rating, comment, channel, at)

        try:
            record: FeedbackRecord = await self._db.writer.run(rate_answer_txn)
        except sa.exc.IntegrityError:
            raise AlreadyRated() from None  # a rating of the same answer committed first
        return record

    async def feedback(self, report_id: uuid.UUID) -> list[FeedbackRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(sa.select(F).where(F.c.report_id == report_id).order_by(F.c.id))).all()
        return [
            FeedbackRecord(r.id, utc(r.reply_at), r.rating, r.comment, r.channel, utc(r.at)) for r in rows
        ]

    async def request_review(self, change: CaseChange, review: NewReview) -> int:
        """Apply the workflow's change and store the request with the deadline it opened, in one
        transaction; ``StaleCase`` when the case moved meanwhile."""

        async def request_review_txn(batch: Batch) -> int:
            created = await apply_case_change_txn(batch, change)
            new_id: int = (
                await batch.conn.execute(
                    sa.insert(RR)
                    .values(
                        report_id=change.report_id,
                        at=change.at,
                        deadline_id=created[0] if created else None,
                        **asdict(review),  # kind, reason, from_unit, to_unit, channel, due_on
                    )
                    .returning(RR.c.id)
                )
            ).scalar_one()
            return new_id

        done: int = await self._db.writer.run(request_review_txn)
        return done

    async def reviews(self, report_id: uuid.UUID) -> list[ReviewRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(RR).where(RR.c.report_id == report_id).order_by(RR.c.id))
            ).all()
        return [
            ReviewRecord(
                r.id, r.kind, r.reason, r.from_unit, r.to_unit, r.channel, utc(r.at), r.due_on, r.deadline_id
            )
            for r in rows
        ]


__all__ = [
    "AlreadyRated",
    "FeedbackRecord",
    "FeedbackStore",
    "NewReview",
    "NoAnswer",
    "ReviewRecord",
    "StaleCase",
]
