"""A local fake of the Telegram Bot API (``/bot<token>/<method>`` and ``/file/bot<token>/<path>``),
as proven against aiogram in ``research/probes_channels.md`` §1, and a driver that plays Telegram
delivering updates to our webhook with the secret header."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.slow import Fault, serve_slowly

TOKEN = "123456789:AAFakeTokenForTests_abcdefghijklmnop"
BOT_ID = 123456789
SECRET = "tg-webhook-Secret_for_tests"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class FakeBotApi:
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(
        default_factory=lambda: {
            "PHOTO_1": ("photos/file_1.jpg", JPEG),
            "DOC_1": ("documents/file_2.png", PNG),
        }
    )
    fail_sends: int = 0  # answer the next N sendMessage calls with a server error
    faults: list[Fault] = field(default_factory=list)  # each breaks one file download, in order
    downloads: list[str] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    webhook_set: asyncio.Event = field(default_factory=asyncio.Event)
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self.file)
        return app

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates`` (polling mode)."""
        self.updates.append(update)
        self._new_update.set()

    def texts(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.sent if int(m["chat_id"]) == chat_id]

    async def wait_for(self, count: int, within: float = 10.0) -> None:
        """Until ``count`` messages were sent in all (event-driven; ``within`` only bounds a failure)."""

        async def until() -> None:
            while len(self.sent) < count:
                self.received.clear()
                await self.received.wait()

        await asyncio.wait_for(until(), within)

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"].lower()
        self.calls.append(method)
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        result: Any
        if method == "getme":
            result = {"id": BOT_ID, "is_bot": True, "first_name": "举报受理", "username": "intake_test_bot"}
        elif method == "sendmessage":
            if self.fail_sends:
                self.fail_sends -= 1
                return web.json_response(
                    {"ok": False, "error_code": 500, "description": "Internal Server Error"}, status=500
                )
            markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else None
            self.sent.append({"chat_id": params["chat_id"], "text": params["text"], "reply_markup": markup})
            self.received.set()
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"],
            }
        elif method == "getupdates":
            offset = int(params.get("offset") or 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates and float(params.get("timeout") or 0):
                self._new_update.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), float(params["timeout"]))
            result = list(self.updates)
        elif method == "getfile":
            file_id = params["file_id"]
            if file_id not in self.files:
                return web.json_response(
                    {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                    status=400,
                )
            path, data = self.files[file_id]
            result = {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": len(data),
                "file_path": path,
            }
        elif method == "setwebhook":
            self.webhooks.append(params)
            self.webhook_set.set()
            result = True
        else:  # deleteWebhook and anything else the bot may call
            result = True
        return web.json_response({"ok": True, "result": result})

    async def file(self, request: web.Request) -> web.StreamResponse:
        """A file as a network delivers it (:func:`tests.fakes.slow.serve_slowly`)."""
        if request.match_info["token"] != TOKEN:
            return web.Response(status=401)
        for path, data in self.files.values():
            if path == request.match_info["path"]:
                self.downloads.append(path)
                fault = self.faults.pop(0) if self.faults else None
                return await serve_slowly(request, data, "application/octet-stream", fault)
        return web.Response(status=404)


_update_ids = itertools.count(1000)


def user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "测试", "language_code": "zh-hans"}


def message(chat_id: int, update_id: int | None = None, **content: Any) -> dict[str, Any]:
    """An update carrying a private-chat message: ``text=…``, ``photo=[…]``, ``document={…}``,
    ``contact={…}``, ``location={…}``."""
    msg: dict[str, Any] = {
        "message_id": next(_update_ids),
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "测试"},
        "from": user(chat_id),
        **content,
    }
    text = content.get("text")
    if isinstance(text, str) and text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id if update_id is not None else next(_update_ids), "message": msg}


def photo(file_id: str = "PHOTO_1") -> list[dict[str, Any]]:
    return [
        {"file_id": file_id + "_small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": file_id, "file_unique_id": "l", "width": 800, "height": 600, "file_size": 68},
    ]


class TelegramDriver:
    """Plays Telegram: posts updates to our webhook with the secret header."""

    path = "/channels/telegram"

    def __init__(self, client: Any, api: FakeBotApi, secret: str = SECRET) -> None:
        self.client = client
        self.api = api
        self.secret = secret

    async def post(self, update: dict[str, Any], secret: str | None = None) -> Any:
        """``secret``: None for ours, ``""`` for no header at all, anything else as given."""
        headers = {"Content-Type": "application/json"}
        secret = self.secret if secret is None else secret
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return await self.client.post(self.path, data=json.dumps(update, ensure_ascii=False), headers=headers)

    async def send(self, update: dict[str, Any]) -> list[str]:
        """Deliver an update; the texts the bot sent to that chat while handling it."""
        chat_id = int(update["message"]["chat"]["id"])
        before = len(self.api.texts(chat_id))
        resp = await self.post(update)
        assert resp.status == 200, (resp.status, await resp.text())
        return self.api.texts(chat_id)[before:]

    async def say(self, chat_id: int, text: str) -> str:
        """A text message; the bot's (single) answer."""
        replies = await self.send(message(chat_id, text=text))
        assert len(replies) == 1, replies
        return replies[0]


@dataclass
class TelegramServer:
    client: Any
    services: Any
    api: FakeBotApi
    tg: TelegramDriver


def telegram_env(api_base: str, **extra: str) -> dict[str, str]:
    return {
        "INTAKE_TELEGRAM_TOKEN": TOKEN,
        "INTAKE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "INTAKE_TELEGRAM_API_BASE": api_base,
        **extra,
    }


async def start_telegram(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Any,
    db_url: str | None = None,
    *,
    clock: Any = None,
    **extra: str,
) -> TelegramServer:
    """The whole server (every channel in the registry) with Telegram pointed at a fresh fake."""
    import channels
    from server.app import build_app, services_of

    api = FakeBotApi()
    server = await aiohttp_server(api.app())
    env = telegram_env(str(server.make_url("")), **extra)
    if db_url:
        env["INTAKE_DATABASE_URL"] = db_url
    settings = make_settings(**env)
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return TelegramServer(client, services_of(client.app), api, TelegramDriver(client, api))
