"""What the caller hears and the texter reads: the IVR's prompts in Simplified Chinese and the
TwiML that carries them, built with twilio's own ``VoiceResponse`` and ``MessagingResponse``.

Every action URL is absolute, on ``INTAKE_PUBLIC_URL``, and carries the step number ``n`` of the
call: Twilio signs exactly that URL, and a retried step (same call, same ``n``) is recognised and
answered as the first time (see :mod:`channels.twilio.voice`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, Say, VoiceResponse

from intake.clock import CHINA
from intake.domain import CaseStatus

MAX_SMS_CHARS = 1600  # Twilio's limit for one message (it splits it into segments itself)

# --- prompts ------------------------------------------------------------------------------------

GREETING = "您好，这里是纪检监察机关举报电话。"
PRIVACY = (
    "为准确记录您反映的问题，通话中您讲述的内容会被录音并转为文字。"
    "您的电话号码将加密保管，只用于告知办理结果，不会告诉任何被反映人。您可以不说姓名，匿名举报。"
)
MENU = "举报问题，请按1，或说“举报”；查询办理进展，请按2，或说“查询”；补充材料，请按3，或说“补充”；"
MENU_DIAL = "转接工作人员，请按0；"
MENU_REPEAT = "重听，请按9。"
NO_INPUT = "没有收到您的选择。"
NOT_UNDERSTOOD = "抱歉，没有听清您的选择。"
GOODBYE = "感谢您的来电，再见。"
SUMMARY = "请用一两句话，简要说明您要反映的问题：涉及谁，什么事。请现在开始讲。"
SUMMARY_AGAIN = "没有听清，请再说一遍。"
RECORD = (
    "好的，已经记下。请在提示音后详细讲述：事情经过、时间地点、涉及的人员和证据。"
    "讲完请按井号键；没有要补充的，请直接按井号键。"
)
RECORD_ONLY = "请在提示音后讲述您要反映的问题，我们会录音记录。讲完请按井号键。"
RECEIPT_INTRO = "您的举报已受理登记。请拿笔记下案件编号和查询码，查询码请不要告诉他人。"
RECEIPT_AGAIN = "再重复一遍。"
RECEIPT_MENU_SMS = (
    "需要把案件编号和查询码用短信发到您这部电话上，请按1，或说“需要”；再听一遍，请按2；不需要，请按3。"
)
RECEIPT_MENU = "再听一遍，请按2；返回主菜单，请按3。"
SMS_SENT = "短信已发送。请妥善保管查询码。"
SMS_FAILED = "短信没有发送成功，请以刚才听到的为准。"
THANKS = "感谢您的举报。"
QUERY = "请用电话按键输入16位查询码，输完请按井号键。"
QUERY_BAD = "查询码不正确。"
ADD_CODE = "请用电话按键输入要补充材料的案件的16位查询码，输完请按井号键。"
ADD = "请讲述您要补充的内容，讲完请稍等。"
ADD_AGAIN = "没有听清补充内容，请再说一遍。"
ADD_DONE = "补充内容已收到，已附入您的案件。"
ADD_NONE = "没有记录到补充内容。"
DIALING = "正在为您转接工作人员，请稍候。"
DIAL_FAILED = "工作人员暂时无法接听。您可以按提示自助举报，或稍后再拨。"
OFF_HOURS = "现在是非工作时间，人工服务时间为工作日 {hours}。"
TOO_FAST = "操作过于频繁，请稍后再拨。"
TROUBLE = "系统暂时无法处理，请稍后再拨。"
BACK_TO_MENU = "返回主菜单。"
RATE_MENU = "对这次答复，满意请按1，基本满意请按2，不满意请按3；"
REVIEW_MENU = "不服答复意见、申请{word}，请按4；"
LOOP_BACK = "返回主菜单，请按0。"
REASON = "请讲述申请{word}的理由，讲完请稍等。"
REASON_AGAIN = "没有听清理由，请再说一遍。"
REASON_NONE = "没有记录到理由，申请没有提交。"

# What a report says when the caller was recorded but nothing was recognised as text.
RECORDING_ONLY_CONTENT = "（电话举报：来电人的讲述未能转为文字，内容见电话录音附件。）"

DIGITS = str.maketrans("0123456789", "零幺二三四五六七八九")


def spell(value: str, group: int = 0) -> str:
    """Digits one by one, the way numbers are read on the telephone (1 as 幺), groups separated by
    a pause: ``2026-000042`` → ``二 零 二 六，零 零 零 零 四 二``."""
    parts = (
        value.replace("-", " ").split()
        if group == 0
        else [value[i : i + group] for i in range(0, len(value), group)]
    )
    return "，".join(" ".join(p.translate(DIGITS)) for p in parts if p)


# --- the voice ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """How the IVR speaks and listens, and where Twilio is sent next. The languages are settings:
    Twilio's accepted values change and a wrong one only shows at call time (warning 13512)."""

    base_url: str  # INTAKE_PUBLIC_URL + /channels/twilio
    say_language: str = "cmn-CN"
    voice: str = "Polly.Zhiyu"
    speech_language: str = "zh-CN"
    record_seconds: int = 300

    def url(self, step: str, **query: object) -> str:
        q = urlencode({k: v for k, v in query.items() if v is not None})
        return f"{self.base_url}/voice/{step}" + (f"?{q}" if q else "")

    def say(self, parent: VoiceResponse | Gather, text: str) -> None:
        parent.say(text, language=self.say_language, voice=self.voice)

    def slow(self, parent: VoiceResponse | Gather, text: str) -> None:
        """Said slowly (SSML prosody), for what the caller must write down."""
        say = Say(language=self.say_language, voice=self.voice)
        say.prosody(text, rate="slow")
        parent.append(say)

    def gather_choice(self, step: str, n: int, *, digits: int = 1, speech: bool = True) -> Gather:
        """A menu: a key or a word. With ``actionOnEmptyResult`` Twilio comes back on silence too,
        which is how the timeout path is reached."""
        return Gather(
            input="speech dtmf" if speech else "dtmf",
            language=self.speech_language if speech else None,
            action=self.url(step, n=n),
            method="POST",
            num_digits=digits,
            timeout=6,
            speech_timeout="auto" if speech else None,
            hints="举报,查询,补充,人工,重听,需要,不需要" if speech else None,
            action_on_empty_result=True,
        )

    def gather_code(self, step: str, n: int) -> Gather:
        return Gather(
            input="dtmf",
            action=self.url(step, n=n),
            method="POST",
            num_digits=16,
            finish_on_key="#",
            timeout=15,
            action_on_empty_result=True,
        )

    def gather_speech(self, step: str, n: int, partial: str | None = None) -> Gather:
        return Gather(
            input="speech",
            language=self.speech_language,
            action=self.url(step, n=n),
            method="POST",
            timeout=8,
            speech_timeout="auto",
            action_on_empty_result=True,
            partial_result_callback=partial,
            partial_result_callback_method="POST" if partial else None,
        )

    # whole responses -------------------------------------------------------------------------

    def menu(self, n: int, *, lead: str = "", greet: bool = False, dial: bool = False) -> str:
        vr = VoiceResponse()
        if greet:
            self.say(vr, GREETING + PRIVACY)
        g = self.gather_choice("menu", n)
        self.say(g, lead + MENU + (MENU_DIAL if dial else "") + MENU_REPEAT)
        vr.append(g)
        return str(vr)

    def goodbye(self, lead: str = "") -> str:
        vr = VoiceResponse()
        self.say(vr, lead + GOODBYE)
        vr.hangup()
        return str(vr)

    def ask_summary(self, n: int, k: int, *, lead: str = "") -> str:
        vr = VoiceResponse()
        g = self.gather_speech("summary", n, partial=self.url("partial", k=k))
        self.say(g, lead + SUMMARY)
        vr.append(g)
        return str(vr)

    def record(self, n: int, *, text_taken: bool) -> str:
        vr = VoiceResponse()
        self.say(vr, RECORD if text_taken else RECORD_ONLY)
        vr.record(
            action=self.url("recorded", n=n),
            method="POST",
            max_length=self.record_seconds,
            timeout=10,
            finish_on_key="#",
            play_beep=True,
            trim="trim-silence",
            recording_status_callback=self.url("recording-status"),
            recording_status_callback_method="POST",
            recording_status_callback_event="completed absent",
        )
        return str(vr)

    def receipt(self, n: int, case_no: str, query_code: str, *, sms: bool, lead: str = "") -> str:
        """The case number and query code, slowly, twice; then the offer to send them by SMS."""
        vr = VoiceResponse()
        if lead:
            self.say(vr, lead)
        for i in range(2):
            if i:
                self.say(vr, RECEIPT_AGAIN)
            self.slow(vr, f"案件编号：{spell(case_no)}。")
            vr.pause(length=1)
            self.slow(vr, f"查询码：{spell(query_code, 4)}。")
            vr.pause(length=1)
        g = self.gather_choice("receipt", n)
        self.say(g, RECEIPT_MENU_SMS if sms else RECEIPT_MENU)
        vr.append(g)
        return str(vr)

    def ask_code(self, step: str, n: int, *, lead: str = "") -> str:
        vr = VoiceResponse()
        g = self.gather_code(step, n)
        self.say(g, lead + (QUERY if step == "query" else ADD_CODE))
        vr.append(g)
        return str(vr)

    def ask_addition(self, n: int, *, lead: str = "") -> str:
        vr = VoiceResponse()
        g = self.gather_speech("add", n)
        self.say(g, lead + ADD)
        vr.append(g)
        return str(vr)

    def after_status(self, n: int, *, lead: str, rate: bool, review: str | None) -> str:
        """After a status: rate the answer (1–3), ask for review (4), or back to the menu (0)."""
        vr = VoiceResponse()
        g = self.gather_choice("loop", n, speech=False)
        menu = (RATE_MENU if rate else "") + (REVIEW_MENU.format(word=review) if review else "")
        self.say(g, lead + menu + LOOP_BACK)
        vr.append(g)
        return str(vr)

    def ask_reason(self, n: int, word: str, *, lead: str = "") -> str:
        vr = VoiceResponse()
        g = self.gather_speech("reason", n)
        self.say(g, lead + REASON.format(word=word))
        vr.append(g)
        return str(vr)

    def dial(self, n: int, number: str, caller_id: str | None) -> str:
        """Transfer to a person. The office phone shows the hotline's number, not the caller's."""
        vr = VoiceResponse()
        self.say(vr, DIALING)
        vr.dial(number, action=self.url("dialed", n=n), method="POST", timeout=25, caller_id=caller_id)
        return str(vr)


def status_speech(found: CaseStatus) -> str:
    """The status of a case as it is read out: number, state, and the latest reply."""
    text = f"案件编号：{spell(found.case_no)}。办理状态：{found.status_label}。"
    if found.timeline:
        step = found.timeline[-1]
        text += f"最近进展：{step.at.astimezone(CHINA):%Y年%m月%d日}，{step.text}"
    if found.replies:
        latest = found.replies[-1]
        return text + f"最新答复：{latest.text[:500]}"
    return text + "暂无答复。"


# --- SMS ----------------------------------------------------------------------------------------


def split_sms(text: str, limit: int = MAX_SMS_CHARS) -> list[str]:
    """A long text as messages of at most ``limit`` characters, cut at line ends where possible."""
    out: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        out.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:].lstrip("\n")
    if rest:
        out.append(rest)
    return out


def messaging(text: str | None) -> str:
    """The TwiML answer to an SMS: one ``<Message>`` per 1600 characters; none for no reply."""
    mr = MessagingResponse()
    for part in split_sms(text or ""):
        mr.message(part)
    return str(mr)


def empty_voice() -> str:
    return str(VoiceResponse())
