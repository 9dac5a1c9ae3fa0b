"""Closing the loop with the informant (issue 17), over the HTTP API on SQLite and PostgreSQL: the
dated timeline by query code, the rating of the answer once per answer, 复查 then 复核 at the next
level up with their own deadlines and windows, objections and recusal through the same route.
Nothing answered names a handler, a unit code or the informant."""

from __future__ import annotations

from typing import Any

from tests.workflow.conftest import Office

NAMES = ("county_handler", "county_sup", "county_reg", "city_sup", "李四", "13800000000")


async def status(o: Office, code: str) -> dict[str, Any]:
    resp = await o.client.post("/api/v1/status", json={"query_code": code})
    assert resp.status == 200, await resp.text()
    doc: dict[str, Any] = await resp.json()
    return doc


async def call(o: Office, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    resp = await o.client.post(path, json=body)
    return resp.status, await resp.json()


def assert_clean(doc: Any, case_no: str) -> None:
    text = str(doc).replace(case_no, "")
    for word in NAMES:
        assert word not in text
    for code in ("430121", "4301", "430121102"):
        assert code not in text, code


async def test_timeline_shows_dated_steps_and_never_a_person(office: Office) -> None:
    o = office
    o.clock.set(2025, 11, 3)
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, code = await o.file(real_name=True)
    await o.triaged(case_no)
    doc = await status(o, code)
    assert [s["event"] for s in doc["timeline"]] == ["received"]
    await o.act("county_reg", case_no, action="register")
    await o.act("county_reg", case_no, action="accept")
    await o.act("county_sup", case_no, action="assign", handler="county_handler")
    await o.act("county_sup", case_no, action="transfer", to_unit="430121102")
    await o.login("town_sup")
    await o.act("town_sup", case_no, action="accept")
    await o.act("town_sup", case_no, action="reply", text="经核查，反映的问题部分属实，已责令整改。")
    await o.act("town_sup", case_no, action="close", outcome="checked_conclusion", confirm=True)
    doc = await status(o, code)
    events = [s["event"] for s in doc["timeline"]]
    assert events == [
        "received",
        "registered",
        "accepted",
        "assigned",
        "transferred",
        "accepted",
        "replied",
        "closed",
    ]
    texts = {s["event"]: s["text"] for s in doc["timeline"]}
    assert texts["transferred"] == "已转送乡镇纪检监察机关办理。"
    assert all(s["at"].startswith("2025-11-03") for s in doc["timeline"])
    assert_clean(doc, case_no)


async def test_not_accepted_says_why_and_where(office: Office) -> None:
    o = office
    await o.login("county_reg")
    case_no, code = await o.file("邻居占用公共楼道堆放杂物，请求处理。")
    await o.triaged(case_no, scope="out_of_scope")
    status_, doc = await o.act(
        "county_reg", case_no, action="redirect", organ="街道办事处", reason="属于物业管理纠纷"
    )
    assert status_ == 200, doc
    steps = (await status(o, code))["timeline"]
    assert steps[-1]["event"] == "not_accepted"
    assert "不予受理" in steps[-1]["text"] and "街道办事处" in steps[-1]["text"]


async def test_extension_shows_the_new_date(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 1)
    await o.login("county_sup")
    case_no, code = await o.file("小区供暖长期不达标，多次反映无人处理，请求协调解决。")
    await o.triaged(case_no, scope="petition")
    _, doc = await o.act("county_sup", case_no, action="accept")
    handling = next(d for d in doc["deadlines"] if d["rule"] == "xf_handle_31_6")
    status_, doc = await o.act(
        "county_sup",
        case_no,
        action="extend",
        deadline_id=handling["id"],
        approval="局长批准",
        reason="需要现场核查",
    )
    assert status_ == 200, doc
    new_due = next(d for d in doc["deadlines"] if d["rule"] == "xf_handle_31_6")["due_on"]
    step = (await status(o, code))["timeline"][-1]
    assert step["event"] == "extended" and new_due in step["text"]
    assert "局长批准" not in step["text"]


async def test_rating_once_per_answer(office: Office) -> None:
    o = office
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, code = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.act("county_reg", case_no, action="accept")
    status_, err = await call(o, "/api/v1/feedback", {"query_code": code, "rating": "satisfied"})
    assert status_ == 409 and err["error"]["code"] == "not_replied"
    await o.act("county_sup", case_no, action="reply", text="已查实并处理。")
    body = {
        "query_code": code,
        "rating": "basically_satisfied",
        "comment": "办得快，我叫李四，电话13800000000",
    }
    status_, doc = await call(o, "/api/v1/feedback", body)
    assert status_ == 201, doc
    assert doc == {"case_no": case_no, "rating": "basically_satisfied", "status": "rated"}
    status_, err = await call(o, "/api/v1/feedback", {"query_code": code, "rating": "dissatisfied"})
    assert status_ == 409 and err["error"]["code"] == "already_rated"
    assert "评价过" in err["error"]["message"]
    status_, err = await call(o, "/api/v1/feedback", {"query_code": "0" * 16, "rating": "satisfied"})
    miss = (await (await o.client.post("/api/v1/status", json={"query_code": "0" * 16})).json())["error"]
    assert status_ == 404 and err == {"error": miss}
    status_, err = await call(o, "/api/v1/feedback", {"query_code": code, "rating": "great"})
    assert status_ == 422
    # The staff see the rating, the comment without the informant's own phone number.
    _, case = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    [given] = case["feedback"]
    assert given["rating"] == "basically_satisfied" and given["channel"] == "app"
    assert "13800000000" not in given["comment"] and "办得快" in given["comment"]
    assert (await status(o, code))["timeline"][-1]["event"] == "rated"
    # A new answer may be rated again.
    o.clock.at = o.clock.at.replace(minute=30)
    await o.login("county_sup")
    await o.act("county_sup", case_no, action="reply", text="补充答复。")
    status_, _ = await call(o, "/api/v1/feedback", {"query_code": code, "rating": "dissatisfied"})
    assert status_ == 201
    await o.audit_ok()


async def test_wrong_codes_for_feedback_and_reviews_count_against_the_status_limit(office: Office) -> None:
    o = office
    wrong = {"query_code": "1" * 16, "rating": "satisfied"}
    answers = [(await o.client.post("/api/v1/feedback", json=wrong)).status for _ in range(5)]
    review = {"query_code": "1" * 16, "kind": "review", "reason": "不服"}
    answers += [(await o.client.post("/api/v1/reviews", json=review)).status for _ in range(5)]
    assert answers == [404] * 10
    resp = await o.client.post("/api/v1/status", json={"query_code": "1" * 16})
    assert resp.status == 429 and resp.headers["Retry-After"]


async def test_review_goes_up_a_level_then_rereview_then_no_more(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 1)
    for name in ("county_reg", "county_sup", "city_sup"):
        await o.login(name)
    case_no, code = await o.file("小区供暖长期不达标，多次反映无人处理，请求协调解决。", real_name=True)
    await o.triaged(case_no, scope="petition")
    review = {"query_code": code, "kind": "review", "reason": "答复没有解决问题"}
    status_, err = await call(o, "/api/v1/reviews", review)
    assert status_ == 409 and err["error"]["code"] == "not_replied"
    await o.act("county_reg", case_no, action="accept")
    await o.act("county_sup", case_no, action="reply", text="答复意见：已责成供热公司整改。")
    await o.act("county_sup", case_no, action="close", outcome="explained", confirm=True)
    status_, err = await call(o, "/api/v1/reviews", {**review, "kind": "re_review"})
    assert status_ == 409 and err["error"]["code"] == "review_first"
    # 30 days from 1 Sep end on 1 Oct, a holiday: open until 9 Oct (as the staff reopen).
    o.clock.set(2025, 10, 9)
    status_, doc = await call(o, "/api/v1/reviews", review)
    assert status_ == 201, doc
    assert doc["kind"] == "review" and doc["level"] == "市级纪检监察机关"
    assert doc["due_on"] == "2025-11-10"  # 8 Nov is a Saturday
    assert_clean(doc, case_no)
    # The county no longer has it; the city does, with its deadline, the request and the reason.
    await o.login("county_sup")
    status_, _ = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert status_ == 404
    await o.login("city_sup")
    _, case = await o.get("city_sup", f"/api/v1/staff/reports/{case_no}")
    assert case["owner_unit"]["id"] == "4301" and case["status"] == "accepted" and case["review_stage"] == 1
    decide = next(d for d in case["deadlines"] if d["rule"] == "xf_review_decide")
    assert decide["unit"] == "4301" and decide["due_on"] == "2025-11-10" and decide["status"] == "open"
    [asked] = case["reviews"]
    assert asked["kind"] == "review" and asked["from_unit"] == "430121" and asked["to_unit"] == "4301"
    assert asked["reason"] == "答复没有解决问题"
    step = (await status(o, code))["timeline"][-1]
    assert step["event"] == "review_requested" and "市级" in step["text"] and "2025-11-10" in step["text"]
    status_, err = await call(o, "/api/v1/reviews", {**review, "kind": "re_review"})
    assert status_ == 409 and err["error"]["code"] == "review_pending"
    status_, err = await call(o, "/api/v1/reviews", review)
    assert status_ == 409 and err["error"]["code"] == "already_reviewed"
    await o.act("city_sup", case_no, action="reply", text="复查意见：维持原答复。")
    _, case = await o.get("city_sup", f"/api/v1/staff/reports/{case_no}")
    assert next(d for d in case["deadlines"] if d["rule"] == "xf_review_decide")["status"] == "met"
    # 复核: to the province, with its own window from the review answer.
    o.clock.set(2025, 10, 20)
    status_, doc = await call(o, "/api/v1/reviews", {**review, "kind": "re_review"})
    assert status_ == 201, doc
    assert doc["level"] == "省级纪检监察机关" and doc["due_on"] == "2025-11-19"
    # After 复核 nothing more.
    o.clock.set(2025, 10, 21)
    status_, err = await call(o, "/api/v1/reviews", {**review, "kind": "re_review"})
    assert status_ == 409
    await o.audit_ok()


async def test_review_outside_the_window_names_it(office: Office) -> None:
    o = office
    o.clock.set(2025, 11, 3)
    await o.login("county_sup")
    case_no, code = await o.file("小区供暖长期不达标，请求协调解决。")
    await o.triaged(case_no, scope="petition")
    await o.act("county_sup", case_no, action="accept")
    await o.act("county_sup", case_no, action="reply", text="答复意见。")
    o.clock.set(2025, 12, 4)  # 3 Nov + 30 = 3 Dec: one day late
    status_, err = await call(o, "/api/v1/reviews", {"query_code": code, "kind": "review", "reason": "不服"})
    assert status_ == 409 and err["error"]["code"] == "window_closed"
    assert "三十日" in err["error"]["message"] and "2025-12-03" in err["error"]["message"]
    assert "信访工作条例第三十五条" in err["error"]["message"]
    await o.login("county_sup")
    _, case = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert case["status"] == "replied" and case["reviews"] == []


async def test_objection_and_recusal_take_the_same_route(office: Office) -> None:
    o = office
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, code = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.act("county_reg", case_no, action="accept")
    await o.act("county_sup", case_no, action="assign", handler="county_handler")
    status_, doc = await call(
        o, "/api/v1/reviews", {"query_code": code, "kind": "recusal", "reason": "承办人是他同学"}
    )
    assert status_ == 201, doc
    assert doc["kind"] == "recusal" and doc["level"] is None
    _, case = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert case["recusals"][-1]["requested_by"] == "informant"
    assert case["recusals"][-1]["target"] == "county_handler"
    status_, err = await call(
        o, "/api/v1/reviews", {"query_code": code, "kind": "objection", "reason": "不认可"}
    )
    assert status_ == 409 and err["error"]["code"] == "not_replied"
    await o.act("county_sup", case_no, action="reply", text="经核查，反映问题不属实。")
    status_, doc = await call(
        o, "/api/v1/reviews", {"query_code": code, "kind": "objection", "reason": "有新证据"}
    )
    assert status_ == 201, doc
    _, case = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert case["owner_unit"]["id"] == "430121"  # an objection stays with the unit that answered
    assert next(d for d in case["deadlines"] if d["rule"] == "jjkg_objection_explain")["status"] == "open"
    assert case["reviews"][-1]["kind"] == "objection"
    events = [s["event"] for s in (await status(o, code))["timeline"]]
    assert "recusal_requested" in events and events[-1] == "objection"
    status_, _ = await call(o, "/api/v1/reviews", {"query_code": code, "kind": "appeal", "reason": "x"})
    assert status_ == 422
    await o.audit_ok()


async def test_confirming_a_triage_suggestion_writes_no_correction(office: Office) -> None:
    """Issue 17 item 6: a plain confirmation is not a correction (it would pollute the retraining CSV)."""
    o = office
    await o.login("county_reg")
    case_no, _ = await o.file()
    await o.triaged(case_no)
    status, doc = await o.post("county_reg", f"/api/v1/staff/reports/{case_no}/triage", {"confirm": True})
    assert status == 200, doc
    assert await o.services.triage.corrections() == []
    report = await o.services.db.reports.get(case_no)
    kinds = [e.kind for e in await o.services.db.reports.events(report.id)]
    assert "triage_confirmed" in kinds and "triage_corrected" not in kinds
    status, doc = await o.post(
        "county_reg", f"/api/v1/staff/reports/{case_no}/triage", {"category": "廉洁纪律"}
    )
    assert status == 200, doc
    assert [(c.field, c.after) for c in await o.services.triage.corrections()] == [("category", "廉洁纪律")]
