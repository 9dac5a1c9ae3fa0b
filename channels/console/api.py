"""The staff JSON API (``/api/v1/staff/...``): login, scoped queues, the case view, filing letters
and visits, workflow actions, the deadline board, and the triage queue.

Every route but login, the informant's recusal request and the OpenAPI document needs
``Authorization: Bearer <token>``. A case outside the caller's scope
answers 404 exactly like a case that does not exist; an action the caller's role may not take
answers 403. Request bodies are whitelisted; errors are ``{"error": {"code", "message"}}``.
Nothing here ever carries an informant's identity: staff see the pseudonym (检举人XXXX).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Any

from aiohttp import web

from channels.base import ChannelContext, json_response, parse_json_object, read_bounded_json
from channels.console.openapi import OPENAPI
from channels.web.files import clean_filename, sniff
from intake.app import services_of
from intake.domain import STATUS_LABELS, Accused, Location, Receipt, Reporter, Submission, Upload
from intake.errors import IntakeError, ValidationError
from intake.staff import StaffMember, StaffService
from intake.workflow import Action, CaseView, Workflow

ACTION_FIELDS = {
    "action": str,
    "to_unit": str,
    "handler": str,
    "text": str,
    "reason": str,
    "deadline": str,
    "target": str,
    "kind": str,
    "organ": str,
    "deadline_id": int,
    "approval": str,
    "hearing_days": int,
    "recusal_id": int,
    "decision": str,
}
FILING_CHANNELS = ("letter", "visit")
FILING_ROLES = ("registrar", "triage_officer", "supervisor")
TRIAGE_ROLES = ("registrar", "triage_officer", "supervisor")


def _str(doc: dict[str, Any], key: str, limit: int = 5000) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"{key} 应为不超过 {limit} 字的文本。", code="invalid_field")
    return value


def parse_action(doc: dict[str, Any]) -> Action:
    values: dict[str, Any] = {}
    for key, kind in ACTION_FIELDS.items():
        value = doc.get(key)
        if value is None:
            continue
        if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValidationError(f"{key} 应为整数。", code="invalid_field")
        if kind is str and (not isinstance(value, str) or len(value) > 5000):
            raise ValidationError(f"{key} 应为不超过 5000 字的文本。", code="invalid_field")
        values[key] = value
    if "action" not in values:
        raise ValidationError("请填写 action。", code="action_required")
    if "deadline" in values:
        try:
            values["deadline"] = date.fromisoformat(values["deadline"])
        except ValueError:
            raise ValidationError("deadline 应为 YYYY-MM-DD 日期。", code="invalid_field") from None
    return Action(**values)


def check_filing_role(member: StaffMember) -> None:
    """Only registrars (and triage officers, supervisors) file letters and visits."""
    if member.role not in FILING_ROLES:
        raise IntakeError("只有登记人员可以登记来信来访。", code="role_not_allowed", status=403)


def filing_submission(member: StaffMember, doc: dict[str, Any], uploads: list[Upload]) -> Submission:
    """The submission for a letter or visit filed by ``member``, from a body in the API's shape
    (``channel``, ``content``, ``title``, ``category``, ``accused``, ``location``, ``reporter``,
    ``anonymous``, ``external_id``); the console's filing form builds the same body."""
    check_filing_role(member)
    channel = doc.get("channel")
    if channel not in FILING_CHANNELS:
        raise ValidationError("channel 只能是 letter 或 visit。", code="invalid_channel")
    accused: dict[str, Any] = doc["accused"] if isinstance(doc.get("accused"), dict) else {}
    location: dict[str, Any] = doc["location"] if isinstance(doc.get("location"), dict) else {}
    reporter: dict[str, Any] = doc["reporter"] if isinstance(doc.get("reporter"), dict) else {}
    anonymous = bool(doc.get("anonymous", not reporter))
    return Submission(
        channel=channel,
        content=_str(doc, "content", 20_000) or "",
        title=_str(doc, "title", 200),
        category=_str(doc, "category", 64),
        accused=Accused(
            _str(accused, "name", 100), _str(accused, "unit", 200), _str(accused, "position", 100)
        ),
        location=Location(_str(location, "division_code", 12), _str(location, "text", 200)),
        reporter=Reporter(
            _str(reporter, "name", 50),
            _str(reporter, "id_number", 32),
            _str(reporter, "phone", 32),
            _str(reporter, "address", 200),
        ),
        anonymous=anonymous,
        external_id=f"staff:{member.username}:{doc['external_id']}"
        if isinstance(doc.get("external_id"), str) and 0 < len(doc["external_id"]) <= 100
        else None,
        attachments=tuple(uploads),
    )


async def file_filed(
    ctx: ChannelContext, workflow: Workflow, member: StaffMember, sub: Submission
) -> Receipt:
    """File a letter or visit through the pipeline (which seals the identity before anything is
    stored) and register it at once, by ``member``."""
    receipt = await ctx.pipeline.accept(sub)
    await workflow.register_filed(member, receipt.case_no)
    return receipt


def case_doc(view: CaseView, workflow: Workflow) -> dict[str, Any]:
    r, s = view.report, view.state
    triage = r.triage or {}
    tree = workflow.tree
    return {
        "case_no": r.case_no,
        "channel": r.channel,
        "channels": [{"case_no": r.case_no, "channel": r.channel}]
        + [{"case_no": c, "channel": ch} for c, ch in view.merged],
        "status": r.status,
        "status_label": STATUS_LABELS.get(r.status, r.status),
        "title": r.title,
        "content": r.content,
        "category": r.category,
        "accused": {"name": r.accused_name, "unit": r.accused_unit, "position": r.accused_position},
        "location": {"division_code": r.location_code, "text": r.location_text},
        "informant": r.informant_alias,
        "anonymous": r.anonymous,
        "received_at": r.received_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "receiving_unit": {"id": r.receiving_unit, "name": tree.name(r.receiving_unit)},
        "owner_unit": {"id": s.owner_unit, "name": tree.name(s.owner_unit)},
        "handler": s.handler,
        "sealed": s.sealed,
        "merged_into": s.merged_into,
        "review_stage": s.review_stage,
        "attachments": r.attachments,
        "triage": {
            k: triage.get(k)
            for k in (
                "category",
                "scope",
                "level",
                "unit",
                "priority",
                "confidence",
                "evidence",
                "duplicate_of",
                "needs_review",
                "transfer",
                "advice",
                "redirect_to",
            )
        }
        if triage
        else None,
        "deadlines": [
            {
                "id": d.id,
                "rule": d.rule,
                "label": workflow.label(d.rule),
                "unit": d.unit_code,
                "start_on": d.start_on.isoformat(),
                "due_on": d.due_on.isoformat(),
                "extensions": d.extensions,
                "status": d.status,
            }
            for d in view.deadlines
        ],
        "transfers": [
            {
                "kind": t.kind,
                "from_unit": t.from_unit,
                "to_unit": t.to_unit,
                "to_organ": t.to_organ,
                "sealed": t.sealed,
                "actor": t.actor,
                "at": t.at.isoformat(),
            }
            for t in view.transfers
        ],
        "recusals": [
            {
                "id": q.id,
                "requested_by": q.requested_by,
                "target": q.target,
                "status": q.status,
                "at": q.at.isoformat(),
            }
            for q in view.recusals
        ],
        "thread": [
            {"direction": m.direction, "channel": m.channel, "at": m.at.isoformat(), "text": m.body}
            for m in r.messages
        ],
        "timeline": [
            {
                "seq": e.seq,
                "kind": e.kind,
                "actor": e.actor,
                "at": e.at.isoformat(),
                "payload": json.loads(e.payload),
            }
            for e in view.events
        ],
    }


class ConsoleAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[web.AbstractRouteDef]:
        p = "/api/v1/staff"
        return [
            web.post(f"{p}/login", self.login),
            web.post(f"{p}/logout", self.logout),
            web.get(f"{p}/me", self.me),
            web.post(f"{p}/me/relations", self.declare_relation),
            web.get(f"{p}/reports", self.reports),
            web.post(f"{p}/reports", self.file_report),
            web.get(f"{p}/reports/{{case_no}}", self.report),
            web.post(f"{p}/reports/{{case_no}}/actions", self.action),
            web.post(f"{p}/reports/{{case_no}}/triage", self.triage_decision),
            web.get(f"{p}/deadlines", self.deadlines),
            web.get(f"{p}/triage/queue", self.triage_queue),
            web.post("/api/v1/recusals", self.informant_recusal),
            web.get(f"{p}/openapi.json", self.openapi),
        ]

    async def openapi(self, request: web.Request) -> web.Response:
        """The OpenAPI 3.1 document of this API: no login (it describes, it reveals nothing)."""
        return json_response(OPENAPI)

    # --- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _services(request: web.Request) -> tuple[StaffService, Workflow]:
        services = services_of(request.app)
        assert services.staff is not None and services.workflow is not None
        return services.staff, services.workflow

    @staticmethod
    def _token(request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return None

    async def _member(self, request: web.Request) -> StaffMember:
        staff, _ = self._services(request)
        return await staff.authenticate(self._token(request))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        return parse_json_object(await read_bounded_json(request, self.ctx.max_json_bytes))

    # --- accounts -----------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        doc = await self._body(request)
        staff, _ = self._services(request)
        username, password, totp = (_str(doc, k, 256) or "" for k in ("username", "password", "totp"))
        token, expires, member = await staff.login(
            username, password, totp, client=self.ctx.client_key(request)
        )
        return json_response(
            {
                "token": token,
                "token_type": "Bearer",
                "expires_at": expires.isoformat(),
                "staff": {"username": member.username, "unit": member.unit, "role": member.role},
            },
            headers={"Cache-Control": "no-store"},
        )

    async def logout(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        staff, _ = self._services(request)
        await staff.logout(self._token(request) or "", member)
        return json_response({"ok": True})

    async def me(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        staff, _ = self._services(request)
        scope = staff.scope(member)
        return json_response(
            {
                "username": member.username,
                "unit": member.unit,
                "role": member.role,
                "units": list(scope.units),
            }
        )

    async def declare_relation(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        doc = await self._body(request)
        staff, _ = self._services(request)
        await staff.declare_relation(
            member,
            _str(doc, "person_name", 100) or "",
            _str(doc, "person_unit", 200),
            _str(doc, "relation", 32) or "",
        )
        return json_response({"ok": True}, status=201)

    # --- cases ----------------------------------------------------------------------------------------

    async def reports(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        _, workflow = self._services(request)
        q = request.query
        status = q.get("status") or None
        if status is not None and status not in STATUS_LABELS:
            raise ValidationError("未知的状态。", code="invalid_status")
        due_within = None
        if q.get("deadline"):
            try:
                due_within = int(q["deadline"])
            except ValueError:
                raise ValidationError("deadline 应为天数（整数）。", code="invalid_field") from None
        rows = await workflow.queue(
            member,
            status=status,
            channel=q.get("channel") or None,
            category=q.get("category") or None,
            due_within=due_within,
        )
        return json_response(
            {
                "reports": [
                    {
                        "case_no": r.case_no,
                        "channel": r.channel,
                        "status": r.status,
                        "status_label": STATUS_LABELS.get(r.status, r.status),
                        "title": r.title,
                        "category": r.category or r.triage_category,
                        "owner_unit": r.owner_unit,
                        "handler": r.handler,
                        "informant": r.informant_alias,
                        "received_at": r.received_at.isoformat(),
                        "next_due": r.next_due.isoformat() if r.next_due else None,
                    }
                    for r in rows
                ]
            }
        )

    async def report(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        _, workflow = self._services(request)
        view = await workflow.case(member, request.match_info["case_no"])
        return json_response(case_doc(view, workflow))

    async def action(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        _, workflow = self._services(request)
        action = parse_action(await self._body(request))
        view = await workflow.act(member, request.match_info["case_no"], action)
        if not view.deadlines and not view.events:  # the case left the caller's sight (sent up)
            return json_response({"case_no": view.report.case_no, "status": "transferred", "visible": False})
        return json_response(case_doc(view, workflow))

    async def file_report(self, request: web.Request) -> web.Response:
        """A letter (with its scan) or a walk-in visit, through the same pipeline; the identity is
        sealed by the pipeline before anything is stored, and the case is registered at once."""
        member = await self._member(request)
        check_filing_role(member)
        doc = await self._body(request)
        uploads = []
        raw_files = doc.get("attachments") or []
        if not isinstance(raw_files, list) or len(raw_files) > self.ctx.max_files:
            raise ValidationError(f"附件最多 {self.ctx.max_files} 个。", code="too_many_files")
        for f in raw_files:
            if not isinstance(f, dict):
                raise ValidationError("附件格式不正确。", code="invalid_attachment")
            try:
                data = base64.b64decode(str(f.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError("附件应为 base64 编码。", code="invalid_attachment") from None
            name = clean_filename(str(f.get("filename") or "scan"))
            kind = sniff(data, name)
            if kind is None or len(data) > self.ctx.max_file_bytes:
                raise ValidationError("附件类型不被接受或过大。", code="unsupported_file_type")
            uploads.append(Upload(name, kind, data, bool(f.get("identifying"))))
        _, workflow = self._services(request)
        receipt = await file_filed(self.ctx, workflow, member, filing_submission(member, doc, uploads))
        return json_response(
            {
                "case_no": receipt.case_no,
                "query_code": receipt.query_code,
                "channel": receipt.channel,
                "status": "registered",
                "received_at": receipt.received_at.isoformat(),
            },
            status=201 if receipt.created else 200,
            headers={"Cache-Control": "no-store"},
        )

    async def deadlines(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        _, workflow = self._services(request)
        try:
            within = int(request.query.get("within", "10"))
        except ValueError:
            raise ValidationError("within 应为天数。", code="invalid_field") from None
        return json_response(await workflow.board(member, max(0, min(within, 365))))

    # --- triage ---------------------------------------------------------------------------------------

    async def triage_queue(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        services = services_of(request.app)
        _, workflow = self._services(request)
        waiting = await services.triage.review_queue(500)
        visible = {r.case_no for r in await workflow.queue(member, case_nos=[w["case_no"] for w in waiting])}
        return json_response({"needs_review": [w for w in waiting if w["case_no"] in visible]})

    async def triage_decision(self, request: web.Request) -> web.Response:
        """Confirm the suggestion (``{"confirm": true}``) or correct fields of it."""
        member = await self._member(request)
        if member.role not in TRIAGE_ROLES:
            raise IntakeError("只有分流人员可以确认或修改分流结果。", code="role_not_allowed", status=403)
        _, workflow = self._services(request)
        case_no = request.match_info["case_no"]
        view = await workflow.case(member, case_no)  # 404 outside scope
        doc = await self._body(request)
        triage = view.report.triage or {}
        if not triage:
            raise ValidationError("该案件尚未完成自动分流。", code="not_triaged")
        changes: dict[str, str] = {}
        for key in ("category", "scope", "level", "priority", "unit"):
            value = doc.get(key)
            if value is not None:
                if not isinstance(value, str):
                    raise ValidationError(f"{key} 应为文本。", code="invalid_field")
                changes[key] = value
        if doc.get("confirm") is True and not changes:
            # Confirming records the suggestion as the staff decision (needs_review cleared).
            changes = {"scope": str(triage.get("scope"))}
        result = await services_of(request.app).triage.correct(case_no, member.actor, changes)
        result.pop("signature", None)
        return json_response({"case_no": case_no, "triage": result})

    # --- the informant ------------------------------------------------------------------------------

    async def informant_recusal(self, request: web.Request) -> web.Response:
        """The informant asks, with their query code, that the handler step aside (S1 art 35)."""
        doc = await self._body(request)
        code = _str(doc, "query_code", 64) or ""
        reason = _str(doc, "reason", 2000) or ""
        found = await self.ctx.pipeline.status(code, self.ctx.client_key(request))
        _, workflow = self._services(request)
        await workflow.informant_recusal(found.case_no, reason)
        return json_response({"case_no": found.case_no, "status": "received"}, status=202)
