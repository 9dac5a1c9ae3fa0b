"""Measures beyond counts (issue 18): for the reports a staff member sees (a unit's subtree) that
were received in a month, quarter or year — the time to accept and to close, the overdue,
transfer, repeat, merged, satisfaction and real-name rates — with the change against the period
before (环比) and the same period a year earlier (同比).

**Days** are calendar days (自然日), not working days: the time from ``received_at`` to the first
受理 (the ``accept`` event), and to 办结 (``concluded_at`` of a closed case), median and mean to
one decimal. Only reports of the period that have got there count. The mean is exact (from the
seconds); the median is that of the times binned as the roll-up counts them (to a tenth of a day
below 10 days, to a day below 100, to ten days beyond: :func:`storage.stats_rollup.days_bin`).
Everything is read from the statistics roll-up by whole months, one read per period.

**Rates** are percentages (one decimal) of the reports of the period, except the overdue rate
(of the reports with a deadline: one closed after its due day, or open past it today, makes the
case overdue) and satisfaction (满意 or 基本满意, of the rated cases, each by its latest rating).

**Suppression.** A rate, median or mean over fewer than ``min_cell`` cases
(``INTAKE_STATS_MIN_CELL``) is withheld (``"<5"``), and so is its number of cases; the count of
reports follows the table's rule (1 to ``min_cell - 1`` is ``"<5"``). A change is null when either
side is withheld or empty. Counts are changed in percent, rates in percentage points, days in days.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from intake.errors import ValidationError
from intake.staff import StaffMember, StaffService
from intake.stats import SUPPRESSED, StatsService, filter_key
from storage.database import Database

PeriodKind = Literal["month", "quarter", "year"]
SATISFIED = ("satisfied", "basically_satisfied")
_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4])|-(\d{2}))?$")
DAY_SECONDS = 86400.0

Value = float | int | Literal["<5"] | None


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    label: str  # 2026Q3, 2026-09, 2026
    start: date
    end: date  # inclusive

    @property
    def name(self) -> str:
        """The period as staff read it: 2026年第3季度, 2026年9月, 2026年."""
        year = self.start.year
        if self.kind == "quarter":
            return f"{year}年第{(self.start.month - 1) // 3 + 1}季度"
        if self.kind == "month":
            return f"{year}年{self.start.month}月"
        return f"{year}年"


def make_period(kind: PeriodKind, year: int, index: int = 1) -> Period:
    """The ``index``-th month or quarter of ``year`` (ignored for a year)."""
    if kind == "year":
        return Period(kind, str(year), date(year, 1, 1), date(year, 12, 31))
    months = 3 if kind == "quarter" else 1
    start = date(year, (index - 1) * months + 1, 1)
    after = date(year + 1, 1, 1) if start.month + months > 12 else date(year, start.month + months, 1)
    label = f"{year}Q{index}" if kind == "quarter" else f"{year}-{index:02d}"
    return Period(kind, label, start, after - timedelta(days=1))


def parse_period(text: str | None) -> Period:
    """``2026Q3``, ``2026-09`` or ``2026``; anything else is a 422 ``invalid_period``."""
    m = _PERIOD.match((text or "").strip())
    year = int(m.group(1)) if m else 0
    if not m or not 2000 <= year <= 2100 or (m.group(3) and not 1 <= int(m.group(3)) <= 12):
        raise ValidationError(
            "期间格式无效，应为季度（如 2026Q3）、月份（如 2026-09）或年度（如 2026）。",
            code="invalid_period",
        )
    if m.group(2):
        return make_period("quarter", year, int(m.group(2)))
    if m.group(3):
        return make_period("month", year, int(m.group(3)))
    return make_period("year", year)


def previous(p: Period) -> Period:
    """The period before (环比): the month, quarter or year just ended when ``p`` began."""
    last = p.start - timedelta(days=1)
    if p.kind == "year":
        return make_period("year", last.year)
    index = last.month if p.kind == "month" else (last.month - 1) // 3 + 1
    return make_period(p.kind, last.year, index)


def year_ago(p: Period) -> Period:
    """The same period a year earlier (同比)."""
    index = p.start.month if p.kind == "month" else (p.start.month - 1) // 3 + 1
    return make_period(p.kind, p.start.year - 1, index)


Sums = dict[str, dict[str, int]]  # the roll-up's {field: {value: reports}} (measure_sums)


@dataclass(frozen=True)
class MeasureSpec:
    name: str
    label: str
    kind: Literal["count", "rate", "days"]
    compute: Callable[[Sums, date], tuple[Value, int]]


def _rate(hits: int, cases: int) -> tuple[Value, int]:
    return (round(100.0 * hits / cases, 1) if cases else None), cases


def _reports(sums: Sums) -> int:
    return sum(sums["channel"].values())


def _median(field: str) -> Callable[[Sums, date], tuple[Value, int]]:
    """The median of the binned days (:func:`storage.stats_rollup.days_bin`, tenths of a day):
    the middle one, or the mean of the middle two, as :func:`statistics.median` takes them."""

    def compute(sums: Sums, _today: date) -> tuple[Value, int]:
        bins = sorted((int(tenths), n) for tenths, n in sums[field].items())
        cases = sum(n for _, n in bins)
        if not cases:
            return None, 0
        wanted = [(cases - 1) // 2, cases // 2]  # the middle ranks (one, twice, when odd)
        found, seen = [], 0
        for tenths, n in bins:
            while wanted and wanted[0] < seen + n:
                found.append(tenths)
                wanted.pop(0)
            seen += n
        return round(statistics.fmean(found) / 10, 1), cases

    return compute


def _mean(field: str, seconds: str) -> Callable[[Sums, date], tuple[Value, int]]:
    def compute(sums: Sums, _today: date) -> tuple[Value, int]:
        cases = sum(sums[field].values())
        total = sums[seconds].get("", 0)
        return (round(total / cases / DAY_SECONDS, 1) if cases else None), cases

    return compute


def _share(field: str, value: str = "1") -> Callable[[Sums, date], tuple[Value, int]]:
    return lambda sums, _today: _rate(sums[field].get(value, 0), _reports(sums))


def _overdue_rate(sums: Sums, today: date) -> tuple[Value, int]:
    """Late: one deadline met after its day, or (not so) one open past it on ``today``."""
    open_past = sum(n for due, n in sums["open_due"].items() if due < today.isoformat())
    return _rate(sums["late"].get("1", 0) + open_past, sums["deadline"].get("1", 0))


def _satisfaction(sums: Sums, _today: date) -> tuple[Value, int]:
    ratings = sums["rating"]
    return _rate(sum(ratings.get(r, 0) for r in SATISFIED), sum(ratings.values()))


MEASURES = (
    MeasureSpec("reports", "收件量（件）", "count", lambda sums, _t: (_reports(sums), _reports(sums))),
    MeasureSpec("accept_days_median", "受理用时中位数（自然日）", "days", _median("accept_days")),
    MeasureSpec("accept_days_mean", "受理用时平均数（自然日）", "days", _mean("accept_days", "accept_s")),
    MeasureSpec("close_days_median", "办结用时中位数（自然日）", "days", _median("close_days")),
    MeasureSpec("close_days_mean", "办结用时平均数（自然日）", "days", _mean("close_days", "close_s")),
    MeasureSpec("overdue_rate", "超期率（%）", "rate", _overdue_rate),
    MeasureSpec("transfer_rate", "转办率（%）", "rate", _share("transferred")),
    MeasureSpec("repeat_rate", "重复件率（%）", "rate", _share("duplicate")),
    MeasureSpec("merged_rate", "合并件率（%）", "rate", _share("merged")),
    MeasureSpec("satisfaction_rate", "满意率（%）", "rate", _satisfaction),
    MeasureSpec("real_name_rate", "实名举报占比（%）", "rate", _share("anonymous", "0")),
)
MEASURE_NAMES = tuple(m.name for m in MEASURES)


@dataclass(frozen=True)
class Comparison:
    period: Period
    value: Value
    change: float | None


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    kind: str
    value: Value
    cases: int | Literal["<5"]
    previous: Comparison  # 环比
    year_ago: Comparison  # 同比


@dataclass(frozen=True)
class Measures:
    period: Period
    unit: str | None
    end: date  # the last day counted: the period's end, or today for the current period
    min_cell: int
    measures: list[Measure]

    def get(self, name: str) -> Measure:
        return next(m for m in self.measures if m.name == name)


def _change(kind: str, now: Value, before: Value) -> float | None:
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return None
    if kind == "count":
        return round(100.0 * (now - before) / before, 1) if before else None
    return round(now - before, 1)


class MeasuresService:
    def __init__(self, db: Database, staff: StaffService, stats: StatsService) -> None:
        self._db = db
        self._staff = staff
        self._stats = stats

    @property
    def min_cell(self) -> int:
        return self._stats.min_cell

    def check_started(self, p: Period) -> None:
        if p.start > self._stats.today():
            raise ValidationError("所选期间尚未开始。", code="future_period")

    async def _values(
        self, member: StaffMember, units: Sequence[str], p: Period, today: date
    ) -> dict[str, tuple[Value, int]]:
        """The measures of the reports received in ``p``, read from the roll-up by whole months
        (none is received after today)."""
        f = self._stats.filter(member, units, p.start, p.end)
        if p.start <= today:
            sums = await self._stats.recent.get(
                ("measures", filter_key(f)), lambda: self._db.stats.measure_sums(f)
            )
        else:
            sums = defaultdict(dict)
        return {m.name: m.compute(sums, today) for m in MEASURES}

    def _shown(self, kind: str, value: Value, cases: int) -> tuple[Value, int | Literal["<5"]]:
        if 0 < cases < self.min_cell:
            return SUPPRESSED, SUPPRESSED
        return value, cases

    async def measures(
        self,
        member: StaffMember,
        p: Period,
        unit: str | None = None,
        *,
        record: str | None = "stats_measures_viewed",
    ) -> Measures:
        """The measures of ``p`` (up to today when it is the current one) with 环比 and 同比."""
        self.check_started(p)
        today = self._stats.today()
        units = self._stats.units_in_sight(member, unit)
        before, last_year = previous(p), year_ago(p)
        now_v = await self._values(member, units, p, today)
        prev_v = await self._values(member, units, before, today)
        ago_v = await self._values(member, units, last_year, today)
        out = []
        for spec in MEASURES:
            value, cases = self._shown(spec.kind, *now_v[spec.name])
            pv, _ = self._shown(spec.kind, *prev_v[spec.name])
            av, _ = self._shown(spec.kind, *ago_v[spec.name])
            out.append(
                Measure(
                    spec.name,
                    spec.label,
                    spec.kind,
                    value,
                    cases,
                    Comparison(before, pv, _change(spec.kind, value, pv)),
                    Comparison(last_year, av, _change(spec.kind, value, av)),
                )
            )
        if record:
            await self._stats.record(member, record, period=p.label, unit=unit)
        return Measures(p, unit, min(p.end, today), self.min_cell, out)

    def document(self, m: Measures) -> dict[str, Any]:
        """The JSON of the staff API."""
        return {
            "period": m.period.label,
            "from": m.period.start.isoformat(),
            "to": m.end.isoformat(),
            "unit": m.unit,
            "min_cell": m.min_cell,
            "days": "calendar",
            "measures": [
                {
                    "name": x.name,
                    "label": x.label,
                    "kind": x.kind,
                    "value": x.value,
                    "cases": x.cases,
                    "previous": {
                        "period": x.previous.period.label,
                        "value": x.previous.value,
                        "change": x.previous.change,
                    },
                    "year_ago": {
                        "period": x.year_ago.period.label,
                        "value": x.year_ago.value,
                        "change": x.year_ago.change,
                    },
                }
                for x in m.measures
            ],
        }
