"""Counts over the reports for the statistics (issue 18), on SQLite and PostgreSQL, always inside a
staff member's scope (the workflow's own rule, :func:`storage.workflow_store.in_scope`).

A grouping is named by its field (``channel``, ``category``, …, and ``day`` or ``month``, the
China date of ``received_at`` or the first day of its month); weeks, quarters and years are made
from those by the service. Nothing here decides what may be shown: small counts are suppressed by
:mod:`intake.stats`.

**The roll-up.** Most questions are answered from ``stats_counts`` (:mod:`storage.stats_rollup`):
per China day and per month, owner unit and sealed-from unit (the receiving unit of a sealed
case, else ``''``), how many reports have each value of each field, plus the difference of the
reports changed since the last refresh, in the same statement: exact at every read. The scope is
a filter on its keys: the owner unit in the scope's units, the sealed-from unit not one the scope hides sealed
cases from, which is :func:`~storage.workflow_store.in_scope` exactly. A range is read as its
whole months from the month rows and the days at either end from the day rows (all days when
the grouping is by day). The roll-up serves a grouping by one field, or by ``place`` and
``category`` together (spikes), each optionally with ``owner_unit`` and a period; any other
grouping (two fields besides that pair) is a ``GROUP BY`` over the reports, as before the
roll-up, and so is a range not made of whole China days.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.stats_rollup import (
    BATCH,
    DAY_ONLY,
    MEASURED,
    MONTH_ONLY,
    SUBTREE_FIELDS,
    WEIGHED,
    pending_rows,
    refresh_txn,
)
from storage.tables import SC, VB, D, R
from storage.workflow_store import CASES, in_scope, in_values, not_sealed_away, owner_unit

if TYPE_CHECKING:
    from storage.database import Database

# The fields a count can be grouped by (``day`` is computed per dialect: see _day).
FIELDS = (
    "channel",
    "category",
    "scope",
    "level",
    "priority",
    "status",
    "handling_unit",
    "receiving_unit",
    "owner_unit",
    "place",
    "anonymous",
    "day",
)
PERIOD_KEYS = ("day", "month")
# The fields the roll-up counts one by one, and the pair it counts together.
ROLLED = frozenset(f for f in FIELDS if f not in ("owner_unit", "day"))
PAIR = ("place", "category")
FEW_VALUES = 1000  # values of a field a read looks up by value; more are filtered from the sums
SEP = "\x1f"  # between the two parts of a pair's value, or an accused's name and unit
CHINA = timezone(timedelta(hours=8))  # as intake.clock.CHINA: UTC+8, no daylight saving


@dataclass(frozen=True)
class StatsFilter:
    """Which reports count: those of a scope (``intake.staff.Scope``), received in ``[start, end)``."""

    units: Sequence[str]
    hide_sealed_received_by: Sequence[str]
    start: datetime
    end: datetime
    # The units are one unit's whole subtree, and the roll-up keeps its subtree rows: this is
    # their owner (``*<code>``, :data:`~storage.stats_rollup.SUBTREE`).
    subtree: str | None = None
    # The units of the tree not in ``units``, when fewer: the reports' owner test is then that
    # the owner is none of them (every owner is a unit of the tree).
    outside: Sequence[str] | None = None


@dataclass(frozen=True)
class AccusedGroup:
    name: str
    unit: str
    channels: int
    case_nos: list[str]
    count: int = 0  # reports naming them (case_nos are those in scope, the same number)


def _field(name: str, dialect: str) -> Any:
    if name == "day":
        return _day(dialect)
    if name == "month":
        return _month(dialect)
    if name == "category":
        # As the case list shows it: the category as filed, else as triaged.
        return sa.func.coalesce(sa.func.nullif(R.c.category, ""), R.c.triage["category"].as_string())
    if name == "place":
        # The division as filed, else the most specific place triage matched in the text.
        return sa.func.coalesce(R.c.location_code, R.c.triage[("places", 0, "code")].as_string())
    if name == "owner_unit":
        return owner_unit()
    return R.c[name]


def _day(dialect: str) -> Any:
    """The China date (UTC+8, no daylight saving) of ``received_at`` as ``YYYY-MM-DD``."""
    if dialect == "sqlite":
        return sa.func.strftime("%Y-%m-%d", R.c.received_at, "+8 hours")
    return sa.func.to_char(sa.func.timezone("Asia/Shanghai", R.c.received_at), "YYYY-MM-DD")


def _month(dialect: str) -> Any:
    """The first day of the China month of ``received_at`` as ``YYYY-MM-01``."""
    if dialect == "sqlite":
        return sa.func.strftime("%Y-%m-01", R.c.received_at, "+8 hours")
    return sa.func.to_char(sa.func.timezone("Asia/Shanghai", R.c.received_at), "YYYY-MM-01")


def china_days(f: StatsFilter) -> tuple[date, date] | None:
    """The first and last China day of the filter's range, when it is made of whole days."""
    start, end = f.start.astimezone(CHINA), f.end.astimezone(CHINA)
    if start.timetz().replace(tzinfo=None) != time(0) or end.timetz().replace(tzinfo=None) != time(0):
        return None
    return start.date(), end.date() - timedelta(days=1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def grain_ranges(first: date, last: date, by_day: bool) -> list[tuple[str, date, date]]:
    """``(grain, from, to)`` covering ``first``…``last`` once: the whole months from the month
    rows, the days before and after them from the day rows (every day when ``by_day``)."""
    if by_day or first > last:
        return [("d", first, last)]
    m0 = first if first.day == 1 else _next_month(first)  # the first whole month's first day
    # The day after the last whole month: the month after ``last`` when it ends that month.
    stop = _next_month(last) if _next_month(last) - timedelta(days=1) == last else last.replace(day=1)
    if m0 >= stop:
        return [("d", first, last)]
    ranges = [("m", m0, stop - timedelta(days=1))]
    if first < m0:
        ranges.insert(0, ("d", first, m0 - timedelta(days=1)))
    if stop <= last:
        ranges.append(("d", stop, last))
    return ranges


def _decode(name: str, value: str) -> Any:
    if value == "":
        return None
    if name == "anonymous":
        return value == "1"
    return value


def scope_condition(f: StatsFilter, dialect: str) -> Any:
    """The reports of ``f``'s scope, over :data:`~storage.workflow_store.CASES`: as
    :func:`~storage.workflow_store.in_scope`, the owner tested against the units outside the
    scope when they are fewer (a city's supervisor: 1 unit, not 1,831)."""
    if f.outside is None:
        return in_scope(f.units, f.hide_sealed_received_by, dialect)
    hidden = not_sealed_away(f.hide_sealed_received_by)
    if not f.outside:
        return hidden
    return sa.and_(owner_unit().not_in(list(f.outside)), hidden)


def reports_of(f: StatsFilter, dialect: str) -> Any:
    """The reports ``f`` counts, over :data:`~storage.workflow_store.CASES`: in its scope and
    received in its range."""
    return sa.and_(scope_condition(f, dialect), R.c.received_at >= f.start, R.c.received_at < f.end)


class StatsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _where(self, f: StatsFilter) -> Any:
        return reports_of(f, self._db.dialect)

    def _in(self, column: Any, values: Sequence[str]) -> Any:
        return in_values(column, values, self._db.dialect)

    def _rolled(
        self,
        f: StatsFilter,
        days: tuple[date, date],
        field: str | Sequence[str],
        *,
        by_owner: bool = False,
        by_day: bool = False,
        by_month: bool = False,
        values: Sequence[str] | None = None,
        at_least: int = 1,
    ) -> Any:
        """The sums of ``field`` over the filter: the roll-up's counts plus the difference of the
        reports still pending (one statement, one snapshot), by value, and by owner and day (or
        the first day of a month) when asked. Several fields (of the same grains) are grouped
        by field too."""
        fields = [field] if isinstance(field, str) else list(field)
        ranges = grain_ranges(days[0], days[1], by_day or any(f in DAY_ONLY for f in fields))
        if any(f in MONTH_ONLY for f in fields) and any(g == "d" for g, _, _ in ranges):
            raise ValueError("the measures are counted by whole months")
        pending = (
            sa.text(pending_rows(self._db.dialect == "postgresql"))
            .columns(
                sa.column("field", sa.String),
                sa.column("value", sa.String),
                sa.column("sign", sa.BigInteger),
                sa.column("w", sa.BigInteger),
                sa.column("day", sa.Date),
                sa.column("month", sa.Date),
                sa.column("owner_unit", sa.String),
                sa.column("sealed_from", sa.String),
            )
            .cte("pending")
        )

        # A subtree's counts: its own rows, counted and pending.
        subtree = f.subtree if not by_owner and all(name in SUBTREE_FIELDS for name in fields) else None

        def scoped(table: Any, *conditions: Any) -> list[Any]:
            which = table.c.field == fields[0] if len(fields) == 1 else self._in(table.c.field, fields)
            where = [which, *conditions]
            if subtree is None:
                where.append(self._in(table.c.owner_unit, f.units))
            else:
                where.append(table.c.owner_unit == subtree)
            if f.hide_sealed_received_by:
                where.append(table.c.sealed_from.not_in(list(f.hide_sealed_received_by)))
            if values is not None:
                where.append(self._in(table.c.value, values))
            return where

        parts = [
            sa.select(SC.c.field, SC.c.owner_unit, SC.c.day, SC.c.value, SC.c.n).where(
                *scoped(
                    SC,
                    sa.or_(
                        *(sa.and_(SC.c.grain == g, SC.c.day >= lo, SC.c.day <= hi) for g, lo, hi in ranges)
                    ),
                )
            )
        ]
        for grain, lo, hi in ranges:
            when = pending.c.day if grain == "d" else pending.c.month
            parts.append(
                sa.select(
                    pending.c.field,
                    pending.c.owner_unit,
                    when.label("day"),
                    pending.c.value,
                    (pending.c.sign * pending.c.w).label("n"),
                ).where(*scoped(pending, when >= lo, when <= hi))
            )
        both = sa.union_all(*parts).subquery("counts")
        keys = ([both.c.field] if len(fields) > 1 else []) + ([both.c.owner_unit] if by_owner else [])
        keys += [both.c.day] if by_day or by_month else []
        keys.append(both.c.value)
        # Summed as double precision, exact for integers below 2**53: PostgreSQL sums bigints in
        # numeric, and the accused of 90 days (194,000 rows, 180,000 values at a million reports)
        # grouped 12 % slower so.
        n = sa.func.sum(sa.cast(both.c.n, sa.Float))
        return sa.select(*keys, n.label("n")).group_by(*keys).having(n >= at_least)

    async def refresh(self, limit: int = 100_000, batch: int = BATCH) -> int:
        """Fold pending reports into the roll-up, ``batch`` per transaction; how many."""
        done = 0
        while done < limit:
            n: int = await self._db.writer.run(lambda b: refresh_txn(b, batch))
            done += n
            if n < batch:
                break
        return done

    async def sums(
        self, f: StatsFilter, field: str, values: Sequence[str] | None = None, at_least: int = 1
    ) -> dict[str, int]:
        """``{value: reports}`` of one roll-up field (``word``, ``indexed``, ``place_category``,
        ``accused`` or a plain one, values as stored) over a range of whole days."""
        days = china_days(f)
        if days is None:
            raise ValueError("the roll-up counts whole China days")
        if values is not None and not values:
            return {}
        # A few values are looked up (their index); many are filtered here from the range's
        # sums. At a million reports, a city's subtree: a week's 90 spike cells over the 84 days
        # before, ~50 ms looked up; 4,802 hot-word candidates over the same days, 0.5 s looked
        # up against 0.23–0.33 s from the range (2.3 s over 28 days before the value index
        # had the owner).
        wanted = set(values) if values is not None and len(values) > FEW_VALUES else None
        query = self._rolled(f, days, field, values=None if wanted else values, at_least=at_least)
        return {r.value: int(r.n) for r in await self._read(query) if wanted is None or r.value in wanted}

    async def measure_sums(self, f: StatsFilter) -> dict[str, dict[str, int]]:
        """``{field: {value: sum}}`` of the measures' fields (:data:`~storage.stats_rollup.MEASURED`
        and the weighed ones) and of ``channel`` and ``anonymous`` (the reports and the real-name
        ones) over a range of whole months: one read."""
        days = china_days(f)
        if days is None:
            raise ValueError("the roll-up counts whole China days")
        fields = ["channel", "anonymous", *MEASURED, *WEIGHED]
        out: dict[str, dict[str, int]] = {name: {} for name in fields}
        for r in await self._read(self._rolled(f, days, fields)):
            if r.n:
                out[r.field][r.value] = int(r.n)
        return out

    async def _read(self, query: Any) -> list[Any]:
        async with self._connect() as conn:
            return list((await conn.execute(query)).all())

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[Any]:
        """A read connection; on PostgreSQL without JIT: the estimates of the pending part (rows
        that are usually not there) and of a scope's thousands of units made the planner compile
        queries of a few milliseconds, 200 ms each. And with room to group in memory: the accused
        of a quarter are 200,000 day rows at a million reports, whose grouping spilled to disk in
        the default 4 MB (550 ms; 210 ms in memory, 43 MB). And planned for each read's own
        values: from the sixth run of a statement (asyncpg prepares them) PostgreSQL may switch to
        a generic plan made without the scope's units and the dates, which read the alerts of a
        day in 1.8 s instead of 0.85 s, and of a week in 25 s instead of 2.7 s."""
        async with self._db.read_engine.connect() as conn:
            if self._db.dialect == "postgresql":
                await conn.execute(
                    sa.text(
                        "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true), "
                        "set_config('plan_cache_mode', 'force_custom_plan', true)"
                    )
                )
            yield conn

    async def place_category(
        self, f: StatsFilter, cells: Sequence[tuple[str | None, str | None]]
    ) -> dict[tuple[str | None, str | None], int]:
        """The reports of each (place, category) cell of ``cells`` over a range of whole days."""
        wanted = {(p or "") + SEP + (c or ""): (p, c) for p, c in cells}
        found = await self.sums(f, "place_category", values=sorted(wanted))
        return {wanted[v]: n for v, n in found.items()}

    async def counts(self, f: StatsFilter, by: Sequence[str]) -> list[tuple[tuple[Any, ...], int]]:
        """``(values of by, count)`` for each combination that has reports (``day`` and ``month``
        as ``YYYY-MM-DD`` text)."""
        days = china_days(f)
        others = [n for n in by if n not in ("owner_unit", *PERIOD_KEYS)]
        if days is not None and (
            (len(others) <= 1 and set(others) <= ROLLED) or sorted(others) == sorted(PAIR)
        ):
            return await self._counts_rolled(f, days, by, others)
        return await self._counts_live(f, by)

    async def _counts_rolled(
        self, f: StatsFilter, days: tuple[date, date], by: Sequence[str], others: Sequence[str]
    ) -> list[tuple[tuple[Any, ...], int]]:
        field = "place_category" if len(others) == 2 else (others[0] if others else "channel")
        query = self._rolled(
            f, days, field, by_owner="owner_unit" in by, by_day="day" in by, by_month="month" in by
        )
        rows = await self._read(query)
        cells: dict[tuple[Any, ...], int] = defaultdict(int)
        for r in rows:
            parts = dict(zip(PAIR, r.value.split(SEP, 1), strict=True)) if len(others) == 2 else {}
            key = []
            for name in by:
                if name == "owner_unit":
                    key.append(r.owner_unit)
                elif name == "day":
                    key.append(r.day.isoformat())
                elif name == "month":
                    key.append(r.day.replace(day=1).isoformat())
                else:
                    key.append(_decode(name, parts.get(name, r.value)))
            cells[tuple(key)] += int(r.n)
        return list(cells.items())

    async def _counts_live(self, f: StatsFilter, by: Sequence[str]) -> list[tuple[tuple[Any, ...], int]]:
        keys = [_field(name, self._db.dialect).label(f"k{i}") for i, name in enumerate(by)]
        n = sa.func.count().label("n")
        query = sa.select(*keys, n).select_from(CASES).where(self._where(f))
        if keys:
            query = query.group_by(*keys)
        async with self._connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(tuple(r[:-1]), int(r[-1])) for r in rows]

    def _scoped_candidates(self, f: StatsFilter, *conditions: Any, **columns: Any) -> tuple[Any, Any]:
        """The reports of ``f``'s range that meet ``conditions`` (on the reports alone) and then
        its scope: the candidates made first (a materialized CTE, with ``columns``), the scope
        tested on them only. Joined at once, PostgreSQL hashed every case state (450,000 at a
        million reports) to scope a week's 16,000 reports of which a few hundred matched; a
        week's hot words' cases took 172 ms so, 81 ms this way. Returns the CTE and the FROM
        clause (the CTE, the reports and their case states)."""
        picked = (
            sa.select(R.c.id.label("id"), *(c.label(name) for name, c in columns.items()))
            .where(R.c.received_at >= f.start, R.c.received_at < f.end, *conditions)
            .cte("candidates")
            .prefix_with("MATERIALIZED")
        )
        return picked, picked.join(CASES, R.c.id == picked.c.id)

    async def cell_case_numbers(
        self, f: StatsFilter, cells: Sequence[tuple[str | None, str | None]], limit: int = 500
    ) -> dict[tuple[str | None, str | None], list[str]]:
        """The case numbers of the reports of each (place, category) cell, oldest first, at most
        ``limit`` a cell: one read for all the cells (a week's nine spikes were nine reads of the
        week's reports)."""
        if not cells:
            return {}
        place, category = _field("place", self._db.dialect), _field("category", self._db.dialect)

        def matches(column: Any, value: str | None) -> Any:
            return column.is_(None) if value is None else column == value

        picked, joined = self._scoped_candidates(
            f,
            sa.or_(*(sa.and_(matches(place, p), matches(category, c)) for p, c in cells)),
            place=place,
            category=category,
        )
        query = (
            sa.select(picked.c.place, picked.c.category, R.c.case_no)
            .select_from(joined)
            .where(self._where(f))
            .order_by(R.c.received_at, R.c.case_no)
        )
        out: dict[tuple[str | None, str | None], list[str]] = {cell: [] for cell in cells}
        for r in await self._read(query):
            found = out.get((r.place, r.category))
            if found is not None and len(found) < limit:
                found.append(r.case_no)
        return out

    async def word_case_numbers(
        self, f: StatsFilter, words: Sequence[str], limit: int = 500
    ) -> dict[str, list[str]]:
        """The case numbers of the indexed reports with each of ``words`` among their keywords,
        oldest first, at most ``limit`` a word: one read for all the words."""
        if not words:
            return {}

        # Each report of the range with its keywords by its id (a sub-select), made first; the
        # LIKEs (each word as the JSON array holds it) then keep a few hundred, whose scope is
        # tested and whose words are matched exactly here. Joined and matched by LIKE at once,
        # PostgreSQL misjudged the LIKEs and scanned every search document (1.1 s at a million
        # reports); a sub-select per LIKE ran once per word (0.9 s).
        keywords = sa.select(D.c.keywords).where(D.c.report_id == R.c.id).scalar_subquery()
        picked, joined = self._scoped_candidates(f, keywords=keywords)
        quoted = [json.dumps(w, ensure_ascii=False) for w in words]
        query = (
            sa.select(R.c.case_no, picked.c.keywords)
            .select_from(joined)
            .where(sa.or_(*(picked.c.keywords.contains(q, autoescape=True) for q in quoted)), self._where(f))
            .order_by(R.c.received_at, R.c.case_no)
        )
        out: dict[str, list[str]] = {w: [] for w in words}
        for r in await self._read(query):
            for word in json.loads(r.keywords):
                found = out.get(word)
                if found is not None and len(found) < limit:
                    found.append(r.case_no)
        return out

    async def accused_groups(
        self, f: StatsFilter, min_reports: int, limit: int = 20
    ) -> tuple[list[AccusedGroup], int]:
        """The accused (name and unit as filed, trimmed) named in at least ``min_reports``
        reports: the ``limit`` named most (most first), and how many groups there are in all."""
        found = await self.sums(f, "accused", at_least=min_reports)
        ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        top = [tuple(value.split(SEP, 1)) for value, _ in ranked[:limit]]
        if not top:
            return [], 0
        name, unit = sa.func.trim(R.c.accused_name), sa.func.coalesce(sa.func.trim(R.c.accused_unit), "")
        members = (
            sa.select(name.label("name"), unit.label("unit"), R.c.case_no, R.c.channel)
            .select_from(CASES)
            # The names as filed are the trimmed ones (the forms and the API strip them): the
            # index on accused_name finds them; trim() then keeps exactly the roll-up's groups.
            .where(self._where(f), self._in(R.c.accused_name, sorted({g[0] for g in top})))
            .order_by(R.c.received_at, R.c.case_no)
        )
        rows = await self._read(members)
        groups: dict[tuple[str, str], tuple[set[str], list[str]]] = {(g[0], g[1]): (set(), []) for g in top}
        for r in rows:
            entry = groups.get((r.name, r.unit))
            if entry is not None:
                entry[0].add(r.channel)
                entry[1].append(r.case_no)
        out = [AccusedGroup(n, u, len(ch), cases, len(cases)) for (n, u), (ch, cases) in groups.items()]
        return out, len(ranked)

    async def repeat_informants(
        self, f: StatsFilter, min_reports: int, limit: int = 20
    ) -> tuple[list[list[str]], int]:
        """The informants (one blind index: the same keyed hash of an ID number, phone or channel
        handle) behind at least ``min_reports`` reports: the case numbers of the ``limit`` behind
        most (most first), and how many informants there are in all. The hashes stay here:
        nobody above storage sees even them, only the counts and the cases.

        Which hashes: the roll-up's ``informant`` counts over the range. One informant with
        several identifiers (ID number and phone on the same reports) is one group: the hashes
        with the same reports are merged. The cases are read for the hashes counted most, more
        of them until ``limit`` groups are found, never for every hash of a busy quarter (4,000
        hashes and their 100,000 reports at a million). So the total counts each merged group
        shown once, and the hashes not read one each: an upper bound by the informants not shown
        who gave two identifiers."""
        found = await self.sums(f, "informant", at_least=min_reports)
        ranked = [mac for mac, _ in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))]
        groups: dict[tuple[str, ...], list[str]] = {}
        read = 0
        while read < len(ranked) and len(groups) < limit:
            macs = ranked[read : read + 2 * limit]
            read += len(macs)
            for cases in (await self._informant_cases(f, macs)).values():
                groups.setdefault(tuple(cases), cases)
        shown = sorted(groups.values(), key=lambda cases: (-len(cases), cases))[:limit]
        merged = read - len(groups)  # hashes folded into another's group
        return shown, len(ranked) - merged

    async def _informant_cases(self, f: StatsFilter, macs: Sequence[str]) -> dict[str, list[str]]:
        """``{hash: case numbers in scope and range, oldest first}``."""
        query = (
            sa.select(VB.c.mac, R.c.case_no)
            .select_from(CASES.join(VB, VB.c.report_id == R.c.id))
            .where(self._where(f), self._in(VB.c.mac, macs))
            .order_by(R.c.received_at, R.c.case_no)
        )
        by_mac: dict[str, list[str]] = {}
        for r in await self._read(query):
            cases = by_mac.setdefault(r.mac, [])
            if r.case_no not in cases:
                cases.append(r.case_no)
        return by_mac
