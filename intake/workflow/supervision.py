"""Supervision notices (督办函, issue 18 item 4): an upper unit's supervisor puts a case of its
subtree under supervision (``supervise``) with a reason and a reply deadline, and the notice goes
to the unit handling the case; that unit answers it (``answer_supervision``); the supervisor of
the sending unit, or above it, closes it or sends it back (``close_supervision``). Each step is the
action's event on the case's audit chain and an alert in the other unit's inbox. States: pending
(待答复) → answered (已答复) → closed (已办结), or back to pending."""

from __future__ import annotations

from datetime import date, datetime

from intake.errors import NotFound, ValidationError
from intake.notifier import CaseEvent
from intake.staff import Forbidden, StaffMember
from intake.workflow.core import Action, WorkflowBase, WorkflowError, china_date
from storage.records import ReportSummary
from storage.urging_store import NewAlert, NoticeRecord
from storage.workflow_store import CaseChange, CaseStateRecord, NewDeadline

NOTICE_STATUS = {"pending": "待答复", "answered": "已答复", "closed": "已办结"}
CLOSE_DECISIONS = ("close", "return")


def _reply_due(wf: WorkflowBase, a: Action, now: datetime, change: CaseChange, unit: str) -> date | None:
    """The reply deadline (optional), rolled to a working day, opened as ``supervise_report``."""
    if a.deadline is None:
        return None
    if a.deadline <= china_date(now):
        raise ValidationError("督办期限应晚于今天。", code="deadline_in_past")
    due = wf.calendar.roll_to_working_day(a.deadline)
    change.deadlines.append(NewDeadline("supervise_report", unit, china_date(now), due, wf._reminder_at(due)))
    change.event_payload["due_on"] = due.isoformat()
    return due


async def supervise(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    reason = wf._text(a.reason, "督办事由")
    open_notices = [n for n in await wf._db.urging.notices(report.id) if n.status != "closed"]
    if open_notices:
        raise WorkflowError("本案已有未办结的督办函，请先审核办结。", code="supervision_open")
    change.status = "supervised"
    change.event_payload["reason_chars"] = len(reason)
    due = _reply_due(wf, a, now, change, state.owner_unit)
    change.notice = {
        "from_unit": member.unit,
        "to_unit": state.owner_unit,
        "reason": reason,
        "reply_due": due,
        "status": "pending",
        "created_by": member.actor,
    }
    change.event_payload |= {"from_unit": member.unit, "to_unit": state.owner_unit}
    change.alerts.append(NewAlert(state.owner_unit, report.id, "supervision", due_on=due))
    return None


async def _notice(wf: WorkflowBase, report: ReportSummary, a: Action, status: str) -> NoticeRecord:
    """The notice the action is about: the one named, else the case's one notice in ``status``."""
    notices = await wf._db.urging.notices(report.id)
    if a.notice_id is not None:
        found = [n for n in notices if n.id == a.notice_id]
        if not found:
            raise NotFound("本案没有这份督办函。", code="notice_not_found")
        notice = found[0]
    else:
        live = [n for n in notices if n.status != "closed"] or notices[-1:]
        if not live:
            raise NotFound("本案没有督办函。", code="notice_not_found")
        notice = live[-1]
    if notice.status != status:
        raise WorkflowError(
            f"督办函当前为“{NOTICE_STATUS[notice.status]}”，不能执行此操作。", code="notice_state"
        )
    return notice


async def answer_supervision(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    notice = await _notice(wf, report, a, "pending")
    if member.unit != notice.to_unit:
        raise Forbidden("只有被督办单位可以答复督办函。", code="not_notice_unit")
    answer = wf._text(a.text, "督办答复")
    change.notice_update = (
        notice.id,
        "pending",
        {"status": "answered", "answer": answer, "answered_by": member.actor, "answered_at": now},
    )
    change.close_deadlines = {"supervise_report": "met"}
    change.event_payload |= {"notice_id": notice.id, "chars": len(answer)}
    change.alerts.append(NewAlert(notice.from_unit, report.id, "supervision_answered", notice_id=notice.id))
    return None


async def close_supervision(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    notice = await _notice(wf, report, a, "answered")
    if notice.from_unit not in wf.staff.scope(member).units:
        raise Forbidden("只有督办单位可以审核督办函。", code="not_notice_unit")
    decision = a.decision or "close"
    if decision not in CLOSE_DECISIONS:
        raise ValidationError("decision 只能是 close（办结）或 return（退回重办）。", code="invalid_decision")
    change.event_payload |= {"notice_id": notice.id, "decision": decision}
    if decision == "close":
        change.notice_update = (
            notice.id,
            "answered",
            {"status": "closed", "closed_by": member.actor, "closed_at": now},
        )
        change.alerts.append(NewAlert(notice.to_unit, report.id, "supervision_closed", notice_id=notice.id))
        return None
    reason = wf._text(a.reason, "退回理由")
    change.event_payload["reason_chars"] = len(reason)
    due = _reply_due(wf, a, now, change, notice.to_unit)
    values: dict[str, object] = {"status": "pending", "reason": f"{notice.reason}\n（退回重办）{reason}"}
    if due:
        values["reply_due"] = due
    change.notice_update = (notice.id, "answered", values)
    change.alerts.append(NewAlert(notice.to_unit, report.id, "supervision_returned", notice_id=notice.id))
    return None
