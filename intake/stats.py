"""Statistics and early warning (issue 18, 风向标): counts of the reports in a staff member's
scope grouped by any of :data:`GROUPINGS`, with small counts suppressed, and the alerts — spikes
by place × category, the same accused named again and again, repeat informants.

**Scope.** Exactly the workflow's (``StaffService.scope``): a township sees its own cases, a county
supervisor its townships too, a city supervisor everything below it; a case sent up sealed is not
counted for the units it is hidden from. An optional ``unit`` narrows to that unit's subtree and
must be in sight (403 otherwise), never an empty table that reads as "no reports".

**Suppression** (:func:`suppress`). A count from 1 to ``min_cell - 1`` (``INTAKE_STATS_MIN_CELL``,
5 by default) is withheld and shown as ``"<5"``. Withheld counts must not be derivable: any query
grouped by fewer fields gives the sum of a *line* of cells (the cells that agree on every field
but one), and the total gives the sum of the whole table. So in every line — along each field,
and the whole table — the withheld cells are either none, or at least two whose sum is at least
``min_cell``: while a line has one withheld cell, or withheld cells summing to less than the
threshold, its smallest shown cell is withheld too (complementary suppression), until no line
changes. A complementary cell carries the same marker (``"<5"`` means "withheld"), as statistical
offices mark primary and secondary suppression alike, so nobody can tell which cell is the small
one. The total is exact when it is at least ``min_cell`` (the withheld mass it implies is then at
least the threshold and spread over two cells or more), else ``"<5"`` too.

**Spikes** (:func:`poisson_tail`). Each place × category cell's count in the current period (a
day, or the 7 days ending on the date) is tested against its own history (the 28 previous days,
or 12 previous weeks): the mean count per period, plus half a report as a prior so a cell with no
history is not infinitely surprising, is the Poisson rate; a count with tail probability
P(X ≥ count) < 0.001 and at least ``INTAKE_STATS_SPIKE_MIN`` reports (5) is an alert.

**Kept for a minute** (:class:`RecentReads`). The reads of a table, the alerts and the measures are
kept ``INTAKE_STATS_CACHE_SECONDS`` (60) for the same scope and question, and asked once when
several ask at once: over a city's million reports a statistics page reads weeks of the roll-up
(seconds), and a room of supervisors opening it must not each pay for it. Every view is still on
the audit trail; 0 turns the keeping off (each read exact).
"""

from __future__ import annotations

import asyncio
import math
import re
import time as timer
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, TypeVar

from intake.clock import CHINA, Clock
from intake.errors import IntakeError, ValidationError
from intake.staff import OrgTree, StaffMember, StaffService
from storage.database import Database
from storage.stats_rollup import SUBTREE, SUBTREE_LEVELS
from storage.stats_store import FIELDS as STORED_FIELDS
from storage.stats_store import StatsFilter

PERIODS = ("day", "week", "month", "quarter", "year")
FIELDS = tuple(f for f in STORED_FIELDS if f != "day")  # the day is the periods' base
GROUPINGS = FIELDS + PERIODS
SUPPRESSED: Literal["<5"] = "<5"
MAX_DAYS = 3660  # ten years: a longer range is refused, not silently cut
MAX_ROWS = 5000  # a table longer than this is refused (ask for a coarser grouping), never cut
SPIKE_P = 0.001
SPIKE_HISTORY = {"day": 28, "week": 12}  # previous periods a cell's count is tested against
# The days before the period whose reports give a word its share (hot words), for a day and a
# week alike: the share needs no whole periods, and 12 weeks of every word's day rows took most of
# a week's alerts (1.4 s of 2.7 s at a million reports).
WORD_HISTORY_DAYS = 28
REPEAT_WINDOW_DAYS = 90  # the accused and repeat-informant alerts look this far back
ACCUSED_MIN = 3  # reports naming the same accused (name and unit) before it is an alert
REPEAT_MIN = 3  # reports from the same informant (blind index) before it is an alert
HOT_WORDS = 10  # hot-word alerts at most, the most surprising
GROUPS_SHOWN = 20  # accused and repeat-informant alerts at most, the most reports first
_WORD = re.compile(r"[\u4e00-\u9fff]")  # a word with at least one Chinese character


class UnitOutOfScope(IntakeError, status=403, code="unit_out_of_scope"):
    pass


T = TypeVar("T")


class RecentReads:
    """Results kept for ``seconds`` by what they were asked with; one read for concurrent asks of
    the same (the first one's, shared). At most ``size`` kept, the oldest dropped first; a read
    that fails is not kept."""

    def __init__(
        self, seconds: float, *, size: int = 512, now: Callable[[], float] = timer.monotonic
    ) -> None:
        self.seconds = seconds
        self._size = size
        self._now = now
        self._kept: OrderedDict[Hashable, tuple[float, asyncio.Future[Any]]] = OrderedDict()

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        if self.seconds <= 0:
            return await read()
        now = self._now()
        found = self._kept.get(key)
        if found is not None and found[0] > now:
            result: T = await asyncio.shield(found[1])
            return result
        self._kept.pop(key, None)  # (an ended one: read again, and kept as the newest)
        while self._kept and (len(self._kept) >= self._size or next(iter(self._kept.values()))[0] <= now):
            self._kept.popitem(last=False)
        future: asyncio.Future[Any] = asyncio.ensure_future(read())
        self._kept[key] = (now + self.seconds, future)
        try:
            result = await asyncio.shield(future)
        except BaseException:
            if self._kept.get(key, (0.0, None))[1] is future:
                del self._kept[key]
            raise
        return result


def filter_key(f: StatsFilter) -> Hashable:
    """What a read of ``f`` depends on, hashable."""
    return (
        tuple(f.units),
        tuple(f.hide_sealed_received_by),
        f.start,
        f.end,
        f.subtree,
        tuple(f.outside or ()),
    )


@dataclass(frozen=True)
class StatsTable:
    by: tuple[str, ...]
    start: date
    end: date
    rows: list[dict[str, Any]]  # each by-field's value, and "count": int or "<5"
    total: int | Literal["<5"]
    min_cell: int


@dataclass(frozen=True)
class Alert:
    kind: str  # spike | hot_word | accused | repeat_informant
    reason: str
    place: str | None
    category: str | None
    reports: list[str]
    count: int
    p_value: float | None = None


class Alerts(list[Alert]):
    """The alerts, and per kind how many more there are than are listed (``more``): an office
    with thousands of accused named three times reads the twenty named most, and the number of
    the rest."""

    def __init__(self, alerts: Sequence[Alert] = (), more: Mapping[str, int] | None = None) -> None:
        super().__init__(alerts)
        self.more: dict[str, int] = dict(more or {})


def parse_grouping(text: str | None) -> tuple[str, ...]:
    """``channel,category`` → the fields; unknown, repeated or two period fields are a 422."""
    names = tuple(n.strip() for n in (text or "channel").split(",") if n.strip())
    unknown = [n for n in names if n not in GROUPINGS]
    if unknown or not names:
        raise ValidationError(
            f"未知的统计维度：{'、'.join(unknown) or '空'}。可用：{'、'.join(GROUPINGS)}。",
            code="unknown_grouping",
        )
    if len(set(names)) != len(names) or sum(n in PERIODS for n in names) > 1 or len(names) > 4:
        raise ValidationError("统计维度不能重复，时间维度最多一个，总数最多四个。", code="invalid_grouping")
    return names


# The earliest day a statistic may ask about. Before it no report exists, and before 1901 China's
# zone is local mean time (UTC+8:05:43), whose midnights no day roll-up can split at.
EARLIEST_DAY = date(1949, 10, 1)


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} 日期无效，应为 YYYY-MM-DD。", code="invalid_date") from None
    if day < EARLIEST_DAY:
        raise ValidationError(f"{name} 日期过早：统计从 1949-10-01 起。", code="invalid_date")
    return day


def period_of(day: str, period: str) -> str:
    """The label of the period (China calendar) a ``YYYY-MM-DD`` day falls in."""
    d = date.fromisoformat(day)
    if period == "day":
        return day
    if period == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{d.year}-{d.month:02d}"
    if period == "quarter":
        return f"{d.year}Q{(d.month - 1) // 3 + 1}"
    return str(d.year)


def lines_of(cells: Mapping[tuple[Any, ...], int]) -> list[list[tuple[Any, ...]]]:
    """The whole table, and for each field the groups of cells that agree on every other field:
    the sums a query by fewer fields (or the total) shows."""
    lines: list[list[tuple[Any, ...]]] = [list(cells)]
    for d in range(len(next(iter(cells), ()))):
        groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for key in cells:
            groups[key[:d] + key[d + 1 :]].append(key)
        lines.extend(groups.values())
    return lines


def suppress(cells: Mapping[tuple[Any, ...], int], min_cell: int) -> set[tuple[Any, ...]]:
    """The cells to withhold: the small ones and their complements (see the module's notes)."""
    hidden = {key for key, n in cells.items() if 0 < n < min_cell}
    if not hidden:
        return hidden
    lines = lines_of(cells)
    # A cell alone in one of its lines equals that line's marginal (a query by fewer fields shows
    # it): withholding it as a complement would hide nothing. Such cells are the last resort.
    alone = {line[0] for line in lines if len(line) == 1}
    changed = True
    while changed:
        changed = False
        for line in lines:
            withheld = [c for c in line if c in hidden]
            if not withheld or (len(withheld) >= 2 and sum(cells[c] for c in withheld) >= min_cell):
                continue
            shown = sorted(
                (c for c in line if c not in hidden), key=lambda c: (c in alone, cells[c], repr(c))
            )
            if shown:
                hidden.add(shown[0])
                changed = True
    return hidden


def poisson_tail(count: int, rate: float) -> float:
    """P(X ≥ count) for X ~ Poisson(rate), summed from ``count`` up (exact for small tails)."""
    if count <= 0:
        return 1.0
    term = math.exp(-rate + count * math.log(rate) - math.lgamma(count + 1))
    total, i = 0.0, count
    while term > 0 and (i <= rate or term > total * 1e-15) and i < count + 10_000:
        total += term
        i += 1
        term *= rate / i
    return min(1.0, total)


def _value(name: str, value: Any) -> Any:
    if name == "anonymous" and value is not None:
        return "anonymous" if value else "real_name"
    return value


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, str(v)) for v in key)


def subtree_of(tree: OrgTree, units: set[str]) -> str | None:
    """The roll-up's subtree owner for ``units`` when they are exactly one unit's subtree and the
    roll-up keeps that unit's subtree rows (:data:`~storage.stats_rollup.SUBTREE_LEVELS`)."""
    tops = [u for u in units if tree.units[u].parent_code not in units] if units <= set(tree.units) else []
    if len(tops) != 1 or tree.units[tops[0]].level not in SUBTREE_LEVELS:
        return None
    top = tops[0]
    return SUBTREE + top if units == {top, *tree.descendants(top)} else None


class StatsService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        staff: StaffService,
        *,
        min_cell: int = 5,
        spike_min: int = 5,
        cache_seconds: float = 0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._staff = staff
        self.min_cell = max(1, min_cell)
        self.spike_min = max(1, spike_min)
        self.recent = RecentReads(cache_seconds)

    def today(self) -> date:
        return self._clock.now().astimezone(CHINA).date()

    def units_in_sight(self, member: StaffMember, unit: str | None = None) -> tuple[str, ...]:
        """The member's scope, narrowed to ``unit``'s subtree (which must be in sight)."""
        units = self._staff.scope(member).units
        if not unit:
            return units
        if unit not in units:
            raise UnitOutOfScope("该单位不在您的查看范围内。")
        subtree = {unit, *self._staff.tree.descendants(unit)}
        return tuple(u for u in units if u in subtree)

    def filter(self, member: StaffMember, units: Sequence[str], start: date, end: date) -> StatsFilter:
        """The reports of ``units`` (of the member's scope) received from ``start`` to ``end``
        (China dates, inclusive), as the member may see them."""
        scope = self._staff.scope(member)
        tree, chosen = self._staff.tree, set(units)
        outside = sorted(set(tree.units) - chosen)
        return StatsFilter(
            units=units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            start=datetime.combine(start, time(0), CHINA),
            end=datetime.combine(end + timedelta(days=1), time(0), CHINA),
            subtree=subtree_of(tree, chosen),
            outside=outside if len(outside) < len(chosen) else None,
        )

    def date_range(self, start: date | None, end: date | None) -> tuple[date, date]:
        """``from``/``to`` (inclusive, China dates): to defaults to today, from to 29 days before."""
        today = self.today()
        end = end or today
        start = start or end - timedelta(days=29)
        if end > today:
            raise ValidationError("结束日期不能晚于今天。", code="future_date")
        if start > end:
            raise ValidationError("开始日期不能晚于结束日期。", code="reversed_dates")
        if (end - start).days >= MAX_DAYS:
            raise ValidationError("统计区间最长十年。", code="range_too_long")
        return start, end

    async def table(
        self,
        member: StaffMember,
        by: Sequence[str],
        *,
        start: date | None = None,
        end: date | None = None,
        unit: str | None = None,
        record: str | None = "stats_viewed",
    ) -> StatsTable:
        """The counts; ``record`` names the audit event (an export or a report is its own kind)."""
        start, end = self.date_range(start, end)
        units = self.units_in_sight(member, unit)
        # Weeks cross months, so they are made from days; months, quarters and years from months.
        asked = [("day" if n in ("day", "week") else "month" if n in PERIODS else n) for n in by]
        f = self.filter(member, units, start, end)
        found = await self.recent.get(
            ("counts", filter_key(f), tuple(asked)), lambda: self._db.stats.counts(f, asked)
        )
        cells: dict[tuple[Any, ...], int] = defaultdict(int)
        for key, n in found:
            values = tuple(
                period_of(v, name) if name in PERIODS and v is not None else _value(name, v)
                for name, v in zip(by, key, strict=True)
            )
            cells[values] += n
        if len(cells) > MAX_ROWS:
            raise ValidationError(
                f"统计结果超过 {MAX_ROWS} 行，请缩短期间或减少统计维度。", code="too_many_rows"
            )
        hidden = suppress(cells, self.min_cell)
        rows = [
            {**dict(zip(by, key, strict=True)), "count": SUPPRESSED if key in hidden else cells[key]}
            for key in sorted(cells, key=_sort_key)
        ]
        total = sum(cells.values())
        if record:
            await self._record(
                member,
                record,
                by=list(by),
                start=start.isoformat(),
                end=end.isoformat(),
                unit=unit,
                rows=len(rows),
            )
        return StatsTable(
            tuple(by),
            start,
            end,
            rows,
            total if total >= self.min_cell or total == 0 else SUPPRESSED,
            self.min_cell,
        )

    async def record(self, member: StaffMember, kind: str, **detail: Any) -> None:
        await self._record(member, kind, **detail)

    async def _record(self, member: StaffMember, kind: str, **detail: Any) -> None:
        """A statistics query is a read on the audit trail (全程留痕): who asked for which table of
        which units and period. Small counts are only safe if nobody can ask unseen."""
        await self._db.workflow.record_access(None, kind, member.actor, self._clock.now(), **detail)

    # --- early warning ------------------------------------------------------------------------------

    async def alerts(self, member: StaffMember, *, on: date | None = None, period: str = "day") -> Alerts:
        """Spikes, hot words, the same accused named again and again, repeat informants: in
        scope, up to ``on``. The accused and the repeat informants are capped at
        :data:`GROUPS_SHOWN` each, most reports first (``Alerts.more`` counts the rest)."""
        if period not in SPIKE_HISTORY:
            raise ValidationError("period 只能是 day 或 week。", code="invalid_period")
        on = on or self.today()
        if on > self.today():
            raise ValidationError("日期不能晚于今天。", code="future_date")
        units = self.units_in_sight(member)
        window = self.filter(member, units, on - timedelta(days=REPEAT_WINDOW_DAYS - 1), on)
        kept = await self.recent.get(
            ("alerts", filter_key(window), on, period),
            lambda: self._alerts(member, units, window, on, period),
        )
        alerts = Alerts(kept, kept.more)  # a copy: the kept one is shared
        await self._record(
            member, "stats_alerts_viewed", date=on.isoformat(), period=period, alerts=len(alerts)
        )
        return alerts

    async def _alerts(
        self, member: StaffMember, units: Sequence[str], window: StatsFilter, on: date, period: str
    ) -> Alerts:
        # The four kinds read apart, each on its own connection: at a million reports their
        # reads one after the other took 1.8 s for a week, together they share the cores.
        spikes, hot, (groups, total), (informants, informants_total) = await asyncio.gather(
            self._spikes(member, units, on, period),
            self._hot_words(member, units, on, period),
            self._db.stats.accused_groups(window, ACCUSED_MIN, GROUPS_SHOWN),
            self._db.stats.repeat_informants(window, REPEAT_MIN, GROUPS_SHOWN),
        )
        alerts = Alerts([*spikes, *hot])
        for group in groups:
            who = "，".join(x for x in (group.name, group.unit) if x)
            alerts.append(
                Alert(
                    "accused",
                    f"同一被反映人（{who}）在近{REPEAT_WINDOW_DAYS}天被 {len(group.case_nos)} 件举报反映，"
                    f"来自 {group.channels} 个渠道。",
                    None,
                    None,
                    group.case_nos,
                    len(group.case_nos),
                )
            )
        if total > len(groups):
            alerts.more["accused"] = total - len(groups)
        for cases in informants:
            alerts.append(
                Alert(
                    "repeat_informant",
                    f"同一举报人（按盲索引识别，不显示身份）在近{REPEAT_WINDOW_DAYS}天"
                    f"提交 {len(cases)} 件举报。",
                    None,
                    None,
                    cases,
                    len(cases),
                )
            )
        if informants_total > len(informants):
            alerts.more["repeat_informant"] = informants_total - len(informants)
        return alerts

    def _windows(
        self, member: StaffMember, units: Sequence[str], on: date, period: str
    ) -> tuple[StatsFilter, StatsFilter]:
        """The period tested (the day, or the 7 days ending on ``on``) and its history before it."""
        span, history = (1 if period == "day" else 7), SPIKE_HISTORY[period]
        first = on - timedelta(days=span - 1)
        now = self.filter(member, units, first, on)
        past = self.filter(member, units, first - timedelta(days=span * history), first - timedelta(days=1))
        return now, past

    async def _hot_words(
        self, member: StaffMember, units: Sequence[str], on: date, period: str
    ) -> list[Alert]:
        """Words (each report's keywords, the few of highest TF-IDF among the tokens the search
        index keeps of its redacted text) in more of the period's reports than their history makes
        probable: the same Poisson test as spikes, on the number of reports that have the word, the
        rate being the word's share of the reports before times the reports now. At most
        :data:`HOT_WORDS`, most surprising first. Only what is indexed counts (the triage job
        indexes each report after its acknowledgement): a GET reads, it never indexes a backlog."""
        now, _ = self._windows(member, units, on, period)
        first = now.start.astimezone(CHINA).date()
        past = self.filter(
            member, units, first - timedelta(days=WORD_HISTORY_DAYS), first - timedelta(days=1)
        )
        indexed_now, indexed_before, words = await asyncio.gather(
            self._db.stats.sums(now, "indexed"),
            self._db.stats.sums(past, "indexed"),
            self._db.stats.sums(now, "word", at_least=self.spike_min),
        )
        totals = [indexed_now.get("", 0), indexed_before.get("", 0)]  # reports now, reports before
        current = {w: n for w, n in words.items() if len(w) >= 2 and _WORD.search(w)}
        before = await self._db.stats.sums(past, "word", values=sorted(current))
        found = []
        for word, n in current.items():
            # The word's share of the reports before, applied to the reports now: a busy day
            # makes no word hot, a word that was rare and is now common does.
            rate = totals[0] * (before.get(word, 0) + 0.5) / (totals[1] + 1)
            p = poisson_tail(n, rate)
            if p < SPIKE_P:
                found.append((p, -n, word, rate))
        label = "当日" if period == "day" else "近7天"
        alerts = []
        hot = sorted(found)[:HOT_WORDS]
        cases_of = await self._db.stats.word_case_numbers(now, [word for _, _, word, _ in hot])
        for p, minus_n, word, rate in hot:
            cases = cases_of[word]
            alerts.append(
                Alert(
                    "hot_word",
                    f"热词「{word}」：{label} {-minus_n} 件提及，按以往比例应约 {rate:.1f} 件"
                    f"（泊松检验 p={p:.1e}）。",
                    None,
                    None,
                    cases,
                    -minus_n,
                    p,
                )
            )
        return alerts

    async def _spikes(self, member: StaffMember, units: Sequence[str], on: date, period: str) -> list[Alert]:
        history = SPIKE_HISTORY[period]
        now, past = self._windows(member, units, on, period)
        current = {
            (place, category): n
            for (place, category), n in await self._db.stats.counts(now, ["place", "category"])
            if n >= self.spike_min
        }
        before = await self._db.stats.place_category(past, sorted(current, key=_sort_key))
        tested = []
        for (place, category), n in sorted(current.items(), key=lambda kv: _sort_key(kv[0])):
            rate = (before.get((place, category), 0) + 0.5) / history
            p = poisson_tail(n, rate)
            if p < SPIKE_P:
                tested.append((place, category, n, rate, p))
        cases_of = await self._db.stats.cell_case_numbers(now, [(pl, c) for pl, c, *_ in tested])
        label = "当日" if period == "day" else "近7天"
        found = [
            Alert(
                "spike",
                f"{label} {n} 件，以往平均每{'天' if period == 'day' else '周'} {rate:.2f} 件"
                f"（泊松检验 p={p:.1e}）。",
                place,
                category,
                cases_of[(place, category)],
                n,
                p,
            )
            for place, category, n, rate, p in tested
        ]
        return found
