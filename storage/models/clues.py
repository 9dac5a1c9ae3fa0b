"""Problem clues (问题线索) and their disposal (线索处置, issue 18): one row per accusation accepted
as a clue, holding where its disposal stands; every step is also an event in the case's audit
chain."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime

CLUE_STATES = ("received", "pending", "inquiry", "answered", "verifying", "shelved", "done")


class Clue(Base):
    """One problem clue: its state, the method approved last, the proposal awaiting approval (with
    who proposed it and why), the verification plan, the final result, and when the result was
    reported back to the receiving unit."""

    __tablename__ = "clues"
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    handling_unit: Mapped[str] = mapped_column(sa.String(16), index=True)
    receiving_unit: Mapped[str] = mapped_column(sa.String(16), index=True)
    method: Mapped[str | None] = mapped_column(sa.String(24))
    stage: Mapped[str | None] = mapped_column(sa.String(16))
    proposal: Mapped[str | None] = mapped_column(sa.String(24))
    proposal_reason: Mapped[str | None] = mapped_column(sa.Text)
    proposed_by: Mapped[str | None] = mapped_column(sa.String(80))
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prior_state: Mapped[str | None] = mapped_column(sa.String(16))
    # The levels given so far to the pending proposal (a JSON array, 0027): level, by, at, reference.
    approvals: Mapped[str | None] = mapped_column(sa.Text)
    # The accused is a main leader of a unit under the commission (监督执纪工作规则 arts 22, 27, 33).
    leader_case: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    approved_by: Mapped[str | None] = mapped_column(sa.String(80))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[str | None] = mapped_column(sa.String(24))
    rounds: Mapped[int] = mapped_column(sa.Integer)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("state IN (" + ",".join(f"'{s}'" for s in CLUE_STATES) + ")", name="state"),
    )
