"""Upper levels supervise their subtree (两为主一报告, 督办; issue 16), on SQLite and PostgreSQL: in a
city with two counties, a county's supervisor sees and supervises its townships' cases — in the
queue, on the case page, on the deadline board and in the staff API — and never a sibling
county's; the city sees both. A case received at one unit and handled by another shows both."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake.errors import ValidationError
from server.config import Settings
from tests.channels.web.test_web_form import HTML, hidden, receipt_of, report_form
from tests.workflow.conftest import PASSWORD, Office, open_office

TREE_FILE = Path(__file__).parent.parent / "fixtures" / "jurisdiction" / "two_counties.json"
SHEGANG, LIUYANG, HUANGXING, CHANGSHA_COUNTY, CITY = "430181102", "430181", "430121102", "430121", "4301"
VILLAGE = "430181102224"  # 周洛村, an intake point of 社港镇
STAFF = {
    "shegang_reg": (SHEGANG, "registrar"),
    "liuyang_sup": (LIUYANG, "supervisor"),
    "liuyang_handler": (LIUYANG, "handler"),
    "changsha_sup": (CHANGSHA_COUNTY, "supervisor"),
}  # with the demo office's accounts (tests/workflow/conftest.py), city_sup among them


@pytest.fixture
async def city(aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str) -> Office:
    settings = make_settings(INTAKE_DATABASE_URL=db_url, INTAKE_JURISDICTION_FILE=str(TREE_FILE))
    o = await open_office(aiohttp_client, settings)
    for name, (unit, role) in STAFF.items():
        _, o.secrets[name] = await o.services.staff.add(name, unit, role, PASSWORD)
    for name in [*STAFF, "city_sup"]:
        await o.login(name)
    return o


async def file_at(o: Office, unit: str, content: str) -> str:
    resp = await o.client.post("/api/v1/reports", json={"content": content, "unit": unit})
    assert resp.status == 201, await resp.text()
    case_no: str = (await resp.json())["case_no"]
    assert case_no.split("-")[1] == unit
    return case_no


async def queue(o: Office, name: str) -> set[str]:
    status, doc = await o.get(name, "/api/v1/staff/reports")
    assert status == 200, doc
    return {r["case_no"] for r in doc["reports"]}


async def test_a_county_supervises_its_townships_and_never_a_sibling_countys(city: Office) -> None:
    o = city
    shegang = await file_at(o, SHEGANG, "社港镇某村党支部书记王五在危房改造补助中优亲厚友。")
    huangxing = await file_at(o, HUANGXING, "黄兴镇某站站长收受礼金两万元。")

    assert await queue(o, "liuyang_sup") == {shegang}
    assert await queue(o, "changsha_sup") == {huangxing}
    assert await queue(o, "city_sup") == {shegang, huangxing}
    assert await queue(o, "shegang_reg") == {shegang}
    assert await queue(o, "liuyang_handler") == set()  # a handler sees its own unit's cases

    status, doc = await o.get("changsha_sup", f"/api/v1/staff/reports/{shegang}")
    assert status == 404 and doc["error"]["code"] == "case_not_found"  # as if it did not exist
    status, doc = await o.get("liuyang_sup", f"/api/v1/staff/reports/{shegang}")
    assert status == 200 and doc["receiving_unit"] == {"id": SHEGANG, "name": "社港镇纪委"}

    # The township registers and accepts; the county supervises (督办) with a deadline.
    for action in ("register", "accept"):
        status, doc = await o.act("shegang_reg", shegang, action=action)
        assert status == 200, doc
    due = (date(2025, 9, 26) + timedelta(days=9)).isoformat()
    status, doc = await o.act("changsha_sup", shegang, action="supervise", reason="请加快办理", deadline=due)
    assert status == 404  # a sibling county cannot supervise it either
    status, doc = await o.act("liuyang_sup", shegang, action="supervise", reason="请加快办理", deadline=due)
    assert status == 200 and doc["status"] == "supervised", doc

    for name, sees in (("liuyang_sup", True), ("city_sup", True), ("changsha_sup", False)):
        status, board = await o.get(name, "/api/v1/staff/deadlines?within=30")
        assert status == 200
        listed = {d["case_no"] for d in board["overdue"] + board["due_soon"]}
        assert (shegang in listed) is sees, (name, board)
    await o.audit_ok()


async def test_a_case_received_by_one_unit_and_handled_by_another_shows_both(city: Office) -> None:
    o = city
    shegang = await file_at(o, SHEGANG, "反映浏阳市某局局长违规收受购物卡。")
    status, doc = await o.act("shegang_reg", shegang, action="transfer", to_unit=LIUYANG)
    assert status == 200, doc
    # The township no longer owns it: the county does; the case number still names the township.
    assert await queue(o, "shegang_reg") == set()
    status, doc = await o.get("liuyang_sup", f"/api/v1/staff/reports/{shegang}")
    assert status == 200
    assert doc["receiving_unit"] == {"id": SHEGANG, "name": "社港镇纪委"}
    assert doc["owner_unit"] == {"id": LIUYANG, "name": "浏阳市纪委监委"}
    status, listing = await o.get("liuyang_sup", "/api/v1/staff/reports")
    row = next(r for r in listing["reports"] if r["case_no"] == shegang)
    assert (row["receiving_unit"], row["owner_unit"]) == (SHEGANG, LIUYANG)

    page = await o.client.get(f"/console/cases/{shegang}", cookies={"xf_console": o.tokens["liuyang_sup"]})
    html = await page.text()
    assert page.status == 200
    assert re.search(r'id="receiving-unit">社港镇纪委<', html)
    assert re.search(r'id="owner-unit">浏阳市纪委监委<', html)
    queue_page = await o.client.get("/console/cases", cookies={"xf_console": o.tokens["liuyang_sup"]})
    assert "受理：社港镇纪委" in await queue_page.text()


async def test_a_village_intake_point_receives_and_its_township_takes_it_up(city: Office) -> None:
    """An intake point (村务监督委员会) is a receiving unit with its own form and code in the case
    number; its township sees what it registered; nobody can make it the handler."""
    o = city
    form = await o.client.get(f"/u/{VILLAGE}/", headers=HTML)
    html = await form.text()
    assert form.status == 200
    assert "受理单位：<strong>周洛村村务监督委员会</strong>（受理点：登记后转社港镇纪委办理）" in html
    resp = await o.client.post(
        f"/u/{VILLAGE}/reports",
        data=report_form(hidden(html, "csrf"), hidden(html, "submission_id"), division_code=VILLAGE),
        headers=HTML,
    )
    assert resp.status == 201, await resp.text()
    case_no, _ = receipt_of(await resp.text())
    assert re.fullmatch(rf"\d{{4}}-{VILLAGE}-000001", case_no)
    assert (await o.services.db.reports.get(case_no)).receiving_unit == VILLAGE

    assert await queue(o, "shegang_reg") == {case_no}  # the township's registrar takes it up
    assert await queue(o, "liuyang_sup") == {case_no}
    assert await queue(o, "changsha_sup") == set()
    status, doc = await o.act("shegang_reg", case_no, action="register")
    assert status == 200, doc
    status, doc = await o.act("shegang_reg", case_no, action="transfer", to_unit=SHEGANG)
    assert status == 200 and doc["owner_unit"]["id"] == SHEGANG, doc
    assert doc["receiving_unit"]["id"] == VILLAGE
    # An intake point never handles: neither 转办 nor 交办 may send a case to it, and it has
    # registrars only.
    status, doc = await o.act("liuyang_sup", case_no, action="transfer", to_unit=VILLAGE)
    assert status == 422 and doc["error"]["code"] == "intake_point", doc
    for role in ("handler", "supervisor", "triage_officer", "custodian", "admin"):
        with pytest.raises(ValidationError) as refused:
            await o.services.staff.add(f"village_{role}", VILLAGE, role, PASSWORD)
        assert refused.value.code == "intake_point_role"
    await o.services.staff.add("village_reg", VILLAGE, "registrar", PASSWORD)


async def test_the_picker_groups_the_tree_by_the_unit_above(city: Office) -> None:
    html = await (await o_get(city, f"/u/{LIUYANG}/")).text()
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', html, re.S)
    listed = [(label, re.findall(r'<option value="(\d+)"', body)) for label, body in groups]
    assert listed == [
        ("浏阳市（县级）", [LIUYANG, "430181001", SHEGANG]),
        ("社港镇", [VILLAGE, "430181102240"]),
    ]
    html = await (await o_get(city, "/?q=周洛")).text()
    assert '<option value="430181102224" selected>浏阳市 › 社港镇 › 周洛村</option>' in html


async def o_get(o: Office, path: str) -> Any:
    resp = await o.client.get(path, headers=HTML)
    assert resp.status == 200
    return resp
