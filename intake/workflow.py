"""The case workflow: a state machine over a report's status, with scoping, 回避, deadlines,
transfers, replies and merges. Every transition is one transaction with its audit event.

States (``reports.status``; labels in :data:`intake.domain.STATUS_LABELS`)::

    received ─register→ registered ─accept→ accepted ─assign→ assigned ─reply→ replied ─close→ closed
        │                   │                  │  ↑               │  ↑           │
        └──redirect─────────┴─→ not_accepted   │  └──reopen───────┼──┴───────────┘ (复查/复核)
                                               ├─transfer→ transferred ─accept (by the receiving unit)
                                               └─supervise→ supervised (督办)

* **redirect** (不予受理, S1 art 13): a letter is forwarded to the competent organ (a ``forward``
  transfer); any other channel is told where to go (a reply on the thread). Neither starts a clue.
* **transfer** (转办, S1 arts 15–16): to a unit above, below or beside; downward the receiving unit
  must register and accept or re-transfer within 5 working days. **assign** with ``to_unit`` is
  交办 down with a 3-month deadline (S1 art 21); with ``handler`` it names the handler, refused when
  the handler has a conflict of interest (回避, S1 art 48).
* A report that triage routes upward sealed (about the receiving commission's own head, or a cadre
  managed above) is taken out of the receiving unit's sight at once and handed up (S1 art 15).
* **reply** writes an ``out`` message (read with the query code) and tells the notifier.
* **reopen**: the informant's 复查 and then 复核 request within 30 days of the reply (条例 arts
  35–36), after which the same matter is not accepted again; an objection to a 纪检 result is
  recorded and explained (S1 art 27); new evidence sends the case back to 核查.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from intake.clock import CHINA, Clock
from intake.deadlines import RULES, Rule, WorkCalendar
from intake.domain import STATUS_LABELS
from intake.errors import Conflict, IntakeError, NotFound, ValidationError
from intake.notifier import CaseEvent
from intake.staff import ROLES, Forbidden, StaffMember, StaffService
from intake.text import check_text
from storage.blobs import BlobContent
from storage.database import Database
from storage.records import ReportSummary
from storage.workflow_store import (
    AttachmentRecord,
    CaseChange,
    CaseRow,
    CaseStateRecord,
    DeadlineRecord,
    NewDeadline,
    StaleCase,
)

log = logging.getLogger("intake.workflow")

ACTIONS = (
    "register",
    "accept",
    "redirect",
    "assign",
    "transfer",
    "supervise",
    "reply",
    "close",
    "reopen",
    "merge",
    "extend",
    "request_recusal",
    "decide_recusal",
)
ACTION_LABELS = {
    "register": "登记",
    "accept": "受理",
    "redirect": "不予受理并告知/转送",
    "assign": "指定承办/交办",
    "transfer": "转办",
    "supervise": "督办",
    "reply": "答复",
    "close": "办结",
    "reopen": "复查/复核/异议",
    "merge": "合并重复件",
    "extend": "延长期限",
    "request_recusal": "登记回避申请",
    "decide_recusal": "决定回避申请",
}
_INTAKE = {"register", "accept", "redirect", "transfer", "merge", "request_recusal", "reopen"}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "registrar": frozenset(_INTAKE),
    "triage_officer": frozenset(_INTAKE),
    "handler": frozenset({"accept", "reply", "close", "transfer", "request_recusal"}),
    "supervisor": frozenset(ACTIONS),
    "custodian": frozenset(),
    "admin": frozenset(),
}
# The states each action may start from.
FROM: dict[str, frozenset[str]] = {
    "register": frozenset({"received"}),
    "accept": frozenset({"received", "registered", "transferred"}),
    "redirect": frozenset({"received", "registered", "transferred"}),
    "assign": frozenset({"accepted", "assigned", "supervised"}),
    "transfer": frozenset({"received", "registered", "accepted", "assigned", "transferred"}),
    "supervise": frozenset({"accepted", "assigned", "transferred", "supervised"}),
    "reply": frozenset({"accepted", "assigned", "supervised", "replied", "closed"}),
    "close": frozenset({"accepted", "assigned", "supervised", "replied"}),
    "reopen": frozenset({"replied", "closed"}),
    "merge": frozenset({"received", "registered", "accepted", "assigned", "transferred", "supervised"}),
    "extend": frozenset({"accepted", "assigned", "supervised", "transferred", "replied", "closed"}),
    "request_recusal": frozenset(STATUS_LABELS) - {"not_accepted"},
    "decide_recusal": frozenset(STATUS_LABELS),
}
# Custom-date deadlines (no rule in the table): their labels.
CUSTOM_DEADLINES = {"supervise_report": "督办报告"}
MAX_TEXT = 5000
REMINDER_LEAD = timedelta(days=2)


class WorkflowError(IntakeError):
    status = 409
    code = "invalid_transition"


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


@dataclass(frozen=True)
class CaseView:
    report: ReportSummary
    state: CaseStateRecord
    deadlines: list[DeadlineRecord]
    transfers: list[Any]
    recusals: list[Any]
    merged: list[tuple[str, str]]
    events: list[Any]


def china_date(at: datetime) -> date:
    return at.astimezone(CHINA).date()


def _norm(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


class Workflow:
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

    # --- reading ----------------------------------------------------------------------------------

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

    async def queue(
        self,
        member: StaffMember,
        *,
        status: str | None = None,
        channel: str | None = None,
        category: str | None = None,
        due_within: int | None = None,
        case_nos: list[str] | None = None,
    ) -> list[CaseRow]:
        check_text(channel, category)  # filters from a query string, compared in SQL
        scope = self.staff.scope(member)
        due_by = None
        if due_within is not None:
            due_by = china_date(self._clock.now()) + timedelta(days=due_within)
        rows = await self._db.workflow.cases(
            units=scope.units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            status=status,
            channel=channel,
            due_by=due_by,
            case_nos=case_nos,
        )
        if category:
            rows = [r for r in rows if category in (r.category, r.triage_category)]
        return rows

    async def case(self, member: StaffMember, case_no: str) -> CaseView:
        report, state = await self._load(member, case_no)
        wf = self._db.workflow
        return CaseView(
            report,
            state,
            await wf.deadlines(report_id=report.id),
            await wf.transfers(report.id),
            await wf.recusals(report.id),
            await wf.merged_channels(report.case_no),
            await self._db.reports.events(report.id),
        )

    async def board(self, member: StaffMember, within: int = 10) -> dict[str, Any]:
        """Open deadlines of visible cases: overdue, and due within ``within`` days, by unit."""
        today = china_date(self._clock.now())
        rows = await self.queue(member)
        visible = {r.report_id for r in rows}
        deadlines = await self._db.workflow.deadlines(due_by=today + timedelta(days=within), open_only=True)
        items: list[dict[str, Any]] = []
        for d in deadlines:
            if d.report_id not in visible:
                continue
            items.append(
                {
                    "id": d.id,
                    "case_no": d.case_no,
                    "rule": d.rule,
                    "label": self.label(d.rule),
                    "unit": d.unit_code,
                    "unit_name": self.tree.name(d.unit_code),
                    "due_on": d.due_on.isoformat(),
                    "days_left": (d.due_on - today).days,
                    "overdue": d.due_on < today,
                }
            )
        by_unit: dict[str, dict[str, int]] = {}
        for item in items:
            counts = by_unit.setdefault(str(item["unit"]), {"overdue": 0, "due_soon": 0})
            counts["overdue" if item["overdue"] else "due_soon"] += 1
        return {
            "today": today.isoformat(),
            "overdue": [i for i in items if i["overdue"]],
            "due_soon": [i for i in items if not i["overdue"]],
            "by_unit": [{"unit": u, "unit_name": self.tree.name(u), **c} for u, c in sorted(by_unit.items())],
        }

    async def attachments(self, member: StaffMember, case_no: str) -> list[AttachmentRecord]:
        """The case's evidence attachments (404 outside the member's scope)."""
        report, _ = await self._load(member, case_no)
        return await self._db.workflow.attachments(report.id)

    async def attachment(self, member: StaffMember, case_no: str, attachment_id: str) -> BlobContent:
        """One evidence attachment of a visible case, decrypted off the event loop."""
        report, _ = await self._load(member, case_no)
        found = [a for a in await self._db.workflow.attachments(report.id) if str(a.id) == attachment_id]
        if not found:
            raise NotFound("没有这个附件。", code="attachment_not_found")
        blob = await asyncio.to_thread(self._db.blobs.get, found[0].id)
        # Who opened which piece of evidence is part of the case's trail (全程留痕).
        await self._db.workflow.record_access(
            report.id, "attachment_opened", member.actor, self._clock.now(), attachment=attachment_id
        )
        return blob

    async def search(self, member: StaffMember, text: str, limit: int = 100) -> list[CaseRow]:
        """Full-text search over report text (storage.search), scoped exactly like the queue."""
        check_text(text)
        await self._db.search.catch_up(self._clock.now())
        found = await self._db.search.search(text)
        if not found:
            return []
        rows = {r.case_no: r for r in await self.queue(member, case_nos=found)}
        return [rows[c] for c in found if c in rows][:limit]

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
        return code

    async def _conflict(self, handler: str, report: ReportSummary, pending_targets: set[str]) -> str | None:
        """Why ``handler`` must not handle ``report`` (回避), or None."""
        member = await self.staff.member(handler)
        if member is None:
            return "no_such_handler"
        if handler in pending_targets:
            return "recusal_requested"
        unit_name = _norm(self.tree.name(member.unit))
        division = _norm(self.tree.units[member.unit].division_name)
        accused_unit = _norm(report.accused_unit)
        if accused_unit and (accused_unit == unit_name or (unit_name and unit_name in accused_unit)):
            return "same_unit"
        if accused_unit and accused_unit.startswith(division) and "纪" in accused_unit:
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

    # --- acting ---------------------------------------------------------------------------------------

    async def act(self, member: StaffMember, case_no: str, action: Action) -> CaseView:
        if action.action not in ACTIONS:
            raise ValidationError(f"action 只能是 {'、'.join(ACTIONS)}。", code="unknown_action")
        report, state = await self._load(member, case_no)
        if action.action not in ROLE_ACTIONS.get(member.role, frozenset()):
            raise Forbidden(
                f"{ROLES.get(member.role, member.role)}不能执行“{ACTION_LABELS[action.action]}”。",
                code="role_not_allowed",
            )
        if report.status not in FROM[action.action]:
            label = STATUS_LABELS.get(report.status, report.status)
            raise WorkflowError(f"案件当前状态为“{label}”，不能{ACTION_LABELS[action.action]}。")
        now = self._clock.now()
        change = CaseChange(
            report.id,
            report.status,
            member.actor,
            now,
            action.action if action.action != "register" else "registered",
            {"action": action.action, "from": report.status},
        )
        handler = getattr(self, f"_do_{action.action}")
        notice: CaseEvent | None = await handler(member, report, state, action, change, now)
        if change.status is not None:
            change.event_payload["to"] = change.status
        try:
            await self._db.workflow.apply(change)
        except StaleCase:
            raise Conflict("案件已被他人处理，请刷新后重试。", code="stale_case") from None
        log.info("case action", extra={"case_no": report.case_no, "action": action.action})
        if notice is not None:
            await self._notify(report.id, notice)
        return (
            await self.case(member, case_no)
            if await self._still_visible(member, case_no)
            else CaseView(report, state, [], [], [], [], [])
        )

    async def _still_visible(self, member: StaffMember, case_no: str) -> bool:
        try:
            await self._load(member, case_no)
        except NotFound:
            return False
        return True

    async def _do_register(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        change.status = "registered"
        if self._track(report) == "xf":
            change.deadlines.append(
                self._deadline("xf_register_and_route", state.owner_unit, china_date(report.received_at))
            )
        return None

    async def _do_accept(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        duplicate = (report.triage or {}).get("duplicate_of")
        if duplicate:
            earlier = await self._db.reports.get(duplicate)
            earlier_state = await self._db.workflow.state(earlier.id) if earlier else None
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
        if self._track(report) == "xf":
            change.close_deadlines["xf_register_and_route"] = "met"
            change.deadlines.append(self._deadline("xf_handle_31_6", unit, china_date(now)))
            if not report.anonymous:
                change.deadlines.append(self._deadline("xf_accept_notice", unit, received))
        elif not report.anonymous:
            # S1 art 26: a repeat item gets no acceptance notice.
            if duplicate:
                change.event_payload["notice_skipped"] = "repeat"
            else:
                change.deadlines.append(self._deadline("jjkg_realname_accept_notice", unit, received))
        return CaseEvent("status_changed", status="accepted")

    async def _do_redirect(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        organ = self._text(a.organ or (report.triage or {}).get("redirect_to"), "有权处理的机关")[:100]
        reason = self._text(a.reason, "不予受理的理由")
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
            change.reply = (report.channel, self._text(text, "告知内容"))
            change.event_payload["handling"] = "inform"
        return CaseEvent("status_changed", status="not_accepted")

    async def _do_assign(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        if a.to_unit and a.handler:
            raise ValidationError("交办单位和承办人只能选一项。", code="invalid_assign")
        if a.to_unit:  # 交办: down the tree, with a 3-month deadline (S1 art 21)
            to_unit = self._unit(a.to_unit)
            if self.tree.direction(
                state.owner_unit, to_unit
            ) != "downward" or to_unit not in self.tree.descendants(state.owner_unit):
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
            due = self.calendar.due(self.rules["jiaoban_conclude"], china_date(now))
            if a.deadline is not None:
                if a.deadline > due:
                    raise ValidationError(
                        "交办期限不能超过三个月（规则第二十一条）。", code="deadline_too_late"
                    )
                due = self.calendar.roll_to_working_day(a.deadline)
            change.deadlines.append(
                NewDeadline("jiaoban_conclude", to_unit, china_date(now), due, self._reminder_at(due))
            )
            change.event_payload |= {"to_unit": to_unit, "due_on": due.isoformat()}
            return CaseEvent("status_changed", status="assigned")
        handler = (a.handler or "").strip().lower()
        if not handler:
            raise ValidationError("请指定承办人或交办单位。", code="invalid_assign")
        target = await self.staff.member(handler)
        if target is None or target.unit != state.owner_unit or target.role not in ("handler", "supervisor"):
            raise ValidationError("承办人须是本案承办单位的承办人员。", code="invalid_handler")
        pending = {
            r.target
            for r in await self._db.workflow.recusals(report.id)
            if r.status in ("pending", "granted") and r.target
        }
        why = await self._conflict(handler, report, pending)
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

    async def _do_transfer(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        to_unit = self._unit(a.to_unit)
        if to_unit == state.owner_unit:
            raise ValidationError("不能转办给本单位。", code="same_unit")
        direction = self.tree.direction(state.owner_unit, to_unit)
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
        }
        if direction != "upward":
            # S1 art 16: the receiving unit registers and accepts or re-transfers within 5 working days.
            change.deadlines.append(
                self._deadline("jjkg_downward_accept_or_transfer", to_unit, china_date(now))
            )
        change.event_payload |= {"to_unit": to_unit, "direction": direction, "sealed": sealed}
        return CaseEvent("status_changed", status="transferred")

    async def _do_supervise(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        reason = self._text(a.reason, "督办事由")
        change.status = "supervised"
        change.event_payload["reason_chars"] = len(reason)
        if a.deadline is not None:
            if a.deadline <= china_date(now):
                raise ValidationError("督办期限应晚于今天。", code="deadline_in_past")
            due = self.calendar.roll_to_working_day(a.deadline)
            change.deadlines.append(
                NewDeadline(
                    "supervise_report", state.owner_unit, china_date(now), due, self._reminder_at(due)
                )
            )
            change.event_payload["due_on"] = due.isoformat()
        return None

    async def _do_reply(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        text = self._text(a.text, "答复内容")
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

    async def _do_close(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
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
        if not report.anonymous and self._track(report) == "jjkg" and report.status != "replied":
            # S1 art 27: the result goes back to a real-name informant within 15 working days.
            change.deadlines.append(
                self._deadline("jjkg_realname_result_feedback", state.owner_unit, china_date(now))
            )
        return CaseEvent("status_changed", status="closed")

    async def _do_reopen(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        kind = a.kind or ("review" if self._track(report) == "xf" else "objection")
        today = china_date(now)
        if kind == "objection":
            # S1 art 27 ¶2: an objection is recorded and explained; the case stays where it is.
            self._text(a.reason or a.text, "异议内容")
            change.status = None
            change.deadlines.append(self._deadline("jjkg_objection_explain", state.owner_unit, today))
            change.event_kind = "objection_recorded"
            return None
        if kind == "new_evidence":
            self._text(a.reason or a.text, "新证据说明")
            change.status = "assigned" if state.handler else "accepted"
            change.state = {"concluded_at": None}
            change.event_kind = "reopened"
            change.event_payload["kind"] = kind
            return CaseEvent("status_changed", status=change.status)
        if kind != "review":
            raise ValidationError("kind 只能是 review、objection 或 new_evidence。", code="invalid_kind")
        if state.review_stage >= 2:
            raise WorkflowError(
                "该事项已经复核，以同一事实和理由提出的请求不再受理（信访工作条例第三十六条）。",
                code="no_further_review",
            )
        if state.replied_at is None:
            raise WorkflowError("尚未书面答复，不能申请复查或复核。", code="not_replied")
        window = "xf_review_request_window" if state.review_stage == 0 else "xf_rereview_request_window"
        last_day = self.calendar.due(self.rules[window], china_date(state.replied_at))
        if today > last_day:
            raise WorkflowError(
                f"已超过申请期限（收到答复意见之日起三十日内，截至 {last_day.isoformat()}）。",
                code="window_closed",
            )
        if a.hearing_days < 0 or a.hearing_days > 365:
            raise ValidationError("听证天数应为 0 至 365。", code="invalid_hearing_days")
        decide = "xf_review_decide" if state.review_stage == 0 else "xf_rereview_decide"
        extra = {"excluded_days": a.hearing_days} if decide == "xf_rereview_decide" and a.hearing_days else {}
        change.deadlines.append(self._deadline(decide, state.owner_unit, today, **extra))
        change.status = "accepted"
        change.state = {"review_stage": state.review_stage + 1, "concluded_at": None}
        change.event_kind = "reopened"
        change.event_payload |= {
            "kind": "复查" if state.review_stage == 0 else "复核",
            "hearing_days": a.hearing_days,
        }
        return CaseEvent("status_changed", status="accepted")

    async def _do_merge(
        self,
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
        target, target_state = await self._load(member, target_no)
        if target_state.merged_into:
            raise ValidationError("目标案件本身已被合并，请合并到主案件。", code="invalid_target")
        change.status = "closed"
        change.state = {"merged_into": target.case_no}
        change.close_deadlines = {r: "cancelled" for r in self.rules} | {"supervise_report": "cancelled"}
        change.event_kind = "merged"
        change.event_payload |= {"into": target.case_no}
        change.also_events.append(
            (target.id, "merged_in", {"case_no": report.case_no, "channel": report.channel})
        )
        return None

    async def _do_extend(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        found = [d for d in await self._db.workflow.deadlines(report_id=report.id) if d.id == a.deadline_id]
        if not found or found[0].status != "open":
            raise ValidationError("请选择本案一个未到期的期限。", code="unknown_deadline")
        d = found[0]
        rule = self.rules.get(d.rule)
        if rule is None:
            raise ValidationError("该期限不能延长。", code="no_more_extensions")
        step = rule.extensions[d.extensions] if d.extensions < len(rule.extensions) else None
        new_due = self.calendar.extend(rule, d.due_on, d.extensions, approval=a.approval, new_due=a.deadline)
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
            reason = self._text(a.reason, "延期理由")
            change.reply = (
                report.channel,
                f"您反映的事项办理期限经批准延长至{new_due.isoformat()}。理由：{reason}",
            )
            return CaseEvent("deadline", notice="extended")
        return None

    async def _do_request_recusal(
        self,
        member: StaffMember,
        report: ReportSummary,
        state: CaseStateRecord,
        a: Action,
        change: CaseChange,
        now: datetime,
    ) -> CaseEvent | None:
        reason = self._text(a.reason, "回避申请理由")
        self._recusal(change, state, "staff" if a.kind == "staff" else "informant", reason, a.handler, now)
        return None

    def _recusal(
        self,
        change: CaseChange,
        state: CaseStateRecord,
        by: str,
        reason: str,
        target: str | None,
        now: datetime,
    ) -> None:
        change.status = None
        change.recusal = {"requested_by": by, "target": (target or state.handler), "reason": reason}
        change.deadlines.append(self._deadline("recusal_decide", state.owner_unit, china_date(now)))
        change.event_kind = "recusal_requested"
        change.event_payload |= {"requested_by": by, "target": target or state.handler}

    async def _do_decide_recusal(
        self,
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
            r
            for r in await self._db.workflow.recusals(report.id)
            if r.id == a.recusal_id and r.status == "pending"
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
        change.event_payload |= {"recusal_id": pending[0].id, "decision": a.decision}
        return None

    # --- outside the staff actions -----------------------------------------------------------------

    async def informant_recusal(self, case_no: str, reason: str) -> None:
        """The informant (through the query code) asks that the handler step aside (S1 art 35)."""
        report = await self._db.reports.get(case_no)
        if report is None:
            raise NotFound("没有这个案件。", code="case_not_found")
        reason = self._text(reason, "回避申请理由")
        state = await self._db.workflow.state(report.id) or CaseStateRecord(
            report.receiving_unit, None, False, None, 0, None, None
        )
        now = self._clock.now()
        change = CaseChange(report.id, report.status, "informant", now, "recusal_requested", {})
        self._recusal(change, state, "informant", reason, None, now)
        try:
            await self._db.workflow.apply(change)
        except StaleCase:
            raise Conflict("请稍后再试。", code="stale_case") from None

    async def register_filed(self, member: StaffMember, case_no: str) -> None:
        """A letter or visit a staff member just filed: registered at once, by them."""
        report = await self._db.reports.get(case_no)
        if report is None or report.status != "received":
            return
        change = CaseChange(
            report.id,
            "received",
            member.actor,
            self._clock.now(),
            "registered",
            {"action": "register", "from": "received", "to": "registered", "filed_by_staff": True},
            status="registered",
            state={"owner_unit": member.unit},
        )
        await self._db.workflow.apply(change)

    async def after_triage(self, case_no: str) -> None:
        """Triage routed the case upward sealed: take it out of the receiving unit's sight and hand it
        up at once, with the 5-working-day deadline for the upper level to confirm receipt."""
        report = await self._db.reports.get(case_no)
        triage = (report.triage if report else None) or {}
        if report is None or not triage.get("sealed") or report.status != "received":
            return
        target = (triage.get("unit") or {}).get("id")
        if target not in self.tree.units or target == report.receiving_unit:
            parents = self.tree.ancestors(report.receiving_unit)
            if not parents:
                return
            target = parents[0]
        if not await self._db.workflow.mark_sealed(report.id, target, self._clock.now()):
            return
        now = self._clock.now()
        change = CaseChange(
            report.id,
            "received",
            "system:workflow",
            now,
            "transfer",
            {
                "action": "transfer",
                "from": "received",
                "to": "transferred",
                "to_unit": target,
                "direction": "upward",
                "sealed": True,
                "rules": triage.get("rules") or [],
            },
            status="transferred",
            handling_unit=target,
            state={"owner_unit": target, "sealed": True},
            transfer={
                "kind": "upward",
                "from_unit": report.receiving_unit,
                "to_unit": target,
                "to_organ": None,
                "sealed": True,
            },
            deadlines=[self._deadline("jjkg_upward_transfer", target, china_date(report.received_at))],
        )
        try:
            await self._db.workflow.apply(change)
        except StaleCase:
            return

    async def reminder_job(self, job: Any) -> None:
        await self._db.workflow.reminder(int(job.payload["deadline_id"]), self._clock.now())


def open_workflow(
    settings: Any,
    db: Database,
    clock: Clock,
    units: Any,
    notifier: Any,
    worker: Any,
) -> tuple[StaffService, Workflow]:
    """The staff service and the workflow for ``open_services``; registers the deadline reminders
    (the triage job, which the workflow follows with :meth:`Workflow.after_triage`, is composed
    in ``open_services``)."""
    from intake.deadlines import default_calendar
    from intake.staff import OrgTree

    staff = StaffService(
        db,
        clock,
        OrgTree(units),
        token_ttl=timedelta(hours=settings.staff_token_hours),
        max_failures=settings.staff_max_failures,
        address_failures=settings.staff_address_failures,
        failure_window=timedelta(minutes=settings.staff_lockout_minutes),
    )
    workflow = Workflow(db, clock, staff, default_calendar(settings.data_dir / "calendar"), notifier=notifier)

    worker.register("deadline_reminder", workflow.reminder_job)
    return staff, workflow
