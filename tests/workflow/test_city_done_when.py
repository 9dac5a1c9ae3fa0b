"""Issue 16's done-when, end to end on a jurisdiction built for 长沙市 down to its villages, on
SQLite and PostgreSQL: a report filed at /u/430181102/ (浏阳市社港镇) is received by that unit and
numbered under its code, triage hands a village party secretary's case to 社港镇纪委 and a 宁乡市
bureau director's to 宁乡市纪委监委, and a 浏阳市 supervisor sees the first case but not the second."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intake.jurisdiction_build import build
from server.config import Settings
from tests.channels.web.test_web_form import HTML, hidden, receipt_of, report_form
from tests.workflow.conftest import PASSWORD, Office, open_office

SHEGANG, LIUYANG, NINGXIANG = "430181102", "430181", "430182"


@pytest.fixture(scope="module")
def city_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "changsha.json"
    path.write_text(json.dumps(build("4301", down_to="village"), ensure_ascii=False), "utf-8")
    return path


@pytest.fixture
async def changsha(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str, city_file: Path
) -> Office:
    o = await open_office(
        aiohttp_client, make_settings(INTAKE_DATABASE_URL=db_url, INTAKE_JURISDICTION_FILE=str(city_file))
    )
    for name, unit in (("liuyang_sup", LIUYANG), ("ningxiang_sup", NINGXIANG)):
        _, o.secrets[name] = await o.services.staff.add(name, unit, "supervisor", PASSWORD)
        await o.login(name)
    return o


async def test_done_when_for_changsha(changsha: Office) -> None:
    o = changsha
    form = await o.client.get(f"/u/{SHEGANG}/", headers=HTML)
    html = await form.text()
    assert form.status == 200 and "受理单位：<strong>社港镇纪委</strong>" in html
    resp = await o.client.post(
        f"/u/{SHEGANG}/reports",
        data=report_form(
            hidden(html, "csrf"),
            hidden(html, "submission_id"),
            accused_name="张某某",
            accused_unit="周洛村党支部",
            accused_position="村党支部书记",
            division_code="430181102224",
            content="举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款。",
        ),
        headers=HTML,
    )
    assert resp.status == 201, await resp.text()
    village_case, _ = receipt_of(await resp.text())
    assert village_case.split("-")[1] == SHEGANG
    app = await o.client.post(
        "/api/v1/reports", json={"content": "举报宁乡市住建局局长李某某收受开发商贿赂，违规审批项目。"}
    )
    assert app.status == 201
    bureau_case = (await app.json())["case_no"]

    svc = o.services
    while await svc.worker.run_once():
        pass  # the triage jobs
    village = await svc.db.reports.get(village_case)
    bureau = await svc.db.reports.get(bureau_case)
    assert village.receiving_unit == SHEGANG
    assert village.triage["unit"] == {"id": SHEGANG, "name": "社港镇纪委"}, village.triage
    assert bureau.triage["unit"] == {"id": NINGXIANG, "name": "宁乡市纪委监委"}, bureau.triage

    status, listing = await o.get("liuyang_sup", "/api/v1/staff/reports")
    assert status == 200
    assert {r["case_no"] for r in listing["reports"]} == {village_case}
    status, _ = await o.get("liuyang_sup", f"/api/v1/staff/reports/{bureau_case}")
    assert status == 404
