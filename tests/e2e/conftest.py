"""A real server on a loopback port and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

import channels
from server.app import build_app
from server.config import Settings

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def known_next_year(settings: Settings) -> None:
    """The servers here run on the real clock: a one-month deadline (a clue's disposal opinion)
    opened in December ends in January, of a year the holiday package may not know yet. A
    stand-in year (New Year's Day off; test data, not the State Council's notice) lets it count."""
    year = datetime.now(UTC).year + 1
    folder = settings.data_dir / "calendar"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{year}.json"
    if not path.exists():
        path.write_text(json.dumps({"year": year, "holidays": [f"{year}-01-01"], "workdays": []}))


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[str]:
    runner = web.AppRunner(build_app(settings, channels.REGISTRY), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    required = os.environ.get("INTAKE_REQUIRE_BROWSER") == "1"
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if required:
            pytest.fail("INTAKE_REQUIRE_BROWSER=1 but playwright is not installed")
        pytest.skip("playwright not installed")
    if not shutil.which(CHROMIUM):
        if required:
            pytest.fail(f"INTAKE_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def signed_in_console(
    browser: Any, base: str, username: str, password: str, totp: str, *, height: int = 768
) -> Any:
    """A page of a new browser context (Chinese, JavaScript off: the console works without it)
    signed in to the console as ``username`` with the TOTP code ``totp``."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": height}, locale="zh-CN", java_script_enabled=False
    )
    page = await context.new_page()
    await page.goto(base + "/console/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.fill("#totp", totp)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#who")
    return page
