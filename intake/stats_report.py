"""Periodic reports upward (向上报送, issue 18 §6): the monthly, quarterly and annual figures of a
unit's subtree that 信访工作条例 art 41 asks for — how many reports, through which channels,
about which matters (问题类别), the organs complained about most (被反映单位), the handling results
(办理状态), timeliness (受理、办结用时, 超期率) and the change against the period before (环比) and
a year earlier (同比) — made on demand from the statistics, with the same suppression.

Only a period that has ended can be reported (``422 period_not_ended``); the unit must be in the
member's sight. Making a report is one audit event (``stats_report_made``), not one per table.
Rendering (PDF, XLSX) is the console's (:mod:`console.stats_report_files`): this module gives the
figures only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from intake.clock import Clock
from intake.errors import ValidationError
from intake.staff import StaffMember, StaffService
from intake.stats import StatsService, StatsTable
from intake.stats_measures import Measures, MeasuresService, Period, make_period, previous
from storage.database import Database

TABLES = ("channel", "category", "status", "owner_unit")
TOP_ACCUSED_UNITS = 10
LIST_MONTHS = 24  # the console lists the reports of the last two years


@dataclass(frozen=True)
class PeriodicReport:
    unit: str
    period: Period
    made_at: datetime
    measures: Measures
    tables: dict[str, StatsTable]  # by field: channel, category, status, owner_unit
    accused_units: list[tuple[str, int]]  # the most complained-about, each at least min_cell
    min_cell: int


def ended_periods(today: date, months: int = LIST_MONTHS) -> list[Period]:
    """The months, quarters and years that have ended in the last ``months`` months, newest first
    within each kind: the reports a unit can have."""
    found: list[Period] = []
    last = today.replace(day=1) - timedelta(days=1)
    month = make_period("month", last.year, last.month)
    while len([p for p in found if p.kind == "month"]) < months:
        found.append(month)
        month = previous(month)
    oldest = month.end
    quarter = make_period("quarter", today.year, (today.month - 1) // 3 + 1)
    while (quarter := previous(quarter)).start > oldest:
        found.append(quarter)
    year = make_period("year", today.year)
    while (year := previous(year)).start > oldest - timedelta(days=366):
        found.append(year)
    return found


class ReportService:
    def __init__(
        self, db: Database, clock: Clock, staff: StaffService, stats: StatsService, measures: MeasuresService
    ) -> None:
        self._db = db
        self._clock = clock
        self._staff = staff
        self._stats = stats
        self._measures = measures

    def check_unit(self, code: str) -> None:
        if code not in self._staff.tree.units:
            raise ValidationError("单位代码不存在。", code="unknown_unit")

    def check_ended(self, p: Period) -> None:
        if p.end >= self._stats.today():
            raise ValidationError(f"{p.name}尚未结束，不能生成报表。", code="period_not_ended")

    async def make(self, member: StaffMember, unit: str, p: Period) -> PeriodicReport:
        """The report of ``unit``'s subtree for ``p``: unit known and in sight, period ended."""
        self.check_unit(unit)
        self.check_ended(p)
        measures = await self._measures.measures(member, p, unit, record=None)
        tables = {
            name: await self._stats.table(member, (name,), start=p.start, end=p.end, unit=unit, record=None)
            for name in TABLES
        }
        units = self._stats.units_in_sight(member, unit)
        f = self._stats.filter(member, units, p.start, p.end)
        min_cell = self._stats.min_cell
        accused = [(name, n) for name, n in await self._db.stats_measures.accused_units(f) if n >= min_cell][
            :TOP_ACCUSED_UNITS
        ]
        await self._stats.record(member, "stats_report_made", period=p.label, unit=unit)
        return PeriodicReport(unit, p, self._clock.now(), measures, tables, accused, min_cell)

    def unit_name(self, code: str) -> str:
        return self._staff.tree.name(code)
