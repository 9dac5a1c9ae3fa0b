"""The OpenAPI documents the server serves (``/api/v1/openapi.json``, ``/api/v1/staff/openapi.json``)
are generated from the same models that validate the requests: valid OpenAPI 3.1, covering every
route mounted under ``/api/``, documenting every answer a route can give, and agreeing with the
server on what is valid input (the drift an outside fuzzer found: an empty ``query_code`` and a
non-ASCII ``device_token`` allowed by the schema and refused by the server, an empty
``division_code`` the other way round, an unknown township code accepted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

import channels
from intake import jurisdiction
from server.app import build_app
from server.config import Settings
from tests.conftest import COUNTY_JURISDICTION

APP_DOC, STAFF_DOC = "/api/v1/openapi.json", "/api/v1/staff/openapi.json"


async def _get(client: Any, path: str) -> dict[str, Any]:
    resp = await client.get(path)
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


def accepts(doc: dict[str, Any], path: str, body: Any) -> bool:
    """Whether ``body`` is valid for the request schema the document gives ``POST path``."""
    schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    return validator.is_valid(body)


async def test_documents_are_valid_openapi_3_1(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    for env in ({}, {"INTAKE_APP_HMAC_SECRET": "s3cret"}):
        client = await aiohttp_client(build_app(make_settings(**env), channels.REGISTRY, run_worker=False))
        for path in (APP_DOC, STAFF_DOC):
            doc = await _get(client, path)
            validate(doc)
            assert doc["openapi"] == "3.1.0"


async def test_every_route_under_api_is_documented_exactly_once(client: Any) -> None:
    mounted = {
        (r.resource.canonical, r.method.lower())
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"
    }
    app_ops = {(p, m) for p, m, _ in _operations(await _get(client, APP_DOC))}
    staff_ops = {(p, m) for p, m, _ in _operations(await _get(client, STAFF_DOC))}
    assert not app_ops & staff_ops
    assert mounted == app_ops | staff_ops


async def test_every_answer_a_route_can_give_is_documented(client: Any) -> None:
    """The answers the shared machinery gives: a body's 400/413/415/422, 401 behind a token,
    Retry-After with every 429 and 503, and the error shape for every error."""
    for path, doc in ((APP_DOC, await _get(client, APP_DOC)), (STAFF_DOC, await _get(client, STAFF_DOC))):
        for route, method, op in _operations(doc):
            responses = op["responses"]
            where = f"{path}: {method.upper()} {route}"
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= set(responses), where
            if op.get("security", doc.get("security")):
                assert "401" in responses, where
            if op.get("parameters") and any(p["in"] == "query" for p in op["parameters"]):
                assert "422" in responses, where
            for status, answer in responses.items():
                if status in ("429", "503"):
                    assert answer["headers"]["Retry-After"]["required"] is True, where
                if status >= "400":
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, where
    app = await _get(client, APP_DOC)
    reports = app["paths"]["/api/v1/reports"]["post"]["responses"]
    assert "idempotency_key_reused" in reports["409"]["description"]
    assert {"404", "429"} <= set(app["paths"]["/api/v1/status"]["post"]["responses"])


async def test_a_signed_deployment_documents_the_signature(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    open_doc = await _get(
        await aiohttp_client(build_app(make_settings(), channels.REGISTRY, run_worker=False)), APP_DOC
    )
    signed = make_settings(INTAKE_APP_HMAC_SECRET="s3cret")
    signed_doc = await _get(
        await aiohttp_client(build_app(signed, channels.REGISTRY, run_worker=False)), APP_DOC
    )
    for route, _, op in _operations(signed_doc):
        if "requestBody" in op:
            assert "401" in op["responses"], route
            assert {"name": "X-Intake-Signature", "in": "header"}.items() <= op["parameters"][-1].items()
    assert all("401" not in op["responses"] for _, _, op in _operations(open_doc))


def test_the_documents_divisions_are_the_jurisdictions() -> None:
    """A report's place is the receiving unit's own division or one below it (the townships);
    the city and province above are in the file for routing only."""
    found = jurisdiction.load(COUNTY_JURISDICTION).divisions()
    assert found[0] == "430121" and "430121102" in found and len(found) == 19
    assert "43" not in found and "4301" not in found


# (route, body, status, code): what the document says of each body is what the server does.
AGREEMENT = [
    ("/api/v1/status", {"query_code": ""}, 422, "query_code_required"),
    ("/api/v1/status", {"query_code": "   "}, 422, "query_code_required"),
    ("/api/v1/status", {"query_code": None}, 422, "query_code_required"),
    ("/api/v1/status", {"query_code": "1234 5678 1234 5678"}, 404, "not_found"),
    ("/api/v1/followups", {"query_code": "1" * 65, "content": "补充"}, 422, "field_too_long"),
    ("/api/v1/followups", {"query_code": "1" * 16, "content": " \n "}, 422, "content_required"),
    ("/api/v1/reports", {"content": "x", "device_token": "令牌"}, 422, "invalid_field"),
    ("/api/v1/reports", {"content": "x", "device_token": "fcm:abc-123"}, 201, None),
    ("/api/v1/reports", {"content": "x", "location": {"division_code": ""}}, 201, None),
    ("/api/v1/reports", {"content": "x", "location": {"division_code": "430121102"}}, 201, None),
    ("/api/v1/reports", {"content": "x", "location": {"division_code": "999999"}}, 422, "unknown_division"),
    ("/api/v1/reports", {"content": "x", "location": {"division_code": "4301"}}, 422, "unknown_division"),
    ("/api/v1/reports", {"content": "x", "location": {"division_code": "43A"}}, 422, "invalid_division_code"),
    ("/api/v1/reports", {"content": "x", "title": None, "accused": None}, 201, None),
    ("/api/v1/reports", {"content": "x", "anonymous": None}, 422, "invalid_field"),
    ("/api/v1/reports", {"content": None}, 422, "content_required"),
    ("/api/v1/reports", {"content": "x", "reporter": {"name": "欧" * 51}}, 422, "field_too_long"),
    ("/api/v1/reports", {"content": "x", "accused": []}, 422, "invalid_field"),
]


@pytest.mark.parametrize(("route", "body", "status", "code"), AGREEMENT)
async def test_the_document_and_the_server_agree_on_what_is_valid(
    client: Any, services: Any, route: str, body: dict[str, Any], status: int, code: str | None
) -> None:
    doc = await _get(client, APP_DOC)
    resp = await client.post(route, json=body)
    answer = await resp.json()
    assert (resp.status, answer.get("error", {}).get("code")) == (status, code), answer
    assert accepts(doc, route, body) == (resp.status != 422)
    if resp.status == 422:
        assert await services(client).db.reports.count() == 0


async def test_an_error_names_the_field_in_chinese_and_never_repeats_the_value(client: Any) -> None:
    phone = "13912345678" * 4
    resp = await client.post("/api/v1/reports", json={"content": "x", "reporter": {"phone": phone}})
    error = (await resp.json())["error"]
    assert resp.status == 422 and error["code"] == "field_too_long"
    assert error["message"] == "reporter.phone 不能超过 32 字。"
    resp = await client.post("/api/v1/reports", json={})
    assert (await resp.json())["error"]["message"] == "请填写举报内容（content）。"
    resp = await client.post("/api/v1/reports", json={"content": "x", "accused": {"name": ["欧阳振华"]}})
    error = (await resp.json())["error"]
    assert error == {"code": "invalid_field", "message": "accused.name 应为字符串。"}
    assert "欧阳振华" not in json.dumps(error, ensure_ascii=False)
