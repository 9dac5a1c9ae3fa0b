"""The Telegram bot: its webhook at ``/channels/telegram``, the long-polling runner for deployments
without a public address, the outbound sender the notifier uses, and the media download job.

Order of work for an update, in both modes: (webhook only: the secret header, in constant time,
then a bounded JSON body) → the update typed by aiogram → private chats' messages only → the
update taken in hand once (keyed hash of ``update_id``: Telegram redelivers what it thinks failed)
→ aiogram's dispatcher with :class:`channels.telegram.fsm.SealedStorage` → the state, the "done"
mark and the media jobs committed together. The bot answers through the Bot API (also in webhook
mode), so that both modes behave the same; a failure answers 503 (Telegram redelivers) and leaves
the state as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any, Protocol

import aiohttp
import pydantic
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update
from aiohttp import web

from channels.base import ChannelContext, parse_json_object, read_body
from channels.media import MediaTooLarge, download_complete
from channels.telegram.dialogue import MAX_MEDIA_BYTES, MEDIA_JOB, TelegramIntake, routers
from channels.telegram.fsm import CURRENT, HANDLE_KIND, SealedStorage, UpdateWork
from channels.verify import telegram_secret_valid, verify_telegram
from intake.conversations import Conversations
from intake.dialogue_state import DialogueLedger
from intake.dialogue_texts import Notice
from intake.errors import IntakeError, ValidationError
from intake.notifier import DeliveryFailed

log = logging.getLogger("channels.telegram")

PATH = "/channels/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_BODY = 64 * 1024  # a text message is at most 4096 characters; an update is a few KiB
ALLOWED_UPDATES = ["message"]
POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates open
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60)  # a 10 MiB file from the Bot API
POLL_ATTEMPTS = 5  # a failing update is tried this often in polling mode, then skipped (and logged)


class QueuedJob(Protocol):
    @property
    def payload(self) -> dict[str, Any]: ...


def _rejected() -> IntakeError:
    return IntakeError("签名无效。", code="invalid_signature", status=401)


def make_bot(token: str, api_base: str | None) -> Bot:
    """A bot talking to Telegram, or to a self-hosted Bot API server (``INTAKE_TELEGRAM_API_BASE``)."""
    if api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
        return Bot(token, session=session)
    return Bot(token)


class TelegramAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        s = ctx.settings
        self.secret = s["WEBHOOK_SECRET"]
        if not telegram_secret_valid(self.secret):
            raise ValueError("INTAKE_TELEGRAM_WEBHOOK_SECRET must be 1-256 of A-Z a-z 0-9 _ -")
        self.mode = (s.get("MODE") or "webhook").lower()
        if self.mode not in ("webhook", "polling"):
            raise ValueError("INTAKE_TELEGRAM_MODE must be webhook or polling")
        try:
            self.poll_timeout = int(s.get("POLL_TIMEOUT") or POLL_TIMEOUT)
        except ValueError:
            raise ValueError("INTAKE_TELEGRAM_POLL_TIMEOUT must be a whole number") from None
        self.bot = make_bot(s["TOKEN"], s.get("API_BASE"))
        self.ledger = DialogueLedger(ctx.intake, "telegram")
        # The WeChat/Weibo engine, used here for its late-attachment helper only.
        self.materials = Conversations(ctx.intake, channel="telegram", platform="Telegram", notice=Notice())
        self.intake = TelegramIntake(ctx.intake, Notice())
        self.dispatcher = Dispatcher(storage=SealedStorage(self.ledger), intake=self.intake)
        self.dispatcher.include_routers(*routers())
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post(PATH, self.receive)]

    def start(self) -> None:
        self.intake.notice = Notice(self.ctx.public_url, self.ctx.hotline)
        self.ctx.register_sender("telegram", self.deliver)
        self.ctx.register_job(MEDIA_JOB, self.download_media)
        if self.mode == "polling":
            self._keep(asyncio.create_task(run_polling(self, self.poll_timeout), name="telegram-polling"))
            log.info("Telegram long polling started", extra={"channel": "telegram"})
        elif self.ctx.public_url:
            self._keep(asyncio.create_task(self._set_webhook(self.ctx.public_url)))

        async def close() -> None:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.bot.session.close()

        self.ctx.on_cleanup(close)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _set_webhook(self, public_url: str) -> None:
        """Point Telegram at our webhook with our secret (idempotent; every server may do it)."""
        try:
            await self.bot.set_webhook(
                public_url.rstrip("/") + PATH, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramAPIError as exc:
            log.warning(f"setWebhook failed: {type(exc).__name__}", extra={"channel": "telegram"})

    # --- inbound -----------------------------------------------------------------------------------

    async def receive(self, request: web.Request) -> web.Response:
        if not verify_telegram(self.secret, request.headers.get(SECRET_HEADER)):
            self.ctx.metrics.channel_events.labels("telegram", "rejected").inc()
            raise _rejected()
        # Control characters removed, not refused: Telegram would redeliver a refused update.
        doc = parse_json_object(await read_body(request, MAX_BODY), strip=True)
        try:
            update = Update.model_validate(doc, context={"bot": self.bot})
        except pydantic.ValidationError:
            raise IntakeError("不是有效的 Telegram 更新。", code="invalid_message", status=400) from None
        try:
            await self.process(update)
        except TelegramAPIError as exc:
            # Our answer did not get through: 503, so that Telegram redelivers the update.
            log.warning(f"Bot API call failed: {type(exc).__name__}", extra={"channel": "telegram"})
            raise IntakeError("暂时无法处理，请稍后重试。", code="upstream_unavailable", status=503) from None
        return web.Response(status=200)

    async def process(self, update: Update) -> None:
        """Process one update once (both modes)."""
        message = update.message
        if message is None or message.chat.type != "private":
            self.ctx.metrics.channel_events.labels("telegram", "ignored").inc()
            return
        chat_id = str(message.chat.id)
        conversation = self.ledger.conversation_key(HANDLE_KIND, chat_id)
        update_key = self.ledger.update_key(f"{self.bot.id}|{update.update_id}")
        lock = self._locks.get(conversation)
        if lock is None:
            lock = self._locks[conversation] = asyncio.Lock()
        async with lock:  # one update of a chat at a time, so that the dialogue's steps keep order
            if not await self.ledger.claim(update_key):
                self.ctx.metrics.channel_events.labels("telegram", "duplicate").inc()
                return
            work = UpdateWork(update_key, conversation, chat_id)
            token = CURRENT.set(work)
            try:
                await self.dispatcher.feed_update(self.bot, update, work=work)
                entry = work.entries.get(conversation)
                state, data = (entry.state, entry.data) if entry else await self.ledger.load(conversation)
                await self.ledger.finish(
                    update_key=update_key,
                    conversation_key=conversation,
                    state=state,
                    draft=data,
                    jobs=work.jobs,
                )
            except BaseException:
                await asyncio.shield(self.ledger.release(update_key))
                raise
            finally:
                CURRENT.reset(token)

    # --- outbound ----------------------------------------------------------------------------------

    async def deliver(self, chat_id: str, text: str) -> None:
        """The notifier's sender: a plain text message to the informant's chat."""
        try:
            await self.bot.send_message(int(chat_id), text)
        except TelegramAPIError as exc:
            # Only the error's type: aiogram's message may quote the request.
            raise DeliveryFailed(f"Telegram {type(exc).__name__}") from None

    async def _http(self) -> aiohttp.ClientSession:
        """The bot's own HTTP session (closed with the bot), for file downloads."""
        session = self.bot.session
        assert isinstance(session, AiohttpSession)  # what make_bot and aiogram's Bot build
        return await session.create_session()

    async def download_media(self, job: QueuedJob) -> None:
        """Job: fetch a photo or document by file id into an encrypted attachment of the case.
        The file comes whole (:func:`channels.media.download_complete`) or the job retries; the
        exception never carries the file URL, which holds the bot token."""
        payload = job.payload
        try:
            file = await self.bot.get_file(str(payload["file_id"]))
            if file.file_size is not None and file.file_size > MAX_MEDIA_BYTES:
                raise MediaTooLarge(MAX_MEDIA_BYTES)
            if not file.file_path:
                raise DeliveryFailed("Telegram getFile gave no path")
            got = await download_complete(
                await self._http(),
                self.bot.session.api.file_url(self.bot.token, file.file_path),
                max_bytes=MAX_MEDIA_BYTES,
                client_timeout=DOWNLOAD_TIMEOUT,
            )
        except TelegramAPIError as exc:
            raise DeliveryFailed(f"Telegram {type(exc).__name__}") from None
        except MediaTooLarge:
            # Telegram keeps the file (a bot cannot delete it) and it will not shrink: not retried.
            log.warning("Telegram file too large, not attached", extra={"channel": "telegram"})
            return
        try:
            await self.materials.attach(str(payload["case_no"]), str(payload["media_type"]), got.data)
        except ValidationError:
            # Not a type the attachment store takes: retrying will not change that.
            self.ctx.metrics.channel_events.labels("telegram", "unsupported").inc()
            log.warning("Telegram file of an unsupported type, not attached", extra={"channel": "telegram"})


async def run_polling(adapter: TelegramAdapter, poll_timeout: int = POLL_TIMEOUT) -> None:
    """Long polling, for a deployment Telegram cannot reach: ``getUpdates`` in a loop, each update
    through :meth:`TelegramAdapter.process` (the same path as the webhook), the offset advanced only
    past updates that were processed (or failed :data:`POLL_ATTEMPTS` times). Runs until cancelled.
    A webhook, if one is set, is removed first: Telegram refuses ``getUpdates`` while it exists."""
    bot = adapter.bot
    offset: int | None = None
    failures = 0
    delay = 1.0
    webhook_removed = False
    while True:
        try:
            if not webhook_removed:
                await bot.delete_webhook(drop_pending_updates=False)
                webhook_removed = True
            updates = await bot.get_updates(
                offset=offset,
                timeout=poll_timeout,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=poll_timeout + 10,
            )
            delay = 1.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(f"getUpdates failed: {type(exc).__name__}", extra={"channel": "telegram"})
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)
            continue
        for update in updates:
            try:
                await adapter.process(update)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning(
                    f"update failed: {type(exc).__name__}",
                    extra={"channel": "telegram", "attempt": failures},
                )
                if failures < POLL_ATTEMPTS:
                    await asyncio.sleep(min(60.0, 2.0**failures))
                    break  # fetch again from this update
                adapter.ctx.metrics.channel_events.labels("telegram", "failed").inc()
            failures = 0
            offset = update.update_id + 1
