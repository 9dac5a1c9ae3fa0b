"""SMS and MMS to the hotline number, on the platform dialogue engine (the same one as WeChat and
Weibo): ``举报 <内容>`` files at once, ``查询 <查询码>`` answers the status, ``补充 <查询码> <内容>``
adds information, and any other text starts a short guided exchange with that text as what
happened. The conversation is keyed by the blind index of the sender's number; ``MessageSid``
identifies the message, so Twilio's retries get the first answer and make no second report.

MMS pictures arrive as URLs on Twilio: their ids go into the (sealed) draft like WeChat's media,
and a job fetches each into an encrypted attachment once the report or follow-up is filed, then
deletes it from Twilio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intake.conversations import MAX_MEDIA, Conversations, Inbound, Outcome
from intake.dialogue_texts import PROMPT_WHAT, PROMPT_WHO, rest_of, split_code
from intake.errors import IntakeError
from intake.limits import MAX_CONTENT

MEDIA_JOB = "twilio_media"
# What an MMS may carry into a case: pictures (what the attachment store can recognise).
MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif"}
COMMANDS = ("举报", "查询", "补充", "取消", "退出", "放弃", "帮助", "菜单", "?", "？")

STARTED = "已记下您反映的问题（如不是要举报，请回复“取消”）。"
MEDIA_SKIPPED = "彩信中有 {n} 份材料的格式暂不支持（只收图片），未能保存。"


@dataclass(frozen=True)
class SmsInbound(Inbound):
    """One SMS/MMS. ``media``: the pictures' URLs on Twilio (those of a supported type)."""

    media: tuple[str, ...] = ()
    skipped_media: int = 0


class SmsDialogue(Conversations):
    async def step(self, msg: Inbound, conv_key: str, msg_key: str) -> Outcome:
        outcome = await self._sms_step(msg, conv_key, msg_key)
        if isinstance(msg, SmsInbound) and msg.skipped_media and outcome.reply:
            outcome.reply = MEDIA_SKIPPED.format(n=msg.skipped_media) + "\n" + outcome.reply
        return outcome

    async def _sms_step(self, msg: Inbound, conv_key: str, msg_key: str) -> Outcome:
        media = list(msg.media) if isinstance(msg, SmsInbound) else []
        text = msg.text.replace("\u3000", " ").strip()
        step, draft = await self.saved(conv_key)
        items = [{"id": url, "type": "image"} for url in media]
        if step == "idle":
            return await self._idle_step(msg, conv_key, msg_key, text, items, draft)
        if items:
            return await self._media_in_exchange(
                msg, conv_key, msg_key, text, items, Outcome(None, step, draft)
            )
        return await super().step(msg, conv_key, msg_key)

    async def _idle_step(
        self,
        msg: Inbound,
        conv_key: str,
        msg_key: str,
        text: str,
        items: list[dict[str, str]],
        draft: dict[str, Any],
    ) -> Outcome:
        """A message outside an exchange: a command, a report at once, or the start of one."""
        command = text.startswith(COMMANDS)
        if not items and (command or not text):
            return await super().step(msg, conv_key, msg_key)  # the engine's shortcuts and help
        if text.startswith("举报") and rest_of(text, "举报"):
            # 举报 <内容> with pictures: filed at once, the pictures fetched by jobs afterwards.
            keep = Outcome(None, "idle", draft)
            return await self.file_draft(msg, msg_key, {"what": rest_of(text, "举报"), "media": items}, keep)
        if text.startswith("补充") and items:
            return await self._followup_with_media(msg, conv_key, text, items)
        if command:
            return await super().step(msg, conv_key, msg_key)
        # Free text (or pictures) starts the guided exchange: the text is what happened.
        started: dict[str, Any] = {"media": items[:MAX_MEDIA]} if items else {}
        if not text:
            return Outcome(PROMPT_WHAT, "what", started)
        started["what"] = text[:MAX_CONTENT]
        return Outcome(STARTED + "\n" + PROMPT_WHO, "who", started)

    async def _media_in_exchange(
        self, msg: Inbound, conv_key: str, msg_key: str, text: str, items: list[dict[str, str]], kept: Outcome
    ) -> Outcome:
        """Pictures in the middle of the exchange join the draft, whatever the step; text that
        came with them is answered by the engine first."""
        outcome = await super().step(msg, conv_key, msg_key) if text else kept
        if outcome.step != "idle":
            stored = outcome.draft.setdefault("media", [])
            stored.extend(items[: max(0, MAX_MEDIA - len(stored))])
            more = "可继续发送，发送完毕请回复“好了”。" if outcome.step == "media" else ""
            outcome.reply = f"已收到 {len(stored)} 份材料。" + (
                "\n" + outcome.reply if outcome.reply else more
            )
        return outcome

    async def _followup_with_media(
        self, msg: Inbound, conv_key: str, text: str, items: list[dict[str, str]]
    ) -> Outcome:
        code, addition = split_code(rest_of(text, "补充"))
        if code is None:
            return Outcome("请按“补充 查询码 内容”的格式发送，查询码为 16 位数字。", "idle", {})
        try:
            case_no = await self.intake.add_followup(
                code, addition or f"（通过彩信补充材料 {len(items)} 份）", self.channel, conv_key
            )
        except IntakeError as exc:
            return Outcome(exc.message, "idle", {})
        jobs = [
            (MEDIA_JOB, {"case_no": case_no, "media_id": m["id"], "media_type": m["type"]})
            for m in items[:MAX_MEDIA]
        ]
        reply = f"补充内容已收到，已附入案件 {case_no}。{len(jobs)} 份材料将随后附入。"
        return Outcome(reply, "idle", {}, jobs)
