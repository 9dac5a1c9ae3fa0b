"""What the statistics' measures beyond counts are made of (issue 18): for each report of a scope
and period, the few facts the times and rates need — when it was received and first accepted,
when it was concluded, whether it was transferred, marked a duplicate or merged, its deadlines and
the informant's latest rating — and the counts by the accused's unit for the periodic reports.

Kept apart from :mod:`storage.stats_store` (the counts) on purpose: nothing here decides what may
be shown; :mod:`intake.stats_measures` computes and suppresses. The reports are chosen by the same
scope rule as the case list (:func:`storage.workflow_store.in_scope`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.audit import utc
from storage.stats_store import StatsFilter
from storage.tables import CD, CS, CT, FB, E, R
from storage.workflow_store import CASES, in_scope

if TYPE_CHECKING:
    from storage.database import Database

# The transfers that hand a case to another unit (转办), as the workflow writes them; a forward
# to an outside organ and an assignment down (交办) are not transfers.
TRANSFER_KINDS = ("upward", "downward", "sideways")


@dataclass(frozen=True)
class DeadlineFact:
    due_on: date
    status: str  # open | met (cancelled ones are left out)
    closed_at: datetime | None


@dataclass
class CaseFacts:
    """One report's facts for the measures."""

    received_at: datetime
    anonymous: bool
    status: str
    duplicate: bool
    merged: bool
    concluded_at: datetime | None
    accepted_at: datetime | None = None
    transferred: bool = False
    deadlines: list[DeadlineFact] = field(default_factory=list)
    rating: str | None = None  # the latest rating of the case's answers


class StatsMeasuresStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _where(self, f: StatsFilter) -> Any:
        return sa.and_(
            in_scope(f.units, f.hide_sealed_received_by, self._db.dialect),
            R.c.received_at >= f.start,
            R.c.received_at < f.end,
        )

    def _ids(self, f: StatsFilter) -> Any:
        return sa.select(R.c.id).select_from(CASES).where(self._where(f))

    async def case_facts(self, f: StatsFilter) -> list[CaseFacts]:
        """The facts of every report of ``f``: five queries, each over the same chosen reports."""
        base = sa.select(
            R.c.id,
            R.c.received_at,
            R.c.anonymous,
            R.c.status,
            R.c.duplicate_of,
            CS.c.merged_into,
            CS.c.concluded_at,
        ).select_from(CASES)
        ids = self._ids(f)
        accepted = (
            sa.select(E.c.report_id, sa.func.min(E.c.at).label("at"))
            .where(E.c.kind == "accept", E.c.report_id.in_(ids))
            .group_by(E.c.report_id)
        )
        transferred = (
            sa.select(CT.c.report_id).where(CT.c.kind.in_(TRANSFER_KINDS), CT.c.report_id.in_(ids)).distinct()
        )
        deadlines = sa.select(CD.c.report_id, CD.c.due_on, CD.c.status, CD.c.closed_at).where(
            CD.c.status != "cancelled", CD.c.report_id.in_(ids)
        )
        ratings = (
            sa.select(FB.c.report_id, FB.c.rating)
            .where(FB.c.report_id.in_(ids))
            .order_by(FB.c.report_id, FB.c.at, FB.c.id)
        )
        async with self._db.read_engine.connect() as conn:
            facts: dict[uuid.UUID, CaseFacts] = {
                r.id: CaseFacts(
                    utc(r.received_at),
                    bool(r.anonymous),
                    r.status,
                    r.duplicate_of is not None,
                    r.merged_into is not None,
                    utc(r.concluded_at) if r.concluded_at else None,
                )
                for r in await conn.execute(base.where(self._where(f)))
            }
            for r in await conn.execute(accepted):
                facts[r.report_id].accepted_at = utc(r.at)
            for (report_id,) in await conn.execute(transferred):
                facts[report_id].transferred = True
            for d in await conn.execute(deadlines):
                closed = utc(d.closed_at) if d.closed_at else None
                facts[d.report_id].deadlines.append(DeadlineFact(d.due_on, d.status, closed))
            for g in await conn.execute(ratings):
                facts[g.report_id].rating = g.rating  # ordered by time: the last one stays
        return list(facts.values())

    async def accused_units(self, f: StatsFilter, limit: int = 50) -> list[tuple[str, int]]:
        """``(accused unit as filed, reports)``, most reported first: the organs complained about
        most (信访工作条例 art 41). Reports without an accused unit are left out."""
        unit = sa.func.trim(R.c.accused_unit)
        n = sa.func.count().label("n")
        query = (
            sa.select(unit.label("unit"), n)
            .select_from(CASES)
            .where(self._where(f), R.c.accused_unit.is_not(None), unit != "")
            .group_by(unit)
            .order_by(n.desc(), unit)
            .limit(limit)
        )
        async with self._db.read_engine.connect() as conn:
            return [(r.unit, int(r.n)) for r in await conn.execute(query)]
