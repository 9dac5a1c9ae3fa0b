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
import functools
from dataclasses import replace
from typing import Any

from aiohttp import web

from channels.base import json_response, parse_json_object, read_bounded_json
from channels.schema import Accused, Location, M, Reporter, parse_date, validated, validated_query
from console import data, inbox_schema, openapi, schema, stats_export, stats_schema
from console.case_doc import case_doc
from console.clue_api import result_docs
from console.context import ConsoleContext
from intake import ocr
from intake.domain import STATUS_LABELS, Receipt, Submission, Upload
from intake.errors import IntakeError, ValidationError
from intake.files import clean_filename, sniff
from intake.informant import CaseRequests
from intake.staff import StaffMember
from intake.stats import parse_day, parse_grouping
from intake.workflow import Action, CaseView, Workflow

FILING_ROLES = ("registrar", "triage_officer", "supervisor", "leader")
TRIAGE_ROLES = ("registrar", "triage_officer", "supervisor", "leader")


def parse_action(doc: dict[str, Any]) -> Action:
    """An action from a body in the API's shape (the console's action form builds the same)."""
    given = validated(schema.ActionRequest, doc).model_dump(exclude_none=True)
    if "deadline" in given:
        given["deadline"] = parse_date(given["deadline"])
    return Action(**given)


def check_filing_role(member: StaffMember) -> None:
    """Only registrars (and triage officers, supervisors) file letters and visits."""
    if member.role not in FILING_ROLES:
        raise IntakeError("只有登记人员可以登记来信来访。", code="role_not_allowed", status=403)


def filing_submission(member: StaffMember, doc: dict[str, Any], uploads: list[Upload]) -> Submission:
    """The submission for a letter or visit filed by ``member``, from a body in the API's shape
    (:class:`~console.schema.Filing`); the console's filing form builds the same body."""
    check_filing_role(member)
    return submission_of(member, validated(schema.Filing, doc), uploads)


def submission_of(member: StaffMember, filing: schema.Filing, uploads: list[Upload]) -> Submission:
    reporter = Reporter.to_domain(filing.reporter)
    anonymous = filing.anonymous if filing.anonymous is not None else reporter.is_empty()
    return Submission(
        channel=filing.channel,
        content=filing.content,
        title=filing.title,
        category=filing.category,
        accused=Accused.to_domain(filing.accused),
        location=Location.to_domain(filing.location),
        reporter=reporter,
        anonymous=anonymous,
        external_id=f"staff:{member.username}:{filing.external_id}" if filing.external_id else None,
        attachments=tuple(uploads),
    )


async def file_filed(
    ctx: ConsoleContext, workflow: Workflow, member: StaffMember, sub: Submission
) -> Receipt:
    """File a letter or visit through the pipeline (which seals the identity before anything is
    stored) and register it at once, by ``member``. The registrar's unit is the receiving unit
    (the case number carries it) when it is one of the platform's."""
    if sub.receiving_unit is None and member.unit in ctx.pipeline.receiving_units:
        sub = replace(sub, receiving_unit=member.unit)
    receipt = await ctx.pipeline.accept(sub)
    await workflow.register_filed(member, receipt.case_no)
    return receipt


class ConsoleAdapter:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        found = ctx.pipeline.jurisdiction
        ocr.log_status()  # one line: letter OCR on, or off and why
        self._found = found

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        """This deployment's OpenAPI document, made on first request (not at every start)."""
        return openapi.document(
            divisions=self._found.divisions(),
            units=[u.code for u in self._found.units],
            max_files=self.ctx.max_files,
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        """One route per operation of the staff API's document (:data:`console.openapi.OPERATIONS`),
        so the two cannot differ; the fixed paths first (``/reports/export`` is not a case number)."""
        handlers: dict[str, Any] = {
            "staffLogin": self.login,
            "staffLogout": self.logout,
            "staffMe": self.me,
            "declareRelation": self.declare_relation,
            "listReports": self.reports,
            "fileReport": self.file_report,
            "exportReports": self.export,
            "ocrLetter": self.letter_ocr,
            "getReport": self.report,
            "actOnReport": self.action,
            "decideTriage": self.triage_decision,
            "deadlineBoard": self.deadlines,
            "clueResults": self.clue_results,
            "staffInbox": self.inbox,
            "staffInboxRead": self.inbox_read,
            "triageQueue": self.triage_queue,
            "staffStats": self.stats,
            "staffStatsAlerts": self.stats_alerts,
            "informantRecusal": self.informant_recusal,
            "staffOpenapi": self.openapi,
        } | stats_export.StatsApi(self.ctx, self._member).handlers()
        route = {"GET": web.get, "POST": web.post}
        ops = sorted(openapi.OPERATIONS, key=lambda op: "{" in op.path)
        return [route[op.method](op.path, handlers[op.operation_id]) for op in ops]

    async def openapi(self, request: web.Request) -> web.Response:
        """The OpenAPI 3.1 document of this API: no login (it describes, it reveals nothing)."""
        return json_response(self.document)

    # --- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _token(request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return None

    async def _member(self, request: web.Request) -> StaffMember:
        staff = self.ctx.staff
        return await staff.authenticate(self._token(request))

    async def _body(self, request: web.Request, model: type[M]) -> M:
        return validated(model, parse_json_object(await read_bounded_json(request, self.ctx.max_json_bytes)))

    # --- accounts -----------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        given = await self._body(request, schema.Login)
        staff = self.ctx.staff
        token, expires, member = await staff.login(
            given.username, given.password, given.totp, client=self.ctx.client_key(request)
        )
        session = schema.Session(
            token=token,
            expires_at=expires,
            staff=schema.StaffInfo(username=member.username, unit=member.unit, role=member.role),
        )
        return json_response(session.body(), headers={"Cache-Control": "no-store"})

    async def logout(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        staff = self.ctx.staff
        await staff.logout(self._token(request) or "", member)
        return json_response(schema.Ok().body())

    async def me(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        staff = self.ctx.staff
        me = schema.Me(
            username=member.username,
            unit=member.unit,
            role=member.role,
            units=list(staff.scope(member).units),
        )
        return json_response(me.body())

    async def declare_relation(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        given = await self._body(request, schema.Relation)
        staff = self.ctx.staff
        await staff.declare_relation(member, given.person_name, given.person_unit, given.relation)
        return json_response(schema.Ok().body(), status=201)

    # --- cases ----------------------------------------------------------------------------------------

    async def reports(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        workflow = self.ctx.workflow
        q = validated_query(schema.ReportsQuery, request)
        rows = await workflow.queue(
            member, status=q.status, channel=q.channel, category=q.category, due_within=q.deadline
        )
        listing = schema.ReportList(
            reports=[
                schema.ReportRow(
                    case_no=r.case_no,
                    channel=r.channel,
                    status=r.status,
                    status_label=STATUS_LABELS.get(r.status, r.status),
                    title=r.title,
                    category=r.category or r.triage_category,
                    owner_unit=r.owner_unit,
                    receiving_unit=r.receiving_unit,
                    handler=r.handler,
                    informant=r.informant_alias,
                    received_at=r.received_at,
                    next_due=r.next_due,
                )
                for r in rows
            ]
        )
        return json_response(listing.body())

    async def report(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        workflow = self.ctx.workflow
        view = await workflow.open_case(member, request.match_info["case_no"], "api")
        return json_response(case_doc(view, workflow, await self._requests(view)))

    async def _requests(self, view: CaseView) -> CaseRequests | None:
        """The informant's ratings and requests of a case already checked to be in sight."""
        desk = self.ctx.informant
        return await desk.of_case(view.report.case_no) if desk is not None else None

    async def action(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        workflow = self.ctx.workflow
        action = parse_action(parse_json_object(await read_bounded_json(request, self.ctx.max_json_bytes)))
        view = await workflow.act(member, request.match_info["case_no"], action)
        if not view.deadlines and not view.events:  # the case left the caller's sight (sent up)
            return json_response(schema.SentUp(case_no=view.report.case_no).body())
        return json_response(case_doc(view, workflow, await self._requests(view)))

    async def file_report(self, request: web.Request) -> web.Response:
        """A letter (with its scan) or a walk-in visit, through the same pipeline; the identity is
        sealed by the pipeline before anything is stored, and the case is registered at once."""
        member = await self._member(request)
        check_filing_role(member)
        filing = await self._body(request, schema.Filing)
        uploads = self._uploads(filing.attachments or [])
        workflow = self.ctx.workflow
        receipt = await file_filed(self.ctx, workflow, member, submission_of(member, filing, uploads))
        signed = receipt.signed
        assert signed is not None  # every new report is signed; only imported cases are not
        body = schema.FilingReceipt(
            case_no=receipt.case_no,
            query_code=receipt.query_code,
            channel=filing.channel,
            received_at=receipt.received_at,
            receipt=schema.SignedReceipt(**signed.as_dict()),
        )
        return json_response(
            body.body(), status=201 if receipt.created else 200, headers={"Cache-Control": "no-store"}
        )

    def _uploads(self, files: list[schema.Attachment]) -> list[Upload]:
        if len(files) > self.ctx.max_files:
            raise ValidationError(f"附件最多 {self.ctx.max_files} 个。", code="too_many_files")
        uploads = []
        for f in files:
            try:
                data = base64.b64decode(f.data, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError("附件应为 base64 编码。", code="invalid_attachment") from None
            name = clean_filename(f.filename or "scan")
            kind = sniff(data, name)
            if kind is None or len(data) > self.ctx.max_file_bytes:
                raise ValidationError("附件类型不被接受或过大。", code="unsupported_file_type")
            uploads.append(Upload(name, kind, data, f.identifying))
        return uploads

    # --- data in and out ----------------------------------------------------------------------------

    async def export(self, request: web.Request) -> web.StreamResponse:
        """The cases in the caller's sight as CSV, XLSX or JSON Lines: never identity; audited."""
        member = await self._member(request)
        q = validated_query(schema.ExportQuery, request)
        found = await data.export_cases(
            self.ctx.exports,
            self.ctx.clock,
            self.ctx.staff.scope(member),
            member.actor,
            q.format,
            status=q.status,
            channel=q.channel,
            case_nos=data.parse_case_list(q.cases),
        )
        return await data.send_export(request, found)

    async def letter_ocr(self, request: web.Request) -> web.Response:
        """The proposed text of a scanned letter (image or PDF), for the officer to correct before
        filing the letter; nothing is stored."""
        member = await self._member(request)
        check_filing_role(member)
        # The scan travels as base64 (a third larger than the file).
        limit = self.ctx.max_file_bytes * 4 // 3 + 4096
        scan = validated(schema.LetterScan, parse_json_object(await read_bounded_json(request, limit)))
        proposal = await data.propose_text(data.decode_scan(scan.data, self.ctx.max_file_bytes))
        body = schema.OcrProposal(
            text=proposal.text, pages=proposal.pages, identity_found=proposal.identity_found
        )
        return json_response(body.body(), headers={"Cache-Control": "no-store"})

    async def deadlines(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        workflow = self.ctx.workflow
        q = validated_query(schema.DeadlinesQuery, request)
        return json_response(schema.DeadlineBoard.render(await workflow.board(member, q.within)))

    # --- statistics and early warning -----------------------------------------------------------------

    async def clue_results(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        workflow = self.ctx.workflow
        return json_response(result_docs(await workflow.clue_results(member), workflow.tree))

    # --- the inbox (待办提醒) -----------------------------------------------------------------------

    async def inbox(self, request: web.Request) -> web.Response:
        """The alerts of the caller's unit and the caller's unread count, as the console's inbox."""
        member = await self._member(request)
        urging = self.ctx.require_urging()
        items, unread = await urging.inbox(member), await urging.unread(member)
        return json_response(inbox_schema.Inbox.render({"alerts": items, "unread": unread}))

    async def inbox_read(self, request: web.Request) -> web.Response:
        """Mark alerts of the caller's unit read by the caller: ``alert_ids`` or ``all: true``;
        alerts of other units are left alone (and not counted)."""
        member = await self._member(request)
        given = await self._body(request, inbox_schema.InboxRead)
        if (given.alert_ids is None) == (not given.all):
            raise ValidationError(
                "请给出要标记的提醒（alert_ids），或标记全部（all: true），二者选一。", code="invalid_alert"
            )
        ids = None if given.all else list(given.alert_ids or [])
        marked = await self.ctx.require_urging().mark_read(member, ids)
        return json_response(inbox_schema.InboxMarked(marked=marked).body())

    async def stats(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        q = validated_query(stats_schema.StatsQuery, request)
        table = await self.ctx.stats.table(
            member,
            parse_grouping(q.by),
            start=parse_day(q.from_, "from"),
            end=parse_day(q.to, "to"),
            unit=q.unit,
        )
        body = stats_schema.StatsTableBody(
            by=list(table.by),
            from_=table.start,
            to=table.end,
            min_cell=table.min_cell,
            rows=[stats_schema.StatsRow(**row) for row in table.rows],
            total=table.total,
        )
        return json_response(body.body(), headers={"Cache-Control": "no-store"})

    async def stats_alerts(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        q = validated_query(stats_schema.AlertsQuery, request)
        alerts = await self.ctx.stats.alerts(member, on=parse_day(q.date, "date"), period=q.period)
        body = stats_schema.AlertList(
            alerts=[stats_schema.AlertView(**vars(a)) for a in alerts], more=alerts.more
        )
        return json_response(body.body(), headers={"Cache-Control": "no-store"})

    # --- triage ---------------------------------------------------------------------------------------

    async def triage_queue(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        workflow = self.ctx.workflow
        waiting = await self.ctx.triage.review_queue(500, workflow.staff.scope(member))
        visible = {r.case_no for r in await workflow.queue(member, case_nos=[w["case_no"] for w in waiting])}
        queue = {"needs_review": [w for w in waiting if w["case_no"] in visible]}
        return json_response(schema.TriageQueue.render(queue))

    async def triage_decision(self, request: web.Request) -> web.Response:
        """Confirm the suggestion (``{"confirm": true}``) or correct fields of it."""
        member = await self._member(request)
        if member.role not in TRIAGE_ROLES:
            raise IntakeError("只有分流人员可以确认或修改分流结果。", code="role_not_allowed", status=403)
        workflow = self.ctx.workflow
        case_no = request.match_info["case_no"]
        view = await workflow.case(member, case_no)  # 404 outside scope
        decision = await self._body(request, schema.TriageDecision)
        triage = view.report.triage or {}
        if not triage:
            raise ValidationError("该案件尚未完成自动分流。", code="not_triaged")
        changes = decision.model_dump(exclude_none=True, exclude={"confirm"})
        if decision.confirm is True and not changes:
            # Confirming records the suggestion as the staff decision (needs_review cleared).
            changes = {"scope": str(triage.get("scope"))}
        result = await self.ctx.triage.correct(case_no, member.actor, changes)
        result.pop("signature", None)
        return json_response(schema.TriageResult(case_no=case_no, triage=result).body())

    # --- the informant ------------------------------------------------------------------------------

    async def informant_recusal(self, request: web.Request) -> web.Response:
        """The informant asks, with their query code, that the handler step aside (S1 art 35)."""
        asked = await self._body(request, schema.RecusalRequest)
        key = self.ctx.client_key(request)
        if self.ctx.informant is not None:
            # The same path as every channel's 回避 request (issue 17): the reason redacted of the
            # informant's own details, refused once the case is closed.
            done = await self.ctx.informant.request(asked.query_code, "recusal", asked.reason, "app", key)
            return json_response(schema.RecusalReceived(case_no=done.case_no).body(), status=202)
        found = await self.ctx.pipeline.status(asked.query_code, key)
        workflow = self.ctx.workflow
        await workflow.informant_recusal(found.case_no, asked.reason)
        return json_response(schema.RecusalReceived(case_no=found.case_no).body(), status=202)
