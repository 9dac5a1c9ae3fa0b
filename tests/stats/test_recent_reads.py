"""Statistics reads kept for a minute (issue 21: a city's statistics page at a million reports):
the same question from the same scope is read once while it is kept, concurrent asks share one
read, a failed read is not kept, and what is kept ends — then the page shows what came since."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
import sqlalchemy as sa

from intake.stats import RecentReads, StatsService
from tests.stats.conftest import Office, file


class Ticks:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


async def test_a_kept_read_is_read_once_until_it_ends() -> None:
    ticks, reads = Ticks(), []

    async def read(value: str) -> str:
        reads.append(value)
        await asyncio.sleep(0.01)
        return value

    recent = RecentReads(60, size=2, now=ticks)
    # Asked three times at once: one read, the same answer for all.
    assert await asyncio.gather(*(recent.get("a", lambda: read("a1")) for _ in range(3))) == ["a1"] * 3
    ticks.at = 59.0
    assert await recent.get("a", lambda: read("a2")) == "a1"
    assert await recent.get("b", lambda: read("b1")) == "b1"  # another question, its own read
    ticks.at = 60.0
    assert await recent.get("a", lambda: read("a3")) == "a3"  # a minute on: read again
    assert await recent.get("c", lambda: read("c1")) == "c1"
    assert await recent.get("b", lambda: read("b2")) == "b2"  # two kept at most: b went first
    assert reads == ["a1", "b1", "a3", "c1", "b2"]


async def test_a_failed_read_is_not_kept_and_zero_keeps_nothing() -> None:
    calls = 0

    async def fails() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    recent = RecentReads(60, now=Ticks())
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await recent.get("k", fails)
    assert calls == 2
    off, n = RecentReads(0), []

    async def count() -> int:
        n.append(1)
        return len(n)

    assert [await off.get("k", count) for _ in range(3)] == [1, 2, 3]


async def test_the_statistics_service_keeps_a_scopes_table_and_alerts_for_a_minute(office: Office) -> None:
    o = office
    ticks = Ticks()
    stats = StatsService(o.services.db, o.clock, o.services.staff, min_cell=1, spike_min=1)
    stats.recent = RecentReads(60, now=ticks)
    day = date(2025, 9, 20)
    await file(o, day, channel="web", category="低保", place="430121102", accused="张三")
    sup = await o.services.staff.member("county_sup")
    city = await o.services.staff.member("city_sup")
    assert sup is not None and city is not None

    async def total(member: object) -> object:
        return (await stats.table(member, ["category"], start=day, end=day)).total  # type: ignore[arg-type]

    assert await total(sup) == 1
    await file(o, day, channel="app", category="低保", place="430121102", accused="李四")
    assert await total(sup) == 1  # kept: the same scope and question within the minute
    assert await total(city) == 2  # another scope reads for itself
    alerts = await stats.alerts(sup, on=day)
    await file(o, day, channel="app", category="低保", place="430121102", accused="李四")
    await file(o, day, channel="app", category="低保", place="430121102", accused="李四")
    assert [a.reports for a in await stats.alerts(sup, on=day)] == [a.reports for a in alerts]
    ticks.at = 60.0
    assert await total(sup) == 4
    accused = [a for a in await stats.alerts(sup, on=day) if a.kind == "accused"]
    assert accused and accused[0].count == 3  # 李四, three times
    # Every view is on the audit trail, kept or not.
    async with o.services.db.read_engine.connect() as conn:
        viewed = (
            await conn.execute(
                sa.text(
                    "SELECT count(*) FROM report_events WHERE kind IN ('stats_viewed', 'stats_alerts_viewed')"
                )
            )
        ).scalar()
    assert viewed == 7
