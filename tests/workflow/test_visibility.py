"""Sealed cases (a report about a commission's own head, 线索上提) stay hidden from that commission and
everything below it at every stage: before the workflow acts on the triage, after it sends the case
up, and after the unit above hands it back down (交办). An unsealed case in the same units is seen,
so each hidden answer is the sealed rule at work, not the ordinary unit scope."""

from __future__ import annotations

import pytest

from intake.domain import Accused
from tests.workflow.conftest import Office

COUNTY_SIDE = ("county_reg", "county_sup", "county_handler", "town_sup")
SECRETARY = Accused("王五", "长沙县纪委", "书记")


async def _login_all(o: Office) -> None:
    for name in (*COUNTY_SIDE, "city_sup"):
        await o.login(name)


async def _sees(o: Office, name: str, case_no: str) -> bool:
    status, doc = await o.get(name, f"/api/v1/staff/reports/{case_no}")
    assert status in (200, 404), doc
    _, listing = await o.get(name, "/api/v1/staff/reports")
    listed = case_no in [r["case_no"] for r in listing["reports"]]
    assert listed == (status == 200), (name, status, listed)
    # Full-text search, scoped in its query: the case's own text finds it exactly when it is seen.
    member = await o.services.staff.member(name)
    report = await o.services.db.reports.get(case_no)
    assert member is not None and o.services.workflow is not None and report is not None
    found = [r.case_no for r in await o.services.workflow.search(member, report.content)]
    assert (case_no in found) == (status == 200), (name, status, found)
    if status == 404:
        assert doc["error"]["code"] == "case_not_found"
        assert (await o.act(name, case_no, action="accept"))[0] == 404
    return status == 200


async def _sealed_case(o: Office) -> str:
    case_no, _ = await o.file("县纪委书记王五收受他人财物二十万元。", accused=SECRETARY)
    await o.triaged(
        case_no,
        level="city",
        unit={"id": "4301", "name": "长沙市纪委监委"},
        sealed=True,
        transfer="upward",
        rules=["R8"],
    )
    return case_no


async def test_before_the_workflow_acts_on_the_triage(office: Office) -> None:
    """Still owned by the county that received it: only the sealed rule hides it there."""
    o = office
    await _login_all(o)
    sealed = await _sealed_case(o)
    plain, _ = await o.file()
    await o.triaged(plain)
    for name in ("county_reg", "county_sup"):
        assert await _sees(o, name, plain)
    for name in COUNTY_SIDE:
        assert not await _sees(o, name, sealed), name
    assert await _sees(o, "city_sup", sealed)
    _, board = await o.get("county_sup", "/api/v1/staff/deadlines")
    assert sealed not in [d["case_no"] for d in board["overdue"] + board["due_soon"]]
    await o.audit_ok()


async def test_after_triage_sends_it_up(office: Office) -> None:
    o = office
    await _login_all(o)
    sealed = await _sealed_case(o)
    await o.services.workflow.after_triage(sealed)
    for name in COUNTY_SIDE:
        assert not await _sees(o, name, sealed), name
    assert await _sees(o, "city_sup", sealed)
    await o.audit_ok()


async def test_after_the_city_hands_it_back_down(office: Office) -> None:
    o = office
    await _login_all(o)
    sealed = await _sealed_case(o)
    await o.services.workflow.after_triage(sealed)
    status, doc = await o.act("city_sup", sealed, action="accept")
    assert status == 200, doc
    status, doc = await o.act("city_sup", sealed, action="assign", to_unit="430121")
    assert status == 200, doc
    # The county now owns it on paper, and the seal still keeps it out of the county's sight.
    assert doc["owner_unit"]["id"] == "430121" and doc["sealed"], doc
    for name in COUNTY_SIDE:
        assert not await _sees(o, name, sealed), name
    assert await _sees(o, "city_sup", sealed)
    await o.audit_ok()


@pytest.mark.parametrize("name", ["county_sup", "town_sup"])
async def test_an_unsealed_case_handed_down_is_seen_below(office: Office, name: str) -> None:
    """The control: the same hand-down without the seal reaches the county (and the town sees
    what the county hands on to it)."""
    o = office
    await _login_all(o)
    case_no, _ = await o.file()
    await o.triaged(case_no)
    assert await _sees(o, "county_sup", case_no)
    assert not await _sees(o, "town_sup", case_no)  # the town sees only what is its own
    await o.act("county_reg", case_no, action="accept")
    status, doc = await o.act("county_sup", case_no, action="assign", to_unit="430121102")
    assert status == 200, doc
    assert await _sees(o, name, case_no)
    await o.audit_ok()
