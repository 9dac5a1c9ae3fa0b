"""The workflow service: :meth:`Workflow.act` runs one staff action from the table in
:mod:`intake.workflow.actions` as one transaction with its audit event; the rest are the
transitions that are not staff actions (the informant's 回避 request, a letter filed by staff,
the sealed upward hand-over after triage, deadline reminders)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from intake.clock import Clock
from intake.domain import STATUS_LABELS
from intake.errors import Conflict, NotFound, ValidationError
from intake.staff import ROLES, Forbidden, StaffMember, StaffService
from intake.workflow.actions import ACTIONS, SPEC_BY_NAME
from intake.workflow.core import Action, CaseView, WorkflowError, china_date, log
from intake.workflow.handlers import notice_rule
from intake.workflow.queries import WorkflowQueries
from intake.workflow.recusals import add_recusal
from storage.database import Database
from storage.records import ReportSummary
from storage.workflow_store import CaseChange, CaseStateRecord, StaleCase


class Workflow(WorkflowQueries):
    """Queries (:class:`~intake.workflow.queries.WorkflowQueries`) plus the transitions."""

    async def act(self, member: StaffMember, case_no: str, action: Action) -> CaseView:
        spec = SPEC_BY_NAME.get(action.action)
        if spec is None:
            raise ValidationError(f"action 只能是 {'、'.join(ACTIONS)}。", code="unknown_action")
        report, state = await self._load(member, case_no)
        if not spec.permits(member.role):
            raise Forbidden(
                f"{ROLES.get(member.role, member.role)}不能执行“{spec.label}”。",
                code="role_not_allowed",
            )
        if report.status not in spec.from_states:
            label = STATUS_LABELS.get(report.status, report.status)
            raise WorkflowError(f"案件当前状态为“{label}”，不能{spec.label}。")
        now = self._clock.now()
        change = CaseChange(
            report.id,
            report.status,
            member.actor,
            now,
            action.action if action.action != "register" else "registered",
            {"action": action.action, "from": report.status},
        )
        notice = await spec.handler(self, member, report, state, action, change, now)
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
        add_recusal(self, change, state, "informant", reason, None, now)
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

    async def after_triage_many(self, case_nos: Sequence[str]) -> list[Exception | None]:
        """:meth:`after_triage` for the cases of one triage batch, read in one query; per case,
        the error it met (the others still go on)."""
        reports = await self._db.reports.get_many(case_nos)

        async def one(case_no: str) -> Exception | None:
            try:
                await self._after_triage(reports.get(case_no))
            except Exception as exc:
                return exc
            return None

        return list(await asyncio.gather(*(one(c) for c in case_nos)))

    async def after_triage(self, case_no: str) -> None:
        """Triage routed the case upward sealed: take it out of the receiving unit's sight and hand it
        up at once, with the 5-working-day deadline for the upper level to confirm receipt."""
        await self._after_triage(await self._db.reports.get(case_no))

    async def _after_triage(self, report: ReportSummary | None) -> None:
        triage = (report.triage if report else None) or {}
        if report is None or report.status != "received":
            return
        if not triage.get("sealed"):
            await self._open_notice_deadline(report, triage)
            return
        target = self._upward_target(report, triage)
        if target is None:
            return
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

    async def _open_notice_deadline(self, report: ReportSummary, triage: dict[str, Any]) -> None:
        """The statutory notice to a real-name informant counts from receipt (S1 art 26: 15 working
        days to tell them whether it is accepted; 信访工作条例 art 23: 15 days), so the deadline is on
        the receiving unit's board from the moment triage has said which rules apply — not only
        once someone accepts. A repeat accusation gets no notice (S1 art 26)."""
        rule = notice_rule(report, duplicate=bool(triage.get("duplicate_of")))
        if rule is None:
            return
        if [d for d in await self._db.workflow.deadlines(report_id=report.id) if d.rule == rule]:
            return  # triage ran again (a retrained model, a correction): the deadline stands
        change = CaseChange(
            report.id,
            "received",
            "system:workflow",
            self._clock.now(),
            "deadline_opened",
            {"rule": rule, "from": "received"},
            deadlines=[self._deadline(rule, report.receiving_unit, china_date(report.received_at))],
        )
        try:
            await self._db.workflow.apply(change)
        except StaleCase:
            return

    def _upward_target(self, report: ReportSummary, triage: dict[str, Any]) -> str | None:
        """The unit triage routed to, or else the receiving unit's parent (None at the top)."""
        target = (triage.get("unit") or {}).get("id")
        if target in self.tree.units and target != report.receiving_unit:
            return str(target)
        parents = self.tree.ancestors(report.receiving_unit)
        return parents[0] if parents else None

    # Called after a deadline's reminder (the urging service alerts the unit when it turned).
    on_reminder: Callable[[int], Awaitable[int]] | None = None

    async def reminder_job(self, job: Any) -> None:
        deadline_id = int(job.payload["deadline_id"])
        if await self._db.workflow.reminder(deadline_id, self._clock.now()) and self.on_reminder is not None:
            await self.on_reminder(deadline_id)


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
        scrypt_n=2**settings.staff_scrypt_log_n,
    )
    workflow = Workflow(db, clock, staff, default_calendar(settings.data_dir / "calendar"), notifier=notifier)

    worker.register("deadline_reminder", workflow.reminder_job)
    return staff, workflow
