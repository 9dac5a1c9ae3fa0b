"""The notifier: tells an informant, over the channel they reported on, that their case moved.

"件件有着落、事事有回音" without anyone at the office learning who they are:

* **Senders.** Each channel with an outbound API registers one ``deliver(handle, text)`` when it is
  mounted (WeChat customer message, Weibo reply, Telegram message, SMS …); the mobile app's push
  gateway is a sender of its own (:class:`AppPushSender`, ``INTAKE_APP_PUSH_URL``). The notifier
  reads the handle through :class:`intake.vault_service.DeliveryHandles` (each read is audited) and
  hands it to that sender only, so the handle never reaches a person, a job payload or a log.
* **Templates** (:func:`render`) in Simplified Chinese say that something happened and how to look
  it up with the query code; they never carry the report's content, the names of the accused, the
  reply's text or the query code itself. The workflow calls :meth:`Notifier.case_updated`.
* **Retries** are the job queue's: a ``notify`` job that fails is tried again with exponential
  backoff (:func:`intake.jobs.backoff`) and ends in the ``dead`` state with its payload intact;
  :meth:`Notifier.dead_letters` lists those for staff without revealing any handle, and
  :meth:`Notifier.retry_dead` queues one again.
* **Rate limit per informant**: at most ``per_hour`` messages an hour to one person — counted over
  every report sharing one of the report's blind indexes, so several cases of the same informant
  share the budget. An excess message is not dropped but queued again for when the hour allows.
* Reports from the web form, letters, visits and video sessions have no address of their own: a
  real-name informant who gave a phone number is told by SMS (the number read from the sealed
  identity inside the sending job, each read an audit event); the others can follow the status
  page and are owed a notice letter for what the law says they must be told. A report whose
  entries were shredded is not notified.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from intake.clock import Clock
from intake.domain import STATUS_LABELS
from intake.notices import MAILED_EVENT, OWED_EVENT, letter_kind
from intake.vault_service import DELIVERY_HANDLES, SMS_BY_IDENTITY, DeliveryHandles
from storage.database import Database
from storage.notifications import NOTIFY_JOB, DeadLetter, NotificationStore
from storage.records import JobRecord

__all__ = [
    "NOTIFY_JOB",
    "AppPushSender",
    "CaseEvent",
    "DeadLetter",
    "DeliveryFailed",
    "DeliveryUnavailable",
    "Notifier",
    "render",
]

log = logging.getLogger("intake.notifier")

Deliver = Callable[[str, str], Awaitable[None]]
MAX_TEXT = 1500
ACTOR = "system:notifier"
RATE_WINDOW = timedelta(hours=1)
MIN_DEFER = timedelta(minutes=1)  # a deferred message never comes due again at once

# What the workflow can tell an informant. ``status_changed`` names the new status (a key of
# intake.domain.STATUS_LABELS); ``deadline`` one of DEADLINE_NOTICES.
EVENTS = ("status_changed", "replied", "deadline")
DEADLINE_NOTICES = {
    "extended": "办理期限已依规延长，我们将在延长的期限内答复您",
    "reminder": "仍在办理中，我们将在规定期限内答复您",
}


class DeliveryUnavailable(Exception):
    """The message cannot be sent now (no sender for the channel, outside the platform's window);
    the job is retried with backoff and ends ``dead`` where operators see it."""


class DeliveryFailed(Exception):
    """The channel refused or failed the send. Carries a short reason, never the handle or text."""


@dataclass(frozen=True)
class CaseEvent:
    """Something about a case the informant should hear of: ``CaseEvent("replied")``,
    ``CaseEvent("status_changed", status="accepted")``, ``CaseEvent("deadline", notice="extended")``."""

    kind: str
    status: str | None = None
    notice: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENTS:
            raise ValueError(f"unknown case event {self.kind!r}")
        if self.kind == "status_changed" and self.status not in STATUS_LABELS:
            raise ValueError("status_changed needs a known status")
        if self.kind == "deadline" and self.notice not in DEADLINE_NOTICES:
            raise ValueError(f"deadline needs a notice in {sorted(DEADLINE_NOTICES)}")

    def params(self) -> dict[str, str]:
        found = {"status": self.status, "notice": self.notice}
        return {k: v for k, v in found.items() if v}


# --- templates ------------------------------------------------------------------------------------


def lookup_hint(channel: str, public_url: str = "", hotline: str = "12388") -> str:
    """How an informant on ``channel`` looks their case up with the query code."""
    if channel == "telegram":
        how = "发送 /status 加查询码"
    elif channel in ("wechat", "weibo", "sms"):
        how = "回复“查询 查询码”"
    elif channel == "phone":
        how = f"拨打 {hotline}，按 2 后输入查询码"
    elif channel == "app":
        how = "在客户端“进度查询”中输入查询码"
    else:
        site = public_url or "网上举报平台"
        how = f"在 {site} 的查询页面输入查询码，或拨打 {hotline}"
    return f"详情请凭查询码查看：{how}。查询码请勿告诉他人。"


def render(
    template: str,
    case_no: str,
    channel: str,
    params: dict[str, Any] | None = None,
    *,
    public_url: str = "",
    hotline: str = "12388",
) -> str:
    """The message for a case event. Deliberately says nothing of the report's content, the
    accused or the reply's text: a phone left on a desk must not tell anyone more than that there
    is news about case ``case_no``."""
    params = params or {}
    hint = lookup_hint(channel, public_url, hotline)
    head = f"【信访举报】您反映的事项（编号 {case_no}）"
    if template == "status_changed":
        label = STATUS_LABELS.get(str(params.get("status")), "已更新")
        return f"{head}办理状态已更新为“{label}”。{hint}"
    if template == "replied":
        return f"{head}已有答复。为保护您的信息，答复内容不在此显示。{hint}"
    if template == "deadline":
        notice = DEADLINE_NOTICES.get(str(params.get("notice")), DEADLINE_NOTICES["reminder"])
        return f"{head}{notice}。{hint}"
    raise ValueError(f"unknown template {template!r}")


# --- the app's push gateway -----------------------------------------------------------------------


class AppPushSender:
    """The ``app`` channel's sender: ``POST {"device_token", "text"}`` as JSON to the deployment's
    push gateway (``INTAKE_APP_PUSH_URL``), which forwards it to the device (APNs, FCM, a vendor's
    push service). Any 2xx is success; anything else fails the job, which retries."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("INTAKE_APP_PUSH_URL must be an absolute http(s) URL")
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __call__(self, device_token: str, text: str) -> None:
        body = {"device_token": device_token, "text": text}
        async with (
            aiohttp.ClientSession(timeout=self._timeout, trust_env=False) as session,
            session.post(self.url, json=body) as resp,
        ):
            if not 200 <= resp.status < 300:
                raise DeliveryFailed(f"push gateway answered HTTP {resp.status}")


# --- the notifier ---------------------------------------------------------------------------------


class Notifier:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        per_hour: int = 5,
        max_attempts: int = 8,
        public_url: str = "",
        hotline: str = "12388",
    ) -> None:
        self._db = db
        self._clock = clock
        self._handles = DeliveryHandles(db, clock, actor=ACTOR)
        self._store = NotificationStore(db)
        self.per_hour = per_hour
        self.max_attempts = max_attempts
        self.public_url = public_url
        self.hotline = hotline
        self.senders: dict[str, Deliver] = {}

    def register(self, channel: str, deliver: Deliver) -> None:
        """A channel's outbound sender, registered when the channel is mounted."""
        self.senders[channel] = deliver

    def reachable(self, channel: str, *, anonymous: bool) -> bool:
        """Whether an informant who reported on ``channel`` can be told of news at all: over the
        channel itself, or (web, letter, visit, video) by SMS when they reported under their name
        and an SMS sender is mounted (whether they gave a number, only the sending job learns).
        The others are owed a notice letter (:mod:`intake.notices`)."""
        if channel in DELIVERY_HANDLES:
            return True
        return channel in SMS_BY_IDENTITY and not anonymous and "sms" in self.senders

    # --- queueing ---------------------------------------------------------------------------------

    async def case_updated(self, report_id: uuid.UUID, event: CaseEvent) -> bool:
        """What the case workflow calls when a case changes status, is replied to, or a deadline
        notice is due: queues the template for the informant. False (nothing queued) when the
        report's channel has no address to answer — web form, letter, visit, video."""
        ref = await self._store.report_ref(report_id)
        if ref is None:
            raise LookupError("no such report")
        if not self.reachable(ref.channel, anonymous=ref.anonymous):
            await self._owe_letter(report_id, ref.channel, ref.anonymous, event.kind, event.params())
            return False
        payload = {
            "report_id": str(report_id),
            "case_no": ref.case_no,
            "template": event.kind,
            "params": event.params(),
        }
        now = self._clock.now()
        await self._store.enqueue(payload, now, now, self.max_attempts)
        return True

    async def enqueue(self, report_id: uuid.UUID, text: str) -> None:
        """Queue a free text to the informant of ``report_id``. Prefer :meth:`case_updated`, whose
        templates are known to reveal nothing; this is for texts written for the informant."""
        now = self._clock.now()
        await self._store.enqueue(
            {"report_id": str(report_id), "text": text[:MAX_TEXT]}, now, now, self.max_attempts
        )

    # --- sending ----------------------------------------------------------------------------------

    async def notify(self, report_id: uuid.UUID, text: str) -> bool:
        """Send now (no queue, no rate limit). False when the report's channel has no address."""
        return await self._send(report_id, lambda _channel: text, {"template": "text"})

    async def run_job(self, job: JobRecord) -> None:
        """The ``notify`` job: rate limit, then the handle from the vault, then the channel's sender."""
        payload = job.payload
        report_id = uuid.UUID(str(payload["report_id"]))
        now = self._clock.now()
        window = await self._store.sent_to_informant_since(report_id, now - RATE_WINDOW)
        if window.sent >= self.per_hour and window.oldest is not None:
            await self._defer(job, window.oldest + RATE_WINDOW, now)
            return
        template = str(payload.get("template") or "text")

        def text_for(channel: str) -> str:
            if template == "text":
                return str(payload["text"])
            return render(
                template,
                str(payload.get("case_no", "")),
                channel,
                payload.get("params") if isinstance(payload.get("params"), dict) else None,
                public_url=self.public_url,
                hotline=self.hotline,
            )

        sent = await self._send(report_id, text_for, {"template": template, "job": job.id})
        if not sent:
            log.info("informant has no channel address", extra={"job_id": job.id})
            ref = await self._store.report_ref(report_id)
            params = payload.get("params")
            if ref is not None:
                await self._owe_letter(
                    report_id,
                    ref.channel,
                    ref.anonymous,
                    template,
                    params if isinstance(params, dict) else {},
                )

    async def _owe_letter(
        self, report_id: uuid.UUID, channel: str, anonymous: bool, template: str, params: dict[str, Any]
    ) -> None:
        """A real-name informant of a channel without an address, not reachable by SMS either, is
        owed a notice letter for what the law says they must be told (:mod:`intake.notices`)."""
        kind = letter_kind(template, params)
        if kind is None or anonymous or channel not in SMS_BY_IDENTITY:
            return
        await self._store.record(report_id, OWED_EVENT, self._clock.now(), ACTOR, {"letter": kind})

    async def _send(
        self, report_id: uuid.UUID, text_for: Callable[[str], str], detail: dict[str, Any]
    ) -> bool:
        found = await self._handles.handle_for_delivery(report_id, purpose="notify")
        if found is None:
            return False
        channel, handle = found
        deliver = self.senders.get(channel)
        if deliver is None:
            raise DeliveryUnavailable(f"no outbound sender for channel {channel}")
        await deliver(handle, text_for(channel)[:MAX_TEXT])
        await self._store.record_sent(report_id, self._clock.now(), ACTOR, {"channel": channel, **detail})
        return True

    async def _defer(self, job: JobRecord, until: datetime, now: datetime) -> None:
        """Over the informant's hourly budget: the same message queued again for ``until`` (a new
        job with its own attempts; this one is done). Delayed, never dropped."""
        payload = {**job.payload, "deferred": int(job.payload.get("deferred", 0)) + 1}
        await self._store.enqueue(payload, max(until, now + MIN_DEFER), now, self.max_attempts)
        log.info("notification deferred by the per-informant rate limit", extra={"job_id": job.id})

    async def letter_mailed(self, report_id: uuid.UUID, letter: int, actor: str) -> None:
        """A staff member posted the notice letter ``letter`` (the owed event's place in the chain)."""
        await self._store.record(report_id, MAILED_EVENT, self._clock.now(), actor, {"letter": letter})

    # --- dead letters -----------------------------------------------------------------------------

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Notifications that gave up after their attempts, newest first: job id, case number,
        channel, template, attempts and the error's kind — never the handle."""
        return await self._store.dead_letters(limit)

    async def retry_dead(self, job_id: int, actor: str = "system:notifier") -> bool:
        """Queue a dead notification again with fresh attempts (e.g. after fixing a channel)."""
        return await self._store.requeue_dead(job_id, self._clock.now(), actor)
