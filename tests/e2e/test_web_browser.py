"""A citizen files a report through the form in a real browser, then reads its status.

JavaScript is switched off in the browser: every page must work without it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


async def test_report_then_status_in_chromium(server: str, browser: Any, tmp_path: Path) -> None:
    page = await browser.new_page(
        viewport={"width": 390, "height": 844}, locale="zh-CN", java_script_enabled=False
    )
    await page.goto(server + "/")
    await page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
    # A phone-width page: nothing wider than the screen.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.fill("#accused_name", "张某某")
    await page.fill("#accused_unit", "黄兴镇人民政府")
    await page.fill("#accused_position", "站长")
    await page.select_option("#division_code", "430121102")
    await page.select_option("#category", "廉洁纪律")
    await page.fill("#title", "站长收受礼金")
    await page.fill("#content", "2026年10月，张某某在办理审批时收受礼金两万元。")
    png = Path(__file__).parent.parent / "fixtures" / "channels" / "web" / "report__with_attachment.png"
    await page.set_input_files("#attachments", str(png))
    # Without any script: the identity fields show only while 实名 is chosen.
    assert not await page.is_visible("#reporter_name")
    await page.click("text=实名举报")
    assert await page.is_visible("#reporter_name") and await page.is_visible("#reporter_phone")
    await page.click("text=匿名举报")
    assert not await page.is_visible("#reporter_name")
    await page.click("button[type=submit]")

    await page.wait_for_selector("#query-code")
    case_no = (await page.text_content("#case-no") or "").strip()
    code = (await page.text_content("#query-code") or "").strip()
    assert re.fullmatch(r"\d{4}-430121-\d{6}", case_no)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    assert code.replace(" ", "") not in page.url
    await page.screenshot(path=str(tmp_path / "receipt.png"), full_page=True)

    await page.click("text=查询办理情况")
    await page.fill("#query_code", code)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#status")
    assert (await page.text_content("#case-no") or "").strip() == case_no
    assert "已接收" in (await page.text_content("#status") or "")
    assert code.replace(" ", "") not in page.url

    await page.fill("#content", "补充：另有一笔五千元。")
    await page.click("text=提交补充")
    await page.wait_for_selector("text=补充材料已收到")
    assert "1 次" in (await page.text_content("#followups") or "")
    await page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
    await page.close()
