"""The app API's request signature: it covers the time, the Idempotency-Key and the body, each
signature is accepted once, and a malformed header is a 401, never a crash. Time is a set clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import channels
from channels.verify import APP_SIGNATURE_WINDOW, SignatureReplays, app_signature, verify_app_signature
from server.app import build_app, services_of
from server.config import Settings
from tests.workflow.conftest import SetClock

SECRET = "s3cret-for-tests"
REPORT = json.dumps({"content": "黄兴镇某站所负责人张某某在审批过程中收受他人礼金两万元。"}).encode()


def signed(raw: bytes, at: datetime, key: str = "", *, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    headers["X-Intake-Signature"] = f"t={stamp},v1={app_signature(secret, stamp, key, raw)}"
    return headers


@pytest.fixture
async def signed_app(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[Any, SetClock]:
    clock = SetClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    settings = make_settings(INTAKE_APP_HMAC_SECRET=SECRET)
    return await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False)), clock


def test_app_signature_known_answer() -> None:
    # Computed independently with openssl:
    # printf '1700000000.key-1.{"content":"x"}' | openssl dgst -sha256 -hmac key
    expected = "a969dd399d193421b32078ea1705c334511fb55be2f42835e0bf07f6c5fcbcef"
    assert app_signature("key", "1700000000", "key-1", b'{"content":"x"}') == expected
    # Without a key (status, follow-ups): printf '1700000000..{"query_code":"1234567890123456"}' | …
    expected = "a5cfa66501da999ccb6dd83797149bb7500ef9d368afd1ca84e84877bda97498"
    assert app_signature("key", "1700000000", "", b'{"query_code":"1234567890123456"}') == expected


async def test_unsigned_stale_and_wrong_signatures_are_refused(signed_app: tuple[Any, SetClock]) -> None:
    client, clock = signed_app
    assert (
        await client.post("/api/v1/reports", data=REPORT, headers={"Content-Type": "application/json"})
    ).status == 401
    stale = signed(REPORT, clock.now() - timedelta(seconds=APP_SIGNATURE_WINDOW + 1), "k-1")
    assert (await client.post("/api/v1/reports", data=REPORT, headers=stale)).status == 401
    other_secret = signed(REPORT, clock.now(), "k-1", secret="another secret")
    assert (await client.post("/api/v1/reports", data=REPORT, headers=other_secret)).status == 401
    resp = await client.post("/api/v1/reports", data=REPORT, headers=signed(REPORT, clock.now(), "k-1"))
    assert resp.status == 201
    assert await services_of(client.app).db.reports.count() == 1


async def test_a_captured_request_cannot_file_again_under_a_new_key_or_as_it_is(
    signed_app: tuple[Any, SetClock],
) -> None:
    client, clock = signed_app
    db = services_of(client.app).db
    captured = signed(REPORT, clock.now(), "key-1")
    first = await client.post("/api/v1/reports", data=REPORT, headers=captured)
    assert first.status == 201
    receipt = await first.json()
    clock.at += timedelta(seconds=30)  # still inside the window
    # The same signature under a new key: the key is signed, so this is a wrong signature.
    for key in ("key-2", "key-3"):
        resp = await client.post("/api/v1/reports", data=REPORT, headers={**captured, "Idempotency-Key": key})
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_signature"
    # Without a key at all, likewise; and the request exactly as captured is refused as used.
    no_key = {k: v for k, v in captured.items() if k != "Idempotency-Key"}
    assert (await client.post("/api/v1/reports", data=REPORT, headers=no_key)).status == 401
    resp = await client.post("/api/v1/reports", data=REPORT, headers=captured)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "signature_replayed"
    assert "query_code" not in await resp.json()
    assert await db.reports.count() == 1
    # The client's own retry is signed afresh: same key, new time, the same receipt.
    resp = await client.post("/api/v1/reports", data=REPORT, headers=signed(REPORT, clock.now(), "key-1"))
    assert resp.status == 200 and (await resp.json())["case_no"] == receipt["case_no"]
    assert await db.reports.count() == 1


async def test_signed_status_lookups_and_followups_are_accepted_once(
    signed_app: tuple[Any, SetClock],
) -> None:
    client, clock = signed_app
    receipt = await (
        await client.post("/api/v1/reports", data=REPORT, headers=signed(REPORT, clock.now(), "k"))
    ).json()
    code = receipt["query_code"]
    status = json.dumps({"query_code": code}).encode()
    headers = signed(status, clock.now())
    assert (await client.post("/api/v1/status", data=status, headers=headers)).status == 200
    assert (await client.post("/api/v1/status", data=status, headers=headers)).status == 401
    more = json.dumps({"query_code": code, "content": "补充：礼金分两次交付。"}).encode()
    headers = signed(more, clock.now())
    assert (await client.post("/api/v1/followups", data=more, headers=headers)).status == 201
    assert (await client.post("/api/v1/followups", data=more, headers=headers)).status == 401
    found = await services_of(client.app).pipeline.status(code, "test")
    assert found.followups == 1


@pytest.mark.parametrize(
    "header",
    [
        "t=²,v1=" + "0" * 64,  # "²".isdigit() is true; int("²") raises
        "t=" + "9" * 5000 + ",v1=" + "0" * 64,  # int() refuses more than 4,300 digits
        "t=١٧٧٢٤٤٥٦٠٠,v1=" + "0" * 64,  # Arabic-Indic digits, which int() would read
        "t=,v1=",
        "t=1772445600",
        "v1=" + "0" * 64,
        "t=1772445600,v1=" + "é" * 64,
        "t=-1772445600,v1=" + "0" * 64,
        "garbage",
        "=,=,==,",
        "t=1772445600,v1=" + "0" * 5000,
    ],
)
async def test_a_malformed_signature_header_is_a_401(signed_app: tuple[Any, SetClock], header: str) -> None:
    client, _ = signed_app
    headers = {"Content-Type": "application/json", "X-Intake-Signature": header}
    resp = await client.post("/api/v1/reports", data=REPORT, headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_signature"
    assert await services_of(client.app).db.reports.count() == 0


def test_verify_never_raises_on_hostile_headers() -> None:
    now = 1_772_445_600.0
    for header in ("t=²,v1=x", "t=" + "1" * 5000 + ",v1=x", "t=\ud800,v1=x", "t=1772445600,v1=\ud800" * 3):
        assert verify_app_signature(SECRET, header, "", b"{}", now) is None
    stamp = "1772445600"
    good = f"t={stamp},v1={app_signature(SECRET, stamp, 'k', b'{}')}"
    assert verify_app_signature(SECRET, good, "k", b"{}", now) == (int(stamp), good.split("v1=")[1])
    assert verify_app_signature(SECRET, good, "k\udcff", b"{}", now) is None


def test_the_replay_cache_forgets_what_the_window_no_longer_accepts_and_is_bounded() -> None:
    cache = SignatureReplays(window=300, max_entries=3)
    now = 1_000_000.0
    assert [cache.admit(int(now), s * 64, now) for s in "abc"] == ["fresh"] * 3
    assert cache.admit(int(now), "a" * 64, now + 10) == "replayed"
    assert cache.admit(int(now), "d" * 64, now + 10) == "full"  # refused, not an older one forgotten
    assert len(cache) == 3
    later = now + 301  # those signatures are stale now, so they need not be remembered
    assert cache.admit(int(later), "d" * 64, later) == "fresh"
    assert len(cache) == 1
