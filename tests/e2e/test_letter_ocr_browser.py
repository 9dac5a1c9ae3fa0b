"""A registrar in headless Chromium (JavaScript off) registers a scanned printed letter: chooses the
scan, presses 识别扫描件, corrects the proposed text and files it; the scan goes with the letter
and the writer's details in the text are sealed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_console_browser import console, login
from tests.interchange.conftest import need_ocr
from tests.interchange.scans import LETTERS, char_accuracy, render

pytestmark = pytest.mark.browser

__all__ = ["console"]


async def test_ocr_correct_and_file_a_letter(console: Any, browser: Any, tmp_path: Path) -> None:
    need_ocr()
    base, services, secrets = console
    letter = LETTERS[0]
    scan = tmp_path / "来信扫描件.png"
    scan.write_bytes(render(letter, seed=0))

    page = await login(browser, base, "county_reg", secrets["county_reg"])
    await page.goto(base + "/console/file?channel=letter")
    await page.set_input_files("#attachments", str(scan))
    await page.click("#ocr-submit")
    await page.wait_for_selector("#ocr-notice", timeout=120_000)
    notice = await page.text_content("#ocr-notice") or ""
    assert "请对照原件校对" in notice and "身份信息" in notice
    assert "已保留扫描件 1 个" in (await page.text_content("#held-scans") or "")
    proposed = await page.input_value("#content")
    accuracy = char_accuracy(letter, proposed)
    assert accuracy >= 0.95, proposed
    await page.screenshot(path=str(tmp_path / "ocr-proposed.png"), full_page=True)

    # The officer corrects what OCR got wrong (here: puts the letter's own text in) and files.
    await page.fill("#content", letter)
    await page.fill("#accused_name", "王建国")
    await page.click("#file-submit")
    await page.wait_for_selector("text=查询码")
    await page.screenshot(path=str(tmp_path / "ocr-filed.png"), full_page=True)
    body = await page.inner_text("body")
    case_no = next(w for w in body.split() if w.count("-") == 2 and w[:4].isdigit())
    report = await services.db.reports.get(case_no)
    assert report is not None and report.channel == "letter" and report.status == "registered"
    assert report.attachments == 1  # the scan kept from the OCR step
    assert "13907310042" not in report.content and "430121198503051234" not in report.content
    assert "李秀英" not in report.content
