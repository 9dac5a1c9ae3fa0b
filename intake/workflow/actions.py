"""The staff actions as one table: for each, its name, its label for staff, the roles that may run
it, the states it may start from, and its handler (:mod:`intake.workflow.handlers`). The console,
the API schema and :meth:`Workflow.act` all read this table; the older per-action mappings below
are derived from it for the code that still asks by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from intake.domain import STATUS_LABELS
from intake.notifier import CaseEvent
from intake.staff import ROLES, StaffMember
from intake.workflow import clues, handlers, recusals, supervision
from intake.workflow.core import Action, WorkflowBase
from storage.records import ReportSummary
from storage.workflow_store import CaseChange, CaseStateRecord

Handler = Callable[
    [WorkflowBase, StaffMember, ReportSummary, CaseStateRecord, Action, CaseChange, datetime],
    Awaitable[CaseEvent | None],
]


@dataclass(frozen=True)
class ActionSpec:
    """One staff action: who may run it, from which states, and what does it."""

    name: str
    label: str  # what staff read (按钮、错误提示、操作记录)
    roles: frozenset[str]
    from_states: frozenset[str]
    handler: Handler

    def permits(self, role: str) -> bool:
        return role in self.roles


def _roles(*names: str) -> frozenset[str]:
    unknown = set(names) - set(ROLES)
    assert not unknown, unknown
    return frozenset(names)


# 登记员 and 分流员 run the intake side; 承办人 the handling; 督办负责人 and 主要负责人 everything.
_INTAKE = _roles("registrar", "triage_officer", "supervisor", "leader")
_INTAKE_AND_HANDLER = _INTAKE | {"handler"}
_HANDLING = _roles("handler", "supervisor", "leader")
_SUPERVISOR = _roles("supervisor", "leader")


def _states(*names: str) -> frozenset[str]:
    unknown = set(names) - set(STATUS_LABELS)
    assert not unknown, unknown
    return frozenset(names)


_OPEN = _states("received", "registered", "transferred")  # not taken in hand yet
_IN_HAND = _states("accepted", "assigned", "supervised")  # being handled
_ANSWERED = _states("replied", "closed")


def _clue_specs() -> tuple[ActionSpec, ...]:
    """The clue's steps: the handling department proposes and reports, the leader approves."""
    clue_states = _IN_HAND | {"replied"}
    return (
        ActionSpec("clue_propose", "提出线索处置意见", _HANDLING, clue_states, clues.propose),
        ActionSpec("clue_approve", "批准线索处置意见", _SUPERVISOR, clue_states, clues.approve),
        ActionSpec("clue_return", "退回线索处置意见", _SUPERVISOR, clue_states, clues.return_proposal),
        ActionSpec("clue_answered", "登记谈话情况或函询回复", _HANDLING, clue_states, clues.answered),
        ActionSpec("clue_plan", "制定初步核实工作方案", _HANDLING, clue_states, clues.plan),
        ActionSpec("clue_report", "提交情况报告和处置建议", _HANDLING, clue_states, clues.report_result),
        ActionSpec("clue_reactivate", "重新启用暂存线索", _HANDLING, clue_states, clues.reactivate),
    )


# In the order a case goes through them (the console offers them in this order).
SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("register", "登记", _INTAKE, _states("received"), handlers.register),
    ActionSpec("accept", "受理", _INTAKE_AND_HANDLER, _OPEN, handlers.accept),
    ActionSpec("redirect", "不予受理并告知/转送", _INTAKE, _OPEN, handlers.redirect),
    ActionSpec("assign", "指定承办/交办", _SUPERVISOR, _IN_HAND, handlers.assign),
    ActionSpec("transfer", "转办", _INTAKE_AND_HANDLER, _OPEN | {"accepted", "assigned"}, handlers.transfer),
    ActionSpec("supervise", "督办", _SUPERVISOR, _IN_HAND | {"transferred"}, supervision.supervise),
    ActionSpec(
        "answer_supervision", "答复督办函", _HANDLING, _IN_HAND | _ANSWERED, supervision.answer_supervision
    ),
    ActionSpec(
        "close_supervision",
        "审核督办函",
        _SUPERVISOR,
        _IN_HAND | _ANSWERED | {"transferred"},
        supervision.close_supervision,
    ),
    ActionSpec("reply", "答复", _HANDLING, _IN_HAND | _ANSWERED, handlers.reply),
    ActionSpec("close", "办结", _HANDLING, _IN_HAND | {"replied"}, handlers.close),
    ActionSpec("reopen", "复查/复核/异议", _INTAKE, _ANSWERED, handlers.reopen),
    ActionSpec("merge", "合并重复件", _INTAKE, _OPEN | _IN_HAND, handlers.merge),
    ActionSpec("extend", "延长期限", _SUPERVISOR, _IN_HAND | _ANSWERED | {"transferred"}, handlers.extend),
    ActionSpec(
        "request_recusal",
        "登记回避申请",
        _INTAKE_AND_HANDLER,
        frozenset(STATUS_LABELS) - {"not_accepted"},
        recusals.request_recusal,
    ),
    ActionSpec(
        "decide_recusal", "决定回避申请", _SUPERVISOR, frozenset(STATUS_LABELS), recusals.decide_recusal
    ),
    # 线索处置 (issue 18): the clue's own state is checked by its handler (intake.workflow.clues).
    *_clue_specs(),
)
SPEC_BY_NAME: dict[str, ActionSpec] = {s.name: s for s in SPECS}

# Derived views of SPECS, by name (kept for the schema, the console and the tests).
ACTIONS: tuple[str, ...] = tuple(SPEC_BY_NAME)
ACTION_LABELS: dict[str, str] = {s.name: s.label for s in SPECS}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    role: frozenset(s.name for s in SPECS if s.permits(role)) for role in ROLES
}
FROM: dict[str, frozenset[str]] = {s.name: s.from_states for s in SPECS}
