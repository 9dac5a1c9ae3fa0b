"""The app channel's JSON API over HTTP: filing, idempotent retries, status, follow-ups, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from openapi_spec_validator import validate

import channels
from server.app import build_app, services_of
from server.config import Settings

REPORT = {
    "title": "镇干部违规收受礼金",
    "content": "黄兴镇某站所负责人张某某在审批过程中收受他人礼金两万元。",
    "category": "廉洁纪律",
    "accused": {"name": "张某某", "unit": "黄兴镇人民政府", "position": "站长"},
    "location": {"division_code": "430121102", "text": "黄兴镇"},
    "reporter": {
        "name": "甄宝琮",
        "id_number": "430121199001011234",
        "phone": "13912345678",
        "address": "长沙县黄兴镇某村",
    },
}


async def file(client: Any, body: dict[str, Any], **headers: str) -> Any:
    return await client.post("/api/v1/reports", json=body, headers=headers)


async def test_report_is_filed_with_case_number_and_query_code(client: Any, services: Any) -> None:
    resp = await file(client, REPORT)
    assert resp.status == 201
    body = await resp.json()
    assert body["channel"] == "app" and body["status"] == "received"
    year = body["received_at"][:4]
    assert body["case_no"] == f"{year}-430121-000001"
    assert len(body["query_code"]) == 16 and body["query_code"].isdigit()
    assert body["query_code_display"].replace(" ", "") == body["query_code"]

    stored = await services(client).db.reports.get(body["case_no"])
    assert stored.channel == "app"
    assert stored.accused_name == "张某某"
    assert stored.location_code == "430121102"
    assert stored.anonymous is False
    # The staff view carries a pseudonym, never the identity.
    assert stored.informant_alias.startswith("检举人")
    assert "甄宝琮" not in json.dumps(stored.__dict__, default=str, ensure_ascii=False)


async def test_case_numbers_increase(client: Any) -> None:
    numbers = [(await (await file(client, {"content": f"第{i}件"})).json())["case_no"] for i in range(3)]
    assert [n[-6:] for n in numbers] == ["000001", "000002", "000003"]


async def test_retry_with_same_idempotency_key_returns_same_case(client: Any, services: Any) -> None:
    first = await file(client, REPORT, **{"Idempotency-Key": "k-0001"})
    again = await file(client, REPORT, **{"Idempotency-Key": "k-0001"})
    assert first.status == 201 and again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    a, b = await first.json(), await again.json()
    assert a["case_no"] == b["case_no"] and a["query_code"] == b["query_code"]
    assert await services(client).db.reports.count() == 1


async def test_same_key_different_body_is_refused(client: Any, services: Any) -> None:
    await file(client, REPORT, **{"Idempotency-Key": "k-0002"})
    resp = await file(client, {**REPORT, "content": "另一件事"}, **{"Idempotency-Key": "k-0002"})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "idempotency_key_reused"
    assert await services(client).db.reports.count() == 1


async def test_status_shows_case_and_replies(client: Any, services: Any) -> None:
    receipt = await (await file(client, REPORT)).json()
    svc = services(client)
    report = await svc.db.reports.get(receipt["case_no"])
    await svc.db.reports.add_message(
        report.id, "out", "app", "已转黄兴镇纪委办理。", svc.clock.now(), "staff:test"
    )
    # Spaces in the code, as people copy it, are fine.
    resp = await client.post("/api/v1/status", json={"query_code": receipt["query_code_display"]})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    status = await resp.json()
    assert status["case_no"] == receipt["case_no"]
    assert status["channel"] == "app"
    assert status["status"] == "received" and status["status_label"]
    assert [r["text"] for r in status["replies"]] == ["已转黄兴镇纪委办理。"]


async def test_followup_is_added_to_the_case(client: Any, services: Any) -> None:
    receipt = await (await file(client, REPORT)).json()
    resp = await client.post(
        "/api/v1/followups",
        json={"query_code": receipt["query_code"], "content": "补充：礼金是在办公室收的。"},
    )
    assert resp.status == 201
    assert (await resp.json())["case_no"] == receipt["case_no"]
    status = await (await client.post("/api/v1/status", json={"query_code": receipt["query_code"]})).json()
    assert status["followups"] == 1
    report = await services(client).db.reports.get(receipt["case_no"])
    assert [m.body for m in report.messages if m.direction == "in"] == ["补充：礼金是在办公室收的。"]
    kinds = [e.kind for e in await services(client).db.reports.events(report.id)]
    assert kinds == ["received", "followup_added"]


@pytest.mark.parametrize("code", ["0000000000000000", "12345", "not a code", "１２３４"])
async def test_wrong_codes_get_the_same_404(client: Any, code: str) -> None:
    resp = await client.post("/api/v1/status", json={"query_code": code})
    assert resp.status == 404
    assert await resp.json() == {"error": {"code": "not_found", "message": "查询码无效，或没有对应的举报。"}}
    resp = await client.post("/api/v1/followups", json={"query_code": code, "content": "x"})
    assert resp.status == 404


async def test_status_lookups_are_rate_limited(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(
        build_app(make_settings(INTAKE_STATUS_ATTEMPTS_PER_MINUTE="3"), channels.REGISTRY, run_worker=False)
    )
    statuses = [(await client.post("/api/v1/status", json={"query_code": "1" * 16})).status for _ in range(5)]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3:] == [429, 429]
    resp = await client.post("/api/v1/status", json={"query_code": "1" * 16})
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"]["code"] == "rate_limited"


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b"{bad json", "application/json", 400, "malformed_json"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        (b"[1, 2]", "application/json", 422, "invalid_body"),
        (b"{}", "application/json", 422, "content_required"),
        (b'{"content": "   "}', "application/json", 422, "content_required"),
        (b'{"content": 5}', "application/json", 422, "invalid_field"),
        (b'{"content": "x", "anonymous": "yes"}', "application/json", 422, "invalid_field"),
        ('{"content": "x", "accused": "张三"}'.encode(), "application/json", 422, "invalid_field"),
        (b'{"content": "x", "accused": {"name": 7}}', "application/json", 422, "invalid_field"),
        (
            b'{"content": "x", "location": {"division_code": "43A"}}',
            "application/json",
            422,
            "invalid_division_code",
        ),
        (
            json.dumps({"content": "x", "title": "长" * 201}).encode(),
            "application/json",
            422,
            "field_too_long",
        ),
        (json.dumps({"content": "长" * 20001}).encode(), "application/json", 422, "content_too_long"),
        (b"content=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    client: Any, services: Any, raw: bytes, content_type: str, status: int, code: str
) -> None:
    resp = await client.post("/api/v1/reports", data=raw, headers={"Content-Type": content_type})
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    assert await services(client).db.reports.count() == 0


async def test_body_over_the_limit_is_413(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
) -> None:
    client = await aiohttp_client(
        build_app(make_settings(INTAKE_MAX_JSON_BYTES="2048"), channels.REGISTRY, run_worker=False)
    )
    body = json.dumps({"content": "x" * 4000}).encode()
    resp = await client.post("/api/v1/reports", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    # Without Content-Length (chunked), the limit still holds.

    async def chunks() -> Any:
        for i in range(0, len(body), 512):
            yield body[i : i + 512]

    resp = await client.post("/api/v1/reports", data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status == 413


async def test_unknown_fields_are_ignored(client: Any, services: Any) -> None:
    resp = await file(client, {"content": "正文", "channel": "wechat", "status": "closed", "extra": {"a": 1}})
    assert resp.status == 201
    body = await resp.json()
    # The channel tag comes from the route, never from the payload.
    assert body["channel"] == "app" and body["status"] == "received"
    assert (await services(client).db.reports.get(body["case_no"])).channel == "app"


async def test_bad_idempotency_key_is_400(client: Any, services: Any) -> None:
    resp = await file(client, {"content": "x"}, **{"Idempotency-Key": "k" * 201})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_idempotency_key"
    assert await services(client).db.reports.count() == 0


async def test_unknown_route_and_method_are_json_errors(client: Any) -> None:
    resp = await client.get("/api/v1/nothing")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/api/v1/reports")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_openapi_document_is_valid_and_lists_the_routes(client: Any) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    assert {"/api/v1/reports", "/api/v1/status", "/api/v1/followups"} <= set(doc["paths"])
    mounted = {
        (r.resource.canonical, r.method.lower())
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"
    }
    # The staff API (and the informant's recusal request) belong to the console channel and have
    # their own document (/api/v1/staff/openapi.json), not the public app API's.
    mounted = {(p, m) for p, m in mounted if not p.startswith(("/api/v1/staff/", "/api/v1/recusals"))}
    assert mounted == {(path, method) for path, item in doc["paths"].items() for method in item}


async def test_receipt_matches_the_openapi_schema(client: Any) -> None:
    from jsonschema import Draft202012Validator

    doc = await (await client.get("/api/v1/openapi.json")).json()
    receipt = await (await file(client, REPORT)).json()
    schemas = doc["components"]["schemas"]
    Draft202012Validator({**schemas["Receipt"], "components": doc["components"]}).validate(receipt)
    status = await (await client.post("/api/v1/status", json={"query_code": receipt["query_code"]})).json()
    Draft202012Validator({**schemas["Status"], "components": doc["components"]}).validate(status)


async def test_identity_written_into_the_text_is_sealed(client: Any, services: Any) -> None:
    body = {
        "content": "我叫甄宝琮，电话13912345678。镇长张某某的电话是13812345678，他收了两万元。",
        "title": "本人甄宝琮实名反映",
    }
    receipt = await (await file(client, body)).json()
    svc = services(client)
    report = await svc.db.reports.get(receipt["case_no"])
    assert (
        report.content
        == "我叫〔已隐去：姓名〕，电话〔已隐去：手机号〕。镇长张某某的电话是13812345678，他收了两万元。"
    )
    assert report.title == "本人〔已隐去：姓名〕实名反映"
    events = await svc.db.reports.events(report.id)
    assert json.loads(events[0].payload)["redacted"] == 3
    resp = await client.post(
        "/api/v1/followups",
        json={"query_code": receipt["query_code"], "content": "补充：我的手机换成了13700001111。"},
    )
    assert resp.status == 201
    report = await svc.db.reports.get(receipt["case_no"])
    assert report.messages[-1].body == "补充：我的手机换成了〔已隐去：手机号〕。"
    everything = b"".join(p.read_bytes() for p in svc.settings.data_dir.rglob("*") if p.is_file())
    for secret in ("甄宝琮", "13912345678", "13700001111"):
        assert secret.encode() not in everything
    assert b"13812345678" in everything  # the accused's number stays for the handlers


async def test_the_same_informant_is_recognised_without_decrypting(client: Any, services: Any) -> None:
    """Blind indexes in the accept transaction: one pseudonym per person across reports (whether
    the phone came in the reporter fields or written into the text), a repeat-reporter count in
    the audit event, and nothing linking anonymous reports to each other."""
    first = {"content": "镇长张某某收受礼金两万元。", "reporter": {"name": "李四", "phone": "139 1234 5678"}}
    second = {"content": "补充一件事：我是李四，电话+86 13912345678。张某某还违规报销。"}
    other = {"content": "村主任王某某侵占集体资金。", "reporter": {"name": "赵五", "phone": "13700001111"}}
    anonymous = {"content": "镇长张某某收受礼金两万元。", "anonymous": True}
    receipts = [
        await (await file(client, body)).json() for body in (first, second, other, anonymous, anonymous)
    ]
    svc = services(client)
    reports = [await svc.db.reports.get(r["case_no"]) for r in receipts]
    aliases = [r.informant_alias for r in reports]
    assert all(re.fullmatch(r"检举人[0-9A-F]{4}", a) for a in aliases)
    assert aliases[0] == aliases[1]
    assert len({aliases[0], aliases[2], aliases[3], aliases[4]}) == 4
    payloads = [json.loads((await svc.db.reports.events(r.id))[0].payload) for r in reports]
    assert [p.get("repeat_reporter", 0) for p in payloads] == [0, 1, 0, 0, 0]


async def test_one_informant_cannot_flood(
    make_settings: Callable[..., Settings], aiohttp_client: Any
) -> None:
    """Reports per informant are limited by the blind index of their identifier: the same phone
    number in another spelling is the same person; someone else, or an anonymous report, is not."""
    settings = make_settings(INTAKE_REPORTS_PER_INFORMANT_PER_HOUR="2")
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    spellings = ["13912345678", "139-1234-5678", "+86 139 1234 5678"]
    statuses = []
    for phone in spellings:
        resp = await file(
            client, {"content": "镇长张某某收受礼金。", "reporter": {"name": "李四", "phone": phone}}
        )
        statuses.append(resp.status)
    assert statuses == [201, 201, 429]
    refused = await resp.json()
    assert refused["error"]["code"] == "rate_limited"
    assert "13912345678" not in json.dumps(refused)
    other = await file(
        client, {"content": "镇长张某某收受礼金。", "reporter": {"name": "赵五", "phone": "13700001111"}}
    )
    assert other.status == 201
    anonymous = await file(client, {"content": "镇长张某某收受礼金。", "anonymous": True})
    assert anonymous.status == 201
    svc = services_of(client.server.app)
    assert await svc.db.reports.count() == 4


async def test_a_reply_is_pushed_to_the_apps_device_token(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    """The app's push token is sealed like any handle and used only to deliver a notification."""
    from aiohttp import web

    from intake.notifier import CaseEvent

    pushed: list[dict[str, Any]] = []

    async def push(request: web.Request) -> web.Response:
        pushed.append(await request.json())
        return web.json_response({"ok": True})

    gateway = web.Application()
    gateway.router.add_post("/push", push)
    server = await aiohttp_server(gateway)
    settings = make_settings(INTAKE_APP_PUSH_URL=str(server.make_url("/push")))
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    token = "fcm-token-7f1e2d3c4b5a"
    bad = await file(client, {"content": "镇长张某某收受礼金。", "device_token": "令牌"})
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "invalid_field"
    receipt = await (await file(client, {"content": "镇长张某某收受礼金。", "device_token": token})).json()
    svc = services_of(client.server.app)
    report = await svc.db.reports.get(receipt["case_no"])
    assert await svc.notifier.case_updated(report.id, CaseEvent("replied"))
    while await svc.worker.run_once():
        pass
    assert [p["device_token"] for p in pushed] == [token]
    assert receipt["case_no"] in pushed[0]["text"] and "张某某" not in pushed[0]["text"]
    everything = b"".join(p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file())
    assert token.encode() not in everything
