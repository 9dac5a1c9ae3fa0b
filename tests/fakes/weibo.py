"""A local fake of Weibo's reply API, and a driver that plays the fan-service platform pushing JSON
to our webhook with the query signature ``sha1(sorted(app_secret, timestamp_ms, nonce))``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

APP_SECRET = "weibo-app-secret-for-tests"
ACCESS_TOKEN = "2.00weibo_token"
ACCOUNT_UID = 1902538057


@dataclass
class FakeWeiboApi:
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2/messages/reply.json", self.reply)
        return app

    async def reply(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("access_token") != ACCESS_TOKEN:
            return web.json_response({"error_code": 21332, "error": "invalid_access_token"}, status=401)
        doc = dict(form)
        doc["data"] = json.loads(unquote(str(form["data"])))
        self.sent.append(doc)
        self.received.set()
        return web.json_response({"result": True})


def signed_query(timestamp_ms: int | None = None, secret: str = APP_SECRET) -> dict[str, str]:
    stamp = str(timestamp_ms or int(time.time() * 1000))
    nonce = str(secrets.randbelow(10**8))
    signature = hashlib.sha1(
        "".join(sorted([secret, stamp, nonce])).encode(), usedforsecurity=False
    ).hexdigest()
    return {"signature": signature, "timestamp": stamp, "nonce": nonce}


def push(uid: int, kind: str = "text", text: str = "", data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": kind,
        "receiver_id": ACCOUNT_UID,
        "sender_id": uid,
        "created_at": time.strftime("%a %b %d %H:%M:%S +0800 %Y"),
        "text": text,
        "data": data or {},
    }


class WeiboDriver:
    path = "/channels/weibo"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def post_raw(self, body: bytes, params: dict[str, str] | None = None) -> Any:
        return await self.client.post(
            self.path,
            params=params or signed_query(),
            data=body,
            headers={"Content-Type": "application/json"},
        )

    async def send(self, doc: dict[str, Any]) -> tuple[int, str | None]:
        resp = await self.post_raw(json.dumps(doc, ensure_ascii=False).encode())
        raw = await resp.text()
        if resp.status != 200 or raw == "":
            return resp.status, None
        reply = json.loads(raw)
        assert reply["result"] is True and reply["type"] == "text"
        assert reply["receiver_id"] == doc["sender_id"] and reply["sender_id"] == doc["receiver_id"]
        return resp.status, str(json.loads(unquote(reply["data"]))["text"])

    async def text(self, uid: int, content: str) -> str | None:
        status, reply = await self.send(push(uid, "text", content))
        assert status == 200, status
        return reply
