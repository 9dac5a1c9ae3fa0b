"""Clue disposal (线索处置, 监督执纪工作规则 arts 21–35; issue 18) through the staff API, on SQLite and
PostgreSQL: an accusation accepted by a unit is a problem clue with its one-month disposal
deadline; the handling unit proposes a method with its reason, its leader approves; 初步核实 needs
a plan and ends in a report whose proposal is approved; 函询 opens the 15-working-day answer;
暂存待查 can be taken up again. Wrong role, wrong unit, wrong order and missing fields are refused
with a clear 4xx and change nothing; the result is reported back to the receiving unit; the
audit chain verifies after every path."""

from __future__ import annotations

import asyncio
from typing import Any

from console.labels import READ_EVENTS
from tests.workflow.conftest import PASSWORD, Office

TOWN = "430121102"
COUNTY = "430121"


def deadlines(doc: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [d for d in doc["deadlines"] if d["rule"] == rule]


def changes(doc: dict[str, Any]) -> list[int]:
    return [e["seq"] for e in doc["timeline"] if e["kind"] not in READ_EVENTS]


def kinds(doc: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in doc["timeline"]]


async def accepted_clue(o: Office, *, at_town: bool = False) -> tuple[str, dict[str, Any]]:
    """An accusation received by the county, accepted there — or sent down to the township and
    accepted by it, so that the receiving unit and the handling unit differ."""
    for name in ("county_reg", "county_sup", "county_handler", "town_officer", "town_sup"):
        await o.login(name)
    case_no, _ = await o.file()
    await o.triaged(case_no)
    if at_town:
        status, doc = await o.act("county_reg", case_no, action="transfer", to_unit=TOWN)
        assert status == 200, doc
        status, doc = await o.act("town_officer", case_no, action="accept")
    else:
        status, doc = await o.act("county_reg", case_no, action="accept")
    assert status == 200, doc
    return case_no, doc


async def leader(o: Office, name: str, unit: str) -> None:
    """The unit's main leader (主要负责人), logged in."""
    _, o.secrets[name] = await o.services.staff.add(name, unit, "leader", PASSWORD)
    await o.login(name)


async def second_supervisor(o: Office) -> None:
    """Another supervisor of the county (county_sup2), logged in."""
    _, o.secrets["county_sup2"] = await o.services.staff.add("county_sup2", COUNTY, "supervisor", PASSWORD)
    await o.login("county_sup2")


async def proposed_to_two_supervisors(o: Office, method: str, reason: str) -> str:
    """A county clue with a proposal (``method``) that two county supervisors may approve."""
    o.clock.set(2025, 9, 26)
    case_no, _ = await accepted_clue(o)
    await second_supervisor(o)
    status, doc = await o.act("county_handler", case_no, action="clue_propose", method=method, reason=reason)
    assert status == 200, doc
    return case_no


async def later(o: Office, y: int, m: int, d: int) -> None:
    """Move the clock on (staff tokens last 8 hours: everyone logs in again)."""
    o.clock.set(y, m, d)
    for name in list(o.tokens):
        await o.login(name)


async def unchanged(o: Office, name: str, case_no: str, before: dict[str, Any]) -> None:
    status, doc = await o.get(name, f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    assert doc["clue"] == before["clue"]
    assert doc["deadlines"] == before["deadlines"]
    # Reading the case is on the record too (case_opened): only the changes must be the same.
    assert changes(doc) == changes(before)


async def test_a_clue_goes_through_initial_verification_to_closing(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 26)  # Friday before the National Day holiday (28 Sep and 11 Oct are 调休)
    case_no, doc = await accepted_clue(o, at_town=True)
    clue = doc["clue"]
    assert clue["state"] == "received" and clue["state_label"] == "待提出处置意见"
    assert clue["handling_unit"]["id"] == TOWN and clue["receiving_unit"]["id"] == COUNTY
    assert clue["next_steps"] == ["clue_propose"]
    # Art 21 ¶2: the disposal opinion within one month of receiving the clue; 26 Oct 2025 is a
    # Sunday, so the period ends on Monday 27 Oct.
    (opinion,) = deadlines(doc, "clue_disposal_opinion")
    assert (opinion["start_on"], opinion["due_on"], opinion["status"]) == ("2025-09-26", "2025-10-27", "open")
    assert opinion["unit"] == TOWN and opinion["label"] == "提出问题线索处置意见"
    assert "clue_opened" in kinds(doc)

    await later(o, 2025, 10, 9)
    status, doc = await o.act(
        "town_officer", case_no, action="clue_propose", method="verify", reason="反映问题具体，具有可查性。"
    )
    assert status == 200, doc
    clue = doc["clue"]
    assert (
        clue["state"] == "pending" and clue["proposal"] == "verify" and clue["proposal_label"] == "初步核实"
    )
    assert clue["proposed_by"] == "staff:town_officer" and clue["stage_label"] == "处置意见"
    assert clue["proposal_reason"] == "反映问题具体，具有可查性。"
    assert deadlines(doc, "clue_disposal_opinion")[0]["status"] == "open"  # met only on approval

    assert [w["level"] for w in clue["waiting_for"]] == ["review", "leader"] and clue["approvals"] == []

    # 初步核实 goes to the main leader (规则第三十三条, 实施条例第一百七十六条) after the department
    # head's review.
    status, doc = await o.act("town_sup", case_no, action="clue_approve")
    assert status == 200, doc
    assert doc["clue"]["state"] == "pending" and [g["level"] for g in doc["clue"]["approvals"]] == ["review"]
    assert deadlines(doc, "clue_disposal_opinion")[0]["status"] == "open"  # met only on the last level
    await leader(o, "town_leader", TOWN)
    status, doc = await o.act("town_leader", case_no, action="clue_approve")
    assert status == 200, doc
    steps = [e for e in doc["timeline"] if e["kind"] in ("clue_reviewed", "clue_approved")]
    assert [(e["kind"], e["payload"]["levels"]) for e in steps] == [
        ("clue_reviewed", ["review"]),
        ("clue_approved", ["leader"]),
    ]
    assert steps[0]["payload"]["next_level"] == "leader"
    clue = doc["clue"]
    assert (
        clue["state"] == "verifying"
        and clue["method"] == "verify"
        and clue["approved_by"] == "staff:town_leader"
        and clue["waiting_for"] == []
    )
    # The levels given stay on the clue until the next proposal.
    assert [(g["level"], g["by"]) for g in clue["approvals"]] == [
        ("review", "staff:town_sup"),
        ("leader", "staff:town_leader"),
    ]
    assert clue["next_steps"] == ["clue_plan"]
    assert deadlines(doc, "clue_disposal_opinion")[0]["status"] == "met"

    # The report needs the plan first (art 33).
    status, err = await o.act(
        "town_officer", case_no, action="clue_report", outcome="conclude", text="查无实据"
    )
    assert status == 409 and err["error"]["code"] == "plan_required"
    status, doc = await o.act(
        "town_officer",
        case_no,
        action="clue_plan",
        text="成立核查组（组长王某），调取低保评定档案，与相关人员谈话。",
    )
    assert status == 200, doc
    assert doc["clue"]["plan"].startswith("成立核查组") and doc["clue"]["next_steps"] == [
        "clue_plan",
        "clue_report",
    ]
    status, err = await o.act(
        "town_officer", case_no, action="clue_report", outcome="case_opened_now", text="x"
    )
    assert status == 422 and err["error"]["code"] == "invalid_outcome"
    assert "拟立案审查调查" in err["error"]["message"]
    status, doc = await o.act(
        "town_officer",
        case_no,
        action="clue_report",
        outcome="conclude",
        text="初步核实情况报告：经查阅档案、谈话了解，反映问题不属实。",
    )
    assert status == 200, doc
    assert doc["clue"]["stage"] == "verify_report" and doc["clue"]["proposal_label"] == "予以了结"
    # The verification report: reviewed by the department head, then approved by the main leader
    # (规则第三十五条第三款).
    status, doc = await o.act("town_sup", case_no, action="clue_approve")
    assert status == 200, doc
    clue = doc["clue"]
    assert clue["state"] == "pending" and clue["proposal"] == "conclude"
    assert [(g["level"], g["by"], g["level_label"]) for g in clue["approvals"]] == [
        ("review", "staff:town_sup", "承办部门负责人审核")
    ]
    assert [(w["level"], w["level_label"]) for w in clue["waiting_for"]] == [
        ("leader", "纪检监察机关主要负责人审批")
    ]
    reviewed = doc
    for name, code in (("town_sup", "approved_already"), ("town_officer", "role_not_allowed")):
        got, err = await o.act(name, case_no, action="clue_approve")
        assert got == 403 and err["error"]["code"] == code, err
        await unchanged(o, "town_sup", case_no, reviewed)
    _, o.secrets["town_sup2"] = await o.services.staff.add("town_sup2", TOWN, "supervisor", PASSWORD)
    await o.login("town_sup2")
    got, err = await o.act("town_sup2", case_no, action="clue_approve")
    assert got == 403 and err["error"]["code"] == "approval_level"
    assert "纪检监察机关主要负责人审批" in err["error"]["message"]
    await unchanged(o, "town_sup", case_no, reviewed)
    status, doc = await o.act("town_leader", case_no, action="clue_approve")
    assert status == 200, doc
    clue = doc["clue"]
    assert clue["state"] == "done" and clue["result"] == "conclude" and clue["result_label"] == "予以了结"
    assert clue["next_steps"] == [] and clue["reported_at"] is not None
    steps = [k for k in kinds(doc) if k.startswith("clue_")]
    assert steps == [
        "clue_opened",
        "clue_proposed",
        "clue_reviewed",
        "clue_approved",
        "clue_plan",
        "clue_proposed",
        "clue_reviewed",
        "clue_approved",
        "clue_result_reported",
    ]
    reported = next(e for e in doc["timeline"] if e["kind"] == "clue_result_reported")["payload"]
    assert reported == {"to_unit": COUNTY, "from_unit": TOWN, "result": "conclude"}
    # The receiving unit sees the result: its registrar no longer sees the case, only the result.
    status, _ = await o.get("county_reg", f"/api/v1/staff/reports/{case_no}")
    assert status == 404
    status, listed = await o.get("county_reg", "/api/v1/staff/clues/reported")
    assert status == 200
    assert [(r["case_no"], r["result_label"], r["handling_unit"]["id"]) for r in listed["results"]] == [
        (case_no, "予以了结", TOWN)
    ]
    status, listed = await o.get("town_officer", "/api/v1/staff/clues/reported")
    assert listed["results"] == []  # the township handled it; it did not receive it
    # The county's supervisor sees the case itself and the report on its timeline.
    status, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200 and "clue_result_reported" in kinds(doc)
    await o.audit_ok()


async def test_a_letter_inquiry_with_its_fifteen_working_days(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 22)
    case_no, _ = await accepted_clue(o)
    status, doc = await o.act(
        "county_handler", case_no, action="clue_propose", method="letter", reason="问题较轻，宜函询。"
    )
    assert status == 200, doc
    await later(o, 2025, 9, 26)
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert status == 200, doc
    assert doc["clue"]["state"] == "inquiry" and doc["clue"]["method"] == "letter"
    assert doc["clue"]["method_label"] == "谈话函询（函询）" and doc["clue"]["rounds"] == 1
    # Art 29: 15 working days from Fri 26 Sep 2025: Sun 28 Sep and Sat 11 Oct are make-up working
    # days, 1–8 Oct are off: 23 Oct.
    (reply,) = deadlines(doc, "hanxun_reply")
    assert (reply["start_on"], reply["due_on"], reply["status"]) == ("2025-09-26", "2025-10-23", "open")
    await later(o, 2025, 10, 20)
    status, err = await o.act("county_handler", case_no, action="clue_answered")
    assert status == 422 and err["error"]["code"] == "text_required"
    status, doc = await o.act(
        "county_handler", case_no, action="clue_answered", text="被函询人书面说明已收到，经党委书记签字。"
    )
    assert status == 200, doc
    assert doc["clue"]["state"] == "answered"
    assert deadlines(doc, "hanxun_reply")[0]["status"] == "met"
    # Art 30: the report and disposal opinion within one month of the answer.
    (report_due,) = deadlines(doc, "clue_inquiry_report")
    assert (report_due["start_on"], report_due["due_on"]) == ("2025-10-20", "2025-11-20")
    status, err = await o.act(
        "county_handler", case_no, action="clue_report", outcome="case_opened", text="x"
    )
    assert status == 422 and err["error"]["code"] == "invalid_outcome"  # not a result of art 30
    status, doc = await o.act(
        "county_handler",
        case_no,
        action="clue_report",
        outcome="accepted_conclusion",
        text="说明清楚，反映不实。",
    )
    assert status == 200, doc
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert status == 200, doc
    clue = doc["clue"]
    assert clue["state"] == "done" and clue["result_label"] == "予以采信了结，并发函反馈"
    assert deadlines(doc, "clue_inquiry_report")[0]["status"] == "met"
    # Received and handled by the county itself: nothing to report back.
    assert clue["reported_at"] is None and "clue_result_reported" not in kinds(doc)
    await o.audit_ok()


async def test_a_second_inquiry_and_a_shelved_clue_taken_up_again(office: Office) -> None:
    o = office
    o.clock.set(2025, 11, 3)
    case_no, _ = await accepted_clue(o)
    await o.act("county_handler", case_no, action="clue_propose", method="talk", reason="宜当面谈话。")
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert doc["clue"]["method"] == "talk" and not deadlines(doc, "hanxun_reply")  # a talk has no letter
    await o.act("county_handler", case_no, action="clue_answered", text="谈话笔录已制作。")
    await o.act(
        "county_handler", case_no, action="clue_report", outcome="again_letter", text="否认理由不充分。"
    )
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert status == 200, doc
    assert (
        doc["clue"]["state"] == "inquiry" and doc["clue"]["method"] == "letter" and doc["clue"]["rounds"] == 2
    )
    assert deadlines(doc, "hanxun_reply")[0]["status"] == "open"
    await o.act("county_handler", case_no, action="clue_answered", text="函询回复已收到。")
    await o.act("county_handler", case_no, action="clue_report", outcome="verify", text="说明存在明显问题。")
    # Proposing 初步核实 after a talk is approved as 初步核实 is: reviewed, then the main leader's.
    await leader(o, "county_leader", COUNTY)
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert doc["clue"]["state"] == "pending" and doc["clue"]["waiting_for"][0]["level"] == "leader"
    status, doc = await o.act("county_leader", case_no, action="clue_approve")
    assert doc["clue"]["state"] == "verifying", doc
    await o.act("county_handler", case_no, action="clue_plan", text="核查组三人。")
    await o.act("county_handler", case_no, action="clue_report", outcome="shelve", text="暂不具备核实条件。")
    await o.act("county_sup", case_no, action="clue_approve")
    status, doc = await o.act("county_leader", case_no, action="clue_approve")
    assert status == 200, doc
    assert doc["clue"]["state"] == "shelved" and doc["clue"]["next_steps"] == ["clue_reactivate"]
    # 暂存待查 is taken up again: a new disposal opinion within one month of that day.
    await later(o, 2026, 1, 5)
    status, err = await o.act("county_handler", case_no, action="clue_reactivate")
    assert status == 422 and err["error"]["code"] == "text_required"
    status, doc = await o.act("county_handler", case_no, action="clue_reactivate", reason="又收到新的反映。")
    assert status == 200, doc
    assert doc["clue"]["state"] == "received" and doc["clue"]["method"] is None
    opinions = deadlines(doc, "clue_disposal_opinion")
    assert [d["status"] for d in opinions] == ["met", "open"]
    assert (opinions[1]["start_on"], opinions[1]["due_on"]) == ("2026-01-05", "2026-02-05")
    status, doc = await o.act(
        "county_handler", case_no, action="clue_propose", method="conclude", reason="已查清。"
    )
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert doc["clue"]["state"] == "done" and doc["clue"]["result"] == "conclude"
    await o.audit_ok()


async def test_a_main_leaders_clue_goes_to_the_leader_the_party_committee_and_up(office: Office) -> None:
    """规则第二十七条、第三十三条、第二十二条: the accused is a main leader of a unit under the county
    (a township's Party secretary). A letter to him needs the county commission's main leader (who,
    reviewing himself, gives both levels at once); 初步核实 of him also the county Party committee's
    main leader, recorded with its reference; every decision is reported to the city above."""
    o = office
    o.clock.set(2025, 9, 22)
    case_no, _ = await accepted_clue(o)
    await leader(o, "county_leader", COUNTY)
    await second_supervisor(o)
    status, doc = await o.act(
        "county_handler", case_no, action="clue_propose", method="letter", reason="宜函询。", leader_case=True
    )
    assert status == 200, doc
    assert doc["clue"]["leader_case"] is True
    assert [w["level"] for w in doc["clue"]["waiting_for"]] == ["review", "leader"]
    proposed = next(e for e in doc["timeline"] if e["kind"] == "clue_proposed")["payload"]
    assert proposed["levels"] == ["review", "leader"] and proposed["leader_case"] is True
    status, doc = await o.act("county_leader", case_no, action="clue_approve")
    assert status == 200, doc
    clue = doc["clue"]
    assert clue["state"] == "inquiry" and clue["method"] == "letter"
    assert [(g["level"], g["by"]) for g in clue["approvals"]] == [
        ("review", "staff:county_leader"),
        ("leader", "staff:county_leader"),
    ]
    up = [e["payload"] for e in doc["timeline"] if e["kind"] == "clue_reported_up"]
    assert up == [{"to_unit": "4301", "from_unit": COUNTY, "stage": "disposal", "decision": "letter"}]

    await o.act("county_handler", case_no, action="clue_answered", text="函询回复已收到。")
    # The flag stays with the clue: the report after the letter proposes 初步核实 without it.
    status, doc = await o.act(
        "county_handler", case_no, action="clue_report", outcome="verify", text="说明存在明显问题。"
    )
    assert status == 200 and doc["clue"]["leader_case"] is True
    assert [w["level"] for w in doc["clue"]["waiting_for"]] == ["review", "leader", "committee"]
    assert doc["clue"]["waiting_for"][2]["level_label"] == "同级党委主要负责人批准"
    status, doc = await o.act("county_sup", case_no, action="clue_approve")
    assert status == 200 and doc["clue"]["state"] == "pending", doc
    got, err = await o.act("county_sup2", case_no, action="clue_approve")
    assert got == 403 and err["error"]["code"] == "approval_level"  # the main leader's level is next
    status, doc = await o.act("county_leader", case_no, action="clue_approve")
    assert status == 200 and [w["level"] for w in doc["clue"]["waiting_for"]] == ["committee"], doc
    waiting = doc
    for name, body, code, status in (
        ("county_sup", {}, "approved_already", 403),
        ("county_leader", {"approval": "县委书记批示"}, "approved_already", 403),
        ("county_sup2", {}, "approval_reference_required", 422),
        ("county_sup2", {"approval": " \t "}, "approval_reference_required", 422),
        ("county_sup2", {"approval": "批" * 201}, "approval_reference_too_long", 422),
    ):
        got, err = await o.act(name, case_no, action="clue_approve", **body)
        assert (got, err["error"]["code"]) == (status, code), (name, body, err)
        await unchanged(o, "county_sup", case_no, waiting)
    status, doc = await o.act(
        "county_sup2", case_no, action="clue_approve", approval="县委书记批示 （2025）12号"
    )
    assert status == 200, doc
    clue = doc["clue"]
    assert clue["state"] == "verifying" and clue["approved_by"] == "staff:county_sup2"
    assert [(g["level"], g["reference"]) for g in clue["approvals"]] == [
        ("review", None),
        ("leader", None),
        ("committee", "县委书记批示 （2025）12号"),
    ]
    approved = [e["payload"] for e in doc["timeline"] if e["kind"] == "clue_approved"][-1]
    assert approved["levels"] == ["committee"] and approved["reference"] == "县委书记批示 （2025）12号"
    up = [e["payload"]["decision"] for e in doc["timeline"] if e["kind"] == "clue_reported_up"]
    assert up == ["letter", "verify"]
    await o.audit_ok()


async def test_two_reviews_of_one_level_count_once(office: Office) -> None:
    """The levels given are checked in the approval's own transaction: of two department heads
    reviewing one proposal together, one review counts; the other is refused."""
    o = office
    case_no = await proposed_to_two_supervisors(o, "verify", "可查。")
    answers = await asyncio.gather(
        o.act("county_sup", case_no, action="clue_approve"),
        o.act("county_sup2", case_no, action="clue_approve"),
    )
    assert sorted(status for status, _ in answers)[0] == 200
    refused = [doc["error"]["code"] for status, doc in answers if status != 200]
    assert len(refused) == 1 and refused[0] in ("stale_case", "approval_level"), answers
    status, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200 and len(doc["clue"]["approvals"]) == 1 and kinds(doc).count("clue_reviewed") == 1
    await o.audit_ok()


async def test_wrong_role_unit_order_and_fields_are_refused_and_change_nothing(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 26)
    case_no, before = await accepted_clue(o, at_town=True)
    refusals: list[tuple[str, dict[str, Any], int, str | None]] = [
        # wrong order: nothing to approve, no talk held, no shelved clue
        ("town_sup", {"action": "clue_approve"}, 409, "invalid_clue_step"),
        ("town_officer", {"action": "clue_answered", "text": "x"}, 409, "invalid_clue_step"),
        ("town_officer", {"action": "clue_reactivate", "reason": "x"}, 409, "invalid_clue_step"),
        ("town_officer", {"action": "clue_plan", "text": "x"}, 409, "invalid_clue_step"),
        # missing or bad fields
        ("town_officer", {"action": "clue_propose", "method": "verify"}, 422, "text_required"),
        (
            "town_officer",
            {"action": "clue_propose", "method": "verify", "reason": "  "},
            422,
            "text_required",
        ),
        ("town_officer", {"action": "clue_propose", "reason": "x"}, 422, "invalid_method"),
        (
            "town_officer",
            {"action": "clue_propose", "method": "arrest", "reason": "x"},
            422,
            "invalid_method",
        ),
        ("town_officer", {"action": "clue_propose", "method": "verify", "reason": "\u0000"}, 422, None),
        ("town_officer", {"action": "clue_propose", "method": ["verify"], "reason": "x"}, 422, None),
        # wrong unit: the county's supervisor sees the township's case but does not dispose of its clue
        (
            "county_sup",
            {"action": "clue_propose", "method": "verify", "reason": "x"},
            403,
            "not_handling_unit",
        ),
    ]
    for name, body, status, code in refusals:
        got, err = await o.act(name, case_no, **body)
        assert got == status, (body, err)
        if code:
            assert err["error"]["code"] == code, (body, err)
        assert err["error"]["message"] and err["error"]["message"].isascii() is False
        await unchanged(o, "town_sup", case_no, before)
    # outside one's sight: the other county's staff get the case's 404
    got, err = await o.act("county_reg", case_no, action="clue_propose", method="verify", reason="x")
    assert got == 404  # transferred away: out of the county registrar's sight
    status, doc = await o.act(
        "town_officer", case_no, action="clue_propose", method="shelve", reason="暂不具备条件。"
    )
    assert status == 200, doc
    pending = doc
    for name, body, status, code in [
        ("town_officer", {"action": "clue_approve"}, 403, "role_not_allowed"),  # a handler approves nothing
        ("county_sup", {"action": "clue_approve"}, 403, "not_handling_unit"),  # not the township's leader
        (
            "town_officer",
            {"action": "clue_propose", "method": "verify", "reason": "x"},
            409,
            "invalid_clue_step",
        ),
        ("town_sup", {"action": "clue_return"}, 422, "text_required"),
    ]:
        got, err = await o.act(name, case_no, **body)
        assert got == status and err["error"]["code"] == code, (body, err)
        await unchanged(o, "town_sup", case_no, pending)
    # A leader does not approve his own proposal.
    status, doc = await o.act("town_sup", case_no, action="clue_return", reason="理由不充分，请补充。")
    assert status == 200 and doc["clue"]["state"] == "received" and doc["clue"]["proposal"] is None
    status, doc = await o.act(
        "town_sup", case_no, action="clue_propose", method="conclude", reason="反映笼统。"
    )
    assert status == 200, doc
    got, err = await o.act("town_sup", case_no, action="clue_approve")
    assert got == 403 and err["error"]["code"] == "own_proposal"
    await unchanged(o, "town_sup", case_no, doc)
    await o.audit_ok()


async def test_a_petition_is_no_clue(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 26)
    await o.login("county_reg")
    await o.login("county_handler")
    case_no, _ = await o.file("我家的宅基地被邻居占用，请求处理。")
    await o.triaged(case_no, scope="petition", category="其他信访")
    status, doc = await o.act("county_reg", case_no, action="accept")
    assert status == 200 and doc["clue"] is None and not deadlines(doc, "clue_disposal_opinion")
    got, err = await o.act("county_handler", case_no, action="clue_propose", method="verify", reason="x")
    assert got == 409 and err["error"]["code"] == "not_a_clue"


async def test_two_leaders_approving_at_once_approve_once(office: Office) -> None:
    """The clue's state is checked in the approval's own transaction: of two approvals of the
    same proposal sent together, one wins; the letter's deadline opens once."""
    o = office
    case_no = await proposed_to_two_supervisors(o, "letter", "宜函询。")
    answers = await asyncio.gather(
        o.act("county_sup", case_no, action="clue_approve"),
        o.act("county_sup2", case_no, action="clue_approve"),
    )
    assert sorted(status for status, _ in answers) == [200, 409]
    refused = next(doc for status, doc in answers if status == 409)
    assert refused["error"]["code"] in ("stale_case", "invalid_clue_step")
    status, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    assert kinds(doc).count("clue_approved") == 1 and len(deadlines(doc, "hanxun_reply")) == 1
    await o.audit_ok()
