"""The guided dialogue of the platform channels (WeChat, Weibo): one engine, fed normalised
:class:`Inbound` messages by the channel adapters, answering with the text of the reply.

A report in steps — what happened → who and where → materials → anonymous or real name → confirm —
or at once with shortcuts: ``举报 <内容>`` files the text, ``查询 <查询码>`` answers the case number,
status and replies, ``补充 <查询码> <内容>`` adds information. Every filing reply carries the case
number and the 16-digit query code.

What is kept, and how (DESIGN "informant protection"):

* the state is keyed by the **blind index** of the informant's handle (openid, uid), never the
  handle; the draft, which may hold a real-name informant's name and phone, is sealed by storage;
* the handle itself goes only into ``Submission.handles``, which the pipeline seals in the vault;
* each platform message is taken in hand once (keyed hash of its id): a platform retry gets the
  first answer again, and a report is filed with that hash as its external id, so a retry racing
  its original still makes one report.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from intake.channel_intake import ChannelIntake
from intake.dialogue_texts import (
    CANCELLED,
    NO_MEDIA,
    NO_VOICE_TEXT,
    PROMPT_IDENTITY,
    PROMPT_MEDIA,
    PROMPT_WHAT,
    PROMPT_WHO,
    Notice,
    clean_text,
    filing_reply,
    help_text,
    rest_of,
    split_code,
    status_reply,
    summary,
    welcome_text,
)
from intake.domain import Location, Reporter, Submission
from intake.errors import IntakeError, ValidationError
from intake.limits import MAX_CONTENT
from storage.conversations import ConversationStore

log = logging.getLogger("intake.conversations")

STALE_AFTER = timedelta(hours=24)  # a draft left this long starts over
MAX_MEDIA = 9
RETRY_POLL = 0.1

# Menu click keys an operator configures in the official account's menu (docs/channels.md).
MENU_REPORT, MENU_QUERY, MENU_FOLLOWUP, MENU_HELP = "REPORT", "QUERY", "FOLLOWUP", "HELP"


@dataclass(frozen=True)
class Inbound:
    """One platform message, normalised by its channel. ``handle`` is the openid or uid: it is
    used for the blind index and sealed with a filed report, and never stored otherwise."""

    channel: str
    handle_kind: str
    handle: str
    message_id: str
    kind: str  # text | voice | image | location | event | other
    text: str = ""
    media_id: str | None = None
    location: str | None = None
    event: str | None = None
    event_key: str | None = None
    # The unit the platform account (or number) the message came to files to; None: the
    # dialogue's own (:attr:`Conversations.unit`).
    unit: str | None = None


@dataclass
class Outcome:
    reply: str | None
    step: str = "idle"
    draft: dict[str, Any] = field(default_factory=dict)
    jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


# --- the engine -----------------------------------------------------------------------------------


LateReply = Callable[[str], Coroutine[Any, Any, None]]


class Conversations:
    def __init__(
        self,
        intake: ChannelIntake,
        *,
        channel: str,
        platform: str,
        notice: Notice,
        media_job: str | None = None,
        unit: str | None = None,
    ) -> None:
        self.intake = intake
        self.unit = unit  # the receiving unit of this platform account (None: the deployment's)
        self.channel = channel
        self.platform = platform
        self.notice = notice
        self.media_job = media_job  # None: media cannot be downloaded on this deployment
        self._store: ConversationStore = intake.dialogue_store
        self.clock = intake.clock
        self.metrics = intake.metrics
        self._tasks: set[asyncio.Task[Any]] = set()

    # keys -----------------------------------------------------------------------------------------

    def conversation_key(self, msg: Inbound) -> str:
        return self.intake.conversation_key(msg.handle_kind, msg.handle)

    def message_key(self, msg: Inbound) -> str:
        return self.intake.mac("channel-message", f"{msg.channel}|{msg.message_id}".encode())

    async def last_inbound(self, handle_kind: str, handle: str) -> datetime | None:
        """When the informant last wrote (platforms allow answers only for a while after that)."""
        key = self.intake.handle_index(handle_kind, handle)
        record = await self._store.get(key) if key else None
        return record.last_inbound_at if record else None

    # entry points ---------------------------------------------------------------------------------

    async def handle_within(self, msg: Inbound, budget: float, late: LateReply | None = None) -> str | None:
        """Answer within ``budget`` seconds (the platform's passive-reply window). When the work
        takes longer it goes on; its reply is then sent through ``late`` (the outbound API)."""
        self.conversation_key(msg)  # a bad sender is a 400 now, not a failure in the background
        task = asyncio.create_task(self.handle(msg, retry_budget=budget * 0.8))
        self._keep(task)
        try:
            return await asyncio.wait_for(asyncio.shield(task), budget)
        except TimeoutError:
            log.warning("passive reply window missed", extra={"channel": self.channel})
            self.metrics.channel_events.labels(self.channel, "late").inc()

            def deliver_late(t: asyncio.Task[str | None]) -> None:
                if t.cancelled() or t.exception() is not None or late is None:
                    return
                reply = t.result()
                if reply:
                    self._keep(asyncio.create_task(late(reply)))

            task.add_done_callback(deliver_late)
            return None

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error(
                    "platform message failed",
                    extra={"channel": self.channel},
                    exc_info=(type(exc), exc, exc.__traceback__) if exc else None,
                )

        task.add_done_callback(done)

    async def handle(self, msg: Inbound, *, retry_budget: float = 4.0) -> str | None:
        """Process one message once; a retry gets the first delivery's reply."""
        conv_key = self.conversation_key(msg)
        msg_key = self.message_key(msg)
        now = self.clock.now()
        claim = await self._store.claim_message(msg_key, self.channel, now)
        if not claim.fresh:
            self.metrics.channel_events.labels(self.channel, "duplicate").inc()
            waited = 0.0
            while not claim.done and waited < retry_budget:
                await asyncio.sleep(RETRY_POLL)
                waited += RETRY_POLL
                claim = await self._store.seen_reply(msg_key)
            return claim.reply
        try:
            outcome = await self.step(msg, conv_key, msg_key)
            await self._store.finish_message(
                message_key=msg_key,
                reply=outcome.reply,
                conversation_key=conv_key,
                channel=self.channel,
                step=outcome.step,
                draft=outcome.draft,
                now=self.clock.now(),
                jobs=outcome.jobs,
            )
        except BaseException:
            await asyncio.shield(self._store.release_message(msg_key))
            raise
        return outcome.reply

    # the dialogue ---------------------------------------------------------------------------------

    async def saved(self, conv_key: str) -> tuple[str, dict[str, Any]]:
        """The conversation's step and draft (a copy), or ``("idle", {})`` when there is none or it
        has been idle longer than :data:`STALE_AFTER`."""
        record = await self._store.get(conv_key)
        if record is not None and self.clock.now() - record.updated_at < STALE_AFTER:
            return record.step, dict(record.draft)
        return "idle", {}

    async def saved_draft(self, conv_key: str) -> dict[str, Any] | None:
        """The draft stored under ``conv_key`` however old (a copy), or None when there is none."""
        record = await self._store.get(conv_key)
        return dict(record.draft) if record is not None else None

    async def enqueue(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue a durable job now (outside a message's own transaction)."""
        await self._store.enqueue(kind, payload, self.clock.now())

    async def step(self, msg: Inbound, conv_key: str, msg_key: str) -> Outcome:
        """The public step hook: the answer to one fresh message and the conversation's next state.
        :meth:`handle` calls it once per message (retries get the stored reply) and stores what it
        returns in one transaction. Channels with their own flow (SMS, the phone line) override it
        and call ``super().step`` for the guided dialogue; they read the state through
        :meth:`saved` and :meth:`saved_draft`."""
        step, draft = await self.saved(conv_key)
        keep = Outcome(None, step, draft)

        if msg.kind == "event":
            return self._event(msg, keep)
        text = clean_text(msg.text)
        if msg.kind == "voice" and not text and step not in ("media",):
            keep.reply = NO_VOICE_TEXT
            return keep

        try:
            command = await self._command(msg, text, conv_key, msg_key, keep)
        except IntakeError as exc:
            keep.reply = exc.message
            return keep
        if command is not None:
            return command
        return await self._guided(msg, msg_key, text, keep)

    async def _guided(self, msg: Inbound, msg_key: str, text: str, keep: Outcome) -> Outcome:
        """The guided dialogue's answer to a message that is not a command, by the step it is at."""
        step, draft = keep.step, keep.draft
        if step == "what" and msg.kind in ("text", "voice") and text:
            if msg.kind == "voice" and msg.media_id:
                draft.setdefault("media", []).append({"id": msg.media_id, "type": "voice"})
            draft["what"] = text[:MAX_CONTENT]
            return Outcome(PROMPT_WHO, "who", draft)
        if step == "who":
            if msg.kind == "location" and msg.location:
                draft["location"] = msg.location[:200]
                return Outcome("已记录位置。\n" + PROMPT_MEDIA, "media", draft)
            if msg.kind in ("text", "voice"):
                draft["who"] = "" if text in ("跳过", "没有", "无") else text[:1000]
                return Outcome(PROMPT_MEDIA, "media", draft)
        if step == "media":
            return self._media(msg, text, draft)
        if step == "identity" and msg.kind in ("text", "voice"):
            return self._identity(text, draft)
        if step == "confirm" and msg.kind in ("text", "voice"):
            if text in ("确认", "提交", "确认提交", "是"):
                return await self.file_draft(msg, msg_key, draft, keep)
            return Outcome("请回复“确认”提交，或回复“取消”放弃。", step, draft)
        if step in ("what", "who", "identity"):
            prompt = {"what": PROMPT_WHAT, "who": PROMPT_WHO, "identity": PROMPT_IDENTITY}[step]
            return Outcome(prompt, step, draft)
        # idle: media or a place without a report in progress, or free text
        if msg.kind in ("image", "voice", "location"):
            return Outcome("如需提交材料，请先回复“举报”开始填写。\n" + help_text(), "idle", {})
        return Outcome(help_text(), "idle", {})

    def _media(self, msg: Inbound, text: str, draft: dict[str, Any]) -> Outcome:
        """The materials step: pictures and voice join the draft (up to :data:`MAX_MEDIA`)."""
        if msg.kind in ("image", "voice") and self.media_job is None:
            return Outcome(NO_MEDIA, "media", draft)
        if msg.kind in ("image", "voice") and msg.media_id:
            media = draft.setdefault("media", [])
            if len(media) >= MAX_MEDIA:
                return Outcome(f"材料已达 {MAX_MEDIA} 份上限。回复“好了”继续。", "media", draft)
            media.append({"id": msg.media_id, "type": msg.kind})
            return Outcome(
                f"已收到第 {len(media)} 份材料。可继续发送，发送完毕请回复“好了”。", "media", draft
            )
        if text in ("好了", "没有", "无", "完成", "跳过", "好"):
            return Outcome(PROMPT_IDENTITY, "identity", draft)
        return Outcome(PROMPT_MEDIA, "media", draft)

    def _event(self, msg: Inbound, keep: Outcome) -> Outcome:
        event, key = (msg.event or "").lower(), (msg.event_key or "").upper()
        if event in ("subscribe", "follow", "scan_follow"):
            keep.reply = welcome_text(self.platform, self.notice)
            return keep
        if event == "click":
            if key == MENU_REPORT:
                return Outcome(PROMPT_WHAT, "what", {})
            if key == MENU_QUERY:
                keep.reply = "请发送“查询 查询码”，例如：查询 1234567890123456"
                return keep
            if key == MENU_FOLLOWUP:
                keep.reply = "请发送“补充 查询码 补充内容”，例如：补充 1234567890123456 另有一份转账记录"
                return keep
            keep.reply = welcome_text(self.platform, self.notice)
            return keep
        self.metrics.channel_events.labels(self.channel, "ignored").inc()
        return keep  # unsubscribe, view, location reports …: known, answered with nothing

    async def _command(
        self, msg: Inbound, text: str, conv_key: str, msg_key: str, keep: Outcome
    ) -> Outcome | None:
        if msg.kind not in ("text", "voice"):
            return None
        if text in ("取消", "退出", "放弃"):
            return Outcome(CANCELLED if keep.step != "idle" else help_text())
        if text in ("帮助", "?", "？", "菜单"):
            keep.reply = help_text()
            return keep
        if keep.step != "idle":
            return None  # mid-dialogue, "举报…" is the content itself; "取消" first to query
        if text.startswith("举报"):
            rest = rest_of(text, "举报")
            if not rest:
                return Outcome(PROMPT_WHAT, "what", {})
            sub = self._submission(msg, msg_key, {"what": rest})
            receipt = await self.intake.accept(sub)
            keep.reply = filing_reply(receipt)
            return keep
        if text.startswith("查询"):
            found = await self.intake.status(rest_of(text, "查询"), conv_key)
            keep.reply = status_reply(found)
            return keep
        if text.startswith("补充"):
            code, addition = split_code(rest_of(text, "补充"))
            if code is None:
                raise ValidationError(
                    "请按“补充 查询码 内容”的格式发送，查询码为 16 位数字。", code="query_code_required"
                )
            case_no = await self.intake.add_followup(code, addition, self.channel, conv_key)
            keep.reply = f"补充内容已收到，已附入案件 {case_no}。"
            return keep
        return None

    def _identity(self, text: str, draft: dict[str, Any]) -> Outcome:
        if text.startswith("匿名"):
            draft["anonymous"] = True
            draft.pop("name", None)
            draft.pop("phone", None)
            return Outcome(summary(draft), "confirm", draft)
        if text.startswith("实名"):
            parts = rest_of(text, "实名").replace("，", " ").replace(",", " ").split()
            phone = next((p for p in parts if sum(c.isdigit() for c in p) >= 7), None)
            name = next((p for p in parts if p != phone), None)
            if not name or not phone or len(name) > 50 or len(phone) > 32:
                return Outcome(
                    "请按“实名 姓名 手机号”的格式发送，例如：实名 张三 13800000000", "identity", draft
                )
            draft.update(anonymous=False, name=name, phone=phone)
            return Outcome(summary(draft), "confirm", draft)
        return Outcome(PROMPT_IDENTITY, "identity", draft)

    def _submission(self, msg: Inbound, msg_key: str, draft: dict[str, Any]) -> Submission:
        content = draft.get("what", "")
        if draft.get("who"):
            content += "\n\n被反映人及地点：" + draft["who"]
        anonymous = draft.get("anonymous", True) is not False
        return Submission(
            channel=self.channel,
            content=content[:MAX_CONTENT],
            location=Location(text=draft.get("location") or None),
            reporter=Reporter() if anonymous else Reporter(name=draft.get("name"), phone=draft.get("phone")),
            anonymous=anonymous,
            external_id=msg_key,
            handles={msg.handle_kind: msg.handle},
            receiving_unit=msg.unit or self.unit,
        )

    async def file_draft(self, msg: Inbound, msg_key: str, draft: dict[str, Any], keep: Outcome) -> Outcome:
        try:
            receipt = await self.intake.accept(self._submission(msg, msg_key, draft))
        except IntakeError as exc:
            keep.reply = exc.message
            return keep
        media = list(draft.get("media", []))
        jobs: list[tuple[str, dict[str, Any]]] = []
        if self.media_job is not None:
            jobs = [
                (self.media_job, {"case_no": receipt.case_no, "media_id": m["id"], "media_type": m["type"]})
                for m in media
            ]
        elif media:
            log.info("media not downloaded: outbound API not configured", extra={"channel": self.channel})
        return Outcome(filing_reply(receipt, len(jobs)), "idle", {}, jobs)

    # late attachments -----------------------------------------------------------------------------

    async def attach(self, case_no: str, media_type: str, data: bytes) -> uuid.UUID:
        """Store a downloaded media file (encrypted) as an attachment of the filed report."""
        content_type = sniff_media(data)
        if content_type is None:
            raise ValidationError("不支持的材料格式。", code="unsupported_media")
        ext = content_type.split("/")[1]
        return await self.intake.attach(
            case_no, f"{media_type}.{ext}", content_type, data, f"channel:{self.channel}"
        )


def sniff_media(data: bytes) -> str | None:
    """The type of a platform media file by its first bytes (images and voice messages only)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"#!AMR"):
        return "audio/amr"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3"):
        return "audio/mpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"  # Twilio's call recordings (issue 6)
    return None
