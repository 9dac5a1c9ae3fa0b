"""The staff API's requests typed and bounded by the models its document is generated from: query
parameters too (a deadline of 3,000,000 days was an OverflowError, a 500), and a letter's or
visit's place must be a division of the jurisdiction."""

from __future__ import annotations

import pytest

from intake.triage_service import CORRECTABLE
from tests.workflow.conftest import Office

DOC = "/api/v1/staff/openapi.json"


def _query_schema(doc: dict, path: str, name: str) -> dict:
    (param,) = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert param["in"] == "query" and param["required"] is False
    schema: dict = param["schema"]
    return schema


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("deadline=3000000", 422, "invalid_field"),
        ("deadline=" + "9" * 5000, 422, "invalid_field"),
        ("deadline=-1", 422, "invalid_field"),
        ("deadline=abc", 422, "invalid_field"),
        ("deadline=365", 200, None),
        ("deadline=", 200, None),  # an empty parameter is not given
        ("status=flying", 422, "invalid_status"),
        ("channel=fax", 422, "invalid_channel"),
        ("channel=web&status=received&category=" + "类" * 64, 200, None),
        ("category=" + "类" * 65, 422, "field_too_long"),
    ],
)
async def test_the_case_list_query_is_typed_and_bounded(
    office: Office, query: str, status: int, code: str | None
) -> None:
    await office.login("county_sup")
    got, body = await office.get("county_sup", f"/api/v1/staff/reports?{query}")
    assert (got, body.get("error", {}).get("code")) == (status, code), body


async def test_the_document_gives_the_bounds_the_server_holds(office: Office) -> None:
    o = office
    doc = await (await o.client.get(DOC)).json()
    assert _query_schema(doc, "/api/v1/staff/reports", "deadline") == {
        "type": "integer",
        "minimum": 0,
        "maximum": 365,
    }
    within = _query_schema(doc, "/api/v1/staff/deadlines", "within")
    assert (within["minimum"], within["maximum"], within["default"]) == (0, 365, 10)
    await o.login("county_sup")
    assert (await o.get("county_sup", "/api/v1/staff/deadlines?within=365"))[0] == 200
    status, err = await o.get("county_sup", "/api/v1/staff/deadlines?within=366")
    assert status == 422 and err["error"]["code"] == "invalid_field"
    # The triage decision's lists are the service's; attachments as many as the setting allows.
    decision = doc["components"]["schemas"]["TriageDecision"]["properties"]
    for name in ("scope", "level", "priority"):
        assert decision[name]["anyOf"][0]["enum"] == list(CORRECTABLE[name] or ())
    filing = doc["components"]["schemas"]["Filing"]["properties"]
    assert filing["attachments"]["anyOf"][0]["maxItems"] == 5


async def test_a_filing_names_a_division_of_the_jurisdiction(office: Office) -> None:
    o = office
    await o.login("county_reg")
    body = {"channel": "visit", "content": "来访反映村支书张三优亲厚友。"}
    for code in ("999999", "4301"):
        status, err = await o.post(
            "county_reg", "/api/v1/staff/reports", {**body, "location": {"division_code": code}}
        )
        assert status == 422 and err["error"]["code"] == "unknown_division", err
    assert await o.services.db.reports.count() == 0
    status, filed = await o.post(
        "county_reg", "/api/v1/staff/reports", {**body, "location": {"division_code": "430121102"}}
    )
    assert status == 201, filed
    assert (await o.services.db.reports.get(filed["case_no"])).location_code == "430121102"
