"""Video reception end to end in headless Chromium (issue 20): township staff, signed in once at
the console, open a walk-in session; the county officer's page beeps and lists it, the officer
joins; a WebRTC call over our signaling (fake camera and microphone) with the server's recorder in
the room; the county supervisor sees the room in the grid (who sits where) and watches; the
officer ends with minutes, the citizen confirms, and the ``video`` report has both sides'
recordings (one WebM each, video and audio frames read back with PyAV).

Run it in a network namespace with loopback only, so that the call stays on 127.0.0.1
(research/probes_runtime.md §1)::

    unshare -n sh -c 'ip link set lo up; INTAKE_REQUIRE_BROWSER=1 \\
        .venv/bin/python -m pytest tests/e2e/test_reception_browser.py'

Outside such a namespace the call test is skipped (Chromium would pick the machine's other
addresses) and ``test_the_call_in_a_loopback_only_namespace`` runs it inside one instead, with
``unshare`` (as root, or in a user namespace), so the README's test command covers it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import channels
from intake.staff import totp_now
from server.app import build_app, services_of
from server.config import Settings
from tests.e2e.conftest import ARGS, CHROMIUM
from video_reception import RECEPTION

pytestmark = pytest.mark.browser

MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",  # the officer's alert sound without a click
]
SCREENSHOTS = Path(os.environ.get("INTAKE_SCREENSHOT_DIR") or "/tmp")
PASSWORD = "correct horse battery staple"
STAFF = {
    "town": ("430121102", "registrar"),
    "officer": ("430121", "handler"),
    "sup": ("430121", "supervisor"),
}


def loopback_only() -> bool:
    # if_nameindex asks the kernel for this namespace's interfaces (/sys/class/net may be the host's).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture
async def reception_server(settings: Settings) -> AsyncIterator[tuple[str, Any, dict[str, str], Any]]:
    app = build_app(settings, channels.REGISTRY)  # the reception feature comes from the root
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    services = services_of(app)
    secrets = {}
    for name, (unit, role) in STAFF.items():
        _, secrets[name] = await services.staff.add(name, unit, role, PASSWORD)
    try:
        hub = app[RECEPTION].service.hub
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", services, secrets, hub
    finally:
        await runner.cleanup()


@pytest.fixture
async def media_browser() -> AsyncIterator[Any]:
    required = os.environ.get("INTAKE_REQUIRE_BROWSER") == "1"
    if not loopback_only():
        # test_the_call_in_a_loopback_only_namespace below runs this test inside one.
        pytest.skip("WebRTC browser test runs in a loopback-only network namespace (unshare -n)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if required:
            pytest.fail("INTAKE_REQUIRE_BROWSER=1 but playwright is not installed")
        pytest.skip("playwright not installed")
    if not Path(CHROMIUM).exists():
        if required:
            pytest.fail(f"INTAKE_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + MEDIA_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _until(check: Callable[[], Any], within: float = 60.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


async def _login(page: Any, base: str, path: str, form: str, name: str, secret: str, clock: Any) -> None:
    await page.goto(f"{base}{path}")
    await page.fill("#username", name)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", totp_now(secret, clock.now()))
    await page.click(f"{form} button")


def _media(data: bytes) -> dict[str, int]:
    import io

    import av

    counts: dict[str, int] = {}
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(*container.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            counts[kind] = counts.get(kind, 0) + 1
    return counts


async def test_book_call_watch_minutes_and_file(
    reception_server: tuple[str, Any, dict[str, str], Any], media_browser: Any
) -> None:
    base, services, secrets, hub = reception_server
    # The server's recorder (aiortc) offers loopback candidates here: aioice leaves them out.
    from tests.reception.conftest import loopback_only as aioice_on_loopback

    aioice_on_loopback()
    pages = {}
    for name in STAFF:
        context = await media_browser.new_context()
        page = await context.new_page()
        if name == "town":
            # One sign-on: the township staff sign in at the console and go to the reception pages.
            await _login(page, base, "/console/login", "form", name, secrets[name], services.clock)
            await page.wait_for_url("**/console/queue")
            await page.goto(f"{base}/reception/")
        else:
            await _login(page, base, "/reception/", "#login-form", name, secrets[name], services.clock)
        await page.wait_for_selector("#app:not([hidden])")
        pages[name] = page

    # The county officer's page lists who waits; nobody yet.
    officer = pages["officer"]
    await officer.wait_for_selector("#waiting:not([hidden])")
    assert await officer.is_visible("#waiting-none")

    # A villager walks in: the township opens a walk-in session at once (the button waits busy).
    town = pages["town"]
    await town.wait_for_selector("#walk-in:not([hidden])")
    await town.click("#walk-in-open")
    await town.wait_for_url("**/reception/room/*?as=host")
    session = town.url.split("/room/")[1].split("?")[0]
    await town.wait_for_selector("#consent:not([hidden])")
    assert "全程同步录音录像" in await town.inner_text("#consent")
    await town.check("#c-recorded")
    await town.check("#c-attendees")
    await town.click("#consent-ok")

    # The officer is alerted (the list, and a sound), and joins.
    item = await officer.wait_for_selector(f'#waiting-list li[data-session="{session}"]')
    assert "黄兴镇纪委接访室" in await item.inner_text() and "现场来访" in await item.inner_text()
    await _until(lambda: officer.evaluate("(window.receptionBeeps || 0) > 0"))
    await officer.click(f'#waiting-list li[data-session="{session}"] a.join')
    await officer.wait_for_url("**?as=officer")

    async def connected(page: Any, peer: str) -> bool:
        stats = await page.evaluate("window.receptionStats ? window.receptionStats() : null")
        found = [p for p in (stats or {}).get("peers", []) if p["peer"] == peer]
        return bool(found and found[0]["connectionState"] == "connected" and found[0]["framesDecoded"] > 0)

    async def sending_to(page: Any, peer: str) -> bool:
        stats = await page.evaluate("window.receptionStats ? window.receptionStats() : null")
        found = [p for p in (stats or {}).get("peers", []) if p["peer"] == peer]
        return bool(found and found[0]["connectionState"] == "connected")

    await _until(lambda: connected(town, "officer"))
    await _until(lambda: connected(officer, "host"))
    # Both screens also send to the server's recorder.
    await _until(lambda: sending_to(town, "recorder"))
    await _until(lambda: sending_to(officer, "recorder"))

    # The supervisor sees the room in session in the grid, with who sits in it, and watches.
    sup = pages["sup"]
    await sup.goto(f"{base}/reception/oversight")
    card = await sup.wait_for_selector('.room[data-township="430121102"][data-state="in_session"]')
    text = await card.inner_text()
    assert "接访中" in text and "现场来访" in text and "接访人员（officer）" in text
    row = await sup.wait_for_selector(f'#live tr[data-session="{session}"]')
    assert "长沙县纪委监委" in await row.inner_text()
    await sup.screenshot(path=str(SCREENSHOTS / "reception_oversight.png"), full_page=True)
    await sup.click('.room[data-township="430121102"] a.watch')
    await sup.wait_for_selector("#supervisor-panel:not([hidden])")
    await _until(lambda: connected(sup, "host"))
    await sup.fill("#note-text", "请核实补偿款金额")
    await sup.click("#note-send")
    await officer.wait_for_selector("#notes li")
    await town.screenshot(path=str(SCREENSHOTS / "reception_township.png"), full_page=True)

    # A few seconds of the call recorded, then the officer ends with the minutes.
    await _until(lambda: _recorded(hub, session), within=30)
    await officer.fill("#minutes-text", "群众反映：村党支部书记张某侵占土地补偿款。答复：依规办理。")
    await officer.click("#end")
    await town.wait_for_selector("#confirm:not([disabled])")
    assert "侵占土地补偿款" in await town.inner_text("#minutes-view")
    await town.click("#confirm")
    await town.wait_for_selector("#filed:not([hidden])")
    case_no = await town.inner_text("#case-no")
    code = await town.inner_text("#query-code")
    assert len(code) == 16
    await town.screenshot(path=str(SCREENSHOTS / "reception_filed.png"), full_page=True)

    report = await services.db.reports.get(case_no)
    assert report is not None and report.channel == "video" and report.status == "registered"
    assert "侵占土地补偿款" in report.content
    attachments = await services.db.workflow.attachments(report.id)
    assert [a.content_type for a in attachments] == ["video/webm", "video/webm"]  # both sides
    for a in attachments:
        blob = services.db.blobs.get(a.id)
        assert blob.data[:4] == b"\x1a\x45\xdf\xa3"  # EBML: WebM, written by the server
        counts = _media(blob.data)
        assert counts.get("video", 0) > 5 and counts.get("audio", 0) > 5, counts


async def _recorded(hub: Any, session: str) -> bool:
    recorder = hub.recorders.get(session)
    parts = recorder.recordings if recorder else {}
    return all(p in parts and parts[p].frames > 40 for p in ("host", "officer"))


def _namespace_command() -> list[str] | None:
    """``unshare`` with a fresh network namespace (a user namespace too when not root), if allowed."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        return None
    for cmd in ([unshare, "-n"], [unshare, "-rn"]):
        probe = subprocess.run([*cmd, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return cmd
    return None


def test_the_call_in_a_loopback_only_namespace() -> None:
    if loopback_only():
        pytest.skip("already in a loopback-only namespace: the call test itself runs here")
    required = os.environ.get("INTAKE_REQUIRE_BROWSER") == "1"
    cmd = _namespace_command()
    if cmd is None or not Path(CHROMIUM).exists():
        if required:
            pytest.fail("INTAKE_REQUIRE_BROWSER=1 but no loopback-only namespace (unshare) or no Chromium")
        pytest.skip("needs unshare (a network namespace) and Chromium")
    repo = Path(__file__).resolve().parents[2]
    # SQLite inside the namespace: the PostgreSQL server is not reachable from there.
    env = {
        **os.environ,
        "INTAKE_REQUIRE_BROWSER": "1",
        "INTAKE_TEST_DATABASE_URL": "",
        "INTAKE_REQUIRE_POSTGRES": "",
    }
    script = 'ip link set lo up && exec "$0" -m pytest -q -p no:cacheprovider "$1" -k test_book_call'
    run = subprocess.run(
        [*cmd, "sh", "-c", script, sys.executable, str(Path(__file__).relative_to(repo))],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout, run.stdout[-2000:]
