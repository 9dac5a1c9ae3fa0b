"""The contract every platform channel in ``channels.REGISTRY`` keeps (STYLE rule 9), proven per
channel on SQLite and PostgreSQL: a forged or stale signature → 401/403 and nothing stored; a
retried delivery → one report and the same answer; XXE and billion laughs → 400; an oversized body →
413. (Named ``test_channel_contract`` because ``tests/triage/test_contract.py`` has the basename.)"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

import channels
from server.config import Settings
from tests.fakes import telegram, twilio, wechat, weibo
from tests.fakes.server import Platforms, start_platforms

# Channels without a platform signature: the web form (anti-forgery token) and the app API
# (optional HMAC) are covered by their own tests. The staff console is not a channel (console/).
UNSIGNED = {"web", "app"}

XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
    "<xml><ToUserName>&xxe;</ToUserName><Encrypt>&xxe;</Encrypt></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
    )
    + "]><xml><Content>&lol9;</Content></xml>"
)


@dataclass
class Request:
    params: dict[str, str]
    body: bytes
    headers: dict[str, str]


class WeChatCase:
    name = "wechat"
    path = "/channels/wechat"

    def message(self, p: Platforms, sender: str, text: str, msg_id: int) -> Request:
        params, body = p.wx.envelope(wechat.text_xml(sender, text, msg_id))
        return Request(params, body.encode(), {"Content-Type": "text/xml"})

    def forged(self, req: Request) -> Request:
        return Request({**req.params, "msg_signature": "0" * 40}, req.body, req.headers)

    def stale(self, p: Platforms, sender: str) -> Request:
        params, body = p.wx.envelope(
            wechat.text_xml(sender, "举报 过期", 3), timestamp=int(time.time()) - 3600
        )
        return Request(params, body.encode(), {})

    def hostile(self, p: Platforms, xml: str) -> list[Request]:
        """The payload as the outer envelope (parsed before the signature check) and as the
        correctly signed, encrypted inner message."""
        params, _ = p.wx.envelope(wechat.text_xml("oX", "x", 1))
        inner_params, inner_body = p.wx.envelope(xml)
        return [Request(params, xml.encode(), {}), Request(inner_params, inner_body.encode(), {})]

    def reply_text(self, p: Platforms, raw: str) -> str:
        return p.wx.open_reply(raw)


class WeiboCase:
    name = "weibo"
    path = "/channels/weibo"

    def message(self, p: Platforms, sender: str, text: str, msg_id: int) -> Request:
        body = json.dumps(weibo.push(int(sender), "text", text), ensure_ascii=False).encode()
        return Request(weibo.signed_query(), body, {"Content-Type": "application/json"})

    def forged(self, req: Request) -> Request:
        return Request({**req.params, "signature": "0" * 40}, req.body, req.headers)

    def stale(self, p: Platforms, sender: str) -> Request:
        old = weibo.signed_query(timestamp_ms=int(time.time() * 1000) - 3_600_000)
        return Request(old, json.dumps(weibo.push(int(sender), "text", "举报 过期")).encode(), {})

    def hostile(self, p: Platforms, xml: str) -> list[Request]:
        return [Request(weibo.signed_query(), xml.encode(), {"Content-Type": "text/xml"})]

    def reply_text(self, p: Platforms, raw: str) -> str:
        from urllib.parse import unquote

        return str(json.loads(unquote(json.loads(raw)["data"]))["text"])


class TwilioCase:
    """SMS to the hotline (issue 6). Twilio signs the public URL and the form, with no timestamp:
    "stale" is a request signed over the address it reached (the Host header) instead. Twilio
    posts forms, so no XML is parsed inbound and there is nothing hostile to try."""

    name = "twilio"
    path = "/channels/twilio/sms"

    def form(self, sender: str, text: str, msg_id: int) -> dict[str, str]:
        return {
            "AccountSid": twilio.ACCOUNT_SID,
            "MessageSid": f"SM{msg_id:032x}",
            "From": sender,
            "To": twilio.HOTLINE,
            "Body": text,
            "NumMedia": "0",
        }

    def _request(self, form: dict[str, str], signature: dict[str, str]) -> Request:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signature}
        return Request({}, urlencode(form).encode(), headers)

    def message(self, p: Platforms, sender: str, text: str, msg_id: int) -> Request:
        form = self.form(sender, text, msg_id)
        return self._request(form, twilio.signed(self.path, form))

    def forged(self, req: Request) -> Request:
        return Request(req.params, req.body, {**req.headers, "X-Twilio-Signature": "A" * 27 + "="})

    def stale(self, p: Platforms, sender: str) -> Request:
        from twilio.request_validator import RequestValidator

        form = self.form(sender, "举报 签名对着 Host", 5005)
        url = "http://127.0.0.1" + self.path
        signature = RequestValidator(twilio.AUTH_TOKEN).compute_signature(url, form)
        return self._request(form, {"X-Twilio-Signature": signature})

    def hostile(self, p: Platforms, xml: str) -> list[Request]:
        return []

    def reply_text(self, p: Platforms, raw: str) -> str:
        return "\n".join(twilio.messages(raw))


class TelegramCase:
    """The Telegram bot's webhook (issue 7). Telegram sends a shared secret header and no
    timestamp: "stale" is a delivery without the header. The bot answers through the Bot API (the
    local fake), not in the webhook's response, so the reply is the last message the fake got."""

    name = "telegram"
    path = "/channels/telegram"
    api: telegram.FakeBotApi

    def _request(self, body: bytes, secret: str | None = telegram.SECRET) -> Request:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return Request({}, body, headers)

    def message(self, p: Platforms, sender: str, text: str, msg_id: int) -> Request:
        update = telegram.message(int(sender), update_id=msg_id, text=text)
        return self._request(json.dumps(update, ensure_ascii=False).encode())

    def forged(self, req: Request) -> Request:
        return Request(req.params, req.body, {**req.headers, "X-Telegram-Bot-Api-Secret-Token": "forged"})

    def stale(self, p: Platforms, sender: str) -> Request:
        update = telegram.message(int(sender), update_id=5005, text="举报 没有密钥头")
        return self._request(json.dumps(update, ensure_ascii=False).encode(), secret=None)

    def hostile(self, p: Platforms, xml: str) -> list[Request]:
        return [self._request(xml.encode())]

    def reply_text(self, p: Platforms, raw: str) -> str:
        return str(self.api.sent[-1]["text"])


TELEGRAM_CASE = TelegramCase()
CASES: dict[str, Any] = {
    "wechat": WeChatCase(),
    "weibo": WeiboCase(),
    "twilio": TwilioCase(),
    "telegram": TELEGRAM_CASE,
}
SENDERS = {
    "wechat": "oContract_OpenId_77",
    "weibo": "5012345678",
    "twilio": "+8613700001111",
    "telegram": "700900900",
}
# The Twilio channel mounted next to WeChat and Weibo (its REST API is never called here).
TWILIO_ENV = {
    k: v
    for k, v in twilio.twilio_env("http://127.0.0.1:9", INTAKE_TWILIO_SMS_FROM="").items()
    if k != "INTAKE_PUBLIC_URL"  # platform_env sets the same public URL
}
PLATFORM = [s.name for s in channels.REGISTRY if s.name not in UNSIGNED]


def test_every_registered_channel_is_covered() -> None:
    assert {s.name for s in channels.REGISTRY} == UNSIGNED | set(CASES)


@pytest.fixture
async def p(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> Platforms:
    TELEGRAM_CASE.api = telegram.FakeBotApi()
    bot_api = str((await aiohttp_server(TELEGRAM_CASE.api.app())).make_url(""))
    env = TWILIO_ENV | telegram.telegram_env(bot_api)
    return await start_platforms(aiohttp_client, aiohttp_server, make_settings, db_url, **env)


async def post(p: Platforms, path: str, req: Request) -> Any:
    return await p.client.post(path, params=req.params, data=req.body, headers=req.headers)


async def stored(p: Platforms) -> dict[str, int]:
    counts = {}
    async with p.services.db.read_engine.connect() as conn:
        for table in (
            "reports",
            "channel_messages",
            "conversations",
            "jobs",
            "vault_entries",
            "report_events",
        ):
            counts[table] = (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
    return counts


NOTHING = {
    "reports": 0,
    "channel_messages": 0,
    "conversations": 0,
    "jobs": 0,
    "vault_entries": 0,
    "report_events": 0,
}


@pytest.mark.parametrize("channel", PLATFORM)
async def test_forged_or_stale_signature_is_refused_and_nothing_stored(p: Platforms, channel: str) -> None:
    case = CASES[channel]
    real = case.message(p, SENDERS[channel], "举报 伪造签名的举报", 1001)
    for req in (case.forged(real), case.stale(p, SENDERS[channel])):
        resp = await post(p, case.path, req)
        assert resp.status in (401, 403)
        assert (await resp.json())["error"]["code"] == "invalid_signature"
    assert await stored(p) == NOTHING


@pytest.mark.parametrize("channel", PLATFORM)
async def test_retried_delivery_makes_one_report(p: Platforms, channel: str) -> None:
    case = CASES[channel]
    req = case.message(p, SENDERS[channel], "举报 平台重试三次的同一条消息", 2002)
    replies = []
    for _ in range(4):  # the delivery and the platform's three retries
        resp = await post(p, case.path, req)
        assert resp.status == 200
        replies.append(case.reply_text(p, await resp.text()))
    assert "查询码" in replies[0] and all(r == replies[0] for r in replies)
    assert (await stored(p))["reports"] == 1


@pytest.mark.parametrize("channel", PLATFORM)
async def test_retried_dialogue_step_counts_once(p: Platforms, channel: str) -> None:
    case = CASES[channel]
    sender = SENDERS[channel]
    await post(p, case.path, case.message(p, sender, "举报", 3000))
    step = case.message(p, sender, "某局长违规打高尔夫球", 3001)
    first = case.reply_text(p, await (await post(p, case.path, step)).text())
    again = case.reply_text(p, await (await post(p, case.path, step)).text())
    assert first == again and "被反映人" in first
    # Had the retry been processed again, it would have been taken as the answer to "who, where".
    after = case.reply_text(p, await (await post(p, case.path, case.message(p, sender, "跳过", 3002))).text())
    assert "材料" in after


@pytest.mark.parametrize("channel", PLATFORM)
@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion_laughs"])
async def test_xml_attacks_are_refused_with_400(p: Platforms, channel: str, payload: str) -> None:
    case = CASES[channel]
    for req in case.hostile(p, payload):
        resp = await post(p, case.path, req)
        # Refused before any entity is expanded or any external one fetched: the parser forbids
        # DTDs outright (defusedxml), so the answer is the plain 400 whatever the payload.
        assert resp.status == 400
        text = await resp.text()
        assert "lollol" not in text
    assert (await stored(p))["reports"] == 0


@pytest.mark.parametrize("channel", PLATFORM)
async def test_oversized_body_is_refused(p: Platforms, channel: str) -> None:
    case = CASES[channel]
    req = case.message(p, SENDERS[channel], "举报 " + "长" * 40_000, 4004)
    resp = await post(p, case.path, req)
    assert resp.status == 413
    assert await stored(p) == NOTHING
