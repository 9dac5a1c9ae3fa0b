"""``GET /api/v1/staff/stats``: counts in scope, groupings, and the 4xx for bad input."""

from __future__ import annotations

import pytest

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
        ("from=2025-09-20&to=2025-09-10", "reversed_dates"),
        ("to=2025-09-27", "future_date"),
    ]:
        status, body = await office.get("county_sup", f"/api/v1/staff/stats?{query}")
        assert status == 422 and body["error"]["code"] == code, (query, body)
    status, body = await office.get("county_sup", "/api/v1/staff/stats?unit=4301")
    assert status == 403 and body["error"]["code"] == "unit_out_of_scope"
