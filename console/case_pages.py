"""The console pages about cases: the triage queue, case lists, the case page with its actions,
triage review and attachments, the deadline board and search."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from console.api import (
    TRIAGE_ROLES,
    parse_action,
)
from console.labels import (
    CHANNEL_LABELS,
    DECISION_LABELS,
    EVENT_LABELS,
    LEVEL_LABELS,
    PRIORITY_LABELS,
    RATING_LABELS,
    READ_EVENTS,
    REVIEW_KINDS,
    SCOPE_LABELS,
)
from console.page_base import (
    ACTION_FIELDS,
    CONSOLE_ACTIONS,
    DONE_NOTICE,
    INT_FIELDS,
    NO_STORE,
    PREFIX,
    QUEUE_LIMIT,
    TRIAGE_FIELDS,
    ConsoleRedirect,
    PageBase,
    UnitChoices,
    page,
)
from intake import notices
from intake.domain import STATUS_LABELS
from intake.errors import IntakeError, ValidationError
from intake.staff import LEVEL_RANK, StaffMember
from intake.triage_service import CORRECTABLE
from intake.workflow import ACTION_LABELS, SPEC_BY_NAME, SPECS, CaseView, Workflow
from intake.workflow.clues import (
    APPROVAL_LABELS,
    CLUE_RULES,
    CLUE_STATE_LABELS,
    INQUIRY_RESULTS,
    METHODS,
    STAGES,
    VERIFY_RESULTS,
    approvals_shown,
    label_of,
    may_approve,
    next_steps,
    pending_levels,
)
from intake.workflow.outcomes import OUTCOME_LABELS, outcomes_for
from intake.workflow.supervision import NOTICE_STATUS


class CasePages(PageBase):
    # --- the triage queue and case lists -----------------------------------------------------------------

    @page
    async def queue(self, request: web.Request) -> web.StreamResponse:
        """Reports whose triage needs a person, and new reports in the user's scope."""
        member, session = await self._member(request)
        workflow = self.ctx.workflow
        waiting = await self.ctx.triage.review_queue(QUEUE_LIMIT, workflow.staff.scope(member))
        review = {
            r.case_no: r for r in await workflow.queue(member, case_nos=[w["case_no"] for w in waiting])
        }
        rows = [review[w["case_no"]] for w in waiting if w["case_no"] in review]
        seen = set(review)
        for status in ("received", "registered"):
            for row in await workflow.queue(member, status=status):
                if row.case_no not in seen:
                    rows.append(row)
                    seen.add(row.case_no)
        shown = rows[:QUEUE_LIMIT]
        reports = await workflow.reports_of(shown)
        items = [
            {"row": row, "report": r, "triage": r.triage or {}}
            for row in shown
            if (r := reports.get(row.case_no)) is not None
        ]
        return self._render(
            request,
            "queue.html",
            member=member,
            session=session,
            items=items,
            total=len(rows),
            limit=QUEUE_LIMIT,
            can_triage=member.role in TRIAGE_ROLES,
            units=UnitChoices(self._unit_options(workflow)),
            notice=self._notice(request),
        )

    @page
    async def cases(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        workflow = self.ctx.workflow
        status = request.query.get("status") or None
        if status is not None and status not in STATUS_LABELS:
            raise ValidationError("未知的状态。", code="invalid_status")
        rows = await workflow.queue(member, status=status)
        return self._render(
            request, "cases.html", member=member, session=session, rows=rows, selected=status or ""
        )

    # --- the case page ----------------------------------------------------------------------------------

    @page
    async def case(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        return await self._case_page(request, member, session, self._case_no(request), opened=True)

    async def _case_page(
        self,
        request: web.Request,
        member: StaffMember,
        session: str,
        case_no: str,
        *,
        status: int = 200,
        error: str | None = None,
        values: Mapping[str, str] | None = None,
        opened: bool = False,
    ) -> web.Response:
        workflow = self.ctx.workflow
        if opened:  # a page asked for (not one shown again after a refused action) is a read on record
            view = await workflow.open_case(member, case_no, "console")
        else:
            view = await workflow.case(member, case_no)
        attachments = await workflow.attachments(member, case_no)
        report = view.report
        open_deadlines = [d for d in view.deadlines if d.status == "open"]
        pending = [q for q in view.recusals if q.status == "pending"]
        objection_open = any(d.rule == "jjkg_objection_explain" for d in open_deadlines)
        allowed = _allowed_actions(member, report.status, bool(open_deadlines), bool(pending), objection_open)
        allowed = _supervision_actions(allowed, member, view.notices, workflow.staff.scope(member).units)
        desk = self.ctx.informant
        requests = await desk.of_case(report.case_no) if desk is not None else None
        timeline = [
            {
                "at": e.at,
                "kind": e.kind,
                "label": EVENT_LABELS.get(e.kind, e.kind),
                "actor": e.actor,
                "detail": self._event_detail(e.payload, workflow),
            }
            for e in view.events
        ]
        reads = [e for e in timeline if e["kind"] in READ_EVENTS]
        timeline = [e for e in timeline if e["kind"] not in READ_EVENTS]
        return self._render(
            request,
            "case.html",
            status,
            member=member,
            session=session,
            view=view,
            report=report,
            state=view.state,
            triage=report.triage or {},
            reads=reads,
            attachments=attachments,
            timeline=timeline,
            allowed=allowed,
            requests=requests,
            outcomes=outcomes_for("xf" if report.scope == "petition" else "jjkg"),
            rating_labels=RATING_LABELS,
            review_kinds=REVIEW_KINDS,
            open_deadlines=open_deadlines,
            pending_recusals=pending,
            deadline_label=workflow.label,
            deadline_colour=workflow.colour,
            supervision_notices=view.notices,
            notice_status=NOTICE_STATUS,
            **self._unit_lists(workflow, view.state.owner_unit),
            can_triage=member.role in TRIAGE_ROLES,
            error=error,
            values=values or {},
            notice=self._notice(request),
            letters=notices.owed_letters(view.events),
            sent_notices=notices.sent_notices(view.events),
            failed_notices=[d for d in await self.ctx.notifier.dead_letters(200) if d.case_no == case_no],
            clue=_clue_section(member, view, workflow),
        )

    def _unit_lists(self, workflow: Workflow, owner: str) -> dict[str, Any]:
        """The case page's unit choices: where it may be transferred (not its own unit), the units
        below its own (交办), and every unit that handles (the triage correction)."""
        tree = workflow.tree
        return {
            "transfer_units": [u for u in self._unit_options(workflow) if u[0] != owner],
            "lower_units": [
                (c, tree.name(c)) for c in tree.descendants(owner) if not tree.is_intake_point(c)
            ],
            "units": UnitChoices(self._unit_options(workflow)),
        }

    @staticmethod
    def _unit_options(workflow: Workflow) -> list[tuple[str, str]]:
        """The units a case may be sent to or routed to: intake points (villages) never handle."""
        tree = workflow.tree
        units = sorted(tree.units.values(), key=lambda u: (LEVEL_RANK.get(u.level, 9), u.code))
        return [(u.code, u.name) for u in units if not tree.is_intake_point(u.code)]

    @staticmethod
    def _notice(request: web.Request) -> str | None:
        done = request.query.get("done", "")
        if done == "triage":
            return "分流结果已确认。"
        if done in ACTION_LABELS:
            return DONE_NOTICE.format(label=ACTION_LABELS[done])
        if done == "left":
            return "案件已转出本单位，不再显示在您的查看范围内。"
        if done == "relation":
            return "亲属关系已申报。"
        if done == "retried":
            return "已重新排队发送。"
        if done == "mailed":
            return "已记录告知书寄出。"
        return None

    @staticmethod
    def _loop_detail(doc: dict[str, Any]) -> list[str]:
        """The closing's outcome, the informant's rating and request (issue 17), for the timeline."""
        parts = []
        if isinstance(doc.get("outcome"), str):
            parts.append(f"办结结果：{OUTCOME_LABELS.get(doc['outcome'], doc['outcome'])}")
        if isinstance(doc.get("rating"), str):
            parts.append(f"评价：{RATING_LABELS.get(doc['rating'], doc['rating'])}")
        if doc.get("kind") in REVIEW_KINDS and doc.get("from_unit"):
            parts.append(f"申请：{REVIEW_KINDS[doc['kind']]}")
        return parts

    @staticmethod
    def _event_detail(payload: str, workflow: Workflow) -> str:
        """A short, human-readable summary of an audit event's payload (whitelisted keys only)."""
        try:
            doc = json.loads(payload)
        except ValueError:
            return ""
        if not isinstance(doc, dict):
            return ""
        parts: list[str] = []
        if isinstance(doc.get("to"), str) and doc["to"] in STATUS_LABELS:
            parts.append(f"状态：{STATUS_LABELS[doc['to']]}")
        if isinstance(doc.get("to_unit"), str):
            parts.append(f"至 {workflow.tree.name(doc['to_unit'])}")
        if isinstance(doc.get("handler"), str):
            parts.append(f"承办人 {doc['handler']}")
        if isinstance(doc.get("organ"), str):
            parts.append(f"有权处理机关：{doc['organ']}")
        if isinstance(doc.get("into"), str):
            parts.append(f"并入 {doc['into']}")
        if isinstance(doc.get("due_on"), str):
            parts.append(f"期限 {doc['due_on']}")
        parts += CasePages._loop_detail(doc) + _clue_detail(doc)
        if isinstance(doc.get("to_due"), str):
            parts.append(f"延至 {doc['to_due']}")
        if doc.get("sealed") is True:
            parts.append("密封上报")
        if doc.get("via") in READ_VIA:
            parts.append(READ_VIA[doc["via"]])
        if isinstance(doc.get("letter"), str) and doc["letter"] in notices.TITLES:
            parts.append(notices.TITLES[doc["letter"]])
        after = doc.get("after")
        if isinstance(after, dict):
            labels = {**SCOPE_LABELS, **LEVEL_LABELS, **PRIORITY_LABELS}
            for key, value in after.items():
                shown = workflow.tree.name(value) if key == "unit" else labels.get(str(value), str(value))
                parts.append(f"{DECISION_LABELS.get(key, key)}：{shown}")
        if isinstance(doc.get("channel"), str) and doc.get("case_no"):
            parts.append(f"{doc['case_no']}（{CHANNEL_LABELS.get(doc['channel'], doc['channel'])}）")
        return "；".join(parts)

    @page
    async def action(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        case_no = self._case_no(request)
        form = await self._form(request, ACTION_FIELDS, session)
        workflow = self.ctx.workflow
        doc: dict[str, Any] = {k: v for k, v in form.fields.items() if k != "csrf" and v.strip()}
        try:
            for box in ("confirm", "leader_case"):  # checkboxes: the closing's, the clue's
                if box in doc:
                    doc[box] = doc[box] in ("1", "on", "yes", "true")
            for key, what in INT_FIELDS.items():
                if key in doc:
                    try:
                        doc[key] = int(doc[key])
                    except ValueError:
                        raise ValidationError(f"{what}应为整数。", code="invalid_field") from None
            if doc.get("action") not in CONSOLE_ACTIONS:
                raise ValidationError("请选择要执行的操作。", code="unknown_action")
            view = await workflow.act(member, case_no, parse_action(doc))
        except IntakeError as exc:
            if exc.status in (401, 404):
                raise
            return await self._case_page(
                request, member, session, case_no, status=exc.status, error=exc.message, values=form.fields
            )
        if not view.events:  # the case left the user's sight (sent up, transferred away)
            raise ConsoleRedirect(f"{PREFIX}/queue?done=left")
        raise ConsoleRedirect(f"{PREFIX}/cases/{quote(case_no)}?{urlencode({'done': doc['action']})}")

    @page
    async def triage(self, request: web.Request) -> web.StreamResponse:
        """Confirm the triage suggestion or correct fields of it (as the API's triage decision)."""
        member, session = await self._member(request)
        case_no = self._case_no(request)
        form = await self._form(request, TRIAGE_FIELDS, session)
        workflow = self.ctx.workflow
        view = await workflow.case(member, case_no)  # 404 outside scope
        if member.role not in TRIAGE_ROLES:
            raise IntakeError("只有分流人员可以确认或修改分流结果。", code="role_not_allowed", status=403)
        current = view.report.triage or {}
        if not current:
            raise ValidationError("该案件尚未完成自动分流。", code="not_triaged")
        changes: dict[str, str] = {}
        for key in CORRECTABLE:
            value = form.get(key)
            now = (current.get("unit") or {}).get("id") if key == "unit" else current.get(key)
            if value and value != now:
                changes[key] = value
        if not changes:
            # Confirming records the suggestion as the staff decision (needs_review cleared).
            changes = {"scope": str(current.get("scope"))}
        await self.ctx.triage.correct(case_no, member.actor, changes)
        if form.get("back") == "case":
            raise ConsoleRedirect(f"{PREFIX}/cases/{quote(case_no)}?done=triage")
        raise ConsoleRedirect(f"{PREFIX}/queue?done=triage")

    @page
    async def download(self, request: web.Request) -> web.StreamResponse:
        """An evidence attachment, always as a download (never rendered in the console's origin)."""
        member, _ = await self._member(request)
        workflow = self.ctx.workflow
        blob = await workflow.attachment(member, self._case_no(request), request.match_info["attachment_id"])
        suffix = Path(blob.filename).suffix if blob.filename.isascii() else ""
        fallback = "attachment" + (suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else "")
        disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(blob.filename, safe='')}"
        return web.Response(
            body=blob.data,
            headers={
                "Content-Type": blob.content_type,
                "Content-Disposition": disposition,
                "Content-Security-Policy": "sandbox; default-src 'none'",
                **NO_STORE,
            },
        )

    @page
    async def clue_results(self, request: web.Request) -> web.StreamResponse:
        """线索处置结果反馈: the results reported back to the member's unit as the receiving unit."""
        member, session = await self._member(request)
        rows = await self.ctx.workflow.clue_results(member)
        return self._render(
            request,
            "clue_results.html",
            member=member,
            session=session,
            results=rows,
            label=lambda code: label_of(None, code),
            method_label=lambda code: label_of("disposal", code),
        )

    # --- the deadline board and search ---------------------------------------------------------------

    @page
    async def deadlines(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        workflow = self.ctx.workflow
        try:
            within = max(0, min(int(request.query.get("within", "10")), 365))
        except ValueError:
            within = 10
        board = await workflow.board(member, within)
        return self._render(
            request, "deadlines.html", member=member, session=session, board=board, within=within
        )

    @page
    async def search(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        workflow = self.ctx.workflow
        q = request.query.get("q", "").strip()[:200]
        rows = await workflow.search(member, q) if q else []
        return self._render(request, "search.html", member=member, session=session, q=q, rows=rows)


READ_VIA = {"console": "通过工作台", "api": "通过接口"}


def _supervision_actions(
    allowed: list[str], member: StaffMember, notices: list[Any], scope: tuple[str, ...]
) -> list[str]:
    """A notice is answered by the unit it went to, and reviewed by the unit that sent it (or above)."""
    can = {
        "answer_supervision": any(n.status == "pending" and n.to_unit == member.unit for n in notices),
        "close_supervision": any(n.status == "answered" and n.from_unit in scope for n in notices),
    }
    return [a for a in allowed if can.get(a, True)]


def _allowed_actions(
    member: StaffMember, status: str, open_deadline: bool, pending_recusal: bool, objection_open: bool = False
) -> list[str]:
    """The actions the case page offers: the member's role may run them from the case's status;
    an extension needs an open deadline and a recusal decision a pending request; after 办结 no
    reply but the explanation of an objection (issue 17)."""
    return [
        s.name
        for s in SPECS
        if s.permits(member.role)
        and status in s.from_states
        and (s.name != "extend" or open_deadline)
        and (s.name != "decide_recusal" or pending_recusal)
        and (s.name != "reply" or status != "closed" or objection_open)
        and not s.name.startswith("clue_")  # offered in the clue's own section
    ]


def _clue_detail(doc: dict[str, Any]) -> list[str]:
    """A clue step's method or result and where it took the clue (issue 18), for the timeline."""
    stage = doc.get("stage") if isinstance(doc.get("stage"), str) else None
    parts = []
    for key, what in (("proposal", "意见"), ("decision", "批准"), ("result", "处置结果")):
        if isinstance(doc.get(key), str) and (stage or key == "result"):
            parts.append(f"{what}：{label_of(stage, doc[key])}")
    levels = doc.get("levels")
    shown = (
        [APPROVAL_LABELS[lv] for lv in levels if lv in APPROVAL_LABELS] if isinstance(levels, list) else []
    )
    if shown:  # a proposal names the levels it needs; an approval the levels it gave
        approving = "decision" in doc or "next_level" in doc
        parts.append(f"{'审批' if approving else '需经'}：{'、'.join(shown)}")
    if isinstance(doc.get("next_level"), str) and doc["next_level"] in APPROVAL_LABELS:
        parts.append(f"待{APPROVAL_LABELS[doc['next_level']]}")
    if isinstance(doc.get("reference"), str):
        parts.append(f"批件：{doc['reference']}")
    if doc.get("leader_case") is True:
        parts.append("被反映人为所辖单位主要负责人")
    if isinstance(doc.get("clue_to"), str) and doc["clue_to"] in CLUE_STATE_LABELS:
        parts.append(f"线索：{CLUE_STATE_LABELS[doc['clue_to']]}")
    return parts


def _clue_section(member: StaffMember, view: CaseView, workflow: Workflow) -> dict[str, Any] | None:
    """The clue's state, method, proposal and approvals, its deadlines, its steps on the timeline,
    and the steps the member may take now (handling unit, role and the case's status permitting)."""
    clue = view.clue
    if clue is None:
        return None
    mine = member.unit == view.state.owner_unit
    steps = [
        name
        for name in next_steps(clue)
        if mine
        and SPEC_BY_NAME[name].permits(member.role)
        and view.report.status in SPEC_BY_NAME[name].from_states
        and (name != "clue_approve" or may_approve(member, clue))
    ]
    waiting = pending_levels(clue)
    return {
        "record": clue,
        "state_label": CLUE_STATE_LABELS.get(clue.state, clue.state),
        "method_label": label_of("disposal", clue.method),
        "stage_label": STAGES[clue.stage][0] if clue.stage in STAGES else None,
        "proposal_label": label_of(clue.stage, clue.proposal),
        "result_label": label_of(clue.stage, clue.result),
        "deadlines": [d for d in view.deadlines if d.rule in CLUE_RULES],
        "steps": steps,
        "own_proposal": clue.proposed_by == member.actor,
        "approvals": approvals_shown(clue),
        "waiting": waiting,
        "next_level": waiting[0] if waiting else None,
        "mine": mine,
        "unit_name": workflow.tree.name(clue.handling_unit),
        "receiving_name": workflow.tree.name(clue.receiving_unit),
        "methods": METHODS,
        "results": INQUIRY_RESULTS if clue.state == "answered" else VERIFY_RESULTS,
        "history": [e for e in view.events if e.kind.startswith("clue_")],
    }
