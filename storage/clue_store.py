"""Storage for problem clues (问题线索, issue 18): the clue row of a case and the receiving unit's
list of results reported back to it.

A clue changes only together with its case: the workflow's
:class:`~storage.case_change.CaseChange` carries a :class:`ClueWrite`, which
:func:`write_clue_txn` applies inside the change's transaction (the audit event and the deadlines
in the same commit). The write names the state it was decided from and refuses (``StaleCase``)
when the clue has moved meanwhile, so two approvals of one proposal cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.db import Batch
from storage.tables import CL, CS, R, one_of, record_of

if TYPE_CHECKING:
    from storage.database import Database

ANY_STATE = "*"  # a write that (re)opens the clue whatever it was, or creates it


class StaleClue(Exception):
    """The clue is no longer in the state the step was decided from."""


@dataclass(frozen=True)
class ClueRecord:
    report_id: uuid.UUID
    state: str
    handling_unit: str
    receiving_unit: str
    method: str | None
    stage: str | None
    proposal: str | None
    proposal_reason: str | None
    proposed_by: str | None
    proposed_at: datetime | None
    prior_state: str | None
    approvals: str | None  # JSON: the levels given to the pending proposal, or to the one approved last
    leader_case: bool
    approved_by: str | None
    approved_at: datetime | None
    plan: str | None
    result: str | None
    rounds: int
    reported_at: datetime | None
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ClueResultRow:
    """A result reported back to the receiving unit: which case, where it was handled, how it ended."""

    case_no: str
    handling_unit: str
    receiving_unit: str
    method: str | None
    result: str | None
    reported_at: datetime


@dataclass
class ClueWrite:
    """What one step writes to the clue row, the state it expects the row in, and other columns it
    expects unchanged (an approval level: the levels given before it, so that two approvals of
    the same level cannot both count)."""

    expect_state: str
    values: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)


async def write_clue_txn(batch: Batch, report_id: uuid.UUID, write: ClueWrite, at: datetime) -> None:
    conn = batch.conn
    have = (await conn.execute(sa.select(CL.c.state).where(CL.c.report_id == report_id))).first()
    values = write.values | {"updated_at": at}
    if have is None:
        if write.expect_state != ANY_STATE:
            raise StaleClue("no clue")
        defaults = {"rounds": 0, "opened_at": at}
        await conn.execute(sa.insert(CL).values(report_id=report_id, **(defaults | values)))
        return
    query = sa.update(CL).where(CL.c.report_id == report_id)
    if write.expect_state != ANY_STATE:
        query = query.where(CL.c.state == write.expect_state)
    for name, value in write.expect.items():
        column = CL.c[name]
        query = query.where(column.is_(None) if value is None else column == value)
    if (await conn.execute(query.values(**values))).rowcount != 1:
        raise StaleClue(f"clue is {have.state}")


class ClueStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def clue(self, report_id: uuid.UUID) -> ClueRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(sa.select(CL).where(CL.c.report_id == report_id))).first()
        return record_of(ClueRecord, row) if row is not None else None

    async def reported_to(self, units: Sequence[str], limit: int = 500) -> list[ClueResultRow]:
        """Results reported back to any of ``units`` as the receiving unit, newest first; never a
        clue of a case sent up sealed (the receiving unit must not learn of it, S1 art 15)."""
        if not units:
            return []
        async with self._db.read_engine.connect() as conn:
            query = (
                sa.select(
                    R.c.case_no,
                    CL.c.handling_unit,
                    CL.c.receiving_unit,
                    CL.c.method,
                    CL.c.result,
                    CL.c.reported_at,
                )
                .select_from(CL.join(R, R.c.id == CL.c.report_id).outerjoin(CS, CS.c.report_id == R.c.id))
                .where(
                    CL.c.reported_at.is_not(None),
                    one_of(conn, CL.c.receiving_unit, list(units)),
                    sa.not_(sa.func.coalesce(CS.c.sealed, sa.false())),
                    sa.not_(sa.func.coalesce(R.c.triage["sealed"].as_boolean(), sa.false())),
                )
                .order_by(CL.c.reported_at.desc(), R.c.case_no)
                .limit(limit)
            )
            rows = (await conn.execute(query)).all()
        return [record_of(ClueResultRow, r) for r in rows]


__all__ = [
    "ANY_STATE",
    "ClueRecord",
    "ClueResultRow",
    "ClueStore",
    "ClueWrite",
    "StaleClue",
    "write_clue_txn",
]
