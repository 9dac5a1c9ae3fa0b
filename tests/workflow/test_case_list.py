"""The staff case list beside the sealed rule (found by mutation testing, issue 23): each row's next
open deadline, the order (newest first, then by case number), the page's 200-row cap, and the case
view of a report the workflow has not acted on yet, whose stored triage alone seals it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from intake.staff import StaffMember
from storage.tables import CD, CS, R
from tests.workflow.conftest import Office


async def listing(o: Office, name: str = "county_sup") -> list[dict[str, str]]:
    status, doc = await o.get(name, "/api/v1/staff/reports")
    assert status == 200, doc
    rows: list[dict[str, str]] = doc["reports"]
    return rows


async def open_dues(o: Office, case_no: str) -> list[str]:
    status, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200, doc
    return sorted(d["due_on"] for d in doc["deadlines"] if d["status"] == "open")


async def test_each_row_shows_its_own_next_open_deadline(office: Office) -> None:
    o = office
    await o.login("county_sup")
    first, _ = await o.file(real_name=True)
    await o.triaged(first)
    o.clock.at += timedelta(days=14)  # the second case's deadlines fall later
    await o.login("county_sup")  # the session of two weeks ago has expired
    second, _ = await o.file(real_name=True)
    await o.triaged(second)
    dues = {case: await open_dues(o, case) for case in (first, second)}
    assert dues[first] and dues[second] and dues[first][0] < dues[second][0]
    rows = {r["case_no"]: r for r in await listing(o)}
    assert {c: rows[c]["next_due"] for c in dues} == {c: d[0] for c, d in dues.items()}
    # The first case's deadlines met: no open one is left to show, though met ones remain.
    report = await o.services.db.reports.get(first)
    async with o.services.db.write_engine.begin() as conn:
        await conn.execute(sa.update(CD).where(CD.c.report_id == report.id).values(status="met"))
    assert await open_dues(o, first) == []
    rows = {r["case_no"]: r for r in await listing(o)}
    assert rows[first]["next_due"] is None and rows[second]["next_due"] == dues[second][0]


async def test_newest_first_then_by_case_number(office: Office) -> None:
    o = office
    await o.login("county_sup")
    a, _ = await o.file()
    b, _ = await o.file()  # the same instant: the case number decides
    o.clock.at += timedelta(minutes=1)
    c, _ = await o.file()
    assert a < b < c
    assert [r["case_no"] for r in await listing(o)] == [c, b, a]
    # Received order, not the number's: the lowest number received last comes first.
    async with o.services.db.write_engine.begin() as conn:
        await conn.execute(
            sa.update(R).where(R.c.case_no == a).values(received_at=o.clock.now() + timedelta(minutes=5))
        )
    assert [r["case_no"] for r in await listing(o)] == [a, c, b]
    # Of two received at the same instant, the higher number first, whichever row was stored first.
    async with o.services.db.write_engine.begin() as conn:
        for old, new in ((b, "SWAP"), (c, b), ("SWAP", c)):
            await conn.execute(sa.update(R).where(R.c.case_no == old).values(case_no=new))
        await conn.execute(sa.update(R).where(R.c.case_no.in_([b, c])).values(received_at=o.clock.now()))
    assert [r["case_no"] for r in await listing(o)] == [a, c, b]


async def test_the_list_holds_200_cases(office: Office) -> None:
    o = office
    await o.login("county_sup")
    case_no, _ = await o.file()
    async with o.services.db.write_engine.begin() as conn:
        row = dict((await conn.execute(sa.select(R).where(R.c.case_no == case_no))).mappings().one())
        copies = [
            row | {"id": uuid.uuid4(), "case_no": f"T{i:03d}", "query_hash": f"{i:064x}", "external_id": None}
            for i in range(200)
        ]
        await conn.execute(sa.insert(R), copies)
    rows = await listing(o)
    assert len(rows) == 200  # of 201
    cases = await o.services.db.workflow.cases(units=["430121"], hide_sealed_received_by=[], limit=3)
    assert len(cases) == 3


async def seal_by_triage(o: Office, report_id: uuid.UUID, doc: dict[str, Any]) -> None:
    """Store ``doc`` (sealed) as the report's triage, sent to the city, as the triage job does."""
    columns = {
        "scope": "accusation",
        "level": "city",
        "priority": "normal",
        "confidence": 0.9,
        "duplicate_of": None,
    }
    await o.services.db.reports.set_triage(report_id, {**columns, "triage": doc}, o.clock.now())


async def test_a_report_sealed_by_its_triage_alone_is_hidden_before_the_workflow_acts(office: Office) -> None:
    o = office
    await o.login("county_sup")
    await o.login("city_sup")
    case_no, _ = await o.file("县纪委书记王五收受他人财物二十万元。")
    plain, _ = await o.file()
    report = await o.services.db.reports.get(case_no)
    doc = {
        "scope": "accusation",
        "level": "city",
        "unit": {"id": "4301", "name": "长沙市纪委监委"},
        "sealed": True,
    }
    await seal_by_triage(o, report.id, doc)
    async with o.services.db.read_engine.connect() as conn:
        assert (await conn.execute(sa.select(CS).where(CS.c.report_id == report.id))).first() is None
    status, err = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 404
    assert err["error"] == {"code": "case_not_found", "message": "没有这个案件，或不在您的查看范围内。"}
    assert case_no not in [r["case_no"] for r in await listing(o)]
    status, doc = await o.get("county_sup", f"/api/v1/staff/reports/{plain}")
    assert status == 200, doc
    assert (doc["sealed"], doc["review_stage"], doc["owner_unit"]["id"]) == (False, 0, "430121")
    # The city above sees it, as received and sealed, before any workflow state exists.
    status, doc = await o.get("city_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200, doc
    assert (doc["sealed"], doc["review_stage"], doc["owner_unit"]["id"]) == (True, 0, "430121")
    status, err = await o.get("county_sup", "/api/v1/staff/reports/NOSUCHCASE")
    assert status == 404
    assert err["error"] == {"code": "case_not_found", "message": "没有这个案件，或不在您的查看范围内。"}


async def test_a_triage_sealing_a_case_the_workflow_holds_unsealed_hides_it(office: Office) -> None:
    o = office
    await o.login("county_sup")
    await o.login("county_reg")
    case_no, _ = await o.file()
    await o.triaged(case_no)
    assert (await o.act("county_reg", case_no, action="accept"))[0] == 200  # the county's, unsealed
    assert await o.services.db.workflow.state((await o.services.db.reports.get(case_no)).id) is not None
    assert (await o.get("county_sup", f"/api/v1/staff/reports/{case_no}"))[0] == 200
    report = await o.services.db.reports.get(case_no)
    doc = dict(report.triage or {}) | {"sealed": True}
    await seal_by_triage(o, report.id, doc)
    assert (await o.get("county_sup", f"/api/v1/staff/reports/{case_no}"))[0] == 404
    assert case_no not in [r["case_no"] for r in await listing(o)]


async def test_an_action_that_takes_the_case_out_of_sight_says_so(office: Office) -> None:
    o = office
    await o.login("county_reg")
    case_no, _ = await o.file()
    await o.triaged(case_no)
    status, doc = await o.act("county_reg", case_no, action="transfer", to_unit="430121102")
    assert status == 200, doc
    assert doc == {"case_no": case_no, "status": "transferred", "visible": False}
    assert (await o.get("county_reg", f"/api/v1/staff/reports/{case_no}"))[0] == 404


async def test_the_list_filters_and_each_rows_category_and_seal(office: Office) -> None:
    o = office
    await o.login("county_sup")
    await o.login("county_reg")
    web, _ = await o.file(real_name=True)
    await o.triaged(web)
    phone, _ = await o.file(channel="phone")
    await o.triaged(phone, category="违反廉洁纪律")
    assert (await o.act("county_reg", phone, action="accept"))[0] == 200

    async def cases(query: str) -> list[str]:
        status, doc = await o.get("county_sup", f"/api/v1/staff/reports?{query}")
        assert status == 200, doc
        return sorted(r["case_no"] for r in doc["reports"])

    assert await cases("channel=phone") == [phone] and await cases("channel=web") == [web]
    assert await cases("status=accepted") == [phone]
    rows = {r["case_no"]: r for r in await listing(o)}
    # No category was filed: the triaged one is shown (and filtered on).
    assert (rows[web]["category"], rows[phone]["category"]) == ("群众纪律", "违反廉洁纪律")
    assert await cases("category=违反廉洁纪律") == [phone]
    # Due within n days: up to and including the n-th day.
    due = rows[web]["next_due"]
    assert due is not None
    today = o.clock.at.date()
    days = (date.fromisoformat(due) - today).days
    assert web in await cases(f"deadline={days}") and web not in await cases(f"deadline={days - 1}")
    member = StaffMember("county_sup", "430121", "supervisor")
    assert [r.case_no for r in await o.services.workflow.queue(member, case_nos=[phone])] == [phone]
    assert await o.services.workflow.queue(member, case_nos=[]) == []


async def test_the_store_says_which_listed_cases_are_sealed(office: Office) -> None:
    o = office
    await o.login("city_sup")
    sealed, _ = await o.file("县纪委书记王五收受他人财物二十万元。")
    await o.triaged(sealed, level="city", unit={"id": "4301", "name": "长沙市纪委监委"}, sealed=True)
    plain, _ = await o.file()
    await o.triaged(plain)
    rows = await o.services.db.workflow.cases(
        units=["4301", "430121"], hide_sealed_received_by=["4301", "43"]
    )
    flags = {r.case_no: r.sealed for r in rows}
    assert flags[sealed] is True and flags[plain] is False


async def test_a_search_ranks_within_the_scope(office: Office) -> None:
    """Search is scoped in its query, not cut to the scope after ranking: a township's one match
    is its first result though the county holds newer matches ranked the same (ranked over
    everyone's matches first, a scope's fell out of a province's best thousand)."""
    o = office
    await o.login("county_reg")
    town, _ = await o.file("村会计王某挪用扶贫资金五万元。")
    status, doc = await o.act("county_reg", town, action="transfer", to_unit="430121102")  # 黄兴镇
    assert status == 200, doc
    county = []
    for _ in range(3):
        o.clock.at += timedelta(minutes=1)
        county.append((await o.file("村会计王某挪用扶贫资金五万元。"))[0])
    services = o.services
    for name, limit, expected in (
        ("town_officer", 1, [town]),
        ("county_sup", 2, county[::-1][:2]),
        ("county_sup", 10, [*county[::-1], town]),
    ):
        member = await services.staff.member(name)
        assert member is not None and services.workflow is not None
        found = await services.workflow.search(member, "扶贫资金 王某", limit=limit)
        assert [r.case_no for r in found] == expected, name
    scope = services.staff.scope(await services.staff.member("town_officer"))
    assert await services.db.search.search(
        "挪用", units=scope.units, hide_sealed_received_by=scope.hide_sealed_received_by, limit=1
    ) == [town]


async def test_the_manual_triage_queue_is_scoped_in_its_query(office: Office) -> None:
    """The queue's reports waiting for a person are the scope's oldest, chosen in the query: the
    oldest of everyone's first, then cut to the scope, held a township's own back behind a
    province's backlog."""
    o = office
    await o.login("county_reg")
    county, _ = await o.file("村会计王某挪用扶贫资金五万元。")
    await o.triaged(county, needs_review=True, confidence=0.4)
    o.clock.at += timedelta(minutes=1)
    town, _ = await o.file("村会计李某挪用扶贫资金三万元。")
    await o.triaged(town, needs_review=True, confidence=0.4)
    status, doc = await o.act("county_reg", town, action="transfer", to_unit="430121102")  # 黄兴镇
    assert status == 200, doc
    triage, staff = o.services.triage, o.services.staff

    async def waiting(name: str | None, limit: int) -> list[str]:
        member = await staff.member(name) if name else None
        scope = staff.scope(member) if member else None
        return [w["case_no"] for w in await triage.review_queue(limit, scope)]

    assert await waiting(None, 1) == [county]  # everyone's oldest (the command line's queue)
    assert await waiting("town_officer", 1) == [town]
    assert await waiting("county_sup", 1) == [county]
    assert await waiting("county_sup", 5) == [county, town]
    # The staff API's triage queue shows the township its own waiting report.
    await o.login("town_officer")
    status, doc = await o.get("town_officer", "/api/v1/staff/triage/queue")
    assert status == 200, doc
    assert [w["case_no"] for w in doc["needs_review"]] == [town]
