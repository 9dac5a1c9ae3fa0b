"""The workflow's shared core: the action request, the case view, the error, and the helpers every
query and action handler uses (scoping, deadlines, text checks, 回避 conflicts, notices)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from intake.clock import CHINA, Clock
from intake.deadlines import RULES, Rule, WorkCalendar
from intake.errors import IntakeError, NotFound, ValidationError
from intake.notifier import CaseEvent
from intake.staff import StaffMember, StaffService
from intake.text import check_text
from storage.database import Database
from storage.records import ReportSummary
from storage.workflow_store import CaseStateRecord, DeadlineRecord, NewDeadline

log = logging.getLogger("intake.workflow")

# Custom-date deadlines (no rule in the table): their labels.
CUSTOM_DEADLINES = {"supervise_report": "督办报告"}
MAX_TEXT = 5000
REMINDER_LEAD = timedelta(days=2)


class WorkflowError(IntakeError, status=409, code="invalid_transition"):
    pass


@dataclass(frozen=True)
class Action:
    """One staff action as the API and the console hand it over (whitelisted fields)."""

    action: str
    to_unit: str | None = None
    handler: str | None = None
    text: str | None = None
    reason: str | None = None
    deadline: date | None = None
    target: str | None = None  # merge: the case number to merge into
    kind: str | None = None  # reopen: review | objection | new_evidence; redirect: forward | inform
    organ: str | None = None  # redirect: the competent organ
    deadline_id: int | None = None
    approval: str | None = None
    hearing_days: int = 0
    recusal_id: int | None = None
    decision: str | None = None
    outcome: str | None = None  # close: one of intake.workflow.outcomes
    confirm: bool = False  # close: the officer confirmed the closing
    method: str | None = None  # clue_propose: one of intake.workflow.clues.METHODS
    leader_case: bool = False  # clue_propose, clue_report: the accused is a main leader of a unit below
    notice_id: int | None = None  # answer_supervision, close_supervision: the 督办函


@dataclass(frozen=True)
class CaseView:
    report: ReportSummary
    state: CaseStateRecord
    deadlines: list[DeadlineRecord]
    transfers: list[Any]
    recusals: list[Any]
    merged: list[tuple[str, str]]
    events: list[Any]
    clue: Any = None  # the problem clue (storage.clue_store.ClueRecord), if the case is one
    notices: list[Any] = field(default_factory=list)  # supervision notices (督办函)


def china_date(at: datetime) -> date:
    return at.astimezone(CHINA).date()


def _norm(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


class WorkflowBase:
    """What queries and action handlers share: the stores, the clock, the org tree, the calendar."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        staff: StaffService,
        calendar: WorkCalendar,
        *,
        rules: Mapping[str, Rule] | None = None,
        notifier: Any = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self.staff = staff
        self.tree = staff.tree
        self.calendar = calendar
        self.rules = dict(rules or RULES)
        self.notifier = notifier

    def _visible(self, member: StaffMember, owner: str, receiving: str, sealed: bool) -> bool:
        scope = self.staff.scope(member)
        if sealed and receiving in scope.hide_sealed_received_by:
            return False
        return owner in scope.units

    async def _load(self, member: StaffMember, case_no: str) -> tuple[ReportSummary, CaseStateRecord]:
        """The case if ``member`` may see it; otherwise the same 404 as for a case that does not exist."""
        report = await self._db.reports.get(case_no)
        if report is None:
            raise NotFound("没有这个案件，或不在您的查看范围内。", code="case_not_found")
        state = await self._db.workflow.state(report.id) or CaseStateRecord(
            report.receiving_unit, None, bool((report.triage or {}).get("sealed")), None, 0, None, None
        )
        sealed = state.sealed or bool((report.triage or {}).get("sealed"))
        if not self._visible(member, state.owner_unit, report.receiving_unit, sealed):
            raise NotFound("没有这个案件，或不在您的查看范围内。", code="case_not_found")
        return report, state

    async def _still_visible(self, member: StaffMember, case_no: str) -> bool:
        try:
            await self._load(member, case_no)
        except NotFound:
            return False
        return True

    def label(self, rule: str) -> str:
        found = self.rules.get(rule)
        return found.label if found else CUSTOM_DEADLINES.get(rule, rule)

    # --- helpers ------------------------------------------------------------------------------------

    def _deadline(self, rule_name: str, unit: str, start: date, **kw: int) -> NewDeadline:
        rule = self.rules[rule_name]
        due = self.calendar.due(rule, start, **kw)
        return NewDeadline(rule_name, unit, start, due, self._reminder_at(due))

    def _reminder_at(self, due: date) -> datetime:
        # 09:00 Beijing time two days before the due date; the job queue runs it (then at once if past).
        return datetime.combine(due - REMINDER_LEAD, time(9, 0), CHINA)

    @staticmethod
    def _track(report: ReportSummary) -> str:
        """``xf`` for 其他信访诉求 (信访工作条例 periods), ``jjkg`` for everything else."""
        return "xf" if report.scope == "petition" else "jjkg"

    def _text(self, value: str | None, what: str, *, required: bool = True) -> str:
        text = (value or "").strip()
        if required and not text:
            raise ValidationError(f"请填写{what}。", code="text_required")
        if len(text) > MAX_TEXT:
            raise ValidationError(f"{what}不能超过 {MAX_TEXT} 字。", code="text_too_long")
        check_text(text)  # PostgreSQL refuses NUL in text: the same 422 on both databases
        return text

    def _unit(self, code: str | None) -> str:
        if not code or code not in self.tree.units:
            raise ValidationError("请选择辖区内的单位。", code="unknown_unit")
        if self.tree.is_intake_point(code):
            # 村务监督委员会 / 监督联络站 register and forward; there is no commission to handle it.
            raise ValidationError("村（社区）受理点只登记和转交，不能承办案件。", code="intake_point")
        return code

    def _in_accused_unit(self, unit: str, accused_unit: str) -> bool:
        """Whether the accused unit is the handler's own unit, or a 纪检 body of its division."""
        unit_name = _norm(self.tree.name(unit))
        division = _norm(self.tree.units[unit].division_name)
        if not accused_unit:
            return False
        if accused_unit == unit_name or (unit_name and unit_name in accused_unit):
            return True
        return accused_unit.startswith(division) and "纪" in accused_unit

    async def _conflict(self, handler: str, report: ReportSummary, pending_targets: set[str]) -> str | None:
        """Why ``handler`` must not handle ``report`` (回避), or None."""
        member = await self.staff.member(handler)
        if member is None:
            return "no_such_handler"
        if handler in pending_targets:
            return "recusal_requested"
        accused_unit = _norm(report.accused_unit)
        if self._in_accused_unit(member.unit, accused_unit):
            return "same_unit"
        accused = _norm(report.accused_name)
        for rel in await self.staff.relations(handler):
            same_person = bool(accused) and _norm(rel.person_name) == accused
            same_place = not rel.person_unit or not accused_unit or _norm(rel.person_unit) in accused_unit
            if same_person and same_place:
                return "declared_relation"
        return None

    async def _notify(self, report_id: uuid.UUID, event: CaseEvent) -> None:
        if self.notifier is None:
            return
        try:
            await self.notifier.case_updated(report_id, event)
        except (LookupError, ValueError):
            log.warning("could not queue the informant notice", extra={"report_id": str(report_id)})
