"""The WeChat official account's webhook: URL verification (``GET``), messages in safe mode
(``POST``, ``msg_signature`` + AES envelope), passive replies within WeChat's 5 seconds, and the
outbound customer-service API for notifications and media downloads.

Order of work for a message: bounded body → outer XML (defusedxml) → ``msg_signature`` over the
ciphertext within the timestamp window → decrypt (appid checked) → inner XML → the dialogue
(:mod:`intake.conversations`, which de-duplicates WeChat's retries) → the encrypted reply.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from aiohttp import web

from channels.base import ChannelContext, configured_unit, read_body
from channels.verify import WeChatCipher, verify_wechat_message, verify_wechat_server
from channels.wechat.api import DEFAULT_API_BASE, WeChatClient
from channels.wechat.envelope import open_envelope, parse_xml, query, render_text, seal_reply
from intake.conversations import Conversations, Inbound
from intake.dialogue_texts import Notice
from intake.errors import IntakeError

log = logging.getLogger("channels.wechat")

MAX_BODY = 64 * 1024  # a WeChat push is a few hundred bytes; the outer XML is parsed unauthenticated
REPLY_BUDGET = 4.5  # seconds: WeChat waits 5 for a passive reply, then retries
MEDIA_JOB = "wechat_media"
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
KINDS = {"text", "voice", "image", "location", "event"}


class QueuedJob(Protocol):
    @property
    def payload(self) -> dict[str, Any]: ...


def _rejected() -> IntakeError:
    return IntakeError("签名无效。", code="invalid_signature", status=401)


class WeChatAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        s = ctx.settings
        unit = configured_unit(ctx, "UNIT")  # checked first: a wrong one stops the server
        self.token = s["TOKEN"]
        self.app_id = s["APP_ID"]
        self.cipher = WeChatCipher(s["ENCODING_AES_KEY"], self.app_id)
        self.allow_plain = s.get("ALLOW_PLAIN", "").lower() in ("1", "true", "yes")
        self.client: WeChatClient | None = None
        if s.get("APP_SECRET"):
            self.client = WeChatClient(
                s.get("API_BASE") or DEFAULT_API_BASE, self.app_id, s["APP_SECRET"], ctx.clock
            )
        self.dialogue = Conversations(
            ctx.intake,
            channel="wechat",
            platform="微信",
            notice=Notice(),
            media_job=MEDIA_JOB if self.client else None,
            unit=unit,
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/channels/wechat", self.verify_url), web.post("/channels/wechat", self.receive)]

    def start(self) -> None:
        self.dialogue.notice = Notice(self.ctx.public_url, self.ctx.hotline)
        if self.client is None:
            log.info(
                "outbound WeChat off: INTAKE_WECHAT_APP_SECRET not set (no notifications, no media)",
                extra={"channel": "wechat"},
            )
            return
        self.ctx.register_sender("wechat", self.deliver)
        self.ctx.register_job(MEDIA_JOB, self.download_media)
        self.ctx.on_cleanup(self.client.close)

    # --- outbound ----------------------------------------------------------------------------------

    async def deliver(self, openid: str, text: str) -> None:
        """Send a text to an informant (the notifier's sender for this channel)."""
        if self.client is None:
            raise RuntimeError("outbound WeChat is not configured")
        await self.client.send_text(openid, text)

    async def download_media(self, job: QueuedJob) -> None:
        """Job: fetch a message's image or voice by media id into an encrypted attachment."""
        payload = job.payload
        assert self.client is not None
        data = await self.client.download_media(str(payload["media_id"]))
        await self.dialogue.attach(str(payload["case_no"]), str(payload["media_type"]), data)

    # --- inbound -----------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.ctx.clock.now().timestamp()

    async def verify_url(self, request: web.Request) -> web.Response:
        q = request.query
        if not verify_wechat_server(
            self.token, query(q, "signature"), query(q, "timestamp"), query(q, "nonce"), self._now()
        ):
            self.ctx.metrics.channel_events.labels("wechat", "rejected").inc()
            raise _rejected()
        echostr = query(q, "echostr") or ""
        return web.Response(text=echostr, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        q = request.query
        raw = await read_body(request, MAX_BODY)
        now = self._now()
        encrypted = q.get("encrypt_type") == "aes"
        if encrypted:
            outer = parse_xml(raw)
            encrypt = outer.get("Encrypt", "")
            if not encrypt or not verify_wechat_message(
                self.token, query(q, "msg_signature"), query(q, "timestamp"), query(q, "nonce"), encrypt, now
            ):
                self.ctx.metrics.channel_events.labels("wechat", "rejected").inc()
                raise _rejected()
            msg = open_envelope(self.cipher, encrypt)
        else:
            if not self.allow_plain:
                self.ctx.metrics.channel_events.labels("wechat", "rejected").inc()
                raise IntakeError(
                    "未启用明文模式：请在公众号后台将消息加解密方式设为安全模式。",
                    code="plain_mode_refused",
                    status=403,
                )
            if not verify_wechat_server(
                self.token, query(q, "signature"), query(q, "timestamp"), query(q, "nonce"), now
            ):
                self.ctx.metrics.channel_events.labels("wechat", "rejected").inc()
                raise _rejected()
            msg = parse_xml(raw)
        inbound = parse_message(msg)
        reply = await self.dialogue.handle_within(inbound, REPLY_BUDGET, late=self._late(inbound.handle))
        if reply is None:
            return web.Response(text="success", content_type="text/plain")
        stamp = int(now)
        xml = render_text(inbound.handle, msg.get("ToUserName", ""), reply, stamp)
        body = seal_reply(self.cipher, self.token, xml, stamp) if encrypted else xml
        return web.Response(text=body, content_type="application/xml")

    def _late(self, openid: str) -> Callable[[str], Coroutine[Any, Any, None]] | None:
        client = self.client
        if client is None:
            return None

        async def send(text: str) -> None:
            await client.send_text(openid, text)

        return send


def parse_message(msg: dict[str, str]) -> Inbound:
    """The decrypted message as the dialogue's :class:`Inbound` (``MsgId`` for de-duplication;
    events, which have none, by sender, time and event)."""
    openid = msg.get("FromUserName", "")
    if not OPENID.fullmatch(openid):
        raise IntakeError("消息缺少有效的发送者。", code="invalid_message", status=400)
    kind = msg.get("MsgType", "")
    created = msg.get("CreateTime", "")
    msg_id = msg.get("MsgId") or ""
    if kind == "event" or not msg_id:
        msg_id = f"{openid}|{created}|{msg.get('Event', '')}|{msg.get('EventKey', '')}"
    location = None
    if kind == "location":
        label = msg.get("Label") or "位置"
        location = f"{label}（{msg.get('Location_X', '')},{msg.get('Location_Y', '')}）"
    text = msg.get("Content", "") if kind == "text" else msg.get("Recognition", "") if kind == "voice" else ""
    return Inbound(
        channel="wechat",
        handle_kind="wechat_openid",
        handle=openid,
        message_id=msg_id[:300],
        kind=kind if kind in KINDS else "other",
        text=text,
        media_id=msg.get("MediaId") or None,
        location=location,
        event=msg.get("Event") or None,
        event_key=msg.get("EventKey") or None,
    )
