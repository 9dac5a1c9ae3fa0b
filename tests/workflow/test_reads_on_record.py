"""Reads are on record too (issue 18 §7, 全程留痕 covers access): opening a case in the console or
through the API, a search and a statistics query are audit events with the reader's name; the
case page lists the earlier reads apart from the handling steps; a refused read records nothing;
the informant's own timeline never shows them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.console.conftest import console_get, console_login
from tests.workflow.conftest import Office

pytestmark = pytest.mark.asyncio


async def _events(o: Office, kind: str) -> list[Any]:
    return [e async for e in o.services.db.audit.iter_events() if e.kind == kind]


async def test_opening_a_case_is_recorded_with_reader_and_way(office: Office) -> None:
    o = office
    case_no, query_code = await o.file()
    await o.triaged(case_no)
    report = await o.services.db.reports.get(case_no)
    await o.login("county_handler")

    status, _ = await o.get("county_handler", f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    [api_read] = await _events(o, "case_opened")
    assert api_read.report_id == report.id
    assert api_read.actor == "staff:county_handler"
    assert json.loads(api_read.payload) == {"via": "api"}

    # Acting on the case loads it without a read on record; only the page asked for counts.
    status, _ = await o.act("county_handler", case_no, action="accept")
    assert status == 200
    assert len(await _events(o, "case_opened")) == 1

    await console_login(o, "county_sup")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert status == 200
    reads = await _events(o, "case_opened")
    assert [(e.actor, json.loads(e.payload)["via"]) for e in reads] == [
        ("staff:county_handler", "api"),
        ("staff:county_sup", "console"),
    ]
    # The page shows the reads before this one, apart from the handling record.
    section = html.split('<section id="reads">', 1)[1].split("</section>", 1)[0]
    assert "查阅案件" in section and "county_handler（工作人员）" in section and "通过接口" in section
    assert "county_sup（工作人员）" not in section
    handling = html.split('<section id="timeline">', 1)[1].split("</section>", 1)[0]
    assert "查阅案件" not in handling

    status, html = await console_get(o, f"/console/cases/{case_no}")
    section = html.split('<section id="reads">', 1)[1].split("</section>", 1)[0]
    assert "county_sup（工作人员）" in section and "通过工作台" in section

    # The informant's timeline is about the handling, never about who read the file.
    resp = await o.client.post("/api/v1/status", json={"query_code": query_code})
    assert resp.status == 200
    doc = await resp.json()
    assert [step["event"] for step in doc["timeline"]] == ["received", "accepted"]
    await o.audit_ok()


async def test_a_refused_read_records_nothing(office: Office) -> None:
    o = office
    case_no, _ = await o.file()
    await o.triaged(case_no)  # the county's case: a township officer may not see it
    await o.login("town_officer")
    status, body = await o.get("town_officer", f"/api/v1/staff/reports/{case_no}")
    assert status == 404, body
    assert await _events(o, "case_opened") == []


async def test_searches_and_statistics_are_recorded(office: Office) -> None:
    o = office
    case_no, _ = await o.file("镇干部收受红包，2025年8月在办公室收了五千元。")
    await o.triaged(case_no)
    await console_login(o, "county_handler")
    status, html = await console_get(o, "/console/search?q=红包")
    assert status == 200 and case_no in html
    [search] = await _events(o, "cases_searched")
    assert search.report_id is None and search.actor == "staff:county_handler"
    assert json.loads(search.payload) == {"words": "红包", "results": 1, "cases": [case_no]}

    await o.login("county_sup")
    status, _ = await o.get("county_sup", "/api/v1/staff/stats?by=channel,category&from=2025-09-01")
    assert status == 200
    [stats] = await _events(o, "stats_viewed")
    assert stats.actor == "staff:county_sup" and stats.report_id is None
    assert json.loads(stats.payload) == {
        "by": ["channel", "category"],
        "start": "2025-09-01",
        "end": "2025-09-26",
        "unit": None,
        "rows": 1,
    }
    status, _ = await o.get("county_sup", "/api/v1/staff/stats/alerts?period=week")
    assert status == 200
    [alerts] = await _events(o, "stats_alerts_viewed")
    assert json.loads(alerts.payload)["period"] == "week" and alerts.actor == "staff:county_sup"

    # A refused query is no read: nothing on record for it.
    status, _ = await o.get("county_sup", "/api/v1/staff/stats?unit=4301")
    assert status == 403
    assert len(await _events(o, "stats_viewed")) == 1
    await o.audit_ok()
