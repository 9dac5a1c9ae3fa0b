"""Every unit's own entry points (issue 16): the form at /u/{code}/ files to that unit, its QR code
encodes that address, the app's ``unit`` sets the receiving unit, and a wrong unit code or a
place outside the unit gets a 4xx with nothing stored — on SQLite and PostgreSQL. The tree is
a test file (长沙市 with two of its counties), whatever the embedded default."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import pytest
import qrcode
from aiohttp.test_utils import TestClient
from qrcode.constants import ERROR_CORRECT_M

import channels
from channels.web.units import PICKER_LIMIT, UnitPlaces
from intake import jurisdiction
from server.app import build_app, services_of
from server.config import Settings
from tests.channels.web.test_web_form import HTML, hidden, receipt_of, report_form

TOWN, TOWN_NAME, OTHER_TOWN, COUNTY, CITY = "430121102", "黄兴镇纪委", "430121104", "430121", "4301"
TREE_FILE = Path(__file__).parent.parent.parent / "fixtures" / "jurisdiction" / "two_counties.json"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The ``client`` fixture's settings: the two-county city."""
    return make_settings(INTAKE_JURISDICTION_FILE=str(TREE_FILE))


@pytest.fixture
async def unit_client(aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str) -> TestClient:  # type: ignore[type-arg]
    settings = make_settings(INTAKE_DATABASE_URL=db_url, INTAKE_JURISDICTION_FILE=str(TREE_FILE))
    return await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))


async def open_unit_form(client: Any, code: str) -> tuple[str, str, str]:
    resp = await client.get(f"/u/{code}/", headers=HTML)
    assert resp.status == 200, await resp.text()
    html = await resp.text()
    return html, hidden(html, "csrf"), hidden(html, "submission_id")


async def count(client: Any) -> int:
    n: int = await services_of(client.app).db.reports.count()
    return n


# --- filing at a unit -----------------------------------------------------------------------------


async def test_a_report_filed_at_a_township_form_is_received_by_that_township(unit_client: Any) -> None:
    c = unit_client
    html, csrf, sid = await open_unit_form(c, TOWN)
    assert f"受理单位：<strong>{TOWN_NAME}</strong>" in html
    assert f'action="/u/{TOWN}/reports"' in html
    resp = await c.post(f"/u/{TOWN}/reports", data=report_form(csrf, sid), headers=HTML)
    assert resp.status == 201, await resp.text()
    page = await resp.text()
    case_no, _ = receipt_of(page)
    assert re.fullmatch(rf"\d{{4}}-{TOWN}-000001", case_no)  # numbered per receiving unit
    assert f'id="received-by">{TOWN_NAME}<' in page
    report = await services_of(c.app).db.reports.get(case_no)
    assert report.receiving_unit == TOWN and report.location_code == TOWN

    # The deployment's own form still files to the deployment's receiving unit.
    resp = await c.get("/", headers=HTML)
    home = await resp.text()
    resp = await c.post(
        "/reports", data=report_form(hidden(home, "csrf"), hidden(home, "submission_id")), headers=HTML
    )
    assert resp.status == 201
    other, _ = receipt_of(await resp.text())
    assert (await services_of(c.app).db.reports.get(other)).receiving_unit == CITY
    assert re.fullmatch(rf"\d{{4}}-{CITY}-000001", other)


async def test_the_app_api_unit_field_sets_the_receiving_unit(unit_client: Any) -> None:
    c = unit_client
    resp = await c.post("/api/v1/reports", json={"content": "村支书张三优亲厚友。", "unit": TOWN})
    assert resp.status == 201, await resp.text()
    case_no = (await resp.json())["case_no"]
    assert case_no.split("-")[1] == TOWN
    assert (await services_of(c.app).db.reports.get(case_no)).receiving_unit == TOWN
    resp = await c.post("/api/v1/reports", json={"content": "村支书张三优亲厚友。", "unit": ""})
    assert resp.status == 201 and (await resp.json())["case_no"].split("-")[1] == CITY


@pytest.mark.parametrize(
    ("unit", "code"),
    [("999999", "unknown_unit"), ("43", "unknown_unit"), ("43012110299999", "invalid_unit"),
     ("12x", "invalid_unit"), ("４３０１２１", "invalid_unit"), (430121, "invalid_field")],
)  # fmt: skip
async def test_the_app_api_refuses_a_unit_not_on_the_platform(unit_client: Any, unit: Any, code: str) -> None:
    resp = await unit_client.post("/api/v1/reports", json={"content": "反映问题。", "unit": unit})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == code
    assert await count(unit_client) == 0


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("999999", 404, "unknown_unit"),
        ("43", 404, "unknown_unit"),  # the province is above the platform's receiving unit
        ("12ab", 400, "invalid_unit"),
        ("1", 400, "invalid_unit"),
        ("1234567890123", 400, "invalid_unit"),
        ("%EF%BC%94%EF%BC%93", 400, "invalid_unit"),  # full-width digits
    ],
)
async def test_an_unknown_or_malformed_unit_is_a_clear_4xx(
    client: Any, code: str, status: int, error: str
) -> None:
    for path in (f"/u/{code}/", f"/u/{code}/qr.svg", f"/u/{code}/poster", f"/u/{code}"):
        resp = await client.get(path, headers={"Accept": "application/json"}, allow_redirects=False)
        assert resp.status == status, path
        assert (await resp.json())["error"]["code"] == error
    page = await client.get(f"/u/{code}/", headers=HTML)
    assert page.status == status and "出错了" in await page.text()
    # Posting to it stores nothing, whatever the body.
    home = await (await client.get("/", headers=HTML)).text()
    form = report_form(hidden(home, "csrf"), hidden(home, "submission_id"))
    resp = await client.post(f"/u/{code}/reports", data=form, headers=HTML)
    assert resp.status == status
    assert await count(client) == 0


@pytest.mark.parametrize(
    ("place", "unit"),
    [("999999", None), ("999999", TOWN), (OTHER_TOWN, TOWN), (COUNTY, TOWN), ("43", None),
     ("430181102", COUNTY), ("43012110", COUNTY)],
)  # fmt: skip
async def test_a_place_outside_the_form_unit_is_refused(client: Any, place: str, unit: str | None) -> None:
    html = await (await client.get(f"/u/{unit}/" if unit else "/", headers=HTML)).text()
    form = report_form(hidden(html, "csrf"), hidden(html, "submission_id"), division_code=place)
    resp = await client.post(f"/u/{unit}/reports" if unit else "/reports", data=form, headers=HTML)
    assert resp.status == 422
    assert "请从列表中选择所在地区" in await resp.text()
    assert await count(client) == 0


async def test_a_unit_without_trailing_slash_is_sent_to_its_form(client: Any) -> None:
    resp = await client.get(f"/u/{TOWN}", allow_redirects=False)
    assert resp.status == 308 and resp.headers["Location"] == f"/u/{TOWN}/"


# --- the QR code and the poster -------------------------------------------------------------------


def svg_matrix(svg: str) -> list[list[bool]]:
    """The modules of our SVG read back: the viewBox gives the size, each ``Mx yh1v1h-1z`` one
    dark module."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    size = int(root.attrib["viewBox"].split()[2])
    grid = [[False] * size for _ in range(size)]
    path = root.find(f"{SVG}path")
    assert path is not None
    cells = re.findall(r"M(\d+) (\d+)h1v1h-1z", path.attrib["d"])
    assert "".join(f"M{x} {y}h1v1h-1z" for x, y in cells) == path.attrib["d"]  # nothing else in it
    for x, y in cells:
        grid[int(y)][int(x)] = True
    return grid


def expected_matrix(url: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


async def test_the_qr_code_is_the_units_form_address(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(INTAKE_PUBLIC_URL="https://xf.example.gov.cn/")
    c = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    resp = await c.get(f"/u/{TOWN}/qr.svg")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    svg = await resp.text()
    url = f"https://xf.example.gov.cn/u/{TOWN}/"
    assert f"<title>{url}</title>" in svg
    grid = svg_matrix(svg)
    assert grid == expected_matrix(url)
    assert grid != expected_matrix(f"https://xf.example.gov.cn/u/{OTHER_TOWN}/")
    # The finder pattern's corner module is dark and the quiet zone light: a real code.
    assert grid[4][4] and not any(grid[0]) and not any(row[0] for row in grid)

    poster = await c.get(f"/u/{TOWN}/poster", headers=HTML)
    html = await poster.text()
    assert poster.status == 200 and "码上反映" in html
    assert f'id="poster-unit">{TOWN_NAME}<' in html and f'src="/u/{TOWN}/qr.svg"' in html
    assert f'id="poster-url">{url}<' in html and "12388" in html


async def test_without_a_public_url_the_qr_code_names_the_host_asked(client: Any) -> None:
    svg = await (await client.get(f"/u/{TOWN}/qr.svg")).text()
    url = f"http://{client.server.host}:{client.server.port}/u/{TOWN}/"
    assert svg_matrix(svg) == expected_matrix(url)


# --- the place picker ------------------------------------------------------------------------------


def options(html: str) -> list[tuple[str, list[tuple[str, str]]]]:
    select = re.search(r'<select id="division_code".*?</select>', html, re.S)
    assert select
    return [
        (label, re.findall(r'<option value="(\d+)"[^>]*>([^<]+)<', body))
        for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select.group(0), re.S)
    ]


async def test_the_picker_lists_the_units_part_of_the_tree(client: Any) -> None:
    html, _, _ = await open_unit_form(client, COUNTY)
    groups = options(html)
    assert groups[0][0] == "长沙县（县级）"
    codes = [c for c, _ in groups[0][1]]
    assert codes == [COUNTY, "430121001", TOWN, OTHER_TOWN]
    html, _, _ = await open_unit_form(client, CITY)  # the city: its counties, then each one's towns
    assert [(label, [c for c, _ in places]) for label, places in options(html)] == [
        ("长沙市（市级）", [CITY, COUNTY, "430181"]),
        ("长沙县", ["430121001", TOWN, OTHER_TOWN]),
        ("浏阳市", ["430181001", "430181102"]),
    ]
    html, _, _ = await open_unit_form(client, TOWN)
    assert options(html) == [("黄兴镇（乡镇（街道））", [(TOWN, "黄兴镇")])]  # a township lists itself only
    assert "<script" not in html  # the picker works without JavaScript


async def test_the_picker_search_finds_a_place_and_selects_the_only_match(client: Any) -> None:
    resp = await client.get(f"/u/{COUNTY}/?q=黄兴", headers=HTML)
    html = await resp.text()
    found = options(html)[0]
    assert found == ("查找“黄兴”的结果", [(TOWN, "黄兴镇")])
    assert f'<option value="{TOWN}" selected>' in html
    assert 'value="黄兴"' in html  # the search box keeps what was asked
    resp = await client.get(f"/u/{COUNTY}/?q=不存在的地方", headers=HTML)
    assert options(await resp.text())[0] == ("查找“不存在的地方”的结果", [])
    resp = await client.get(f"/u/{TOWN}/?q=江背", headers=HTML)  # only below the form's unit
    assert options(await resp.text())[0][1] == []


def test_the_picker_stops_a_level_down_when_the_list_would_be_too_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    places = UnitPlaces(jurisdiction.load(TREE_FILE))
    assert [g.label for g in places.groups(CITY)] == ["长沙市（市级）", "长沙县", "浏阳市"]
    # With room for seven places only 长沙县's three towns fit after the city's three: 浏阳市's
    # are left to the search.
    monkeypatch.setattr("channels.web.units.PICKER_LIMIT", 3 + 3 + 1)
    places = UnitPlaces(jurisdiction.load(TREE_FILE))
    assert [g.label for g in places.groups(CITY)] == ["长沙市（市级）", "长沙县"]
    found = places.search(CITY, "社港")
    assert found is not None and [p.name for p in found.places] == ["浏阳市 › 社港镇"]
    assert PICKER_LIMIT == 400
    assert places.handler_of(TOWN).code == TOWN
    assert places.divisions(TOWN) == frozenset({TOWN})
    assert TOWN in places.divisions(COUNTY) and COUNTY in places.divisions(COUNTY)
