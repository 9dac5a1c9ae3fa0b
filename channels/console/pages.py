"""The staff console (工作人员平台) at ``/console``: server-rendered pages for a petition office.

Login (username, password, TOTP) opens a server-side session: the bearer token of
:meth:`intake.staff.StaffService.login` travels in an HttpOnly, SameSite=Strict cookie (Secure
when ``INTAKE_PUBLIC_URL`` is https) and expires with the token. Every POST form carries an
anti-forgery token: before login one bound to a random cookie, after login one bound to the
session token (the double-submit scheme of :mod:`channels.verify`).

The pages call the same services as the staff JSON API (:mod:`channels.console.api`): the
workflow's scoped queue, case view, actions and deadline board, the triage service's review queue
and corrections, and the workflow's scoped full-text search. Scoping is theirs: a case outside
the user's sight is the same 404 page as a case that does not exist. Nothing here shows an
informant's identity; staff see the pseudonym. Pages work without JavaScript.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from channels.base import ChannelContext
from channels.console.api import TRIAGE_ROLES, parse_action
from channels.verify import form_token_field, new_form_token, verify_form_token
from channels.web.files import human_size
from channels.web.forms import FormData, read_form
from intake.app import Services, services_of
from intake.clock import CHINA
from intake.domain import STATUS_LABELS
from intake.errors import IntakeError, ValidationError
from intake.staff import LEVEL_RANK, ROLES, StaffMember, StaffService, Unauthorized
from intake.triage_service import CORRECTABLE
from intake.workflow import ACTION_LABELS, FROM, ROLE_ACTIONS, Workflow

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
SESSION_COOKIE = "xf_console"
LOGIN_COOKIE = "xf_console_login"
LOGIN_TOKEN = web.RequestKey("console_login_token", str)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CSP = "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
STALE_FORM = "页面已过期或来源不明，操作未执行。请刷新页面后重试。"
QUEUE_LIMIT = 100

# The actions the case page offers, in the order a case goes through them.
CONSOLE_ACTIONS = (
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
)
ACTION_FIELDS = frozenset(
    {"csrf", "action", "to_unit", "handler", "text", "reason", "deadline", "target", "kind", "organ"}
    | {"hearing_days"}
)
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
    def __init__(self, ctx: ChannelContext) -> None:
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
            web.get(f"{p}/cases/{{case_no}}", self.case),
            web.post(f"{p}/cases/{{case_no}}/actions", self.action),
            web.post(f"{p}/cases/{{case_no}}/triage", self.triage),
            web.get(f"{p}/cases/{{case_no}}/attachments/{{attachment_id}}", self.download),
            web.get(f"{p}/deadlines", self.deadlines),
            web.get(f"{p}/search", self.search),
            web.static("/static/console", HERE / "static"),
        ]

    # --- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def _services(request: web.Request) -> tuple[Services, StaffService, Workflow]:
        services = services_of(request.app)
        assert services.staff is not None and services.workflow is not None
        return services, services.staff, services.workflow

    async def _member(self, request: web.Request) -> tuple[StaffMember, str]:
        _, staff, _ = self._services(request)
        token = request.cookies.get(SESSION_COOKIE) or ""
        return await staff.authenticate(token), token

    def _csrf(self, request: web.Request, session: str | None) -> str:
        if session:
            return form_token_field(self._key, "session|" + session)
        return form_token_field(self._key, "login|" + (request.get(LOGIN_TOKEN) or ""))

    async def _form(self, request: web.Request, known: frozenset[str], session: str) -> FormData:
        def check(form: FormData) -> None:
            if not verify_form_token(self._key, "session|" + session, form.fields.get("csrf")):
                self.ctx.metrics.channel_events.labels("console", "rejected").inc()
                raise IntakeError(STALE_FORM, code="invalid_form_token", status=403)

        return await read_form(request, known, check)

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
        tree = self._services(request)[2].tree
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
        return self._services(request)[0].settings.public_url.startswith("https://") or request.secure

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
        _, staff, _ = self._services(request)
        username = form.get("username")[:64]
        try:
            token, _expires, _member = await staff.login(
                username, form.fields.get("password", "")[:256], form.get("totp")[:16]
            )
        except Unauthorized as exc:
            return self._render(
                request,
                "login.html",
                exc.status,
                member=None,
                error=exc.message,
                notice=None,
                username=username,
            )
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
        _, staff, _ = self._services(request)
        await staff.logout(session, member)
        response = self._redirect(request, f"{PREFIX}/login?out=1")
        response.del_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # --- the triage queue and case lists -----------------------------------------------------------------

    @page
    async def queue(self, request: web.Request) -> web.StreamResponse:
        """Reports whose triage needs a person, and new reports in the user's scope."""
        member, session = await self._member(request)
        services, _, workflow = self._services(request)
        waiting = await services.triage.review_queue(500)
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
        _, _, workflow = self._services(request)
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
        _, _, workflow = self._services(request)
        view = await workflow.case(member, case_no)
        attachments = await workflow.attachments(member, case_no)
        report = view.report
        allowed = [
            a
            for a in CONSOLE_ACTIONS
            if a in ROLE_ACTIONS.get(member.role, frozenset()) and report.status in FROM[a]
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
        _, _, workflow = self._services(request)
        doc: dict[str, Any] = {k: v for k, v in form.fields.items() if k != "csrf" and v.strip()}
        try:
            if "hearing_days" in doc:
                try:
                    doc["hearing_days"] = int(doc["hearing_days"])
                except ValueError:
                    raise ValidationError("听证天数应为整数。", code="invalid_field") from None
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
        services, _, workflow = self._services(request)
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
        await services.triage.correct(case_no, member.actor, changes)
        if form.get("back") == "case":
            raise ConsoleRedirect(f"{PREFIX}/cases/{quote(case_no)}?done=triage")
        raise ConsoleRedirect(f"{PREFIX}/queue?done=triage")

    @page
    async def download(self, request: web.Request) -> web.StreamResponse:
        """An evidence attachment, always as a download (never rendered in the console's origin)."""
        member, _ = await self._member(request)
        _, _, workflow = self._services(request)
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
        _, _, workflow = self._services(request)
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
        _, _, workflow = self._services(request)
        q = request.query.get("q", "").strip()[:200]
        rows = await workflow.search(member, q) if q else []
        return self._render(request, "search.html", member=member, session=session, q=q, rows=rows)
