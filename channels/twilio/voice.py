"""The phone hotline's IVR, in Mandarin, on the platform dialogue engine.

One call is one conversation of :class:`intake.conversations.Conversations`: its state is keyed by
a keyed hash of the ``CallSid`` (never the caller's number) and sealed by storage; each webhook is
one platform message, identified by the call, the route and the step number ``n`` that our own
TwiML put into the action URL. A webhook Twilio sends twice therefore gets the first answer again
and changes nothing; a report is filed with the keyed hash of (call, report number) as its
external id, so the two ways a report can be filed — the ``<Record>`` action and the hang-up — make
one report between them.

The flow::

    incoming ─► greeting, privacy notice, menu (keys or words)
      1 举报 ─► summary (speech → text; partial results kept as they come) ─► <Record> (status
               callback → download job) ─► filed ─► receipt read slowly twice ─► SMS if wanted
      2 查询 ─► 16-digit query code ─► status and latest reply ─► menu
      3 补充 ─► query code ─► what to add (speech) ─► follow-up ─► menu
      0 人工 ─► <Dial> the office during office hours (it sees the hotline's number, not the caller's)
      9 重听; silence → asked again, then goodbye; hang-up → what was said is filed

Three lanes per call keep concurrent callbacks from overwriting each other: ``call`` (the steps
above and the hang-up), ``partial`` (speech recognised so far) and ``recording`` (status callbacks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.twilio import twiml
from channels.twilio.api import TwilioApiError
from channels.twilio.settings import TwilioSettings
from channels.twilio.twiml import Voice
from intake.channel_intake import ChannelIntake
from intake.conversations import Conversations, Inbound, Outcome
from intake.dialogue_texts import Notice, clean_text
from intake.domain import Receipt, Submission, format_query_code, normalise_query_code
from intake.errors import Conflict, IntakeError, NotFound, RateLimited
from intake.limits import MAX_CONTENT

log = logging.getLogger("channels.twilio.voice")

RECORDING_JOB = "twilio_recording"
RECORDING_DELETE_JOB = "twilio_recording_delete"
MAX_MISSES = 3  # silent or unclear answers at the menu before the call is ended politely

SendSms = Callable[[str, str], Awaitable[Any]]


@dataclass(frozen=True)
class CallEvent(Inbound):
    """One voice webhook, normalised. ``handle`` is the caller's number (E.164) or empty when it is
    withheld; it goes only into a filed report's sealed handles and the receipt SMS."""

    call_sid: str = ""
    route: str = ""
    n: int = 0
    digits: str = ""
    speech: str = ""
    recording_sid: str = ""
    recording_seconds: int = 0
    call_status: str = ""
    k: int = 0
    seq: int = 0
    our_number: str = ""


class RecordingNotFiled(Exception):
    """The report a recording belongs to is not filed yet: the job is retried with backoff."""


def choice_of(digits: str, speech: str) -> str:
    """The menu key the caller pressed or said."""
    if digits:
        return digits[:1]
    said = speech.strip(" 。，,.!！?？")
    if not said:
        return ""
    for key, words in (
        ("3", ("补充", "三")),
        ("2", ("查询", "进展", "二", "两")),
        ("1", ("举报", "反映", "一", "幺")),
        ("0", ("人工", "转接", "工作人员", "零")),
        ("9", ("重听", "重复", "再听", "九")),
    ):
        if any(w in said for w in words):
            return key
    return "?"


def consent_of(digits: str, speech: str) -> str:
    """The answer to "send the receipt by SMS?": 1 yes, 2 again, 3 no."""
    if digits:
        return digits[:1]
    said = speech.strip()
    if not said:
        return ""
    if any(w in said for w in ("不", "别", "三")):
        return "3"
    if any(w in said for w in ("再听", "重复", "二")):
        return "2"
    if any(w in said for w in ("需要", "要", "好", "是", "发", "一")):
        return "1"
    return "?"


def receipt_sms(case_no: str, query_code: str) -> str:
    return (
        "您的举报已受理登记。\n"
        f"案件编号：{case_no}\n"
        f"查询码：{format_query_code(query_code)}\n"
        "请妥善保存查询码，不要告诉他人。发送“查询 查询码”到本号码可了解办理进展。"
    )


class VoiceDialogue(Conversations):
    def __init__(
        self,
        intake: ChannelIntake,
        settings: TwilioSettings,
        voice: Voice,
        *,
        send_sms: SendSms | None = None,
    ) -> None:
        super().__init__(intake, channel="phone", platform="电话", notice=Notice(), unit=settings.unit)
        self.settings = settings
        self.voice = voice
        self.send_sms = send_sms  # None: outbound SMS not configured, no receipt by SMS
        self._routes: dict[str, Callable[[CallEvent, dict[str, Any]], Awaitable[Outcome]]] = {
            "menu": self._menu_choice,
            "summary": self._summary,
            "recorded": self._recorded,
            "receipt": self._receipt,
            "query": self._query,
            "add-code": self._add_code,
            "add": self._add,
            "dialed": self._dialed,
        }

    @property
    def routes(self) -> frozenset[str]:
        return frozenset(self._routes) | {"incoming", "status", "partial", "recording-status"}

    # keys -------------------------------------------------------------------------------------

    def lane_key(self, call_sid: str, lane: str) -> str:
        return self.intake.mac("twilio-call", f"{call_sid}|{lane}".encode())

    def conversation_key(self, msg: Inbound) -> str:
        assert isinstance(msg, CallEvent)
        lane = {"partial": "partial", "recording-status": "recording"}.get(msg.route, "call")
        return self.lane_key(msg.call_sid, lane)

    def _client_key(self, msg: CallEvent) -> str:
        """Rate limits for query codes: per caller number (keyed), else per call."""
        return self.intake.mac("client", f"phone|{msg.handle or msg.call_sid}".encode())

    # the flow ---------------------------------------------------------------------------------

    async def step(self, msg: Inbound, conv_key: str, msg_key: str) -> Outcome:
        assert isinstance(msg, CallEvent)
        if msg.route == "partial":
            return await self._partial(msg, conv_key)
        if msg.route == "recording-status":
            return self._recording(msg)
        state: dict[str, Any] = await self.saved_draft(conv_key) or {}
        if msg.route == "status":
            return await self._ended(msg, state)
        if msg.route == "incoming" or not state:
            return self._menu({"n": 0, "k": 0}, greet=True)
        try:
            return await self._routes[msg.route](msg, state)
        except RateLimited:
            return self._bye(state, twiml.TOO_FAST)
        except IntakeError as exc:
            log.warning("call step refused", extra={"channel": "phone", "reason": exc.code})
            return self._bye(state, twiml.TROUBLE)

    def _advance(self, state: dict[str, Any], at: str) -> int:
        state["n"] = int(state.get("n", 0)) + 1
        state["at"] = at
        return int(state["n"])

    def _dial_open(self) -> bool:
        return self.settings.dial_number is not None and self.settings.office.open_at(self.clock.now())

    def _menu(self, state: dict[str, Any], *, lead: str = "", greet: bool = False) -> Outcome:
        n = self._advance(state, "menu")
        reply = self.voice.menu(n, lead=lead, greet=greet, dial=self._dial_open())
        return Outcome(reply, "menu", state)

    def _bye(self, state: dict[str, Any], lead: str = "") -> Outcome:
        state.pop("code", None)
        state.pop("q", None)
        state["at"] = "bye"
        return Outcome(self.voice.goodbye(lead), "bye", state)

    def _missed(self, state: dict[str, Any]) -> bool:
        """Count a silent or unclear answer; True when it is one too many."""
        state["misses"] = int(state.get("misses", 0)) + 1
        return int(state["misses"]) >= MAX_MISSES

    async def _menu_choice(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        choice = choice_of(msg.digits, msg.speech)
        if choice in ("", "?"):
            if self._missed(state):
                return self._bye(state, twiml.NO_INPUT if not choice else twiml.NOT_UNDERSTOOD)
            return self._menu(state, lead=twiml.NO_INPUT if not choice else twiml.NOT_UNDERSTOOD)
        state["misses"] = 0
        state["tries"] = 0
        if choice == "1":
            state.update(pending=True, summary="", recorded=False)
            n = self._advance(state, "summary")
            return Outcome(self.voice.ask_summary(n, int(state["k"])), "summary", state)
        if choice in ("2", "3"):
            step = "query" if choice == "2" else "add-code"
            n = self._advance(state, step)
            return Outcome(self.voice.ask_code(step, n), step, state)
        if choice == "0" and self.settings.dial_number is not None:
            if not self._dial_open():
                return self._menu(state, lead=twiml.OFF_HOURS.format(hours=self.settings.office.text))
            n = self._advance(state, "dial")
            reply = self.voice.dial(n, self.settings.dial_number, msg.our_number or None)
            return Outcome(reply, "dial", state)
        if choice in ("9", "*"):
            return self._menu(state)
        if self._missed(state):
            return self._bye(state, twiml.NOT_UNDERSTOOD)
        return self._menu(state, lead=twiml.NOT_UNDERSTOOD)

    async def _summary(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        text = clean_text(msg.speech)
        if text:
            state.update(summary=text[:MAX_CONTENT], recorded=True)
            n = self._advance(state, "record")
            return Outcome(self.voice.record(n, text_taken=True), "record", state)
        state["tries"] = int(state.get("tries", 0)) + 1
        if state["tries"] < 2:
            n = self._advance(state, "summary")
            reply = self.voice.ask_summary(n, int(state["k"]), lead=twiml.SUMMARY_AGAIN)
            return Outcome(reply, "summary", state)
        # Not understood twice (a dialect, a noisy line): the recording carries the report.
        state["recorded"] = True
        n = self._advance(state, "record")
        return Outcome(self.voice.record(n, text_taken=False), "record", state)

    async def _recorded(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        if not state.get("pending"):
            return self._menu(state)
        heard = msg.recording_sid and msg.recording_seconds > 0
        if not heard and not await self._what_was_said(msg.call_sid, state):
            state["pending"] = False
            return self._menu(state, lead="没有录到您讲述的内容。" + twiml.BACK_TO_MENU)
        receipt = await self._file(msg, state, recorded=bool(heard))
        if receipt is None:  # not reached: something was said or recorded
            return self._menu(state)
        if msg.recording_sid:
            state.setdefault("recordings", {})[msg.recording_sid] = receipt.case_no
        return self._read_receipt(state, receipt.case_no, receipt.query_code)

    def _read_receipt(self, state: dict[str, Any], case_no: str, code: str | None, lead: str = "") -> Outcome:
        if code is None:  # a retry past the receipt window: only the case number is known
            return self._menu(state, lead=f"您的举报已登记，案件编号：{twiml.spell(case_no)}。")
        state["code"] = code  # sealed with the state, dropped once the caller has it
        n = self._advance(state, "receipt")
        sms = self.send_sms is not None
        reply = self.voice.receipt(n, case_no, code, sms=sms, lead=lead or twiml.RECEIPT_INTRO)
        return Outcome(reply, "receipt", state)

    async def _receipt(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        code, case_no = state.get("code"), str(state.get("case_no", ""))
        if not isinstance(code, str):
            return self._menu(state)
        choice = consent_of(msg.digits, msg.speech)
        if choice == "1" and self.send_sms is not None and msg.handle:
            sent = await self._send_receipt(msg.handle, case_no, code)
            state.pop("code", None)
            lead = (twiml.SMS_SENT if sent else twiml.SMS_FAILED) + twiml.THANKS + twiml.BACK_TO_MENU
            return self._menu(state, lead=lead)
        if choice == "2":
            return self._read_receipt(state, case_no, code, lead=twiml.RECEIPT_AGAIN)
        if choice == "":
            if int(state.get("receipt_waits", 0)) >= 1:
                return self._bye(state, twiml.THANKS)
            state["receipt_waits"] = 1
            return self._read_receipt(state, case_no, code, lead=twiml.NO_INPUT)
        state.pop("code", None)
        return self._menu(state, lead=twiml.THANKS + twiml.BACK_TO_MENU)

    async def _send_receipt(self, number: str, case_no: str, code: str) -> bool:
        assert self.send_sms is not None
        try:
            await asyncio.wait_for(self.send_sms(number, receipt_sms(case_no, code)), 8)
        except (TwilioApiError, TimeoutError) as exc:
            log.warning("receipt SMS not sent", extra={"channel": "phone", "reason": type(exc).__name__})
            return False
        return True

    async def _code(
        self, msg: CallEvent, state: dict[str, Any], step: str
    ) -> tuple[str | None, Outcome | None]:
        """The query code the caller keyed, checked (and rate-limited) by the pipeline."""
        if not msg.digits:
            state["tries"] = int(state.get("tries", 0)) + 1
            if state["tries"] >= 2:
                return None, self._menu(state, lead=twiml.NO_INPUT + twiml.BACK_TO_MENU)
            n = self._advance(state, step)
            return None, Outcome(self.voice.ask_code(step, n, lead=twiml.NO_INPUT), step, state)
        code = normalise_query_code(msg.digits)
        try:
            if code is None:
                raise NotFound("bad code")
            await self.intake.status(code, self._client_key(msg))
        except NotFound:
            state["tries"] = int(state.get("tries", 0)) + 1
            if state["tries"] >= 3:
                return None, self._menu(state, lead=twiml.QUERY_BAD + twiml.BACK_TO_MENU)
            n = self._advance(state, step)
            return None, Outcome(self.voice.ask_code(step, n, lead=twiml.QUERY_BAD), step, state)
        return code, None

    async def _query(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        code, retry = await self._code(msg, state, "query")
        if code is None:
            assert retry is not None
            return retry
        found = await self.intake.status(code, self._client_key(msg))
        return self._menu(state, lead=twiml.status_speech(found) + twiml.BACK_TO_MENU)

    async def _add_code(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        code, retry = await self._code(msg, state, "add-code")
        if code is None:
            assert retry is not None
            return retry
        state.update(q=code, tries=0)
        n = self._advance(state, "add")
        return Outcome(self.voice.ask_addition(n), "add", state)

    async def _add(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        code = state.get("q")
        if not isinstance(code, str):
            return self._menu(state)
        text = clean_text(msg.speech)
        if not text:
            state["tries"] = int(state.get("tries", 0)) + 1
            if state["tries"] < 2:
                n = self._advance(state, "add")
                return Outcome(self.voice.ask_addition(n, lead=twiml.ADD_AGAIN), "add", state)
            state.pop("q", None)
            return self._menu(state, lead=twiml.ADD_NONE + twiml.BACK_TO_MENU)
        await self.intake.add_followup(code, text[:MAX_CONTENT], "phone", self._client_key(msg))
        state.pop("q", None)
        return self._menu(state, lead=twiml.ADD_DONE + twiml.BACK_TO_MENU)

    async def _dialed(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        if msg.call_status == "completed":
            return self._bye(state)
        return self._menu(state, lead=twiml.DIAL_FAILED)

    # filing -----------------------------------------------------------------------------------

    async def _what_was_said(self, call_sid: str, state: dict[str, Any]) -> str:
        """The summary the caller gave, or else what speech recognition had heard when the call
        broke off (the partial-results lane of the same report)."""
        summary = str(state.get("summary") or "")
        if summary:
            return summary
        partial = await self.saved_draft(self.lane_key(call_sid, "partial"))
        if partial is not None and partial.get("k") == state.get("k"):
            return str(partial.get("text") or "")
        return ""

    async def _file(self, msg: CallEvent, state: dict[str, Any], *, recorded: bool) -> Receipt | None:
        """File the report in progress; None when nothing was said or recorded."""
        k = int(state.get("k", 0))
        text = await self._what_was_said(msg.call_sid, state)
        if not text and not recorded:
            return None
        sub = Submission(
            channel="phone",
            content=(text or twiml.RECORDING_ONLY_CONTENT)[:MAX_CONTENT],
            anonymous=True,
            external_id=self.intake.mac("twilio-report", f"{msg.call_sid}|{k}".encode()),
            handles={"phone": msg.handle} if msg.handle else {},
            receiving_unit=msg.unit or self.unit,
        )
        receipt = await self.intake.accept(sub)
        state.update(pending=False, k=k + 1, case_no=receipt.case_no, summary="", recorded=False)
        return receipt

    async def _ended(self, msg: CallEvent, state: dict[str, Any]) -> Outcome:
        """The call is over (Twilio's status callback): a report in progress is filed with what was
        said, even though the caller never reached the end of the flow."""
        state.pop("code", None)
        state.pop("q", None)
        if state.get("pending") and msg.call_status == "completed":
            try:
                receipt = await self._file(msg, state, recorded=bool(state.get("recorded")))
            except Conflict:
                # The <Record> action filed the same report with other words heard meanwhile.
                receipt = None
            if receipt is not None:
                self.metrics.channel_events.labels("phone", "filed_on_hangup").inc()
        state["at"] = "ended"
        return Outcome(None, "ended", state)

    # callbacks --------------------------------------------------------------------------------

    async def _partial(self, msg: CallEvent, conv_key: str) -> Outcome:
        draft = await self.saved_draft(conv_key) or {}
        newer = (msg.k, msg.seq) > (int(draft.get("k", -1)), int(draft.get("seq", -1)))
        text = clean_text(msg.speech)
        if newer and text:
            draft = {"k": msg.k, "seq": msg.seq, "text": text[:MAX_CONTENT]}
        return Outcome(None, "partial", draft)

    def _recording(self, msg: CallEvent) -> Outcome:
        if msg.call_status != "completed" or not msg.recording_sid:
            self.metrics.channel_events.labels(
                "phone", "recording_" + (msg.call_status or "unknown")[:16]
            ).inc()
            return Outcome(None, "idle", {})
        payload = {"call": self.lane_key(msg.call_sid, "call"), "recording": msg.recording_sid}
        return Outcome(None, "idle", {}, [(RECORDING_JOB, payload)])

    async def case_of_recording(self, call_key: str, recording_sid: str) -> str:
        """The case a recording belongs to, from the call's state (the job's first question)."""
        state = await self.saved_draft(call_key)
        if state is None:
            raise RecordingNotFiled("no such call")
        case_no = state.get("recordings", {}).get(recording_sid)
        if case_no is None and not state.get("pending"):
            case_no = state.get("case_no")  # filed on hang-up, before Twilio named the recording
        if not isinstance(case_no, str):
            raise RecordingNotFiled("report not filed yet")
        return case_no

    async def enqueue_delete(self, recording_sid: str) -> None:
        await self.enqueue(RECORDING_DELETE_JOB, {"recording": recording_sid})
