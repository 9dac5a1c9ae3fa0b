"""The informant's requests against the handling, by query code (issue 17): 复查 (review) and then
复核 (re-review) within 30 days of the answer (信访工作条例 arts 35–36), an objection to a 纪检
result (异议, S1 art 27 ¶2), and recusal (回避, S1 art 35 / 监察法 art 67).

A review opens the case again **at the next level up** (the parent of the unit that answered, in
the jurisdiction tree): it moves there as an ``upward`` transfer with the decision deadline of
its own (30 days, on the calendar of :mod:`intake.deadlines`), and the request — kind, reason,
from and to which unit, due date — is kept in ``review_requests`` in the same transaction. An
objection stays with the unit that answered (it is recorded and explained); a recusal request is
the decision task :meth:`Workflow.informant_recusal` has always made. The messages never echo
anything about the informant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from intake.errors import Conflict, ValidationError
from intake.workflow.core import WorkflowBase, WorkflowError, china_date
from intake.workflow.service import Workflow
from storage.feedback_store import NewReview
from storage.records import ReportSummary
from storage.workflow_store import CaseChange, CaseStateRecord, StaleCase

KINDS = ("review", "re_review", "objection", "recusal")
KIND_WORDS = {"review": "复查", "re_review": "复核", "objection": "异议", "recusal": "回避"}
MAX_REASON = 2000
WINDOW_RULE = {"review": "xf_review_request_window", "re_review": "xf_rereview_request_window"}
DECIDE_RULE = {"review": "xf_review_decide", "re_review": "xf_rereview_decide"}
ARTICLE = {"review": "信访工作条例第三十五条", "re_review": "信访工作条例第三十六条"}


@dataclass(frozen=True)
class RequestOutcome:
    """What the informant is told: the case, the kind, which level took it, and by when."""

    case_no: str
    kind: str
    to_unit: str
    due_on: date | None


@dataclass(frozen=True)
class ReviewWindow:
    """Which request the case is open to now (``review`` or ``re_review``) and its last day."""

    kind: str
    last_day: date


def _state(report: ReportSummary, state: CaseStateRecord | None) -> CaseStateRecord:
    return state or CaseStateRecord(report.receiving_unit, None, False, None, 0, None, None)


def review_window(
    wf: WorkflowBase, report: ReportSummary, state: CaseStateRecord | None
) -> ReviewWindow | None:
    """The review the informant may ask for now, or None (no answer yet, a review waiting for its
    answer, or 复核 done). The window itself may have closed: compare ``last_day`` with today."""
    s = _state(report, state)
    if s.replied_at is None or s.merged_into or s.review_stage >= 2:
        return None
    if report.status not in ("replied", "closed"):
        return None  # the answer is being revised (a review under way, or reopened)
    kind = "review" if s.review_stage == 0 else "re_review"
    last = wf.calendar.due(wf.rules[WINDOW_RULE[kind]], china_date(s.replied_at))
    return ReviewWindow(kind, last)


def _reason(wf: WorkflowBase, reason: str | None, kind: str) -> str:
    text = wf._text(reason, f"{KIND_WORDS[kind]}申请的理由")
    if len(text) > MAX_REASON:
        raise ValidationError(f"理由不能超过 {MAX_REASON} 字。", code="text_too_long")
    return text


async def informant_request(
    wf: Workflow, case_no: str, kind: str, reason: str | None, channel: str
) -> RequestOutcome:
    """Open the informant's request on the case ``case_no`` (already found by query code)."""
    if kind not in KINDS:
        raise ValidationError("kind 只能是 review、re_review、objection 或 recusal。", code="invalid_kind")
    report = await wf._db.reports.get(case_no)
    if report is None:  # looked up by query code just before: only a race could get here
        raise Conflict("请稍后再试。", code="stale_case")
    state = _state(report, await wf._db.workflow.state(report.id))
    text = _reason(wf, reason, kind)
    if state.merged_into:
        raise WorkflowError("本案已与同一事项合并办理，请对合并后的案件提出申请。", code="merged")
    if kind == "recusal":
        if report.status == "closed":
            raise WorkflowError("案件已办结，不能再申请回避。", code="case_closed")
        await wf.informant_recusal(case_no, text)
        return RequestOutcome(report.case_no, kind, state.owner_unit, None)
    if state.replied_at is None:
        raise WorkflowError(f"尚未作出答复意见，暂不能提出{KIND_WORDS[kind]}申请。", code="not_replied")
    if kind == "objection":
        return await _objection(wf, report, state, text, channel)
    return await _review(wf, report, state, kind, text, channel)


async def _objection(
    wf: WorkflowBase, report: ReportSummary, state: CaseStateRecord, reason: str, channel: str
) -> RequestOutcome:
    """S1 art 27 ¶2: an objection is recorded and explained by the unit that answered."""
    now = wf._clock.now()
    deadline = wf._deadline("jjkg_objection_explain", state.owner_unit, china_date(now))
    change = CaseChange(
        report.id,
        report.status,
        "informant",
        now,
        "review_requested",
        {
            "kind": "objection",
            "from_unit": state.owner_unit,
            "to_unit": state.owner_unit,
            "due_on": deadline.due_on.isoformat(),
            "channel": channel,
            "reason_chars": len(reason),
        },
        deadlines=[deadline],
    )
    review = NewReview("objection", reason, state.owner_unit, state.owner_unit, channel, deadline.due_on)
    await _apply(wf, change, review)
    return RequestOutcome(report.case_no, "objection", state.owner_unit, deadline.due_on)


async def _review(
    wf: WorkflowBase, report: ReportSummary, state: CaseStateRecord, kind: str, reason: str, channel: str
) -> RequestOutcome:
    if state.review_stage >= 2:
        raise WorkflowError(
            "该事项已经复核，以同一事实和理由提出的请求不再受理（信访工作条例第三十六条）。",
            code="no_further_review",
        )
    if kind == "review" and state.review_stage >= 1:
        raise WorkflowError("已申请过复查；对复查意见不服的，可以申请复核。", code="already_reviewed")
    if kind == "re_review" and state.review_stage == 0:
        raise WorkflowError("请先申请复查；对复查意见不服的，才可以申请复核。", code="review_first")
    window = review_window(wf, report, state)
    if window is None:
        raise WorkflowError(f"{KIND_WORDS[kind]}申请正在办理，请等待书面答复。", code="review_pending")
    now = wf._clock.now()
    today = china_date(now)
    if today > window.last_day:
        raise WorkflowError(
            f"已超过{KIND_WORDS[kind]}申请期限：应在收到答复意见之日起三十日内提出"
            f"（{ARTICLE[kind]}），截至 {window.last_day.isoformat()}。",
            code="window_closed",
        )
    parents = wf.tree.ancestors(state.owner_unit)
    if not parents:
        raise WorkflowError(
            f"答复机关没有上一级机关，不能在本平台申请{KIND_WORDS[kind]}。", code="no_upper_unit"
        )
    target = parents[0]
    deadline = wf._deadline(DECIDE_RULE[kind], target, today)
    change = CaseChange(
        report.id,
        report.status,
        "informant",
        now,
        "review_requested",
        {
            "kind": kind,
            "from_unit": state.owner_unit,
            "to_unit": target,
            "due_on": deadline.due_on.isoformat(),
            "channel": channel,
            "reason_chars": len(reason),
            "to": "accepted",
        },
        status="accepted",
        handling_unit=target,
        state={
            "owner_unit": target,
            "handler": None,
            "review_stage": state.review_stage + 1,
            "concluded_at": None,
        },
        transfer={
            "kind": "upward",
            "from_unit": state.owner_unit,
            "to_unit": target,
            "to_organ": None,
            "sealed": False,
        },
        deadlines=[deadline],
    )
    await _apply(wf, change, NewReview(kind, reason, state.owner_unit, target, channel, deadline.due_on))
    return RequestOutcome(report.case_no, kind, target, deadline.due_on)


async def _apply(wf: WorkflowBase, change: CaseChange, review: NewReview) -> None:
    try:
        await wf._db.feedback.request_review(change, review)
    except StaleCase:
        raise Conflict("案件刚刚有了新的办理进展，请重新查询后再提出申请。", code="stale_case") from None
