"""The console pages' shared part: constants, the error-to-page decorator, rendering, the session
and the anti-forgery tokens (:class:`PageBase`); the pages by area build on it."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from channels.verify import form_token_field, new_form_token, verify_form_token
from console.api import (
    FILING_ROLES,
)
from console.context import ConsoleContext
from console.labels import (
    ADVICE_LABELS,
    CHANNEL_LABELS,
    DECISION_LABELS,
    ERROR_LABELS,
    EVENT_LABELS,
    EXPLANATION_LABELS,
    LEVEL_LABELS,
    PRIORITY_LABELS,
    RECUSAL_BY,
    RECUSAL_STATUS,
    REOPEN_KINDS,
    SCOPE_LABELS,
    TEMPLATE_LABELS,
    actor_label,
    china_time,
)
from intake.domain import STATUS_LABELS
from intake.errors import IntakeError
from intake.files import human_size
from intake.forms import FormData, read_form
from intake.labels import confidence_label
from intake.staff import ROLES, StaffMember, Unauthorized
from intake.triage_service import CORRECTABLE, locate_words
from intake.workflow import ACTION_LABELS, ACTIONS

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
SESSION_COOKIE = "xf_console"
LOGIN_COOKIE = "xf_console_login"
LOGIN_TOKEN = web.RequestKey("console_login_token", str)
INBOX_UNREAD = web.RequestKey("console_inbox_unread", int)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CSP = "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
STALE_FORM = "页面已过期或来源不明，操作未执行。请刷新页面后重试。"
QUEUE_LIMIT = 100

# The actions the case page offers, in the order a case goes through them (the workflow's own list).
CONSOLE_ACTIONS = ACTIONS
ACTION_FIELDS = frozenset(
    {"csrf", "action", "to_unit", "handler", "text", "reason", "deadline", "target", "kind", "organ"}
    | {
        "hearing_days",
        "deadline_id",
        "approval",
        "recusal_id",
        "decision",
        "outcome",
        "confirm",
        "leader_case",
        "method",
        "notice_id",
    }
)
INT_FIELDS = {
    "hearing_days": "听证天数",
    "deadline_id": "期限",
    "recusal_id": "回避申请",
    "notice_id": "督办函",
}
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
DEAD_LETTER_ROLES = ("supervisor", "leader", "admin")
TRIAGE_FIELDS = frozenset({"csrf", "confirm", "back", *CORRECTABLE})
LOGIN_FIELDS = frozenset({"csrf", "username", "password", "totp"})

DONE_NOTICE = "“{label}”已完成。"
CASE_NO = re.compile(r"[0-9A-Za-z-]{1,32}")


class ConsoleRedirect(Exception):
    """Leave the page for ``location`` (a 303 after a POST, a 302 otherwise)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


P = TypeVar("P", bound="PageBase")
Page = Callable[[P, web.Request], Awaitable[web.StreamResponse]]


def page(fn: Page[P]) -> Page[P]:
    """Render errors as console pages: no session → the login page; others → the error page."""

    async def wrapper(self: P, request: web.Request) -> web.StreamResponse:
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


def deciding_words(t: Mapping[str, Any] | None) -> list[str]:
    """The words every explanation of a triage result relied on (for highlighting)."""
    words: list[str] = []
    for e in (t or {}).get("explanations") or []:
        if isinstance(e, Mapping):
            words.extend(str(w.get("text")) for w in e.get("words") or [] if isinstance(w, Mapping))
    return words


class UnitChoices:
    """The units a triage correction may route to, as ``<option>`` elements made once per page.
    A city's queue shows up to 100 cards, each with every handling unit (182 in a city: the
    template's loop over 18,200 options was most of the page's time); each card's select is this
    one string with its own unit marked."""

    def __init__(self, units: Sequence[tuple[str, str]]) -> None:
        self._html = "".join(f'<option value="{escape(c)}">{escape(name)}</option>' for c, name in units)
        self._codes = {code for code, _ in units}

    def options(self, selected: str | None) -> Markup:
        if selected not in self._codes:
            return Markup(self._html)  # noqa: S704 (made of escaped values above)
        mark = f'<option value="{escape(selected)}">'
        return Markup(self._html.replace(mark, f'<option value="{escape(selected)}" selected>', 1))  # noqa: S704


def highlight(text: str | None, words: list[str]) -> Markup:
    """``text`` escaped, the deciding ``words`` marked (<mark class="decisive">)."""
    text = text or ""
    out: list[Markup] = []
    at = 0
    for start, end in locate_words(text, words):
        out.append(escape(text[at:start]))
        out.append(Markup('<mark class="decisive">{}</mark>').format(text[start:end]))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


@functools.cache
def _environment() -> jinja2.Environment:
    """The console's templates with their filters and labels: one per process (compiled once,
    not once per application)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["china_time"] = china_time
    env.filters["actor"] = actor_label
    env.filters["human_size"] = human_size
    env.filters["highlight"] = highlight
    env.filters["certainty"] = confidence_label
    env.globals.update(
        status_labels=STATUS_LABELS,
        scope_labels=SCOPE_LABELS,
        level_labels=LEVEL_LABELS,
        priority_labels=PRIORITY_LABELS,
        channel_labels=CHANNEL_LABELS,
        decision_labels=DECISION_LABELS,
        explanation_labels=EXPLANATION_LABELS,
        advice_labels=ADVICE_LABELS,
        deciding_words=deciding_words,
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
    return env


class PageBase:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.env = _environment()
        self._key = bytes.fromhex(ctx.sign("console-form-token", b"key"))

    # --- plumbing -------------------------------------------------------------------------------

    async def _member(self, request: web.Request) -> tuple[StaffMember, str]:
        staff = self.ctx.staff
        token = request.cookies.get(SESSION_COOKIE) or ""
        member = await staff.authenticate(token)
        if self.ctx.urging is not None:  # the unread count in the header of every page
            request[INBOX_UNREAD] = await self.ctx.urging.unread(member)
        return member, token

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
            inbox_unread=request.get(INBOX_UNREAD, 0) if member else 0,
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
