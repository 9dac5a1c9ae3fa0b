"""The counts by the accused's unit for the periodic reports (issue 18): the organs complained
about most. (The measures themselves are the roll-up's: :meth:`storage.stats_store.StatsStore.
measure_sums`.) Nothing here decides what may be shown: :mod:`intake.stats_report` suppresses.
The reports are chosen by the same scope rule as the case list
(:func:`storage.workflow_store.in_scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.stats_store import StatsFilter, reports_of
from storage.tables import R
from storage.workflow_store import CASES

if TYPE_CHECKING:
    from storage.database import Database


class StatsMeasuresStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _where(self, f: StatsFilter) -> Any:
        return reports_of(f, self._db.dialect)

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
