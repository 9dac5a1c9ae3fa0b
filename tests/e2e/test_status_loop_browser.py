"""Issue 17 in a real browser without JavaScript: the status page's dated timeline, the rating of
the answer (满意 · 基本满意 · 不满意) and the review request, all plain forms."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import channels
from intake.domain import Submission
from server.app import build_app, services_of
from server.config import Settings
from tests.channels.loop_helpers import answer, feedback_of, reviews_of
from tests.e2e.test_console_browser import PASSWORD, login

pytestmark = pytest.mark.browser


@pytest.fixture
async def office(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    runner = web.AppRunner(build_app(settings, channels.REGISTRY), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", services_of(runner.app)
    finally:
        await runner.cleanup()


async def test_status_timeline_rating_and_review_in_chromium(
    office: tuple[str, Any], browser: Any, tmp_path: Path
) -> None:
    url, services = office
    receipt = await services.pipeline.accept(
        Submission(channel="web", content="2026年10月，黄兴镇某站站长张某某在审批时收受礼金两万元。")
    )
    code = receipt.query_code
    assert code is not None
    await answer(services, receipt.case_no, "经核查，反映的问题基本属实，已给予张某某党内警告处分。")
    page = await browser.new_page(
        viewport={"width": 390, "height": 844}, locale="zh-CN", java_script_enabled=False
    )
    await page.goto(url + "/status")
    await page.fill("#query_code", code)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#timeline")
    steps = await page.locator("#timeline li").all_text_contents()
    assert [s.split(" ", 2)[-1] for s in steps][:1] == ["收到您的反映，已生成案件编号。"]
    assert any("已受理" in s for s in steps) and any("已作出答复" in s for s in steps)
    assert "loop_sup" not in await page.content()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    shots = Path(os.environ.get("INTAKE_SCREENSHOTS", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / "status_loop.png"), full_page=True)

    await page.click("#feedback >> text=基本满意")
    await page.fill("#comment", "处理及时，但希望公开处理结果。")
    await page.click("#feedback button[type=submit]")
    await page.wait_for_selector("text=感谢您的评价（基本满意）")
    assert await page.is_visible("#rated") and not await page.is_visible("#feedback")
    [given] = await feedback_of(services, receipt.case_no)
    assert given.rating == "basically_satisfied" and given.channel == "web"

    await page.select_option("#kind", "review")
    await page.fill("#reason", "处分过轻，与事实不符。")
    await page.click("#review button[type=submit]")
    await page.wait_for_selector("text=您的复查申请已收到")
    assert "市级纪检监察机关" in (await page.text_content(".ok") or "")
    steps = await page.locator("#timeline li").all_text_contents()
    assert any("复查申请" in s for s in steps) and any("评价：基本满意" in s for s in steps)
    # Under review: neither a second review nor an objection is offered meanwhile.
    assert await page.locator("#kind option").all_text_contents() == ["申请回避"]
    [asked] = await reviews_of(services, receipt.case_no)
    assert asked.kind == "review" and asked.to_unit == "4301"
    await page.screenshot(path=str(shots / "status_loop_after.png"), full_page=True)
    await page.close()


async def test_console_shows_the_rating_and_closes_with_an_outcome(
    office: tuple[str, Any], browser: Any, tmp_path: Path
) -> None:
    """The case page lists the informant's rating; 办结 asks for an outcome and a confirmation, and
    after it no reply is offered (issue 17, item 6)."""
    url, services = office
    _, secret = await services.staff.add("loop_closer", "430121", "supervisor", PASSWORD)
    receipt = await services.pipeline.accept(
        Submission(channel="web", content="某村支书在低保评定中优亲厚友。")
    )
    assert receipt.query_code is not None
    await answer(services, receipt.case_no, "经核查，低保评定已重新公示并纠正。")
    await services.informant.rate(receipt.query_code, "dissatisfied", "没有处理相关责任人", "web", "k")
    page = await login(browser, url, "loop_closer", secret)
    await page.goto(f"{url}/console/cases/{receipt.case_no}")
    loop = await page.text_content("#informant-loop") or ""
    assert "不满意" in loop and "没有处理相关责任人" in loop
    assert await page.is_visible("#act-reply") and await page.is_visible("#outcome-close")
    await page.select_option("#outcome-close", "talk_reminder")
    await page.check("#act-close input[name=confirm]")
    shots = Path(os.environ.get("INTAKE_SCREENSHOTS", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / "console_close.png"), full_page=True)
    await page.click("#act-close button[type=submit]")
    await page.wait_for_selector("#notice")
    assert (await page.text_content("#status") or "").strip() == "已办结"
    assert not await page.is_visible("#act-reply")
    assert "办结结果：谈话提醒" in (await page.text_content("#timeline") or "")
