"""A local fake of WeChat's server API (token, customer-service messages, media), and a driver
that plays WeChat pushing to our webhook, encrypting with wechatpy (the real SDK) and decrypting
our replies with it."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from tests.fakes.slow import Fault, serve_slowly

TOKEN = "tok3nForTests"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx49f0ab532d5d035a"
APP_SECRET = "s3cret-app"
ACCOUNT = "gh_0123456789ab"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
AMR = b"#!AMR\n" + b"\x01" * 64


@dataclass
class FakeWeChatApi:
    """``/cgi-bin/token``, ``/cgi-bin/message/custom/send``, ``/cgi-bin/media/get``. Media files
    are served as a network delivers them (:func:`tests.fakes.slow.serve_slowly`); each entry of
    ``faults`` breaks one media download, in order."""

    token_calls: int = 0
    current: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(
        default_factory=lambda: {"MEDIA_IMG_1": (PNG, "image/png"), "MEDIA_VOICE_1": (AMR, "audio/amr")}
    )
    faults: list[Fault] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        app.router.add_get("/cgi-bin/media/get", self.get_media)
        return app

    def expire_token(self) -> None:
        self.current = "revoked-" + secrets.token_hex(4)

    async def token(self, request: web.Request) -> web.Response:
        q = request.query
        if (
            q.get("appid") != APP_ID
            or q.get("secret") != APP_SECRET
            or q.get("grant_type") != "client_credential"
        ):
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        self.token_calls += 1
        self.current = f"ACCESS-{self.token_calls}"
        return web.json_response({"access_token": self.current, "expires_in": 7200})

    def _authorised(self, request: web.Request) -> bool:
        return self.current is not None and request.query.get("access_token") == self.current

    async def send(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.sent.append(await request.json())
        self.received.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        self.downloads.append(request.query["media_id"])
        return await serve_slowly(request, *found, self.faults.pop(0) if self.faults else None)


def text_xml(openid: str, content: str, msg_id: int, created: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def message_xml(openid: str, msg_type: str, fields: dict[str, str], msg_id: int | None = None) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    mid = f"<MsgId>{msg_id}</MsgId>" if msg_id is not None else ""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{inner}{mid}</xml>"
    )


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


class WeChatDriver:
    """Plays WeChat: encrypts a message with wechatpy, signs it, posts it; decrypts the reply."""

    path = "/channels/wechat"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    def envelope(self, inner_xml: str, *, timestamp: int | None = None) -> tuple[dict[str, str], str]:
        stamp = str(timestamp or int(time.time()))
        nonce = str(secrets.randbelow(10**9))
        sealed = parse_xml_simple(self.crypto.encrypt_message(inner_xml, nonce, stamp))
        params = {
            "signature": sign(TOKEN, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "openid": "ignored-by-server",
            "encrypt_type": "aes",
            "msg_signature": sealed["MsgSignature"],
        }
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
        )
        return params, body

    async def post(self, inner_xml: str, **kw: Any) -> Any:
        params, body = self.envelope(inner_xml, **kw)
        return await self.client.post(self.path, params=params, data=body.encode())

    async def send(self, inner_xml: str) -> tuple[int, str | None]:
        """Post a message; (status, reply text or None for "success")."""
        resp = await self.post(inner_xml)
        raw = await resp.text()
        if resp.status != 200 or raw == "success":
            return resp.status, None
        return resp.status, self.open_reply(raw)

    def open_reply(self, raw: str) -> str:
        outer = parse_xml_simple(raw)
        inner = self.crypto.decrypt_message(raw, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        reply = parse_message(inner)
        assert reply.type == "text"
        return str(reply.content)

    async def text(self, openid: str, content: str, msg_id: int | None = None) -> str | None:
        status, reply = await self.send(text_xml(openid, content, msg_id or secrets.randbelow(10**15)))
        assert status == 200, status
        return reply


def parse_xml_simple(raw: str) -> dict[str, str]:
    import xmltodict

    doc = xmltodict.parse(raw)["xml"]
    return {k: str(v) for k, v in doc.items()}
