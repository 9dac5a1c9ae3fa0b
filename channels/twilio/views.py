"""Twilio's webhooks: the hotline's voice IVR under ``/channels/twilio/voice…`` and SMS/MMS at
``/channels/twilio/sms``; outbound SMS for the notifier; the jobs that fetch recordings and MMS
pictures into encrypted attachments and then delete them from Twilio.

Order of work for every webhook: a bounded form body (64 KiB, 413 above) → ``X-Twilio-Signature``
checked against ``INTAKE_PUBLIC_URL`` + the requested path (403 ``invalid_signature``, nothing
recorded) → the parameters typed and bounded → the dialogue (which de-duplicates) → TwiML.

The caller's number (``From``) is identity: it is used for the conversation's blind index, put in a
filed report's sealed handles and handed to the SMS client, and is never stored, logged or put in a
URL.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict

from channels.base import ChannelContext, configured_unit, read_body, strip_controls
from channels.twilio import twiml
from channels.twilio.api import TwilioApi, TwilioApiError
from channels.twilio.settings import E164, TwilioSettings
from channels.twilio.sms import MEDIA_JOB, MEDIA_TYPES, SmsDialogue, SmsInbound
from channels.twilio.twiml import Voice
from channels.twilio.voice import (
    RECORDING_DELETE_JOB,
    RECORDING_JOB,
    CallEvent,
    VoiceDialogue,
)
from channels.verify import verify_twilio
from intake.dialogue_texts import Notice
from intake.errors import IntakeError
from intake.limits import MAX_CONTENT
from intake.notifier import DeliveryFailed

log = logging.getLogger("channels.twilio")

PREFIX = "/channels/twilio"
MAX_BODY = 64 * 1024  # an SMS is ≤ 1600 characters; a voice webhook a few hundred bytes
MAX_FIELDS = 200
SMS_BUDGET = 10.0  # seconds: Twilio waits 15 for the webhook's answer
TWIML = "application/xml"
SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")
MAX_MEDIA_PER_MESSAGE = 10  # Twilio's own limit for one MMS


class QueuedJob(Protocol):
    @property
    def payload(self) -> dict[str, Any]: ...


def _rejected() -> IntakeError:
    return IntakeError("签名无效。", code="invalid_signature", status=403)


def _invalid(what: str) -> IntakeError:
    return IntakeError(f"缺少或无效的参数：{what}。", code="invalid_message", status=400)


class TwilioAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings = TwilioSettings.from_section(ctx.settings)
        configured_unit(ctx, "UNIT", self.settings.unit)
        for unit in self.settings.number_units.values():
            configured_unit(ctx, "NUMBER_UNITS", unit)
        self.voice = Voice(
            base_url=self.settings.public_url + PREFIX,
            say_language=self.settings.say_language,
            voice=self.settings.voice,
            speech_language=self.settings.speech_language,
            record_seconds=self.settings.record_seconds,
        )
        self.api: TwilioApi | None = None  # built in start, inside the running loop
        self.sms = SmsDialogue(
            ctx.intake,
            channel="sms",
            platform="短信",
            notice=Notice(),
            media_job=MEDIA_JOB,
            unit=self.settings.unit,
        )
        self.calls = VoiceDialogue(ctx.intake, self.settings, self.voice)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post(f"{PREFIX}/voice", self.voice_webhook),
            web.post(f"{PREFIX}/voice/{{step}}", self.voice_webhook),
            web.post(f"{PREFIX}/sms", self.sms_webhook),
        ]

    def start(self) -> None:
        self.sms.notice = Notice(self.ctx.public_url, self.ctx.hotline)
        self.api = api = TwilioApi(
            self.settings.api_base,
            self.settings.account_sid,
            self.settings.auth_token,
            self.settings.sms_from,
        )
        self.ctx.register_job(RECORDING_JOB, self.fetch_recording)
        self.ctx.register_job(RECORDING_DELETE_JOB, self.delete_recording)
        self.ctx.register_job(MEDIA_JOB, self.fetch_media)
        if self.settings.sms_from is None:
            log.info(
                "outbound SMS off: INTAKE_TWILIO_SMS_FROM not set (no receipts or notifications by SMS)",
                extra={"channel": "sms"},
            )
        else:
            self.calls.send_sms = api.send_sms
            self.ctx.register_sender("sms", self.deliver)
            self.ctx.register_sender("phone", self.deliver)
        self.ctx.on_cleanup(api.close)

    # --- inbound ----------------------------------------------------------------------------------

    async def _verified_form(self, request: web.Request) -> MultiDict[str]:
        raw = await read_body(request, MAX_BODY)
        if request.content_type != "application/x-www-form-urlencoded":
            self.ctx.metrics.channel_events.labels("twilio", "rejected").inc()
            raise IntakeError("请求体应为表单。", code="unsupported_media_type", status=415)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise IntakeError("请求体不是有效的表单。", code="invalid_body", status=400) from None
        form: MultiDict[str] = MultiDict(pairs)
        if not verify_twilio(
            self.settings.auth_token,
            self.settings.public_url,
            request.raw_path,
            form,
            request.headers.get("X-Twilio-Signature"),
        ):
            self.ctx.metrics.channel_events.labels("twilio", "rejected").inc()
            raise _rejected()
        if form.get("AccountSid") != self.settings.account_sid:
            raise _rejected()  # signed by our token for another account: not ours either
        # Removed only now, as Twilio signed the values as sent; Twilio needs its answer.
        return MultiDict((k, strip_controls(v)) for k, v in pairs)

    async def voice_webhook(self, request: web.Request) -> web.Response:
        step = request.match_info.get("step", "incoming")
        form = await self._verified_form(request)
        if step not in self.calls.routes:
            raise IntakeError("没有这个地址。", code="not_found", status=404)
        event = parse_call(step, request.query, form)
        event = replace(event, unit=self.settings.unit_of(event.our_number))
        reply = await self.calls.handle(event, retry_budget=8.0)
        return web.Response(text=reply or twiml.empty_voice(), content_type=TWIML)

    async def sms_webhook(self, request: web.Request) -> web.Response:
        form = await self._verified_form(request)
        message = parse_sms(form, self.settings.account_sid)
        message = replace(message, unit=self.settings.unit_of(_number(form, "To")))
        reply = await self.sms.handle_within(message, SMS_BUDGET, late=self._late(message.handle))
        return web.Response(text=twiml.messaging(reply), content_type=TWIML)

    def _late(self, number: str) -> Any:
        api = self.api
        if api is None or api.sender is None:
            return None

        async def send(text: str) -> None:
            for part in twiml.split_sms(text):
                await api.send_sms(number, part)

        return send

    # --- outbound and jobs ------------------------------------------------------------------------

    async def deliver(self, number: str, text: str) -> None:
        """The notifier's sender for ``sms`` and ``phone`` reports: the number comes from the vault."""
        assert self.api is not None
        for part in twiml.split_sms(text):
            try:
                await self.api.send_sms(number, part)
            except TwilioApiError as exc:
                raise DeliveryFailed(f"Twilio answered HTTP {exc.status} (code {exc.code})") from None

    async def fetch_recording(self, job: QueuedJob) -> None:
        """Job: a call recording into an encrypted attachment of its case, then deleted from
        Twilio. Failures (not filed yet, not ready, Twilio down, a body not whole) are retried
        with backoff; the delete comes only after the attachment is committed."""
        assert self.api is not None
        sid = str(job.payload["recording"])
        case_no = await self.calls.case_of_recording(str(job.payload["call"]), sid)
        data = await self.api.download_recording(sid)
        await self.calls.attach(case_no, "recording", data)
        try:
            await self.api.delete_recording(sid)
        except TwilioApiError:
            # Kept: a retry of this job would attach the recording twice. Its own job deletes it.
            await self.calls.enqueue_delete(sid)

    async def delete_recording(self, job: QueuedJob) -> None:
        assert self.api is not None
        await self.api.delete_recording(str(job.payload["recording"]))

    async def fetch_media(self, job: QueuedJob) -> None:
        """Job: an MMS picture into an encrypted attachment, then (once committed) deleted from
        Twilio. A download not whole raises, so the job retries and nothing is deleted."""
        assert self.api is not None
        path, message_sid, media_sid = self.api.media_path(str(job.payload["media_id"]))
        data = await self.api.download(path)
        await self.sms.attach(str(job.payload["case_no"]), "mms", data)
        try:
            await self.api.delete_media(message_sid, media_sid)
        except TwilioApiError:
            log.warning("MMS picture not deleted from Twilio", extra={"channel": "sms"})


# --- parsing ----------------------------------------------------------------------------------------


def _sid(form: MultiDict[str], name: str, prefix: str, *, required: bool = True) -> str:
    value = form.get(name, "")
    if not value and not required:
        return ""
    if not SID.fullmatch(value) or not value.startswith(prefix):
        raise _invalid(name)
    return value


def _number(form: MultiDict[str], name: str) -> str:
    """An E.164 number, or "" when withheld ("anonymous", "+266696687" …) or not a number."""
    value = form.get(name, "").strip()
    return value if E164.fullmatch(value) else ""


def _int(value: str | None, limit: int = 10**6) -> int:
    return (
        int(value)
        if value and value.isascii() and value.isdigit() and len(value) <= 7 and int(value) <= limit
        else 0
    )


def parse_call(step: str, query: Any, form: MultiDict[str]) -> CallEvent:
    call_sid = _sid(form, "CallSid", "CA")
    n = _int(query.get("n"))
    digits = form.get("Digits", "")
    if len(digits) > 32 or not all(c.isdigit() or c in "*#" for c in digits):
        raise _invalid("Digits")
    speech = form.get("SpeechResult", "")
    seq = 0
    if step == "partial":
        stable, unstable = form.get("StableSpeechResult", ""), form.get("UnstableSpeechResult", "")
        speech = stable if len(stable) >= len(unstable) else unstable
        seq = _int(form.get("SequenceNumber"))
    status = form.get("CallStatus", "")
    if step == "dialed":
        status = form.get("DialCallStatus", "")
    recording = ""
    if step in ("recorded", "recording-status"):
        recording = _sid(form, "RecordingSid", "RE", required=False)
        status = form.get("RecordingStatus", status) if step == "recording-status" else status
    route_id = {
        "incoming": "0",
        "status": status,
        "partial": f"{_int(query.get('k'))}|{seq}",
        "recording-status": f"{recording}|{status}",
    }.get(step, str(n))
    return CallEvent(
        channel="phone",
        handle_kind="phone",
        handle=_number(form, "From"),
        message_id=f"{call_sid}|{step}|{route_id}"[:300],
        kind="event",
        call_sid=call_sid,
        route=step,
        n=n,
        digits=digits,
        speech=speech[:5000],
        recording_sid=recording,
        recording_seconds=_int(form.get("RecordingDuration")),
        call_status=status[:32],
        k=_int(query.get("k")),
        seq=seq,
        our_number=_number(form, "To"),
    )


def parse_sms(form: MultiDict[str], account_sid: str) -> SmsInbound:
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    if not SID.fullmatch(sid) or sid[:2] not in ("SM", "MM"):
        raise _invalid("MessageSid")
    sender = _number(form, "From")
    if not sender:
        raise _invalid("From")
    body = form.get("Body", "")
    media: list[str] = []
    skipped = 0
    for i in range(min(_int(form.get("NumMedia")), MAX_MEDIA_PER_MESSAGE)):
        url = form.get(f"MediaUrl{i}", "")
        kind = form.get(f"MediaContentType{i}", "").split(";")[0].strip().lower()
        if kind in MEDIA_TYPES and url.startswith(("https://", "http://")) and len(url) <= 500:
            media.append(url)
        else:
            skipped += 1
    return SmsInbound(
        channel="sms",
        handle_kind="phone",
        handle=sender,
        message_id=sid,
        kind="text",
        text=body[:MAX_CONTENT],
        media=tuple(media),
        skipped_media=skipped,
    )
