"""The acceptance seeds of domain_rules.md §11, over the staff JSON API, with dates around the
National Day 2025 and Spring Festival 2026 holidays; each ends with an intact audit chain."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

from intake.domain import Accused
from tests.workflow.conftest import Office

SCAN = (
    Path(__file__).parent.parent / "fixtures" / "channels" / "web" / "report__with_attachment.png"
).read_bytes()


def deadline(doc: dict, rule: str) -> dict:
    found = [d for d in doc["deadlines"] if d["rule"] == rule]
    assert found, f"no {rule} in {[d['rule'] for d in doc['deadlines']]}"
    return found[-1]


async def test_at_real_01_acceptance_notice_across_national_day(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 26)  # Friday before the 8-day holiday; Sun 28 Sep and Sat 11 Oct are 调休
    await o.login("county_reg")
    case_no, _ = await o.file(real_name=True)
    await o.triaged(case_no)
    status, doc = await o.act("county_reg", case_no, action="accept")
    assert status == 200, doc
    notice = deadline(doc, "jjkg_realname_accept_notice")
    assert notice["due_on"] == "2025-10-23" and notice["status"] == "open"
    # A repeat item gets no notice task.
    repeat, _ = await o.file(real_name=True)
    await o.triaged(repeat, duplicate_of=case_no)
    status, doc = await o.act("county_reg", repeat, action="accept")
    assert status == 200
    assert not [d for d in doc["deadlines"] if d["rule"] == "jjkg_realname_accept_notice"]
    accepted = [e for e in doc["timeline"] if e["kind"] == "accept"]
    assert accepted[-1]["payload"]["notice_skipped"] == "repeat"
    # Anonymous: no notice either.
    anon, _ = await o.file()
    await o.triaged(anon)
    _, doc = await o.act("county_reg", anon, action="accept")
    assert [d["rule"] for d in doc["deadlines"]] == ["clue_disposal_opinion"]  # the clue's own (issue 18)
    await o.audit_ok()


async def test_at_real_02_feedback_objection_and_new_evidence(office: Office) -> None:
    o = office
    o.clock.set(2026, 2, 13)
    for name in ("county_reg", "county_sup", "county_handler"):
        await o.login(name)
    case_no, _ = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.act("county_reg", case_no, action="accept")
    status, doc = await o.act("county_sup", case_no, action="assign", handler="county_handler")
    assert status == 200, doc
    assert doc["handler"] == "county_handler"
    # Concluded Fri 13 Feb 2026: S1 art 27's 15 working days, with Sat 14 and Sat 28 Feb (调休)
    # counted, would end on 12 Mar; 办结 now carries the result to the informant itself (issue 17).
    rule = o.services.workflow.rules["jjkg_realname_result_feedback"]
    assert o.services.workflow.calendar.due(rule, date(2026, 2, 13)).isoformat() == "2026-03-12"
    status, err = await o.act("county_handler", case_no, action="close")
    assert status == 422 and err["error"]["code"] == "outcome_required"
    final = "经核查，反映问题部分属实，已作处理。"
    status, err = await o.act(
        "county_handler", case_no, action="close", outcome="checked_conclusion", confirm=True
    )
    assert status == 422 and err["error"]["code"] == "text_required"  # no answer yet: the final one
    status, err = await o.act(
        "county_handler", case_no, action="close", outcome="supported", text=final, confirm=True
    )
    assert status == 422 and err["error"]["code"] == "invalid_outcome"  # a 信访 outcome on a 纪检 item
    status, err = await o.act("county_handler", case_no, action="close", outcome="talk_reminder", text=final)
    assert status == 422 and err["error"]["code"] == "confirm_required"
    status, doc = await o.act(
        "county_handler", case_no, action="close", outcome="talk_reminder", text=final, confirm=True
    )
    assert status == 200, doc
    assert doc["status"] == "closed" and doc["thread"][-1]["text"] == final
    assert not [d for d in doc["deadlines"] if d["status"] == "open"]
    closing = next(e for e in reversed(doc["timeline"]) if e["kind"] == "close")
    assert closing["payload"]["outcome"] == "talk_reminder"
    # After 办结 no more answers …
    status, err = await o.act("county_handler", case_no, action="reply", text="再答复一次。")
    assert status == 409 and err["error"]["code"] == "case_closed"
    status, doc = await o.act("county_reg", case_no, action="reopen", kind="objection", reason="对结果有异议")
    assert status == 200, doc
    assert deadline(doc, "jjkg_objection_explain")["status"] == "open"
    assert doc["status"] == "closed"
    # … but the explanation of an objection (S1 art 27 ¶2).
    status, doc = await o.act("county_handler", case_no, action="reply", text="对异议的说明：已复核证据。")
    assert status == 200 and doc["status"] == "closed"
    assert deadline(doc, "jjkg_objection_explain")["status"] == "met"
    status, doc = await o.act(
        "county_reg", case_no, action="reopen", kind="new_evidence", reason="提供了新的转账记录"
    )
    assert status == 200 and doc["status"] == "assigned"
    await o.audit_ok()


async def test_at_up_01_and_02_sealed_upward_is_invisible_to_the_county(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 26)
    for name in ("county_reg", "county_sup", "city_sup", "town_sup"):
        await o.login(name)
    case_no, _ = await o.file(
        "县纪委书记王五收受他人财物二十万元。", accused=Accused("王五", "长沙县纪委", "书记")
    )
    await o.triaged(
        case_no,
        level="city",
        unit={"id": "4301", "name": "长沙市纪委监委"},
        sealed=True,
        transfer="upward",
        rules=["R8"],
    )
    await o.services.workflow.after_triage(case_no)
    for name in ("county_reg", "county_sup", "town_sup"):
        status, doc = await o.get(name, f"/api/v1/staff/reports/{case_no}")
        assert status == 404 and doc["error"]["code"] == "case_not_found"
        _, listing = await o.get(name, "/api/v1/staff/reports")
        assert case_no not in [r["case_no"] for r in listing["reports"]]
        _, board = await o.get(name, "/api/v1/staff/deadlines")
        assert case_no not in [d["case_no"] for d in board["overdue"] + board["due_soon"]]
        status, _ = await o.act(name, case_no, action="accept")
        assert status == 404
    status, doc = await o.get("city_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    assert doc["status"] == "transferred" and doc["sealed"] and doc["owner_unit"]["id"] == "4301"
    assert doc["transfers"][0] | {"at": None} == {
        "kind": "upward",
        "from_unit": "430121",
        "to_unit": "4301",
        "to_organ": None,
        "sealed": True,
        "actor": "system:workflow",
        "at": None,
    }
    # Received Fri 26 Sep 2025: five working days → Fri 10 Oct (Sun 28 Sep counts, 1–8 Oct do not).
    assert deadline(doc, "jjkg_upward_transfer")["due_on"] == "2025-10-10"
    status, doc = await o.act("city_sup", case_no, action="accept")
    assert status == 200 and deadline(doc, "jjkg_upward_transfer")["status"] == "met"
    await o.audit_ok()


async def test_at_up_02_with_the_real_triage(office: Office) -> None:
    """The same, end to end: the triage job itself decides to seal (R8) and the workflow acts on it."""
    o = office
    await o.login("county_sup")
    case_no, _ = await o.file(
        "举报长沙县纪委书记王某某收受贿赂，2025年5月收受某老板现金二十万元。", accused=Accused()
    )
    from storage.records import JobRecord

    job = JobRecord(1, "triage", {"case_no": case_no}, 1, 8)
    assert await o.services.worker.batch_handlers["triage"]([job]) == [None]
    report = await o.services.db.reports.get(case_no)
    assert report.triage["sealed"] is True
    status, _ = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 404
    await o.audit_ok()


async def test_at_down_01_downward_transfer_across_spring_festival(office: Office) -> None:
    o = office
    o.clock.set(2026, 2, 12)  # Thursday; Sat 14 Feb is 调休, 15–23 Feb the holiday
    for name in ("county_reg", "town_officer", "town_sup"):
        await o.login(name)
    case_no, _ = await o.file()
    await o.triaged(case_no, level="township", unit={"id": "430121102", "name": "黄兴镇纪委"})
    status, doc = await o.act("county_reg", case_no, action="transfer", to_unit="430121102")
    assert status == 200, doc
    # The county registrar no longer owns it; the township does, with 5 working days to act.
    status, doc = await o.get("town_officer", f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    d = deadline(doc, "jjkg_downward_accept_or_transfer")
    assert d["due_on"] == "2026-02-26" and d["unit"] == "430121102"
    assert doc["transfers"][-1]["kind"] == "downward"
    status, doc = await o.act("town_officer", case_no, action="accept")
    assert status == 200
    assert deadline(doc, "jjkg_downward_accept_or_transfer")["status"] == "met"
    await o.audit_ok()


async def test_at_bsl_01_letter_is_forwarded_web_is_told(office: Office) -> None:
    o = office
    await o.login("county_reg")
    scan = base64.b64encode(SCAN).decode()
    status, filed = await o.post(
        "county_reg",
        "/api/v1/staff/reports",
        {
            "channel": "letter",
            "content": "我与邻居的宅基地纠纷，法院判决不公，请求纪委处理。",
            "reporter": {"name": "赵六", "phone": "13900000000"},
            "attachments": [{"filename": "信件扫描.png", "data": scan}],
        },
    )
    assert status == 201, filed
    letter = filed["case_no"]
    _, doc = await o.get("county_reg", f"/api/v1/staff/reports/{letter}")
    assert doc["status"] == "registered" and doc["attachments"] == 1
    assert "赵六" not in str(doc) and "13900000000" not in str(doc)
    assert doc["informant"].startswith("检举人")
    status, doc = await o.act(
        "county_reg", letter, action="redirect", organ="长沙县人民法院", reason="属于诉讼程序"
    )
    assert status == 200, doc
    assert doc["status"] == "not_accepted"
    assert doc["transfers"][-1]["kind"] == "forward" and doc["transfers"][-1]["to_organ"] == "长沙县人民法院"
    assert doc["thread"] == [] and doc["deadlines"] == []

    web_case, code = await o.file("我与邻居的宅基地纠纷，法院判决不公，请求纪委处理。")
    status, doc = await o.act(
        "county_reg", web_case, action="redirect", organ="长沙县人民法院", reason="属于诉讼程序"
    )
    assert status == 200
    assert doc["transfers"] == [] and doc["deadlines"] == []
    assert "长沙县人民法院" in doc["thread"][-1]["text"]
    resp = await o.client.post("/api/v1/status", json={"query_code": code})
    found = await resp.json()
    assert found["status"] == "not_accepted" and "长沙县人民法院" in found["replies"][-1]["text"]
    await o.audit_ok()


async def test_at_jb_01_jiaoban_three_plus_three_plus_upper_approval(office: Office) -> None:
    o = office
    o.clock.set(2025, 7, 8)
    for name in ("county_reg", "county_sup", "town_sup"):
        await o.login(name)
    case_no, _ = await o.file()
    await o.triaged(case_no)
    await o.act("county_reg", case_no, action="accept")
    status, doc = await o.act("county_sup", case_no, action="assign", to_unit="430121102")
    assert status == 200, doc
    d = deadline(doc, "jiaoban_conclude")
    assert d["due_on"] == "2025-10-09"  # 8 Oct is still National Day
    status, err = await o.act("county_sup", case_no, action="extend", deadline_id=d["id"])
    assert status == 422 and err["error"]["code"] == "approval_required"
    status, doc = await o.act(
        "county_sup", case_no, action="extend", deadline_id=d["id"], approval="主要负责人批准"
    )
    assert status == 200, doc
    assert deadline(doc, "jiaoban_conclude")["due_on"] == "2026-01-09"
    extended = [e for e in doc["timeline"] if e["kind"] == "deadline_extended"][-1]["payload"]
    assert extended["approver"] == "main_leader" and extended["notify"] == "upper"
    status, err = await o.act(
        "county_sup", case_no, action="extend", deadline_id=d["id"], approval="上级批准"
    )
    assert status == 422 and err["error"]["code"] == "new_due_required"
    status, doc = await o.act(
        "county_sup",
        case_no,
        action="extend",
        deadline_id=d["id"],
        approval="市纪委批准",
        deadline="2026-03-01",
    )
    assert status == 200 and deadline(doc, "jiaoban_conclude")["due_on"] == "2026-03-02"
    status, err = await o.act("county_sup", case_no, action="extend", deadline_id=d["id"], approval="x")
    assert status == 422 and err["error"]["code"] == "no_more_extensions"
    # The township sees what was assigned to it.
    status, _ = await o.get("town_sup", f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    await o.audit_ok()


async def test_at_xf_01_sixty_days_then_thirty_with_approval_and_notice(office: Office) -> None:
    o = office
    o.clock.set(2026, 8, 7)
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, code = await o.file("小区供暖长期不达标，多次反映无人处理，请求协调解决。")
    await o.triaged(case_no, scope="petition", category="其他")
    status, doc = await o.act("county_reg", case_no, action="accept")
    assert status == 200
    d = deadline(doc, "xf_handle_31_6")
    assert d["due_on"] == "2026-10-08"  # 60 days → 6 Oct, inside National Day 2026 → Thu 8 Oct
    status, err = await o.act(
        "county_sup", case_no, action="extend", deadline_id=d["id"], approval="局长批准"
    )
    assert status == 422 and err["error"]["code"] == "text_required"  # the petitioner is told why
    status, doc = await o.act(
        "county_sup",
        case_no,
        action="extend",
        deadline_id=d["id"],
        approval="局长批准",
        reason="需要多部门会商",
    )
    assert status == 200, doc
    assert deadline(doc, "xf_handle_31_6")["due_on"] == "2026-11-09"
    resp = await o.client.post("/api/v1/status", json={"query_code": code})
    assert "2026-11-09" in (await resp.json())["replies"][-1]["text"]
    status, err = await o.act("county_sup", case_no, action="extend", deadline_id=d["id"], approval="再批")
    assert status == 422 and err["error"]["code"] == "no_more_extensions"
    await o.audit_ok()


async def test_at_xf_02_review_then_rereview_then_no_more(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 1)
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, _ = await o.file("小区供暖长期不达标，多次反映无人处理，请求协调解决。")
    await o.triaged(case_no, scope="petition")
    await o.act("county_reg", case_no, action="accept")
    await o.act("county_sup", case_no, action="reply", text="答复意见：已责成供热公司整改。")
    status, doc = await o.act("county_sup", case_no, action="close", outcome="explained", confirm=True)
    assert status == 200 and doc["status"] == "closed", doc  # answered already: no second text
    # 复查 window: 30 days from the reply of 1 Sep → 1 Oct is a holiday → open until 9 Oct.
    o.clock.set(2025, 10, 9)
    await o.login("county_reg")
    await o.login("county_sup")
    status, doc = await o.act("county_reg", case_no, action="reopen", kind="review", reason="不服答复")
    assert status == 200, doc
    assert doc["review_stage"] == 1 and doc["status"] == "accepted"
    assert deadline(doc, "xf_review_decide")["due_on"] == "2025-11-10"  # 8 Nov is a Saturday
    await o.act("county_sup", case_no, action="reply", text="复查意见：维持原答复。")
    deadlines = {
        d["rule"]: d["status"]
        for d in (await o.get("county_sup", f"/api/v1/staff/reports/{case_no}"))[1]["deadlines"]
    }
    assert deadlines["xf_review_decide"] == "met"
    # 复核 with 10 hearing days not counted.
    o.clock.set(2025, 10, 20)
    await o.login("county_reg")
    await o.login("county_sup")
    status, doc = await o.act(
        "county_reg", case_no, action="reopen", kind="review", reason="申请复核", hearing_days=10
    )
    assert status == 200, doc
    assert doc["review_stage"] == 2
    assert deadline(doc, "xf_rereview_decide")["due_on"] == "2025-12-01"  # 19 Nov + 10 = 29 Nov (Sat) → 1 Dec
    await o.act("county_sup", case_no, action="reply", text="复核意见：维持。")
    status, err = await o.act("county_reg", case_no, action="reopen", kind="review", reason="再次申请")
    assert status == 409 and err["error"]["code"] == "no_further_review"
    # A new item with the same facts after 复核: not accepted again.
    again, _ = await o.file("小区供暖长期不达标，多次反映无人处理，请求协调解决。")
    await o.triaged(again, scope="petition", duplicate_of=case_no)
    status, err = await o.act("county_reg", again, action="accept")
    assert status == 409 and err["error"]["code"] == "no_further_review"
    await o.audit_ok()


async def test_xf_review_window_closes(office: Office) -> None:
    o = office
    o.clock.set(2025, 11, 3)
    await o.login("county_sup")
    case_no, _ = await o.file("小区供暖长期不达标，请求协调解决。")
    await o.triaged(case_no, scope="petition")
    await o.act("county_sup", case_no, action="accept")
    await o.act("county_sup", case_no, action="reply", text="答复意见。")
    o.clock.set(2025, 12, 4)  # 3 Nov + 30 = 3 Dec: one day late
    await o.login("county_sup")
    status, err = await o.act("county_sup", case_no, action="reopen", kind="review", reason="不服")
    assert status == 409 and err["error"]["code"] == "window_closed"


async def test_at_recuse_01_relation_blocks_assignment_and_informant_may_ask(office: Office) -> None:
    o = office
    for name in ("county_reg", "county_sup", "county_handler", "county_handler2"):
        await o.login(name)
    status, _ = await o.post(
        "county_handler",
        "/api/v1/staff/me/relations",
        {"person_name": "张三", "person_unit": "黄兴镇", "relation": "表兄弟"},
    )
    assert status == 201
    case_no, code = await o.file()
    await o.triaged(case_no)
    await o.act("county_reg", case_no, action="accept")
    status, err = await o.act("county_sup", case_no, action="assign", handler="county_handler")
    assert status == 403 and err["error"]["code"] == "recusal_required"
    assert "表兄弟" not in err["error"]["message"] and "张三" not in err["error"]["message"]
    status, doc = await o.act("county_sup", case_no, action="assign", handler="county_handler2")
    assert status == 200 and doc["handler"] == "county_handler2"
    # The informant asks, with the query code, that the handler step aside.
    resp = await o.client.post(
        "/api/v1/recusals", json={"query_code": code, "reason": "承办人与被反映人是同学"}
    )
    assert resp.status == 202
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    request = doc["recusals"][-1]
    assert request["requested_by"] == "informant" and request["target"] == "county_handler2"
    assert deadline(doc, "recusal_decide")["status"] == "open"
    status, doc = await o.act(
        "county_sup", case_no, action="decide_recusal", recusal_id=request["id"], decision="granted"
    )
    assert status == 200, doc
    assert doc["handler"] is None and doc["status"] == "accepted"
    status, err = await o.act("county_sup", case_no, action="assign", handler="county_handler2")
    assert status == 403 and err["error"]["code"] == "recusal_required"
    # A handler in the accused's own unit is refused as well.
    inside, _ = await o.file(
        "长沙县纪委监委干部钱某在办案中收受好处。", accused=Accused("钱某", "长沙县纪委监委", "干部")
    )
    await o.triaged(inside)
    await o.act("county_reg", inside, action="accept")
    status, err = await o.act("county_sup", inside, action="assign", handler="county_handler2")
    assert status == 403 and err["error"]["code"] == "recusal_required"
    await o.audit_ok()


async def test_at_qc_01_query_code_shows_only_status_and_reply(office: Office) -> None:
    o = office
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, code = await o.file()
    await o.triaged(case_no)
    await o.act("county_reg", case_no, action="accept")
    await o.act("county_sup", case_no, action="assign", handler="county_handler")
    await o.act("county_sup", case_no, action="reply", text="您反映的问题已查实，相关人员已受到处理。")
    resp = await o.client.post("/api/v1/status", json={"query_code": code})
    doc = await resp.json()
    assert set(doc) <= {
        "case_no",
        "status",
        "status_label",
        "updated_at",
        "received_at",
        "replies",
        "channel",
        "followups",
        "timeline",
    }
    assert doc["status"] == "replied"
    assert [r["text"] for r in doc["replies"]] == ["您反映的问题已查实，相关人员已受到处理。"]
    assert "county_handler" not in str(doc) and "430121" not in str(doc).replace(case_no, "")
    await o.audit_ok()


async def test_the_real_name_notice_deadline_counts_from_receipt_before_anyone_accepts(
    office: Office,
) -> None:
    """S1 art 26: the 15 working days run from receipt, so an unaccepted real-name report is on
    the deadline board as soon as triage has run (it used to appear only once someone accepted)."""
    o = office
    o.clock.set(2025, 9, 26)
    await o.login("county_reg")
    case_no, _ = await o.file(real_name=True)
    await o.triaged(case_no)
    o.clock.set(2025, 10, 9)
    await o.login("county_reg")
    status, doc = await o.get("county_reg", f"/api/v1/staff/reports/{case_no}")
    assert status == 200, doc
    notice = deadline(doc, "jjkg_realname_accept_notice")
    assert notice["start_on"] == "2025-09-26" and notice["due_on"] == "2025-10-23"
    assert notice["status"] == "open" and doc["status"] == "received"
    status, board = await o.get("county_reg", "/api/v1/staff/deadlines?within=20")
    assert status == 200, board
    owed = [
        (d["case_no"], d["label"]) for d in board["due_soon"] if d["rule"] == "jjkg_realname_accept_notice"
    ]
    assert owed == [(case_no, "实名举报受理告知")]
    # Triage again (a retrained model): still one deadline; accepting keeps it, does not add one.
    await o.triaged(case_no)
    _, doc = await o.act("county_reg", case_no, action="accept")
    notices = [d for d in doc["deadlines"] if d["rule"] == "jjkg_realname_accept_notice"]
    assert len(notices) == 1 and notices[0]["start_on"] == "2025-09-26"
    # A petition (信访工作条例 art 23): 15 calendar days from receipt, also before acceptance.
    petition, _ = await o.file("反映小区停车位被物业私自出租，要求处理。", real_name=True)
    await o.triaged(petition, scope="petition")
    _, doc = await o.get("county_reg", f"/api/v1/staff/reports/{petition}")
    assert deadline(doc, "xf_accept_notice")["due_on"] == "2025-10-24"
    # Anonymous and repeat accusations: none.
    anon, _ = await o.file()
    await o.triaged(anon)
    repeat, _ = await o.file(real_name=True)
    await o.triaged(repeat, duplicate_of=case_no)
    for other in (anon, repeat):
        _, doc = await o.get("county_reg", f"/api/v1/staff/reports/{other}")
        assert doc["deadlines"] == [], other
    await o.audit_ok()
