"""The Weibo fan-service webhook: URL verification (``GET``), JSON pushes (``POST``) and passive
replies in Weibo's format, plus the reply API for notifications within Weibo's 48-hour window.

Weibo signs only the query (``sha1(sorted(app_secret, timestamp, nonce))``, timestamp in
milliseconds), not the body, so a captured query could carry another body: the timestamp window,
the size cap and de-duplication (:mod:`intake.conversations`) bound what a replay can do.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiohttp import web

from channels.base import ChannelContext, configured_unit, parse_json_object, read_body
from channels.verify import verify_weibo
from channels.weibo.api import DEFAULT_API_BASE, WeiboClient, encode_data
from intake.conversations import Conversations, Inbound
from intake.dialogue_texts import Notice
from intake.errors import IntakeError
from intake.limits import MAX_CONTENT, clip
from intake.notifier import DeliveryUnavailable

log = logging.getLogger("channels.weibo")

MAX_BODY = 64 * 1024
REPLY_BUDGET = 4.5
REPLY_WINDOW = timedelta(hours=48)  # Weibo accepts replies this long after the fan's last message
KINDS = {"text": "text", "position": "location", "voice": "voice", "image": "image", "event": "event"}


def _rejected() -> IntakeError:
    return IntakeError("签名无效。", code="invalid_signature", status=401)


def _q(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    return value if value is not None and len(value) <= 256 else None


class WeiboAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        unit = configured_unit(ctx, "UNIT")  # checked first: a wrong one stops the server
        self.secret = ctx.settings["APP_SECRET"]
        token = ctx.settings.get("ACCESS_TOKEN")
        self.client = WeiboClient(ctx.settings.get("API_BASE") or DEFAULT_API_BASE, token) if token else None
        self.dialogue = Conversations(
            ctx.intake, channel="weibo", platform="微博", notice=Notice(), unit=unit
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/channels/weibo", self.verify_url), web.post("/channels/weibo", self.receive)]

    def start(self) -> None:
        self.dialogue.notice = Notice(self.ctx.public_url, self.ctx.hotline)
        if self.client is None:
            log.info("outbound Weibo off: INTAKE_WEIBO_ACCESS_TOKEN not set", extra={"channel": "weibo"})
            return
        self.ctx.register_sender("weibo", self.deliver)
        self.ctx.on_cleanup(self.client.close)

    async def deliver(self, uid: str, text: str) -> None:
        """The notifier's sender: the reply API, only inside the 48-hour window."""
        if self.client is None:
            raise DeliveryUnavailable("outbound Weibo is not configured")
        last = await self.dialogue.last_inbound("weibo_uid", uid)
        if last is None or self.ctx.clock.now() - last > REPLY_WINDOW:
            raise DeliveryUnavailable("outside Weibo's 48-hour reply window")
        await self.client.reply(uid, text)

    def _verify(self, request: web.Request) -> None:
        if not verify_weibo(
            self.secret,
            _q(request, "signature"),
            _q(request, "timestamp"),
            _q(request, "nonce"),
            self.ctx.clock.now().timestamp(),
        ):
            self.ctx.metrics.channel_events.labels("weibo", "rejected").inc()
            raise _rejected()

    async def verify_url(self, request: web.Request) -> web.Response:
        self._verify(request)
        return web.Response(text=_q(request, "echostr") or "", content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        self._verify(request)
        push = parse_push(await read_body(request, MAX_BODY))
        inbound = to_inbound(push)
        reply = await self.dialogue.handle_within(inbound, REPLY_BUDGET, late=self._late(inbound.handle))
        if reply is None:
            return web.Response(text="", content_type="text/plain")  # Weibo: no reply, no retry
        return web.json_response(render_reply(push, reply))

    def _late(self, uid: str) -> Callable[[str], Coroutine[Any, Any, None]] | None:
        client = self.client
        if client is None:
            return None

        async def send(text: str) -> None:
            await client.reply(uid, text)

        return send


def parse_push(raw: bytes) -> dict[str, Any]:
    """The push as a JSON object (4xx otherwise; Weibo's XML format is not enabled here). Control
    characters are removed, not refused: Weibo needs its answer, or the message is lost."""
    return parse_json_object(raw, strip=True)


def _uid(value: Any) -> str:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 20):
        raise IntakeError("推送缺少有效的用户标识。", code="invalid_message", status=400)
    return text


def to_inbound(push: dict[str, Any]) -> Inbound:
    sender = _uid(push.get("sender_id"))
    _uid(push.get("receiver_id"))
    kind = str(push.get("type", ""))
    data = push.get("data") if isinstance(push.get("data"), dict) else {}
    assert isinstance(data, dict)
    text = push.get("text") if isinstance(push.get("text"), str) else ""
    assert isinstance(text, str)
    created = str(push.get("created_at", ""))[:64]
    # Weibo gives no message id: the sender, the time and a digest of the content stand for it.
    digest = hashlib.sha256(
        json.dumps([kind, text, data], ensure_ascii=False, sort_keys=True, default=str).encode()
    ).hexdigest()[:32]
    location = None
    if kind == "position":
        location = clip(f"位置（{data.get('latitude', '')},{data.get('longitude', '')}）", "location.text")
    subtype = str(data.get("subtype", "")) or None
    media = data.get("vfid") if kind in ("image", "voice") else None
    return Inbound(
        channel="weibo",
        handle_kind="weibo_uid",
        handle=sender,
        message_id=f"{sender}|{created}|{digest}",
        kind=KINDS.get(kind, "other"),
        text=text[:MAX_CONTENT] if kind == "text" else "",
        media_id=str(media)[:200] if media else None,
        location=location,
        event=subtype,
        event_key=str(data.get("key", ""))[:100] or None,
    )


def render_reply(push: dict[str, Any], text: str) -> dict[str, Any]:
    """Weibo's passive reply: from the account (the push's receiver) to the fan (its sender)."""
    return {
        "result": True,
        "sender_id": push.get("receiver_id"),
        "receiver_id": push.get("sender_id"),
        "type": "text",
        "data": encode_data({"text": text}),
    }
