"""Twilio's ``X-Twilio-Signature`` (known-answer vector from Twilio's security documentation), and
the webhooks' refusals: unsigned, forged, signed for another host or by another token → 403 and
nothing stored; oversized → 413; the channel unmounted (one log line) without its settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from channels.verify import twilio_signature, verify_twilio
from server.app import build_app
from server.config import Settings
from tests.fakes import twilio
from tests.fakes.twilio import Hotline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

# https://www.twilio.com/docs/usage/security#validating-requests
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_known_answer() -> None:
    assert twilio_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert verify_twilio(
        DOC_TOKEN, "https://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE
    )
    # Twilio signs some URLs with the default port spelled out; both spellings are accepted.
    assert verify_twilio(
        DOC_TOKEN, "https://mycompany.com:443", "/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE
    )


@pytest.mark.parametrize(
    ("base", "path", "params", "signature"),
    [
        ("https://mycompany.com", "/myapp.php?foo=1&bar=2", {**DOC_PARAMS, "Digits": "9"}, DOC_SIGNATURE),
        ("http://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE),
        ("https://evil.example", "/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE),
        ("https://mycompany.com", "/myapp.php?foo=1&bar=3", DOC_PARAMS, DOC_SIGNATURE),
        ("https://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE[:-2]),
        ("https://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, ""),
        ("https://mycompany.com", "/myapp.php?foo=1&bar=2&bodySHA256=x", DOC_PARAMS, DOC_SIGNATURE),
        # Raw header bytes arrive surrogate-escaped; comparing them used to raise (a 500).
        ("https://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, "\udcff" + DOC_SIGNATURE[1:]),
        ("https://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, "é" + DOC_SIGNATURE[1:]),
    ],
    ids=["param", "scheme", "host", "query", "truncated", "missing", "json-body", "raw-bytes", "non-ascii"],
)
def test_anything_changed_fails(base: str, path: str, params: dict[str, str], signature: str) -> None:
    assert not verify_twilio(DOC_TOKEN, base, path, params, signature)
    assert not verify_twilio(
        "54321", "https://mycompany.com", "/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE
    )


TABLES = ("reports", "channel_messages", "conversations", "jobs", "vault_entries", "report_events")


async def stored(h: Hotline) -> dict[str, int]:
    async with h.services.db.read_engine.connect() as conn:
        return {
            t: int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())  # noqa: S608
            for t in TABLES
        }


def no_signature(path_qs: str, params: dict[str, str]) -> dict[str, str]:
    return {}


def wrong_token(path_qs: str, params: dict[str, str]) -> dict[str, str]:
    return twilio.signed(path_qs, params, token="not-our-token")


def host_header_url(path_qs: str, params: dict[str, str]) -> dict[str, str]:
    """Signed over the address the request reached (the test server's Host), not the public URL."""
    from twilio.request_validator import RequestValidator

    url = "http://127.0.0.1" + path_qs
    return {"X-Twilio-Signature": RequestValidator(twilio.AUTH_TOKEN).compute_signature(url, params)}


@pytest.mark.parametrize(
    "sign", [no_signature, wrong_token, host_header_url], ids=["unsigned", "forged", "host"]
)
async def test_unsigned_or_forged_webhooks_are_refused_and_nothing_stored(h: Hotline, sign: Any) -> None:
    call = h.driver.call()
    sms = h.driver.sms_params("举报 伪造的短信举报")
    attempts = [
        ("/channels/twilio/sms", sms),
        ("/channels/twilio/voice", call.base()),
        (
            "/channels/twilio/voice/recorded?n=3",
            call.base(RecordingSid=twilio.sid("RE"), RecordingDuration="9"),
        ),
        ("/channels/twilio/voice/status", call.base(CallStatus="completed")),
        (
            "/channels/twilio/voice/recording-status",
            call.base(RecordingSid=twilio.sid("RE"), RecordingStatus="completed"),
        ),
    ]
    for path, params in attempts:
        resp = await h.driver.post(path, params, sign=sign)
        assert resp.status == 403, path
        assert (await resp.json())["error"]["code"] == "invalid_signature"
    # A signed request whose parameters were changed on the way.
    headers = twilio.signed("/channels/twilio/sms", sms)
    resp = await h.client.post("/channels/twilio/sms", data={**sms, "Body": "举报 改过的"}, headers=headers)
    assert resp.status == 403
    assert await stored(h) == dict.fromkeys(TABLES, 0)


async def test_oversized_and_malformed_bodies(h: Hotline) -> None:
    params = h.driver.sms_params("举报 " + "长" * 30_000)
    resp = await h.driver.post("/channels/twilio/sms", params)
    assert resp.status == 413
    resp = await h.client.post("/channels/twilio/sms", json={"Body": "x"})
    assert resp.status == 415
    resp = await h.driver.post("/channels/twilio/voice/nowhere", h.driver.call().base())
    assert resp.status == 404
    bad = h.driver.call().base(CallSid="CA-not-a-sid")
    resp = await h.driver.post("/channels/twilio/voice", bad)
    assert resp.status == 400
    assert await stored(h) == dict.fromkeys(TABLES, 0)


async def test_not_mounted_without_its_settings(
    aiohttp_client: Any, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(INTAKE_TWILIO_ACCOUNT_SID=twilio.ACCOUNT_SID, INTAKE_TWILIO_AUTH_TOKEN="t")
    with caplog.at_level(logging.INFO, logger="server.app"):
        client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    lines = [r.getMessage() for r in caplog.records if "twilio" in r.getMessage()]
    assert lines == ["channel twilio not mounted: INTAKE_PUBLIC_URL not set"]
    assert "twilio" not in (await (await client.get("/healthz")).json())["channels"]
    assert (await client.post("/channels/twilio/sms", data={"Body": "x"})).status == 404


async def test_mounted_when_configured(h: Hotline) -> None:
    assert "twilio" in (await (await h.client.get("/healthz")).json())["channels"]


@pytest.mark.parametrize("account", ["AC" + "0" * 32, "", None], ids=["another", "empty", "missing"])
async def test_signed_with_our_token_for_another_account_is_refused_and_nothing_stored(
    h: Hotline, account: str | None
) -> None:
    """docs/channels.md: the AccountSid must be ours, even when the signature is good (a token
    shared between sub-accounts, or leaked from another of them)."""
    assert account != twilio.ACCOUNT_SID
    call = h.driver.call()
    attempts = [
        ("/channels/twilio/sms", h.driver.sms_params("举报 另一个账户的短信")),
        ("/channels/twilio/voice", call.base()),
        ("/channels/twilio/voice/status", call.base(CallStatus="completed")),
    ]
    for path, params in attempts:
        params = dict(params)
        if account is None:
            params.pop("AccountSid")
        else:
            params["AccountSid"] = account
        resp = await h.driver.post(path, params)  # signed with our token, over these very values
        assert resp.status == 403, path
        assert (await resp.json())["error"]["code"] == "invalid_signature"
    assert await stored(h) == dict.fromkeys(TABLES, 0)
    # The same requests with our AccountSid go through: the refusal above was the account check.
    status, _ = await h.driver.sms("举报 本账户的短信")
    assert status == 200
    assert (await stored(h))["channel_messages"] > 0
