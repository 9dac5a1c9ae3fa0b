"""The staff API's OpenAPI 3.1 document: valid, served without login, listing exactly the routes
the app mounts under ``/api/v1/staff/`` and ``/api/v1/recusals``, and describing real responses."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from intake.staff import totp_now
from tests.workflow.conftest import PASSWORD, Office

DOC_PATH = "/api/v1/staff/openapi.json"


async def _doc(o: Office) -> dict[str, Any]:
    resp = await o.client.get(DOC_PATH)
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


def check(doc: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """``body`` validates against the schema the document gives for this route and status."""
    response = doc["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    validator = Draft202012Validator(
        {**schema, "components": doc["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(body)


async def test_document_is_valid_and_needs_no_login(office: Office) -> None:
    doc = await _doc(office)
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["security"] == [{"bearerAuth": []}]
    # Login and the informant's recusal request need no token.
    assert doc["paths"]["/api/v1/staff/login"]["post"]["security"] == []
    assert doc["paths"]["/api/v1/recusals"]["post"]["security"] == []
    # Every error response is the API's error shape.
    for item in doc["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }


async def test_paths_are_exactly_the_mounted_staff_routes(office: Office) -> None:
    doc = await _doc(office)
    mounted = {
        (r.resource.canonical, r.method.lower())
        for r in office.client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith(("/api/v1/staff/", "/api/v1/recusals"))
        and r.method != "HEAD"  # aiohttp adds HEAD to every GET
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert mounted == documented
    assert ("/api/v1/staff/reports/{case_no}/actions", "post") in mounted


async def test_real_responses_match_their_schemas(office: Office) -> None:
    o = office
    doc = await _doc(o)

    # 登录: the session, and the error shape of a refused login.
    o.clock.at = o.clock.at.replace(second=0)
    body = {
        "username": "county_reg",
        "password": PASSWORD,
        "totp": totp_now(o.secrets["county_reg"], o.clock.now()),
    }
    resp = await o.client.post("/api/v1/staff/login", json=body)
    assert resp.status == 200
    session = await resp.json()
    check(doc, "/api/v1/staff/login", "post", 200, session)
    o.tokens["county_reg"] = session["token"]
    resp = await o.client.post("/api/v1/staff/login", json=body)  # the same code again: refused
    assert resp.status == 401
    check(doc, "/api/v1/staff/login", "post", 401, await resp.json())
    for name in ("county_handler", "county_sup"):
        await o.login(name)

    status, me = await o.get("county_reg", "/api/v1/staff/me")
    assert status == 200
    check(doc, "/api/v1/staff/me", "get", 200, me)

    # Cases: one filed on the web and triaged for review, one visit filed by the registrar.
    case_no, query_code = await o.file(real_name=True)  # 实名: accepting owes a notice (期限)
    await o.triaged(case_no, needs_review=True)
    status, filed = await o.post(
        "county_reg",
        "/api/v1/staff/reports",
        {"channel": "visit", "content": "来访反映村支书张三优亲厚友。", "reporter": {"name": "孙七"}},
    )
    assert status == 201, filed
    check(doc, "/api/v1/staff/reports", "post", 201, filed)

    # 案件列表, 案件详情.
    status, listing = await o.get("county_reg", "/api/v1/staff/reports")
    assert status == 200 and {r["case_no"] for r in listing["reports"]} == {case_no, filed["case_no"]}
    check(doc, "/api/v1/staff/reports", "get", 200, listing)
    status, case = await o.get("county_reg", f"/api/v1/staff/reports/{case_no}")
    assert status == 200 and case["triage"] is not None
    check(doc, "/api/v1/staff/reports/{case_no}", "get", 200, case)

    # 分流复核: the queue, then confirming the suggestion.
    status, queue = await o.get("county_reg", "/api/v1/staff/triage/queue")
    assert status == 200 and [q["case_no"] for q in queue["needs_review"]] == [case_no]
    check(doc, "/api/v1/staff/triage/queue", "get", 200, queue)
    status, decided = await o.post("county_reg", f"/api/v1/staff/reports/{case_no}/triage", {"confirm": True})
    assert status == 200, decided
    check(doc, "/api/v1/staff/reports/{case_no}/triage", "post", 200, decided)

    filed_no = filed["case_no"]
    # 办理: an action answers the case after it; refusals answer the error shape.
    status, acted = await o.act("county_reg", case_no, action="accept")
    assert status == 200 and acted["status"] == "accepted" and acted["deadlines"], acted
    check(doc, "/api/v1/staff/reports/{case_no}/actions", "post", 200, acted)
    status, acted = await o.act("county_sup", case_no, action="assign", to_unit="430121102")  # 交办
    assert status == 200 and acted["transfers"], acted
    check(doc, "/api/v1/staff/reports/{case_no}/actions", "post", 200, acted)
    for who, body, expected in (
        ("county_handler", {"action": "supervise", "reason": "逾期"}, 403),
        ("county_sup", {"action": "register"}, 409),
        ("county_sup", {"action": "fly"}, 422),
    ):
        status, err = await o.post(who, f"/api/v1/staff/reports/{filed_no}/actions", body)
        assert status == expected, err
        check(doc, "/api/v1/staff/reports/{case_no}/actions", "post", expected, err)
    status, err = await o.get("county_reg", "/api/v1/staff/reports/2025-430121-999999")
    assert status == 404
    check(doc, "/api/v1/staff/reports/{case_no}", "get", 404, err)
    resp = await o.client.get("/api/v1/staff/reports")
    assert resp.status == 401
    check(doc, "/api/v1/staff/reports", "get", 401, await resp.json())

    # 期限看板.
    status, board = await o.get("county_sup", "/api/v1/staff/deadlines?within=365")
    assert status == 200 and board["due_soon"]
    check(doc, "/api/v1/staff/deadlines", "get", 200, board)

    # 申报利害关系, 申请回避 (the informant, with the query code), 退出登录.
    status, ok = await o.post(
        "county_handler", "/api/v1/staff/me/relations", {"person_name": "王五", "relation": "同学"}
    )
    assert status == 201, ok
    check(doc, "/api/v1/staff/me/relations", "post", 201, ok)
    resp = await o.client.post(
        "/api/v1/recusals", json={"query_code": query_code, "reason": "承办人与被反映人相识"}
    )
    assert resp.status == 202, await resp.text()
    check(doc, "/api/v1/recusals", "post", 202, await resp.json())
    status, ok = await o.post("county_reg", "/api/v1/staff/logout", {})
    assert status == 200
    check(doc, "/api/v1/staff/logout", "post", 200, ok)
