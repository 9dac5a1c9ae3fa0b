"""The embedded default is the whole of 长沙市, as the builder writes it; a server with no
jurisdiction configured runs on it (its units table holds the tree, intake points included, and
triage routes across it)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from importlib import resources
from typing import Any

import channels
from intake import jurisdiction
from intake.jurisdiction_build import build, dumps
from server.app import build_app, services_of
from server.config import Settings
from tests.conftest import COUNTY_JURISDICTION

DEMO_NAME = "长沙市纪委监委（演示辖区）"


def test_the_default_is_the_city_down_to_its_villages() -> None:
    j = jurisdiction.load()
    assert (j.name, j.receiving_unit) == (DEMO_NAME, "4301")
    kinds = Counter((u.level, u.kind) for u in j.units)
    assert kinds[("village", "intake_point")] == 1649
    assert sum(n for (level, _), n in kinds.items() if level == "township") == 172
    assert [u.code for u in j.children("4301")] == [
        "430102", "430103", "430104", "430105", "430111", "430112", "430121", "430181", "430182",
    ]  # fmt: skip
    assert [u.code for u in j.ancestors("4301")] == ["43"]
    assert len(j.subtree("4301")) == len(j.units) - 1
    # 长沙县 is in it, unit for unit as the county's own file has it.
    county = jurisdiction.load(COUNTY_JURISDICTION)
    for u in county.units:
        assert j.unit(u.code) == u
    assert [u.code for u in j.children("430121") if u.level == "township"] == [
        u.code for u in county.townships()
    ]


def test_the_shipped_files_are_the_builders() -> None:
    """Rebuilding gives the same bytes: the default and the county fixture are data, not edits."""
    shipped = resources.files("intake").joinpath("data/demo_jurisdiction.json").read_text("utf-8")
    assert shipped == dumps(build("4301", down_to="village", name=DEMO_NAME))
    county = json.loads(COUNTY_JURISDICTION.read_text("utf-8"))
    assert county["units"] == build("430121")["units"]


async def test_a_server_without_configuration_runs_the_city(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(INTAKE_JURISDICTION_FILE="")  # the embedded default
    assert settings.jurisdiction_file is None
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    units = await svc.db.units.all()
    assert len(units) == 1832
    assert {u.code: u.level for u in units}["430181102224"] == "village"
    resp = await client.post(
        "/api/v1/reports",
        json={"content": "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款，请查处。"},
    )
    assert resp.status == 201, await resp.text()
    case_no = (await resp.json())["case_no"]
    assert await svc.worker.run_once() == 1
    report = await svc.db.reports.get(case_no)
    assert report.receiving_unit == "4301"
    assert (report.level, report.handling_unit) == ("township", "430181102")
    assert report.triage["unit"] == {"id": "430181102", "name": "社港镇纪委"}
    assert report.triage["transfer"] == "downward" and report.triage["forward_to"] is None

    resp = await client.post(
        "/api/v1/reports", json={"content": "举报岳阳市平江县三阳乡党委书记钱某某违规吃喝，公款旅游。"}
    )
    outside = (await resp.json())["case_no"]
    assert await svc.worker.run_once() == 1
    report = await svc.db.reports.get(outside)
    assert report.handling_unit is None and report.triage["unit"]["name"] == "平江县纪委监委"
    assert report.triage["forward_to"]["deadline"] == "jc_transfer_other_jurisdiction"
