"""``/console/stats`` in headless Chromium without JavaScript (issue 18): the measures beyond
counts with 环比 and 同比, the export links (a CSV download that reads back), and the periodic
reports page with its PDF link; a screenshot to look at (``INTAKE_SCREENSHOT_DIR`` keeps it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from intake.staff import totp_now
from server.config import Settings
from tests.stats.handled import handle
from tests.workflow.conftest import PASSWORD, open_office

pytestmark = [pytest.mark.browser, pytest.mark.asyncio]
SHOTS = os.environ.get("INTAKE_SCREENSHOT_DIR")


async def test_stats_page_shows_measures_and_export_links(
    aiohttp_client: Any, make_settings: Callable[..., Settings], browser: Any, tmp_path: Path
) -> None:
    o = await open_office(aiohttp_client, make_settings())
    await handle(o)
    base = str(o.client.make_url("")).rstrip("/")
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900},
        locale="zh-CN",
        java_script_enabled=False,
        accept_downloads=True,
    )
    page = await context.new_page()
    await page.goto(base + "/console/login")
    o.clock.at = o.clock.at.replace(second=0) + timedelta(seconds=31)  # a fresh TOTP step
    await page.fill("#username", "county_sup")
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", totp_now(o.secrets["county_sup"], o.clock.now()))
    await page.click("button[type=submit]")
    await page.wait_for_selector("#who")
    await page.goto(f"{base}/console/stats?from=2025-07-01&to=2025-09-30&by1=channel")
    await page.fill("#period", "2025Q3")
    await page.click("#measures button[type=submit]")
    await page.wait_for_selector("#measures-table")
    table = await page.inner_text("#measures-table")
    assert "办理质效" in await page.inner_text("#measures h2")
    row = await page.inner_text("#measures-table tr.measure-reports")
    assert row.split("\t")[:7] == ["收件量（件）", "12", "12", "6", "+100.0", "5", "+140.0"], row
    assert "满意率（%）\t80.0\t5" in table and "受理用时中位数（自然日）\t1.0\t9" in table
    assert await page.is_visible("#exports a:text('CSV')") and await page.is_visible(
        "#exports a:text('Excel')"
    )

    await page.goto(f"{base}/console/stats?from=2025-07-01&to=2025-09-30&by1=channel&period=2025Q3")
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / "stats-measures.png"), full_page=True)
    async with page.expect_download() as info:
        await page.click("#exports a:text('CSV')")
    download = await info.value
    saved = tmp_path / "stats.csv"
    await download.save_as(str(saved))
    assert saved.read_bytes().decode("utf-8-sig").splitlines()[:2] == ["渠道,件数", "网上举报,12"]

    await page.click("#exports a:text('定期报表（向上报送）')")
    await page.wait_for_selector("h1:text('定期报表（向上报送）')")
    await page.screenshot(path=str(shots / "stats-reports.png"), full_page=True)
    async with page.expect_download() as info:
        await page.click("a[href='/console/stats/report?period=2025Q3&format=pdf']")
    pdf = await info.value
    await pdf.save_as(str(tmp_path / "q3.pdf"))
    assert (tmp_path / "q3.pdf").read_bytes().startswith(b"%PDF")
    await context.close()
