"""Closing the loop with the informant (结果反馈, issue 17): what every channel offers a citizen
who holds a query code, beyond filing — the case's status with its dated timeline, the rating of
the answer (满意度评价) and the requests against it (复查, 复核, 异议, 回避).

:class:`InformantDesk` is the one service every channel calls (the web status page, the app API,
the WeChat, Weibo, SMS and Telegram dialogues, the phone menu). Each call first finds the case by
query code through :meth:`Pipeline.status`, so a wrong code gets the same 404 and counts against
the same rate limit as a status query. :func:`dialogue_command` is the text form the dialogue
channels share::

    评价 <查询码> 满意|基本满意|不满意 [意见]
    复查 <查询码> <理由>      复核 <查询码> <理由>
    异议 <查询码> <内容>      回避 <查询码> <理由>

Nothing answered ever repeats who the informant is; the comment and reasons are redacted of the
informant's own details like a follow-up (:meth:`Pipeline.scrub`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from intake.clock import Clock
from intake.dialogue_texts import split_code
from intake.domain import CaseStatus
from intake.errors import Conflict, IntakeError, ValidationError
from intake.pipeline import Pipeline
from intake.text import check_text
from intake.timeline import LEVEL_WORDS, RATING_WORDS, short_timeline
from intake.workflow import Workflow, china_date
from intake.workflow.requests import KIND_WORDS, KINDS, RequestOutcome, informant_request, review_window
from storage.database import Database
from storage.feedback_store import AlreadyRated, FeedbackRecord, NoAnswer, ReviewRecord

RATINGS = tuple(RATING_WORDS)
MAX_COMMENT = 500
# ❓ The rating window is not in the regulations read so far (domain_rules §5.5): a local default.
RATING_DAYS = 30
COMMAND_WORDS = {"复查": "review", "复核": "re_review", "异议": "objection", "回避": "recusal"}
WORD_RATINGS = {"满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied"}
# The choices as forms show them: (value, words).
RATING_CHOICES = tuple(RATING_WORDS.items())
# How the dialogue commands begin (the SMS line tells commands from free text by these).
COMMAND_PREFIXES = ("评价", *COMMAND_WORDS, *(f"申请{w}" for w in COMMAND_WORDS))


@dataclass(frozen=True)
class Offers:
    """What the informant may do now: rate the answer (until ``rate_until``), or the rating
    already given, and which review request is open (until ``review_until``)."""

    can_rate: bool
    rated: str | None
    rate_until: date | None
    review_kind: str | None
    review_until: date | None
    can_object: bool
    can_recuse: bool


@dataclass(frozen=True)
class Rated:
    case_no: str
    rating: str


@dataclass(frozen=True)
class CaseRequests:
    """The informant's ratings and requests of one case, for the staff views."""

    feedback: list[FeedbackRecord]
    reviews: list[ReviewRecord]


class InformantDesk:
    def __init__(
        self,
        pipeline: Pipeline,
        workflow: Workflow,
        db: Database,
        clock: Clock,
        *,
        rating_days: int = RATING_DAYS,
    ) -> None:
        self._pipeline = pipeline
        self._workflow = workflow
        self._db = db
        self.clock = clock
        self.rating_days = rating_days

    async def status(self, code: str, client_key: str) -> CaseStatus:
        """The case, its replies and its timeline (the same lookup and limit as everywhere)."""
        return await self._pipeline.status(code, client_key)

    async def offers(self, found: CaseStatus) -> Offers:
        """What :meth:`rate` and :meth:`request` would accept now, for the pages and hints."""
        report = await self._db.reports.get(found.case_no)
        if report is None:
            return Offers(False, None, None, None, None, False, False)
        state = await self._db.workflow.state(report.id)
        today = china_date(self.clock.now())
        rated = None
        rate_until = None
        if state is not None and state.replied_at is not None:
            rate_until = china_date(state.replied_at) + timedelta(days=self.rating_days)
            given = [f for f in await self._db.feedback.feedback(report.id) if f.reply_at == state.replied_at]
            rated = given[0].rating if given else None
        try:
            window = review_window(self._workflow, report, state)
        except IntakeError:  # a year the calendar does not know: the page still shows the case
            window = None
        # An objection is to an answer that stands: not while a review of it is under way.
        answered = (
            state is not None
            and state.replied_at is not None
            and not state.merged_into
            and report.status in ("replied", "closed")
        )
        return Offers(
            can_rate=rate_until is not None and rated is None and today <= rate_until,
            rated=rated,
            rate_until=rate_until,
            review_kind=window.kind if window and today <= window.last_day else None,
            review_until=window.last_day if window else None,
            can_object=answered,
            can_recuse=report.status != "closed",
        )

    async def rate(self, code: str, rating: str, comment: str | None, channel: str, client_key: str) -> Rated:
        """满意度评价 of the case's current answer: once per answer, within :attr:`rating_days`."""
        if rating not in RATINGS:
            raise ValidationError(
                "rating 只能是 satisfied（满意）、basically_satisfied（基本满意）或 dissatisfied（不满意）。",
                code="invalid_rating",
            )
        text = (comment or "").strip()
        if len(text) > MAX_COMMENT:
            raise ValidationError(f"评价意见不能超过 {MAX_COMMENT} 字。", code="comment_too_long")
        check_text(text)
        found = await self._pipeline.status(code, client_key)
        report = await self._db.reports.get(found.case_no)
        state = await self._db.workflow.state(report.id) if report else None
        if report is None or state is None or state.replied_at is None:
            raise Conflict("尚未作出答复，答复后才能评价。", code="not_replied")
        last = china_date(state.replied_at) + timedelta(days=self.rating_days)
        if china_date(self.clock.now()) > last:
            raise Conflict(
                f"评价期限已过：答复之日起 {self.rating_days} 日内可以评价（截至 {last.isoformat()}）。",
                code="window_closed",
            )
        clean = await self._pipeline.scrub(report.id, report.accused_name, text) if text else None
        try:
            await self._db.feedback.rate(report.id, rating, clean or None, channel, self.clock.now())
        except NoAnswer:
            raise Conflict("尚未作出答复，答复后才能评价。", code="not_replied") from None
        except AlreadyRated:
            raise Conflict("这次答复已经评价过了，每次答复只能评价一次。", code="already_rated") from None
        return Rated(found.case_no, rating)

    async def request(
        self, code: str, kind: str, reason: str | None, channel: str, client_key: str
    ) -> RequestOutcome:
        """复查 / 复核 (to the next level up), 异议 or 回避, by query code."""
        if kind not in KINDS:
            raise ValidationError(
                "kind 只能是 review（复查）、re_review（复核）、objection（异议）或 recusal（回避）。",
                code="invalid_kind",
            )
        found = await self._pipeline.status(code, client_key)
        report = await self._db.reports.get(found.case_no)
        text = (reason or "").strip()
        if report is not None and text:
            check_text(text)
            text = await self._pipeline.scrub(report.id, report.accused_name, text)
        return await informant_request(self._workflow, found.case_no, kind, text, channel)

    async def of_case(self, case_no: str) -> CaseRequests:
        """The ratings and requests of a case (the caller has checked the staff member's scope)."""
        report = await self._db.reports.get(case_no)
        if report is None:
            return CaseRequests([], [])
        return CaseRequests(
            await self._db.feedback.feedback(report.id), await self._db.feedback.reviews(report.id)
        )

    def level_name(self, unit_code: str) -> str:
        """The level of a unit, as the informant reads it (市级纪检监察机关), never a person."""
        unit = self._workflow.tree.units.get(unit_code)
        level = LEVEL_WORDS.get(unit.level, "") if unit else ""
        return f"{level}纪检监察机关" if level else "上一级机关"


# --- what the informant reads -----------------------------------------------------------------------


def rated_text(record: Rated) -> str:
    return f"感谢您的评价（{RATING_WORDS[record.rating]}），我们会认真改进工作。"


def request_text(desk: InformantDesk, outcome: RequestOutcome) -> str:
    word = KIND_WORDS[outcome.kind]
    if outcome.kind == "recusal":
        return f"您的回避申请已收到（案件 {outcome.case_no}），将依规作出决定。"
    due = outcome.due_on.isoformat() if outcome.due_on else ""
    if outcome.kind == "objection":
        return f"您的异议已记录（案件 {outcome.case_no}），将在 {due} 前作出说明。"
    return (
        f"您的{word}申请已收到（案件 {outcome.case_no}），由{desk.level_name(outcome.to_unit)}办理，"
        f"将在 {due} 前书面答复。"
    )


def offer_lines(offers: Offers) -> list[str]:
    """The short hints after a status answer in the dialogue channels (no code repeated)."""
    lines = []
    if offers.can_rate:
        lines.append("评价答复：回复“评价 查询码 满意”（或“基本满意”“不满意”，可在后面附意见）。")
    elif offers.rated:
        lines.append(f"您已评价：{RATING_WORDS[offers.rated]}。")
    if offers.review_kind and offers.review_until:
        word = KIND_WORDS[offers.review_kind]
        lines.append(
            f"不服答复意见的，可在 {offers.review_until.isoformat()} 前回复“{word} 查询码 理由”申请{word}。"
        )
    return lines


def timeline_lines(found: CaseStatus, last: int = 4) -> list[str]:
    """The timeline's last steps, for the dialogue channels' status answer."""
    if not found.timeline:
        return []
    return ["办理进程：", *short_timeline(found.timeline, last)]


async def dialogue_command(
    desk: InformantDesk | None, text: str, channel: str, client_key: str
) -> str | None:
    """The answer to a rating or request command, or None when ``text`` is not one."""
    word = next(
        (w for w in ("评价", *COMMAND_WORDS) if text.startswith(w) or text.startswith("申请" + w)), None
    )
    if word is None:
        return None
    rest = text[len(word) + (2 if text.startswith("申请") else 0) :]
    code, tail = split_code(rest.strip(" ：:，,"))
    if desk is None:
        return "此渠道暂不能办理评价和复查申请，请通过网上举报平台的“查询办理情况”页面提出。"
    try:
        if word == "评价":
            rating, comment = _rating_of(tail)
            if code is None or rating is None:
                return "请按“评价 查询码 满意”的格式发送（可选：满意、基本满意、不满意，后面可附意见）。"
            return rated_text(await desk.rate(code, rating, comment, channel, client_key))
        kind = COMMAND_WORDS[word]
        if code is None or not tail:
            return f"请按“{word} 查询码 理由”的格式发送，查询码为 16 位数字。"
        return request_text(desk, await desk.request(code, kind, tail, channel, client_key))
    except IntakeError as exc:
        return exc.message


def _rating_of(tail: str) -> tuple[str | None, str]:
    """``基本满意 办得快`` → (basically_satisfied, 办得快); the longest word first (不满意 ⊃ 满意)."""
    for word in sorted(WORD_RATINGS, key=len, reverse=True):
        if tail.startswith(word):
            return WORD_RATINGS[word], tail[len(word) :].strip(" ：:，,。")
    return None, tail
