"""``GET /api/v1/staff/stats``: counts in scope, groupings, and the 4xx for bad input."""

from __future__ import annotations

from datetime import datetime

import pytest

from intake.clock import CHINA
from tests.stats.conftest import Office

pytestmark = pytest.mark.asyncio


async def test_counts_by_channel_and_bad_input(office: Office) -> None:
    for _ in range(6):
        await office.file(channel="web")
    for _ in range(2):
        await office.file(channel="app")
    await office.login("county_sup")
    status, body = await office.get("county_sup", "/api/v1/staff/stats?by=channel")
    assert status == 200, body
    assert body["rows"] == [{"channel": "app", "count": "<5"}, {"channel": "web", "count": "<5"}]
    assert body["total"] == 8
    for query, code in [
        ("by=colour", "unknown_grouping"),
        ("by=channel,channel", "invalid_grouping"),
        ("from=2025-13-01", "invalid_date"),
        ("from=1173-07-28", "invalid_date"),  # before any report (and China's zone was then LMT)
        ("from=2025-09-20&to=2025-09-10", "reversed_dates"),
        ("to=2025-09-27", "future_date"),
    ]:
        status, body = await office.get("county_sup", f"/api/v1/staff/stats?{query}")
        assert status == 422 and body["error"]["code"] == code, (query, body)
    status, body = await office.get("county_sup", "/api/v1/staff/stats?unit=4301")
    assert status == 403 and body["error"]["code"] == "unit_out_of_scope"
    # The fuzzer's find: alerts for a week in 1173 reached the roll-up and answered 500.
    status, body = await office.get("county_sup", "/api/v1/staff/stats/alerts?date=1173-07-28&period=week")
    assert status == 422 and body["error"]["code"] == "invalid_date", body


async def test_days_are_china_dates(office: Office) -> None:
    """A report at 00:30 China time (16:30 UTC the day before) counts on the China date."""
    office.clock.at = datetime(2025, 9, 21, 0, 30, tzinfo=CHINA)
    await office.file()
    office.clock.at = datetime(2025, 9, 26, 10, 0, tzinfo=CHINA)
    await office.login("county_sup")
    _, body = await office.get("county_sup", "/api/v1/staff/stats?by=day&from=2025-09-01")
    assert [r["day"] for r in body["rows"]] == ["2025-09-21"]
    _, body = await office.get("county_sup", "/api/v1/staff/stats?by=day&from=2025-09-01&to=2025-09-20")
    assert body["rows"] == [] and body["total"] == 0
    _, body = await office.get("county_sup", "/api/v1/staff/stats?by=day&from=2025-09-21&to=2025-09-21")
    assert body["rows"] == [{"day": "2025-09-21", "count": "<5"}] and body["total"] == "<5"


async def test_a_table_too_long_is_refused_not_cut(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intake.stats.MAX_ROWS", 1)
    await office.file(channel="web")
    await office.file(channel="app")
    await office.login("county_sup")
    status, body = await office.get("county_sup", "/api/v1/staff/stats?by=channel")
    assert status == 422 and body["error"]["code"] == "too_many_rows"
