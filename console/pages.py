"""The staff console (工作人员平台) at ``/console``: server-rendered pages for a petition office.

Login (username, password, TOTP) opens a server-side session: the bearer token of
:meth:`intake.staff.StaffService.login` travels in an HttpOnly, SameSite=Strict cookie (Secure
when ``INTAKE_PUBLIC_URL`` is https) and expires with the token. Every POST form carries an
anti-forgery token: before login one bound to a random cookie, after login one bound to the
session token (the double-submit scheme of :mod:`channels.verify`).

The pages call the same services as the staff JSON API (:mod:`console.api`): the
workflow's scoped queue, case view, actions and deadline board, the triage service's review queue
and corrections, and the workflow's scoped full-text search. Scoping is theirs: a case outside
the user's sight is the same 404 page as a case that does not exist. Nothing here shows an
informant's identity; staff see the pseudonym. Pages work without JavaScript.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from channels.schema import validated
from channels.verify import form_token_field, new_form_token, verify_form_token
from console.api import (
    FILING_ROLES,
    TRIAGE_ROLES,
    check_filing_role,
    file_filed,
    filing_submission,
    parse_action,
)
from console.context import ConsoleContext
from console.data import export_cases, parse_case_list, propose_text, send_export
from console.schema import ExportQuery
from intake import ocr
from intake.clock import CHINA
from intake.domain import STATUS_LABELS
from intake.errors import IntakeError, RateLimited, ValidationError
from intake.files import human_size
from intake.forms import FormData, FormTooLarge, read_form
from intake.held_scans import Held, HeldScans
from intake.held_scans import pack as pack_held
from intake.held_scans import unpack as unpack_held
from intake.notifier import DeadLetter
from intake.staff import LEVEL_RANK, ROLES, StaffMember, Unauthorized
from intake.triage_service import CORRECTABLE
from intake.workflow import ACTION_LABELS, ACTIONS, FROM, ROLE_ACTIONS, Workflow

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
SESSION_COOKIE = "xf_console"
LOGIN_COOKIE = "xf_console_login"
LOGIN_TOKEN = web.RequestKey("console_login_token", str)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CSP = "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
STALE_FORM = "页面已过期或来源不明，操作未执行。请刷新页面后重试。"
QUEUE_LIMIT = 100

# The actions the case page offers, in the order a case goes through them (the workflow's own list).
CONSOLE_ACTIONS = ACTIONS
ACTION_FIELDS = frozenset(
    {"csrf", "action", "to_unit", "handler", "text", "reason", "deadline", "target", "kind", "organ"}
    | {"hearing_days", "deadline_id", "approval", "recusal_id", "decision"}
)
INT_FIELDS = {"hearing_days": "听证天数", "deadline_id": "期限", "recusal_id": "回避申请"}
# The filing form (登记来信/来访). ``reporter_*`` is the identity: sealed by the pipeline, never
# shown back on any page, not even when the form has to be shown again.
IDENTITY_FIELDS = ("reporter_name", "reporter_id_number", "reporter_phone", "reporter_address")
FILING_FIELDS = frozenset(
    {"csrf", "channel", "nonce", "title", "content", "category", "accused_name", "accused_unit"}
    | {"accused_position", "location_text", "location_code", "held", *IDENTITY_FIELDS}
)
SCAN_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf")
SCAN_REFUSED = "扫描件只能是图片（JPG、PNG、GIF、WEBP）或 PDF 文件。"
RELATION_FIELDS = frozenset({"csrf", "person_name", "person_unit", "relation"})
DEAD_LETTER_ROLES = ("supervisor", "admin")
RECUSAL_BY = {"informant": "信访人", "staff": "工作人员"}
RECUSAL_STATUS = {"pending": "待决定", "granted": "准予回避", "denied": "不予回避"}
TEMPLATE_LABELS = {
    "status_changed": "状态变更",
    "replied": "已有答复",
    "deadline": "期限通知",
    "text": "文字通知",
}
ERROR_LABELS = {"DeliveryFailed": "渠道发送失败", "DeliveryUnavailable": "渠道未配置发送服务"}
TRIAGE_FIELDS = frozenset({"csrf", "confirm", "back", *CORRECTABLE})
LOGIN_FIELDS = frozenset({"csrf", "username", "password", "totp"})

SCOPE_LABELS = {
    "accusation": "检举控告",
    "appeal": "申诉",
    "suggestion": "批评建议",
    "petition": "其他信访诉求",
    "out_of_scope": "不予受理",
}
LEVEL_LABELS = {"central": "中央", "province": "省级", "city": "市级", "county": "县级", "township": "乡镇级"}
PRIORITY_LABELS = {"urgent": "紧急", "high": "较急", "normal": "一般"}
CHANNEL_LABELS = {
    "web": "网上举报",
    "app": "移动客户端",
    "wechat": "微信",
    "weibo": "微博",
    "phone": "电话",
    "sms": "短信",
    "telegram": "Telegram",
    "letter": "来信",
    "visit": "来访",
    "video": "视频接访",
}
DECISION_LABELS = {
    "category": "问题类别",
    "scope": "性质",
    "accused": "被反映人",
    "routing": "办理层级与单位",
    "priority": "紧急程度",
    "confidence": "置信度",
    "duplicate": "重复件",
    "places": "地点",
    "redaction": "信息保护",
}
EVENT_LABELS = {
    "received": "收到信访举报",
    "triaged": "自动分流",
    "triage_corrected": "人工确认或修改分流",
    "registered": "登记",
    "accept": "受理",
    "redirect": "不予受理并告知/转送",
    "assign": "指定承办/交办",
    "transfer": "转办",
    "supervise": "督办",
    "reply": "答复",
    "close": "办结",
    "reopened": "复查/复核/重新办理",
    "objection_recorded": "登记异议",
    "merged": "作为重复件并入主案件",
    "merged_in": "并入重复件",
    "deadline_extended": "延长期限",
    "deadline_reminder": "期限提醒",
    "recusal_requested": "回避申请",
    "recusal_decided": "回避决定",
    "followup_added": "信访人补充材料",
    "reply_added": "发出答复",
    "attachment_added": "补充附件",
    "informant_notified": "已通知信访人",
    "vault_reveal_requested": "申请查阅身份信息",
    "vault_reveal_approved": "批准查阅身份信息",
    "vault_reveal_refused": "拒绝查阅身份信息",
    "vault_shredded": "身份信息已按期销毁",
}
ACTOR_LABELS = {
    "system:triage": "系统（自动分流）",
    "system:workflow": "系统（办理流程）",
    "system:deadlines": "系统（期限管理）",
    "informant": "信访人",
}
REOPEN_KINDS = {"review": "复查/复核申请", "objection": "对处理结果有异议", "new_evidence": "提供新证据"}
DONE_NOTICE = "“{label}”已完成。"
CASE_NO = re.compile(r"[0-9A-Za-z-]{1,32}")


def china_time(at: datetime | str) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def actor_label(actor: str) -> str:
    if actor in ACTOR_LABELS:
        return ACTOR_LABELS[actor]
    kind, _, name = actor.partition(":")
    if kind == "staff":
        return f"{name}（工作人员）"
    if kind == "channel":
        return f"{CHANNEL_LABELS.get(name, name)}渠道"
    return actor


class ConsoleRedirect(Exception):
    """Leave the page for ``location`` (a 303 after a POST, a 302 otherwise)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


Page = Callable[["ConsolePages", web.Request], Awaitable[web.StreamResponse]]


def page(fn: Page) -> Page:
    """Render errors as console pages: no session → the login page; others → the error page."""

    async def wrapper(self: ConsolePages, request: web.Request) -> web.StreamResponse:
        try:
            return await fn(self, request)
        except ConsoleRedirect as exc:
            return self._redirect(request, exc.location)
        except Unauthorized:
            target = f"{PREFIX}/login?expired=1" if request.cookies.get(SESSION_COOKIE) else f"{PREFIX}/login"
            response = self._redirect(request, target)
            response.del_cookie(SESSION_COOKIE, path=PREFIX)
            return response
        except IntakeError as exc:
            return self._render(request, "error.html", exc.status, member=None, message=exc.message)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class ConsolePages:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["china_time"] = china_time
        self.env.filters["actor"] = actor_label
        self.env.filters["human_size"] = human_size
        self.env.globals.update(
            status_labels=STATUS_LABELS,
            scope_labels=SCOPE_LABELS,
            level_labels=LEVEL_LABELS,
            priority_labels=PRIORITY_LABELS,
            channel_labels=CHANNEL_LABELS,
            decision_labels=DECISION_LABELS,
            event_labels=EVENT_LABELS,
            action_labels=ACTION_LABELS,
            role_labels=ROLES,
            reopen_kinds=REOPEN_KINDS,
            filing_roles=FILING_ROLES,
            dead_letter_roles=DEAD_LETTER_ROLES,
            recusal_by=RECUSAL_BY,
            recusal_status=RECUSAL_STATUS,
            template_labels=TEMPLATE_LABELS,
            error_labels=ERROR_LABELS,
        )
        self._key = bytes.fromhex(ctx.sign("console-form-token", b"key"))

    def routes(self) -> list[web.AbstractRouteDef]:
        p = PREFIX
        return [
            web.get(p, self.home),
            web.get(f"{p}/", self.home),
            web.get(f"{p}/login", self.login_form),
            web.post(f"{p}/login", self.login),
            web.post(f"{p}/logout", self.logout),
            web.get(f"{p}/queue", self.queue),
            web.get(f"{p}/cases", self.cases),
            web.get(f"{p}/cases/export", self.export),
            web.get(f"{p}/cases/{{case_no}}", self.case),
            web.post(f"{p}/cases/{{case_no}}/actions", self.action),
            web.post(f"{p}/cases/{{case_no}}/triage", self.triage),
            web.get(f"{p}/cases/{{case_no}}/attachments/{{attachment_id}}", self.download),
            web.get(f"{p}/deadlines", self.deadlines),
            web.get(f"{p}/search", self.search),
            web.get(f"{p}/file", self.file_form),
            web.post(f"{p}/file", self.file),
            web.post(f"{p}/file/ocr", self.file_ocr),
            web.get(f"{p}/me", self.me),
            web.post(f"{p}/me/relations", self.declare_relation),
            web.get(f"{p}/dead-letters", self.dead_letters),
            web.post(f"{p}/dead-letters/{{job_id}}/retry", self.retry_dead),
            web.static("/static/console", HERE / "static"),
        ]

    # --- plumbing -------------------------------------------------------------------------------

    async def _member(self, request: web.Request) -> tuple[StaffMember, str]:
        staff = self.ctx.staff
        token = request.cookies.get(SESSION_COOKIE) or ""
        return await staff.authenticate(token), token

    def _csrf(self, request: web.Request, session: str | None) -> str:
        if session:
            return form_token_field(self._key, "session|" + session)
        return form_token_field(self._key, "login|" + (request.get(LOGIN_TOKEN) or ""))

    async def _form(
        self,
        request: web.Request,
        known: frozenset[str],
        session: str,
        *,
        max_file_bytes: int = 0,
        max_files: int = 0,
    ) -> FormData:
        def check(form: FormData) -> None:
            if not verify_form_token(self._key, "session|" + session, form.fields.get("csrf")):
                self.ctx.metrics.channel_events.labels("console", "rejected").inc()
                raise IntakeError(STALE_FORM, code="invalid_form_token", status=403)

        return await read_form(request, known, check, max_file_bytes=max_file_bytes, max_files=max_files)

    def _render(
        self,
        request: web.Request,
        template: str,
        status: int = 200,
        *,
        member: StaffMember | None,
        session: str | None = None,
        **context: Any,
    ) -> web.Response:
        fresh_login_cookie = None
        if session is None:
            cookie = request.cookies.get(LOGIN_COOKIE)
            if cookie is None or not (20 <= len(cookie) <= 64):
                cookie = fresh_login_cookie = new_form_token()
            request[LOGIN_TOKEN] = cookie
        tree = self.ctx.workflow.tree
        html = self.env.get_template(template).render(
            csrf=self._csrf(request, session),
            member=member,
            member_unit=tree.name(member.unit) if member else "",
            unit_name=tree.name,
            **context,
        )
        headers = {"Content-Security-Policy": CSP, **NO_STORE}
        response = web.Response(
            text=html, content_type="text/html", charset="utf-8", status=status, headers=headers
        )
        if fresh_login_cookie is not None:
            response.set_cookie(
                LOGIN_COOKIE,
                fresh_login_cookie,
                httponly=True,
                samesite="Strict",
                path=PREFIX,
                secure=self._secure(request),
            )
        return response

    def _secure(self, request: web.Request) -> bool:
        return self.ctx.https or request.secure

    def _redirect(self, request: web.Request, location: str) -> web.Response:
        status = 303 if request.method == "POST" else 302
        return web.Response(status=status, headers={"Location": location, **NO_STORE})

    @staticmethod
    def _case_no(request: web.Request) -> str:
        case_no = request.match_info["case_no"]
        if not CASE_NO.fullmatch(case_no):
            raise IntakeError("没有这个案件，或不在您的查看范围内。", code="case_not_found", status=404)
        return case_no

    # --- login ------------------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        return self._redirect(request, f"{PREFIX}/queue")

    @page
    async def login_form(self, request: web.Request) -> web.StreamResponse:
        notice = "登录已过期，请重新登录。" if request.query.get("expired") else None
        if request.query.get("out"):
            notice = "您已安全退出。"
        return self._render(request, "login.html", member=None, error=None, notice=notice, username="")

    @page
    async def login(self, request: web.Request) -> web.StreamResponse:
        cookie = request.cookies.get(LOGIN_COOKIE)

        def check(form: FormData) -> None:
            if not verify_form_token(self._key, "login|" + (cookie or ""), form.fields.get("csrf")):
                self.ctx.metrics.channel_events.labels("console", "rejected").inc()
                raise IntakeError(STALE_FORM, code="invalid_form_token", status=403)

        if not cookie:
            raise IntakeError(
                "请确认浏览器允许本网站使用 Cookie，然后重新打开登录页面。",
                code="invalid_form_token",
                status=403,
            )
        form = await read_form(request, LOGIN_FIELDS, check)
        staff = self.ctx.staff
        username = form.get("username")[:64]
        try:
            token, _expires, _member = await staff.login(
                username,
                form.fields.get("password", "")[:256],
                form.get("totp")[:16],
                client=self.ctx.client_key(request),
            )
        except (Unauthorized, RateLimited) as exc:
            response = self._render(
                request,
                "login.html",
                exc.status,
                member=None,
                error=exc.message,
                notice=None,
                username=username,
            )
            if exc.retry_after:
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        response = self._redirect(request, f"{PREFIX}/queue")
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            path=PREFIX,
            secure=self._secure(request),
        )
        response.del_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @page
    async def logout(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        await self._form(request, frozenset({"csrf"}), session)
        staff = self.ctx.staff
        await staff.logout(session, member)
        response = self._redirect(request, f"{PREFIX}/login?out=1")
        response.del_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # --- the triage queue and case lists -----------------------------------------------------------------

    @page
    async def queue(self, request: web.Request) -> web.StreamResponse:
        """Reports whose triage needs a person, and new reports in the user's scope."""
        member, session = await self._member(request)
        workflow = self.ctx.workflow
        waiting = await self.ctx.triage.review_queue(500)
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
        items = []
        for row in rows[:QUEUE_LIMIT]:
            view = await workflow.case(member, row.case_no)
            items.append({"row": row, "report": view.report, "triage": view.report.triage or {}})
        return self._render(
            request,
            "queue.html",
            member=member,
            session=session,
            items=items,
            total=len(rows),
            limit=QUEUE_LIMIT,
            can_triage=member.role in TRIAGE_ROLES,
            units=self._unit_options(workflow),
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
        return await self._case_page(request, member, session, self._case_no(request))

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
    ) -> web.Response:
        workflow = self.ctx.workflow
        view = await workflow.case(member, case_no)
        attachments = await workflow.attachments(member, case_no)
        report = view.report
        open_deadlines = [d for d in view.deadlines if d.status == "open"]
        pending = [q for q in view.recusals if q.status == "pending"]
        allowed = [
            a
            for a in CONSOLE_ACTIONS
            if a in ROLE_ACTIONS.get(member.role, frozenset())
            and report.status in FROM[a]
            and (a != "extend" or open_deadlines)
            and (a != "decide_recusal" or pending)
        ]
        owner = view.state.owner_unit
        tree = workflow.tree
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
            attachments=attachments,
            timeline=timeline,
            allowed=allowed,
            open_deadlines=open_deadlines,
            pending_recusals=pending,
            deadline_label=workflow.label,
            transfer_units=[u for u in self._unit_options(workflow) if u[0] != owner],
            lower_units=[(c, tree.name(c)) for c in tree.descendants(owner)],
            units=self._unit_options(workflow),
            can_triage=member.role in TRIAGE_ROLES,
            error=error,
            values=values or {},
            notice=self._notice(request),
        )

    @staticmethod
    def _unit_options(workflow: Workflow) -> list[tuple[str, str]]:
        units = sorted(workflow.tree.units.values(), key=lambda u: (LEVEL_RANK.get(u.level, 9), u.code))
        return [(u.code, u.name) for u in units]

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
        return None

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
        if isinstance(doc.get("to_due"), str):
            parts.append(f"延至 {doc['to_due']}")
        if doc.get("sealed") is True:
            parts.append("密封上报")
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

    # --- filing letters and visits (登记来信 / 登记来访) ----------------------------------------------

    def _file_page(
        self,
        request: web.Request,
        member: StaffMember,
        session: str,
        channel: str,
        *,
        status: int = 200,
        error: str | None = None,
        values: Mapping[str, str] | None = None,
        notice: str | None = None,
    ) -> web.Response:
        # The identity fields are never filled in again: what was typed is sealed or discarded.
        kept = {k: v for k, v in (values or {}).items() if k not in IDENTITY_FIELDS and k != "csrf"}
        held = kept.get("held", "")
        held_count = len(unpack_held(held.partition(".")[0])) if held else 0
        return self._render(
            request,
            "file.html",
            status,
            member=member,
            session=session,
            channel=channel,
            values=kept,
            nonce=secrets.token_hex(16),
            max_files=self.ctx.max_files,
            max_file_size=human_size(self.ctx.max_file_bytes),
            error=error,
            ocr_notice=notice,
            held_count=held_count,
            ocr_available=ocr.status().available,
            identity_cleared=bool(error or notice) and any((values or {}).get(k) for k in IDENTITY_FIELDS),
        )

    @page
    async def file_form(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        check_filing_role(member)
        channel = "letter" if request.query.get("channel") == "letter" else "visit"
        return self._file_page(request, member, session, channel)

    @page
    async def file(self, request: web.Request) -> web.StreamResponse:
        """A letter (with its scans) or a walk-in visit, filed through the API's own calls: the
        identity is sealed by the pipeline, the case registered at once, the query code shown once."""
        member, session = await self._member(request)
        check_filing_role(member)  # before the body is read
        try:
            form = await self._form(
                request,
                FILING_FIELDS,
                session,
                max_file_bytes=self.ctx.max_file_bytes,
                max_files=self.ctx.max_files,
            )
        except FormTooLarge as exc:
            if not exc.verified:
                raise
            channel = "letter" if exc.form.get("channel") == "letter" else "visit"
            return self._file_page(
                request, member, session, channel, status=413, error=exc.message, values=exc.form.fields
            )
        channel = "letter" if form.get("channel") == "letter" else "visit"
        if form.refused_files or any(u.content_type not in SCAN_TYPES for u in form.files):
            return self._file_page(
                request, member, session, channel, status=422, error=SCAN_REFUSED, values=form.fields
            )

        def part(**names: str) -> dict[str, str]:
            return {key: form.get(field) for key, field in names.items() if form.get(field)}

        doc: dict[str, Any] = {
            "channel": channel,
            "content": form.get("content"),
            "title": form.get("title") or None,
            "category": form.get("category") or None,
            "accused": part(name="accused_name", unit="accused_unit", position="accused_position"),
            "location": part(text="location_text", division_code="location_code"),
            "reporter": part(
                name="reporter_name",
                id_number="reporter_id_number",
                phone="reporter_phone",
                address="reporter_address",
            ),
            "external_id": form.get("nonce")[:64] or None,
        }
        workflow = self.ctx.workflow
        try:
            held = self._held(form.get("held"), session)
            uploads = [*form.files, *(await self._held_scans(request).take(held))] if held else form.files
            if len(uploads) > self.ctx.max_files:
                raise ValidationError(f"扫描件最多 {self.ctx.max_files} 个。", code="too_many_files")
            receipt = await file_filed(self.ctx, workflow, member, filing_submission(member, doc, uploads))
        except IntakeError as exc:
            if exc.status in (401, 403, 404):
                raise
            return self._file_page(
                request, member, session, channel, status=exc.status, error=exc.message, values=form.fields
            )
        if held:
            self._held_scans(request).release(held)  # filed: the pipeline stored its own copies
        return self._render(
            request, "receipt.html", member=member, session=session, receipt=receipt, channel=channel
        )

    # --- reading a scanned letter (识别扫描件) ---------------------------------------------------------

    def _held_scans(self, request: web.Request) -> HeldScans:
        return self.ctx.held_scans

    def _held_field(self, held: list[Held], session: str) -> str:
        packed = pack_held(held)
        return f"{packed}.{self.ctx.sign('held-scans', f'{session}|{packed}'.encode())}"

    def _held(self, value: str, session: str) -> list[Held]:
        """The scans an earlier OCR step kept, from the form's signed field (bound to the session)."""
        if not value:
            return []
        packed, _, signature = value.rpartition(".")
        expected = self.ctx.sign("held-scans", f"{session}|{packed}".encode())
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise IntakeError(STALE_FORM, code="invalid_form_token", status=403)
        return unpack_held(packed)

    @page
    async def file_ocr(self, request: web.Request) -> web.StreamResponse:
        """识别扫描件: the letter form again, its text proposed from the scans by OCR for the officer
        to correct; the scans are kept for the filing (encrypted), so they need not be chosen again."""
        member, session = await self._member(request)
        check_filing_role(member)
        try:
            form = await self._form(
                request,
                FILING_FIELDS,
                session,
                max_file_bytes=self.ctx.max_file_bytes,
                max_files=self.ctx.max_files,
            )
        except FormTooLarge as exc:
            if not exc.verified:
                raise
            return self._file_page(
                request, member, session, "letter", status=413, error=exc.message, values=exc.form.fields
            )
        values = dict(form.fields)
        if form.refused_files or any(u.content_type not in SCAN_TYPES for u in form.files):
            return self._file_page(
                request, member, session, "letter", status=422, error=SCAN_REFUSED, values=values
            )
        store = self._held_scans(request)
        try:
            earlier = self._held(form.get("held"), session)
            if len(earlier) + len(form.files) > self.ctx.max_files:
                raise ValidationError(f"扫描件最多 {self.ctx.max_files} 个。", code="too_many_files")
            letters = [u for u in form.files if not u.identifying]
            if not letters and earlier:
                letters = [u for u in await store.take(earlier) if not u.identifying]
            if not letters:
                raise ValidationError("请先在“信件正文”中选择来信扫描件，再点“识别扫描件”。", code="no_scan")
            proposals = [await propose_text(u.data) for u in letters]
        except IntakeError as exc:
            if exc.status in (401, 403, 404):
                raise
            return self._file_page(
                request, member, session, "letter", status=exc.status, error=exc.message, values=values
            )
        held = [*earlier, *(await store.hold(form.files))]
        values["held"] = self._held_field(held, session)
        values["content"] = "\n\n".join(p.text for p in proposals if p.text)
        pages = sum(p.pages for p in proposals)
        found = sum(p.identity_found for p in proposals)
        notice = (
            f"已识别 {len(proposals)} 个扫描件（共 {pages} 页），请对照原件校对“主要事实”中的文字后再登记。"
        )
        if found:
            notice += (
                f"识别出的文字中可能含有来信人的身份信息 {found} 处，登记时将自动加密封存，办理人员不可见。"
            )
        if not values["content"]:
            notice = "扫描件中没有识别出文字，请手工录入。"
        return self._file_page(request, member, session, "letter", values=values, notice=notice)

    # --- exporting cases (导出) -------------------------------------------------------------------------

    @page
    async def export(self, request: web.Request) -> web.StreamResponse:
        """The cases on the case list (that status, or the ones ticked) as a file: never identity."""
        member, _ = await self._member(request)
        values: dict[str, str] = {}
        for key in ("format", "status"):
            if request.query.get(key):
                values[key] = request.query[key]
        selected = [c for c in request.query.getall("case_no", []) if c]
        if selected:
            if len(selected) > 200 or not all(CASE_NO.fullmatch(c) for c in selected):
                raise ValidationError("选择的案件有误。", code="invalid_field")
            values["cases"] = ",".join(selected)
        q = validated(ExportQuery, values)
        found = await export_cases(
            self.ctx.exports,
            self.ctx.clock,
            self.ctx.staff.scope(member),
            member.actor,
            q.format,
            status=q.status,
            case_nos=parse_case_list(q.cases),
        )
        return await send_export(request, found)

    # --- my account: declared relations (申报亲属关系) ----------------------------------------------

    async def _me_page(
        self,
        request: web.Request,
        member: StaffMember,
        session: str,
        *,
        status: int = 200,
        error: str | None = None,
        values: Mapping[str, str] | None = None,
    ) -> web.Response:
        staff, workflow = self.ctx.staff, self.ctx.workflow
        return self._render(
            request,
            "me.html",
            status,
            member=member,
            session=session,
            scope_units=[workflow.tree.name(u) for u in staff.scope(member).units],
            relations=await staff.relations(member.username),
            values={k: v for k, v in (values or {}).items() if k != "csrf"},
            error=error,
            notice=self._notice(request),
        )

    @page
    async def me(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        return await self._me_page(request, member, session)

    @page
    async def declare_relation(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        form = await self._form(request, RELATION_FIELDS, session)
        staff = self.ctx.staff
        try:
            await staff.declare_relation(
                member, form.get("person_name"), form.get("person_unit") or None, form.get("relation")
            )
        except IntakeError as exc:
            if exc.status in (401, 403, 404):
                raise
            return await self._me_page(
                request, member, session, status=exc.status, error=exc.message, values=form.fields
            )
        raise ConsoleRedirect(f"{PREFIX}/me?done=relation")

    # --- notifications that gave up (投递失败) ---------------------------------------------------------

    async def _dead_letters(self, request: web.Request, member: StaffMember) -> list[DeadLetter]:
        """The dead letters of cases in the member's scope (those of no case: admins only)."""
        if member.role not in DEAD_LETTER_ROLES:
            raise IntakeError(
                "只有督办负责人和系统管理员可以查看投递失败的通知。", code="role_not_allowed", status=403
            )
        workflow = self.ctx.workflow
        letters = await self.ctx.notifier.dead_letters(200)
        wanted = sorted({d.case_no for d in letters if d.case_no})
        visible = {r.case_no for r in await workflow.queue(member, case_nos=wanted)} if wanted else set()
        return [
            d for d in letters if (d.case_no in visible) or (d.case_no is None and member.role == "admin")
        ]

    @page
    async def dead_letters(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        letters = await self._dead_letters(request, member)
        return self._render(
            request,
            "dead_letters.html",
            member=member,
            session=session,
            letters=letters,
            notice=self._notice(request),
        )

    @page
    async def retry_dead(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        raw = request.match_info["job_id"]
        await self._form(request, frozenset({"csrf"}), session)
        letters = await self._dead_letters(request, member)
        if not (raw.isascii() and raw.isdigit()) or int(raw) not in {d.job_id for d in letters}:
            raise IntakeError("没有这条投递失败的通知，或不在您的查看范围内。", code="not_found", status=404)
        if not await self.ctx.notifier.retry_dead(int(raw), member.actor):
            raise IntakeError("该通知已在重新发送中。", code="not_dead", status=409)
        raise ConsoleRedirect(f"{PREFIX}/dead-letters?done=retried")
