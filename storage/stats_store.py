"""Counts over the reports table for the statistics (issue 18): one ``GROUP BY`` per question, on
SQLite and PostgreSQL, always inside a staff member's scope (the workflow's own rule,
:func:`storage.workflow_store.in_scope`).

A grouping is named by its field (``channel``, ``category``, … and ``day``, the China date of
``received_at``); weeks, months, quarters and years are made from days by the service. Nothing
here decides what may be shown: small counts are suppressed by :mod:`intake.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.tables import VB, D, R
from storage.workflow_store import CASES, in_scope, owner_unit

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


@dataclass(frozen=True)
class StatsFilter:
    """Which reports count: those of a scope (``intake.staff.Scope``), received in ``[start, end)``."""

    units: Sequence[str]
    hide_sealed_received_by: Sequence[str]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class AccusedGroup:
    name: str
    unit: str
    channels: int
    case_nos: list[str]


def _field(name: str, dialect: str) -> Any:
    if name == "day":
        return _day(dialect)
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


class StatsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _where(self, f: StatsFilter) -> Any:
        return sa.and_(
            in_scope(f.units, f.hide_sealed_received_by, self._db.dialect),
            R.c.received_at >= f.start,
            R.c.received_at < f.end,
        )

    async def counts(self, f: StatsFilter, by: Sequence[str]) -> list[tuple[tuple[Any, ...], int]]:
        """``(values of by, count)`` for each combination that has reports."""
        keys = [_field(name, self._db.dialect).label(f"k{i}") for i, name in enumerate(by)]
        n = sa.func.count().label("n")
        query = sa.select(*keys, n).select_from(CASES).where(self._where(f))
        if keys:
            query = query.group_by(*keys)
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(tuple(r[:-1]), int(r[-1])) for r in rows]

    async def case_numbers(self, f: StatsFilter, where: Mapping[str, Any], limit: int = 500) -> list[str]:
        """The case numbers of the reports whose fields have the values of ``where``."""
        query = sa.select(R.c.case_no).select_from(CASES).where(self._where(f))
        for name, value in where.items():
            column = _field(name, self._db.dialect)
            query = query.where(column.is_(None) if value is None else column == value)
        query = query.order_by(R.c.received_at, R.c.case_no).limit(limit)
        async with self._db.read_engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def accused_groups(self, f: StatsFilter, min_reports: int) -> list[AccusedGroup]:
        """The accused (name and unit as filed) named in at least ``min_reports`` reports."""
        name, unit = sa.func.trim(R.c.accused_name), sa.func.coalesce(sa.func.trim(R.c.accused_unit), "")
        flagged = (
            sa.select(name.label("name"), unit.label("unit"))
            .select_from(CASES)
            .where(self._where(f), R.c.accused_name.is_not(None), name != "")
            .group_by(name, unit)
            .having(sa.func.count() >= min_reports)
        )
        async with self._db.read_engine.connect() as conn:
            groups = [(r.name, r.unit) for r in (await conn.execute(flagged)).all()]
            if not groups:
                return []
            members = (
                sa.select(name.label("name"), unit.label("unit"), R.c.case_no, R.c.channel)
                .select_from(CASES)
                .where(self._where(f), name.in_(sorted({g[0] for g in groups})))
                .order_by(R.c.received_at, R.c.case_no)
            )
            rows = (await conn.execute(members)).all()
        found: dict[tuple[str, str], tuple[set[str], list[str]]] = {g: (set(), []) for g in groups}
        for r in rows:
            entry = found.get((r.name, r.unit))
            if entry is not None:
                entry[0].add(r.channel)
                entry[1].append(r.case_no)
        return [AccusedGroup(n, u, len(ch), cases) for (n, u), (ch, cases) in sorted(found.items())]

    async def repeat_informants(self, f: StatsFilter, min_reports: int) -> list[list[str]]:
        """For each informant (one blind index: the same keyed hash of an ID number, phone or
        channel handle) behind at least ``min_reports`` reports, those reports' case numbers. The
        hashes stay here: nobody above storage sees even them, only the count and the cases."""
        reports = sa.func.count(sa.distinct(VB.c.report_id))
        joined = CASES.join(VB, VB.c.report_id == R.c.id)
        flagged = (
            sa.select(VB.c.mac)
            .select_from(joined)
            .where(self._where(f))
            .group_by(VB.c.mac)
            .having(reports >= min_reports)
        )
        async with self._db.read_engine.connect() as conn:
            macs = list((await conn.execute(flagged)).scalars())
            if not macs:
                return []
            rows = (
                await conn.execute(
                    sa.select(VB.c.mac, R.c.case_no)
                    .select_from(joined)
                    .where(self._where(f), VB.c.mac.in_(macs))
                    .order_by(R.c.received_at, R.c.case_no)
                )
            ).all()
        by_mac: dict[str, list[str]] = {}
        for r in rows:
            cases = by_mac.setdefault(r.mac, [])
            if r.case_no not in cases:
                cases.append(r.case_no)
        # One informant with several identifiers (ID number and phone) is one group, not two.
        unique = {tuple(cases): cases for cases in by_mac.values()}
        return sorted(unique.values())

    async def words(self, f: StatsFilter) -> list[tuple[str, str, str]]:
        """``(case_no, day, tokens)`` of the indexed reports: the jieba tokens the search index
        keeps of each report's redacted text (``storage.search``), for the hot words."""
        day = _day(self._db.dialect)
        query = (
            sa.select(R.c.case_no, day.label("day"), D.c.tokens)
            .select_from(CASES.join(D, D.c.report_id == R.c.id))
            .where(self._where(f))
            .order_by(R.c.received_at, R.c.case_no)
        )
        async with self._db.read_engine.connect() as conn:
            return [(r.case_no, r.day, r.tokens) for r in (await conn.execute(query)).all()]
