"""The recusal handlers (回避): a staff member asks that someone step aside, a supervisor decides.
The informant's own recusal requests come in through :mod:`intake.workflow.requests` and share
:func:`add_recusal`."""

from __future__ import annotations

from datetime import datetime

from intake.errors import ValidationError
from intake.notifier import CaseEvent
from intake.staff import StaffMember
from intake.workflow.core import Action, WorkflowBase, china_date
from storage.records import ReportSummary
from storage.workflow_store import CaseChange, CaseStateRecord


async def request_recusal(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    reason = wf._text(a.reason, "回避申请理由")
    add_recusal(wf, change, state, "staff" if a.kind == "staff" else "informant", reason, a.handler, now)
    return None


def add_recusal(
    wf: WorkflowBase,
    change: CaseChange,
    state: CaseStateRecord,
    by: str,
    reason: str,
    target: str | None,
    now: datetime,
) -> None:
    change.status = None
    change.recusal = {"requested_by": by, "target": (target or state.handler), "reason": reason}
    change.deadlines.append(wf._deadline("recusal_decide", state.owner_unit, china_date(now)))
    change.event_kind = "recusal_requested"
    change.event_payload |= {"requested_by": by, "target": target or state.handler}


async def decide_recusal(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    if a.decision not in ("granted", "denied"):
        raise ValidationError("decision 只能是 granted 或 denied。", code="invalid_decision")
    pending = [
        r for r in await wf._db.workflow.recusals(report.id) if r.id == a.recusal_id and r.status == "pending"
    ]
    if not pending:
        raise ValidationError("没有待决定的回避申请。", code="unknown_recusal")
    change.status = None
    change.decide_recusal = (pending[0].id, a.decision)
    change.close_deadlines = {"recusal_decide": "met"}
    if a.decision == "granted" and pending[0].target and pending[0].target == state.handler:
        change.state = {"handler": None}
        if report.status == "assigned":
            change.status = "accepted"
    change.event_kind = "recusal_decided"
    change.event_payload |= {
        "recusal_id": pending[0].id,
        "decision": a.decision,
        "requested_by": pending[0].requested_by,  # the informant's timeline shows their own
    }
    return None
