"""A citizen files at a unit's own form (/u/{code}/) in a real browser with JavaScript off: the
place picker lists the unit's part of the tree, its search finds a village, the receipt names
the receiving unit and its code is in the case number; the poster shows the unit's QR code."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings

pytestmark = pytest.mark.browser

TREE_FILE = Path(__file__).parent.parent / "fixtures" / "jurisdiction" / "two_counties.json"
SHEGANG = "430181102"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(INTAKE_JURISDICTION_FILE=str(TREE_FILE))


async def test_a_unit_form_and_its_place_picker_in_chromium(
    server: str, browser: Any, tmp_path: Path
) -> None:
    shots = tmp_path
    page = await browser.new_page(
        viewport={"width": 390, "height": 844}, locale="zh-CN", java_script_enabled=False
    )
    await page.goto(f"{server}/u/{SHEGANG}/")
    assert "社港镇纪委" in (await page.text_content("#receiving-unit") or "")
    labels = await page.eval_on_selector_all("#division_code optgroup", "gs => gs.map(g => g.label)")
    assert labels == ["社港镇（乡镇（街道））"]
    names = await page.eval_on_selector_all("#division_code option", "os => os.map(o => o.textContent)")
    assert names == ["（请选择所在地区）", "社港镇", "周洛村", "浏北村"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=str(shots / "unit-form.png"), full_page=True)

    # The search is a plain GET of the same page: no script needed.
    await page.fill("#place-q", "浏北")
    await page.click("input[value=查找]")
    await page.wait_for_url(re.compile(r"/u/430181102/\?q="))
    assert await page.eval_on_selector("#division_code", "s => s.value") == "430181102240"
    await page.screenshot(path=str(shots / "unit-form-search.png"), full_page=True)

    await page.fill("#content", "2026年10月，浏北村村委会主任在危房改造补助中优亲厚友。")
    await page.click("text=提交举报")
    await page.wait_for_selector("#query-code")
    case_no = (await page.text_content("#case-no") or "").strip()
    assert re.fullmatch(rf"\d{{4}}-{SHEGANG}-\d{{6}}", case_no)
    assert (await page.text_content("#received-by") or "").strip() == "社港镇纪委"
    await page.screenshot(path=str(shots / "unit-receipt.png"), full_page=True)

    poster = await browser.new_page(viewport={"width": 794, "height": 1123}, locale="zh-CN")
    await poster.goto(f"{server}/u/430181102224/poster")
    assert "周洛村村务监督委员会" in (await poster.text_content("#poster-unit") or "")
    assert await poster.eval_on_selector(".poster-qr", "img => img.complete && img.naturalWidth > 0")
    await poster.emulate_media(media="print")
    await poster.screenshot(path=str(shots / "poster.png"), full_page=True)
