"""One handler per staff action. A handler checks the request against the case, fills in the
:class:`~storage.workflow_store.CaseChange` that :meth:`Workflow.act` then applies in one
transaction, and returns the notice for the informant, if any. Which roles may run it and from
which states is in :data:`intake.workflow.actions.SPECS`, not here."""

from __future__ import annotations

from datetime import date, datetime

from intake.errors import ValidationError
from intake.notifier import CaseEvent
from intake.staff import Forbidden, StaffMember
from intake.workflow import clues
from intake.workflow.core import Action, WorkflowBase, WorkflowError, china_date
from intake.workflow.outcomes import outcomes_for
from storage.records import ReportSummary
from storage.workflow_store import CaseChange, CaseStateRecord, NewDeadline


async def register(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    change.status = "registered"
    if wf._track(report) == "xf":
        change.deadlines.append(
            wf._deadline("xf_register_and_route", state.owner_unit, china_date(report.received_at))
        )
    return None


async def accept(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    duplicate = (report.triage or {}).get("duplicate_of")
    if duplicate:
        earlier = await wf._db.reports.get(duplicate)
        earlier_state = await wf._db.workflow.state(earlier.id) if earlier else None
        if earlier_state is not None and earlier_state.review_stage >= 2:
            raise WorkflowError(
                f"同一事项已经复核（{duplicate}），以同一事实和理由提出的不再受理（信访工作条例第三十六条）。",
                code="no_further_review",
            )
    change.status = "accepted"
    change.state = {"owner_unit": state.owner_unit}
    unit = state.owner_unit
    received = china_date(report.received_at)
    if report.status == "transferred":
        change.close_deadlines = {
            "jjkg_downward_accept_or_transfer": "met",
            "jjkg_upward_transfer": "met",
        }
        received = china_date(now)
    if wf._track(report) == "xf":
        change.close_deadlines["xf_register_and_route"] = "met"
        change.deadlines.append(wf._deadline("xf_handle_31_6", unit, china_date(now)))
    elif not report.anonymous and duplicate:
        change.event_payload["notice_skipped"] = "repeat"
    # The notice deadline opens at receipt (Workflow.after_triage); here only when it is not open
    # yet: triage had not run, or a transfer cancelled the one of the unit before.
    rule = notice_rule(report, duplicate=bool(duplicate))
    if rule is not None and not [
        d for d in await wf._db.workflow.deadlines(report_id=report.id, open_only=True) if d.rule == rule
    ]:
        change.deadlines.append(wf._deadline(rule, unit, received))
    if wf._track(report) == "jjkg":
        await clues.open_clue(wf, report, unit, change, now)  # 问题线索 (监督执纪工作规则 art 21)
    return CaseEvent("status_changed", status="accepted")


def notice_rule(report: ReportSummary, *, duplicate: bool) -> str | None:
    """The rule of the statutory notice a real-name informant is owed on whether their report is
    accepted, or None (anonymous; a repeat accusation gets none, S1 art 26)."""
    if report.anonymous:
        return None
    if WorkflowBase._track(report) == "xf":
        return "xf_accept_notice"
    return None if duplicate else "jjkg_realname_accept_notice"


async def redirect(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    organ = wf._text(a.organ or (report.triage or {}).get("redirect_to"), "有权处理的机关")[:100]
    reason = wf._text(a.reason, "不予受理的理由")
    change.status = "not_accepted"
    change.close_deadlines = {
        r: "cancelled" for r in ("xf_register_and_route", "jjkg_downward_accept_or_transfer")
    }
    change.event_payload |= {"organ": organ, "reason_chars": len(reason)}
    # S1 art 13 ¶2: a letter is forwarded; a visit, call or web report is told where to go.
    if report.channel == "letter":
        change.transfer = {
            "kind": "forward",
            "from_unit": state.owner_unit,
            "to_unit": None,
            "to_organ": organ,
            "sealed": False,
        }
        change.event_payload["handling"] = "forward"
    else:
        text = a.text or f"您反映的事项不属于本机关受理范围（{reason}）。请向{organ}反映。"
        change.reply = (report.channel, wf._text(text, "告知内容"))
        change.event_payload["handling"] = "inform"
    return CaseEvent("status_changed", status="not_accepted")


async def assign(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    if a.to_unit and a.handler:
        raise ValidationError("交办单位和承办人只能选一项。", code="invalid_assign")
    if a.to_unit:
        return _assign_down(wf, state, a, change, now)
    return await _assign_handler(wf, report, state, a, change)


def _assign_down(
    wf: WorkflowBase, state: CaseStateRecord, a: Action, change: CaseChange, now: datetime
) -> CaseEvent:
    """交办: down the tree, with a 3-month deadline (S1 art 21)."""
    to_unit = wf._unit(a.to_unit)
    if wf.tree.direction(state.owner_unit, to_unit) != "downward" or to_unit not in wf.tree.descendants(
        state.owner_unit
    ):
        raise ValidationError("只能交办给下级单位。", code="not_below")
    change.status = "assigned"
    change.handling_unit = to_unit
    change.state = {"owner_unit": to_unit, "handler": None}
    change.transfer = {
        "kind": "assign_down",
        "from_unit": state.owner_unit,
        "to_unit": to_unit,
        "to_organ": None,
        "sealed": False,
    }
    due = wf.calendar.due(wf.rules["jiaoban_conclude"], china_date(now))
    if a.deadline is not None:
        if a.deadline > due:
            raise ValidationError("交办期限不能超过三个月（规则第二十一条）。", code="deadline_too_late")
        due = wf.calendar.roll_to_working_day(a.deadline)
    change.deadlines.append(
        NewDeadline("jiaoban_conclude", to_unit, china_date(now), due, wf._reminder_at(due))
    )
    change.event_payload |= {"to_unit": to_unit, "due_on": due.isoformat()}
    return CaseEvent("status_changed", status="assigned")


async def _assign_handler(
    wf: WorkflowBase, report: ReportSummary, state: CaseStateRecord, a: Action, change: CaseChange
) -> CaseEvent | None:
    """Names the handler, refused when they have a conflict of interest (回避, S1 art 48)."""
    handler = (a.handler or "").strip().lower()
    if not handler:
        raise ValidationError("请指定承办人或交办单位。", code="invalid_assign")
    target = await wf.staff.member(handler)
    if target is None or target.unit != state.owner_unit or target.role not in ("handler", "supervisor"):
        raise ValidationError("承办人须是本案承办单位的承办人员。", code="invalid_handler")
    pending = {
        r.target
        for r in await wf._db.workflow.recusals(report.id)
        if r.status in ("pending", "granted") and r.target
    }
    why = await wf._conflict(handler, report, pending)
    if why is not None:
        # The refusal itself is on the record (全程留痕), without saying who is related to whom.
        raise Forbidden(
            "该承办人需要回避（与被反映人同单位、申报了利害关系或被申请回避），不能指定。",
            code="recusal_required",
        )
    change.status = "assigned"
    change.state = {"handler": handler}
    change.event_payload["handler"] = handler
    return CaseEvent("status_changed", status="assigned") if report.status == "accepted" else None


async def transfer(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    to_unit = wf._unit(a.to_unit)
    if to_unit == state.owner_unit:
        raise ValidationError("不能转办给本单位。", code="same_unit")
    direction = wf.tree.direction(state.owner_unit, to_unit)
    sealed = direction == "upward" and bool((report.triage or {}).get("sealed"))
    change.status = "transferred"
    change.handling_unit = to_unit
    change.state = {"owner_unit": to_unit, "handler": None, "sealed": state.sealed or sealed}
    change.transfer = {
        "kind": direction,
        "from_unit": state.owner_unit,
        "to_unit": to_unit,
        "to_organ": None,
        "sealed": sealed,
    }
    change.close_deadlines = {
        "jjkg_upward_transfer": "met",
        "jc_transfer_other_jurisdiction": "met",
        "jjkg_downward_accept_or_transfer": "met",
        "xf_register_and_route": "met",
        "jjkg_realname_accept_notice": "cancelled",
    } | {r: "cancelled" for r in clues.CLUE_RULES}  # the clue starts again where it is accepted
    if direction != "upward":
        # S1 art 16: the receiving unit registers and accepts or re-transfers within 5 working days.
        change.deadlines.append(wf._deadline("jjkg_downward_accept_or_transfer", to_unit, china_date(now)))
    change.event_payload |= {"to_unit": to_unit, "direction": direction, "sealed": sealed}
    return CaseEvent("status_changed", status="transferred")


async def reply(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    text = wf._text(a.text, "答复内容")
    if report.status == "closed":
        # After 办结 the case takes no more answers, except the explanation of an objection to the
        # result (S1 art 27 ¶2), which the objection's own deadline stands for.
        open_rules = {
            d.rule for d in await wf._db.workflow.deadlines(report_id=report.id) if d.status == "open"
        }
        if "jjkg_objection_explain" not in open_rules:
            raise WorkflowError("案件已办结，不能再答复。", code="case_closed")
    change.status = "closed" if report.status == "closed" else "replied"
    change.reply = (report.channel, text)
    change.state = {"replied_at": now}
    change.close_deadlines = {
        "jjkg_realname_accept_notice": "met",
        "jjkg_realname_result_feedback": "met",
        "jjkg_objection_explain": "met",
        "xf_accept_notice": "met",
        "xf_review_decide": "met",
        "xf_rereview_decide": "met",
    }
    change.event_payload["chars"] = len(text)
    return CaseEvent("replied")


async def close(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    # 办结 needs an outcome of the regulations' list, a final answer to the informant and the
    # officer's confirmation (issue 17): a case is never closed by a stray click or without a word.
    track = wf._track(report)
    choices = outcomes_for(track)
    if not a.outcome:
        raise ValidationError("请选择办结结果。", code="outcome_required")
    if a.outcome not in {o.code for o in choices}:
        names = "、".join(o.label for o in choices)
        raise ValidationError(f"办结结果只能是：{names}。", code="invalid_outcome")
    final = wf._text(a.text, "最终答复", required=report.status != "replied")
    if not a.confirm:
        raise ValidationError("请确认办结：办结后不能再答复。", code="confirm_required")
    change.status = "closed"
    change.state = {"concluded_at": now}
    change.close_deadlines = {
        r: "met"
        for r in (
            "xf_handle_31_6",
            "jiaoban_conclude",
            "supervise_report",
            "clue_disposal_opinion",
            "xf_review_decide",
            "xf_rereview_decide",
        )
    }
    change.event_payload |= {"outcome": a.outcome, "final_reply_chars": len(final)}
    if final:
        # The final answer goes out with the closing: S1 art 27's feedback of the result (and the
        # notices still owed) are met by it.
        change.reply = (report.channel, final)
        change.state["replied_at"] = now
        change.close_deadlines |= {
            r: "met"
            for r in (
                "jjkg_realname_accept_notice",
                "jjkg_realname_result_feedback",
                "jjkg_objection_explain",
                "xf_accept_notice",
            )
        }
    # One notice: closed (its text sends the informant to the answer, which is on the thread).
    return CaseEvent("status_changed", status="closed")


async def reopen(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    kind = a.kind or ("review" if wf._track(report) == "xf" else "objection")
    today = china_date(now)
    if kind == "objection":
        # S1 art 27 ¶2: an objection is recorded and explained; the case stays where it is.
        wf._text(a.reason or a.text, "异议内容")
        change.status = None
        change.deadlines.append(wf._deadline("jjkg_objection_explain", state.owner_unit, today))
        change.event_kind = "objection_recorded"
        return None
    if kind == "new_evidence":
        wf._text(a.reason or a.text, "新证据说明")
        change.status = "assigned" if state.handler else "accepted"
        change.state = {"concluded_at": None}
        change.event_kind = "reopened"
        change.event_payload["kind"] = kind
        return CaseEvent("status_changed", status=change.status)
    if kind != "review":
        raise ValidationError("kind 只能是 review、objection 或 new_evidence。", code="invalid_kind")
    return _review(wf, state, a, change, today)


def _review(
    wf: WorkflowBase, state: CaseStateRecord, a: Action, change: CaseChange, today: date
) -> CaseEvent:
    """复查, then 复核: each asked within 30 days of the last answer (条例 arts 35–36)."""
    if state.review_stage >= 2:
        raise WorkflowError(
            "该事项已经复核，以同一事实和理由提出的请求不再受理（信访工作条例第三十六条）。",
            code="no_further_review",
        )
    if state.replied_at is None:
        raise WorkflowError("尚未书面答复，不能申请复查或复核。", code="not_replied")
    window = "xf_review_request_window" if state.review_stage == 0 else "xf_rereview_request_window"
    last_day = wf.calendar.due(wf.rules[window], china_date(state.replied_at))
    if today > last_day:
        raise WorkflowError(
            f"已超过申请期限（收到答复意见之日起三十日内，截至 {last_day.isoformat()}）。",
            code="window_closed",
        )
    if a.hearing_days < 0 or a.hearing_days > 365:
        raise ValidationError("听证天数应为 0 至 365。", code="invalid_hearing_days")
    decide = "xf_review_decide" if state.review_stage == 0 else "xf_rereview_decide"
    extra = {"excluded_days": a.hearing_days} if decide == "xf_rereview_decide" and a.hearing_days else {}
    change.deadlines.append(wf._deadline(decide, state.owner_unit, today, **extra))
    change.status = "accepted"
    change.state = {"review_stage": state.review_stage + 1, "concluded_at": None}
    change.event_kind = "reopened"
    change.event_payload |= {
        "kind": "复查" if state.review_stage == 0 else "复核",
        "hearing_days": a.hearing_days,
    }
    return CaseEvent("status_changed", status="accepted")


async def merge(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    target_no = (a.target or "").strip()
    if target_no == report.case_no:
        raise ValidationError("不能与自身合并。", code="invalid_target")
    target, target_state = await wf._load(member, target_no)
    if target_state.merged_into:
        raise ValidationError("目标案件本身已被合并，请合并到主案件。", code="invalid_target")
    change.status = "closed"
    change.state = {"merged_into": target.case_no}
    change.close_deadlines = {r: "cancelled" for r in wf.rules} | {"supervise_report": "cancelled"}
    change.event_kind = "merged"
    change.event_payload |= {"into": target.case_no}
    change.also_events.append(
        (target.id, "merged_in", {"case_no": report.case_no, "channel": report.channel})
    )
    return None


async def extend(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    found = [d for d in await wf._db.workflow.deadlines(report_id=report.id) if d.id == a.deadline_id]
    if not found or found[0].status != "open":
        raise ValidationError("请选择本案一个未到期的期限。", code="unknown_deadline")
    d = found[0]
    rule = wf.rules.get(d.rule)
    if rule is None:
        raise ValidationError("该期限不能延长。", code="no_more_extensions")
    step = rule.extensions[d.extensions] if d.extensions < len(rule.extensions) else None
    new_due = wf.calendar.extend(rule, d.due_on, d.extensions, approval=a.approval, new_due=a.deadline)
    change.status = None
    change.extend_deadline = (d.id, new_due)
    change.event_kind = "deadline_extended"
    change.event_payload |= {
        "deadline_id": d.id,
        "rule": d.rule,
        "from_due": d.due_on.isoformat(),
        "to_due": new_due.isoformat(),
        "approval": (a.approval or "").strip()[:200],
        "approver": step.approval if step else None,
        "notify": step.notify if step else None,
    }
    if step is not None and step.notify == "petitioner":
        # 条例 art 34: the petitioner is told of the extension (and why) in writing.
        reason = wf._text(a.reason, "延期理由")
        change.reply = (
            report.channel,
            f"您反映的事项办理期限经批准延长至{new_due.isoformat()}。理由：{reason}",
        )
        return CaseEvent("deadline", notice="extended")
    return None
