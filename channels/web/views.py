"""The citizen web form (网上举报): report, receipt, status by query code, adding information.

Pages work without JavaScript. Every POST carries the double-submit token of
:mod:`channels.verify`; the query code travels only in POST bodies and in pages sent with
``Cache-Control: no-store``, never in a URL.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from channels.base import ChannelContext
from channels.verify import form_token_field, new_form_token, verify_form_token
from channels.web.receipts import VERIFY_FIELDS, receipt_context, verdict_of
from channels.web.units import Unit, UnitPlaces, qr_svg
from intake.clock import china_time
from intake.domain import Accused, Location, Reporter, Submission, format_query_code
from intake.errors import Conflict, IntakeError, ValidationError
from intake.files import ALLOWED_DESCRIPTION, human_size
from intake.forms import FormData, FormInvalidCharacters, FormTooLarge, read_form
from intake.informant import RATING_CHOICES, rated_text, request_text
from intake.limits import FIELD_LIMITS, MAX_CONTENT
from intake.ratelimit import client_address
from intake.text import strip_controls
from intake.workflow.requests import KIND_WORDS

HERE = Path(__file__).resolve().parent
COOKIE = "xf_form"
CATEGORIES = (
    "政治纪律",
    "组织纪律",
    "廉洁纪律",
    "群众纪律",
    "工作纪律",
    "生活纪律",
    "职务违法",
    "职务犯罪",
    "其他",
)
REPORT_FIELDS = frozenset(
    {
        "csrf",
        "submission_id",
        "accused_name",
        "accused_unit",
        "accused_position",
        "division_code",
        "location_text",
        "category",
        "title",
        "content",
        "identity",
        "reporter_name",
        "reporter_id_number",
        "reporter_phone",
        "reporter_address",
    }
)
STATUS_FIELDS = frozenset({"csrf", "query_code", "content", "rating", "comment", "kind", "reason"})
# The form's bounded fields (in the order they are checked) and their limits from the one table.
LIMITS = {
    name.replace(".", "_"): FIELD_LIMITS[name]
    for name in (
        "accused.name",
        "accused.unit",
        "accused.position",
        "location.text",
        "title",
        "reporter.name",
        "reporter.id_number",
        "reporter.phone",
        "reporter.address",
    )
}
SUBMISSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STALE_FORM = "页面已过期或来源不明，未能提交。请确认浏览器允许本网站使用 Cookie，然后重新打开页面填写。"
STALE_FORM_KEPT = "页面已过期，这次没有提交。您填写的文字已保留在下面，附件需要重新选择；请核对后再次提交。"
CONTROLS_REMOVED = (
    "填写的内容含有无法识别的字符（如控制字符），这次没有提交。"
    "已为您删除这些字符，请核对下面的文字后再次提交。"
)


class FormTokenError(IntakeError):
    """The anti-forgery token did not verify; carries what was read so far (nothing is stored)."""

    def __init__(self, form: FormData) -> None:
        super().__init__(STALE_FORM, code="invalid_form_token", status=403)
        self.form = form


def _optional(values: dict[str, str], name: str) -> str | None:
    return values[name] or None


def _reporter(values: dict[str, str]) -> Reporter:
    """The identity of a report filed in one's own name: a name and a phone number at least."""
    if not values["reporter_name"] or not values["reporter_phone"]:
        raise ValidationError(
            "实名举报请填写姓名和联系电话；不愿留下身份请选择匿名。", code="identity_incomplete"
        )
    return Reporter(
        values["reporter_name"],
        values["reporter_id_number"] or None,
        values["reporter_phone"],
        values["reporter_address"] or None,
    )


@functools.cache
def _environment() -> jinja2.Environment:
    """The form's templates: one environment per process (compiled once, not once per application)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["china_time"] = china_time
    return env


class WebAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.env = _environment()
        self._token_key = bytes.fromhex(ctx.sign("form-token", b"key"))
        self.jurisdiction_name = ctx.intake.jurisdiction.name
        # Every unit's own entry points (/u/{code}/): its form, picker, QR code and poster.
        self.places = UnitPlaces(ctx.intake.jurisdiction)
        self._known_codes = self.places.divisions(self.places.root)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/", self.form),
            web.post("/reports", self.submit),
            web.get("/u/{unit}", self.unit_redirect),
            web.get("/u/{unit}/", self.unit_form),
            web.post("/u/{unit}/reports", self.submit),
            web.get("/u/{unit}/qr.svg", self.unit_qr),
            web.get("/u/{unit}/poster", self.unit_poster),
            web.get("/status", self.status_form),
            web.post("/status", self.status),
            web.post("/status/followup", self.followup),
            web.post("/status/feedback", self.feedback),
            web.post("/status/review", self.review),
            web.get("/verify", self.verify_form),
            web.post("/verify", self.verify),
            web.static("/static/web", HERE / "static"),
        ]

    def start(self) -> None:
        self.ctx.set_error_page(self.error_page)

    # --- rendering ----------------------------------------------------------------------------

    def _page(
        self,
        request: web.Request,
        template: str,
        status: int = 200,
        *,
        no_store: bool = False,
        **context: Any,
    ) -> web.Response:
        cookie = request.cookies.get(COOKIE)
        fresh = cookie is None or not (20 <= len(cookie) <= 64)
        token = new_form_token() if fresh else cookie
        assert token is not None
        html = self.env.get_template(template).render(
            csrf=form_token_field(self._token_key, token), site=self.jurisdiction_name, **context
        )
        headers = {
            "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
        }
        if no_store:
            headers.update(NO_STORE)
        response = web.Response(
            text=html, content_type="text/html", charset="utf-8", status=status, headers=headers
        )
        if fresh:
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="Strict", path="/", secure=request.secure
            )
        return response

    def error_page(self, request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
        return self._page(request, "error.html", status, no_store=True, message=message, code=code)

    def _check_token(self, request: web.Request, form: FormData) -> None:
        if not verify_form_token(self._token_key, request.cookies.get(COOKIE), form.fields.get("csrf")):
            self.ctx.metrics.channel_events.labels("web", "rejected").inc()
            raise FormTokenError(form)

    def _report_form(
        self, request: web.Request, values: dict[str, str], status: int = 200, error: str | None = None
    ) -> web.Response:
        values = {**dict.fromkeys(REPORT_FIELDS - {"csrf"}, ""), **values}
        # Made when the form is first shown and kept through re-renders: the idempotency key.
        if not SUBMISSION_ID.fullmatch(values["submission_id"]):
            values["submission_id"] = secrets.token_urlsafe(18)
        unit = self._form_unit(request)
        code = unit.code if unit else self.places.root
        query = strip_controls(request.query.get("q", ""))[:50] if request.method == "GET" else ""
        groups = self.places.picker(code, query, values["division_code"])
        chosen = values["division_code"]
        if not chosen and query and len(groups[0].places) == 1:
            chosen = groups[0].places[0].code  # the one place the search found
        return self._page(
            request,
            "form.html",
            status,
            values=values,
            error=error,
            unit=unit,
            handler=self.places.handler_of(unit.code) if unit else None,
            query=query,
            groups=groups,
            chosen=chosen,
            categories=CATEGORIES,
            allowed=ALLOWED_DESCRIPTION,
            max_files=self.ctx.max_files,
            max_size=human_size(self.ctx.max_file_bytes),
            max_content=MAX_CONTENT,
            no_store=True,
        )

    # --- filing -------------------------------------------------------------------------------

    async def form(self, request: web.Request) -> web.Response:
        return self._report_form(request, {"identity": "anonymous"})

    # --- every unit's own entry points (/u/{code}/) --------------------------------------------

    def _form_unit(self, request: web.Request) -> Unit | None:
        """The unit of a /u/{code}/ route (400 malformed, 404 not on this platform); None at /."""
        code = request.match_info.get("unit")
        return None if code is None else self.places.unit(code)

    async def unit_redirect(self, request: web.Request) -> web.Response:
        unit = self.places.unit(request.match_info["unit"])
        raise web.HTTPPermanentRedirect(f"/u/{unit.code}/")

    async def unit_form(self, request: web.Request) -> web.Response:
        return self._report_form(request, {"identity": "anonymous"})

    def _unit_url(self, request: web.Request, unit: Unit) -> str:
        """The form's public address: under INTAKE_PUBLIC_URL when set (a proxy may rewrite Host)."""
        base = self.ctx.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
        return f"{base}/u/{unit.code}/"

    async def unit_qr(self, request: web.Request) -> web.Response:
        unit = self.places.unit(request.match_info["unit"])
        return web.Response(
            text=qr_svg(self._unit_url(request, unit)),
            content_type="image/svg+xml",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600", "Content-Disposition": "inline"},
        )

    async def unit_poster(self, request: web.Request) -> web.Response:
        """A page to print for the notice board (码上反映): the unit, its QR code and address."""
        unit = self.places.unit(request.match_info["unit"])
        return self._page(
            request,
            "poster.html",
            unit=unit,
            handler=self.places.handler_of(unit.code),
            url=self._unit_url(request, unit),
            hotline=self.ctx.hotline,
        )

    async def submit(self, request: web.Request) -> web.Response:
        unit = self._form_unit(request)  # before anything is read: a wrong unit stores nothing
        try:
            form = await read_form(
                request,
                REPORT_FIELDS,
                lambda f: self._check_token(request, f),
                max_file_bytes=self.ctx.max_file_bytes,
                max_files=self.ctx.max_files,
            )
        except FormTokenError as exc:
            # SameSite=Strict: a browser sends our cookie only with a request from our own pages, so
            # with the cookie present this is a stale page (another tab renewed the cookie), not a
            # forgery. Keep the citizen's text rather than lose it; nothing was stored.
            if request.cookies.get(COOKIE) is None:
                raise
            return self._report_form(request, self._values(exc.form), exc.status, STALE_FORM_KEPT)
        except FormTooLarge as exc:
            # Too big an attachment: say so on the form itself, the text kept (the token verified
            # before any file was read). Anything else too large gets the plain 413 page.
            if not exc.verified:
                raise
            message = f"{exc.message}这次没有提交；您填写的文字已保留，请重新选择附件。"
            return self._report_form(request, self._values(exc.form), exc.status, message)
        except FormInvalidCharacters as exc:
            return self._report_form(
                request, self._values(exc.form), exc.status, CONTROLS_REMOVED + "附件需要重新选择。"
            )
        values = self._values(form)
        try:
            if form.refused_files:
                raise ValidationError(
                    f"有 {form.refused_files} 个附件的类型不在允许范围内，请删除后重新选择。",
                    code="unsupported_file_type",
                )
            sub = self._submission(request, form, values)
            if unit is not None:
                self._check_place(unit, values["division_code"])
                sub = replace(sub, receiving_unit=unit.code)
            receipt = await self.ctx.intake.accept(sub)
        except ValidationError as exc:
            return self._report_form(request, values, exc.status, exc.message)
        except Conflict:
            # The same form was filed before with other content (back button, then edited): offer
            # to file this as a new report under a new id rather than lose the text.
            values.pop("submission_id")
            return self._report_form(
                request,
                values,
                409,
                "这张表单此前已经提交过。如果下面是一份新的举报，请核对后再次点击“提交举报”。",
            )
        return self._page(
            request,
            "receipt.html",
            201 if receipt.created else 200,
            no_store=True,
            case_no=receipt.case_no,
            query_code=format_query_code(receipt.query_code) if receipt.query_code else None,
            anonymous=sub.anonymous,
            received_by=(unit or self.places.unit(self.places.root)).name,
            **receipt_context(self.ctx.intake, receipt.signed),
        )

    def _check_place(self, unit: Unit, code: str) -> None:
        """A unit's form names a place of that unit's part of the tree (what its picker offers)."""
        if code and code not in self.places.divisions(unit.code):
            raise ValidationError("请从列表中选择所在地区。", code="invalid_division_code")

    @staticmethod
    def _values(form: FormData) -> dict[str, str]:
        return {k: form.get(k) for k in REPORT_FIELDS if k != "csrf"}

    def _submission(self, request: web.Request, form: FormData, values: dict[str, str]) -> Submission:
        self._check_values(values)
        anonymous = values["identity"] != "real"
        sid = values["submission_id"]
        return Submission(
            channel="web",
            content=values["content"],
            title=_optional(values, "title"),
            category=_optional(values, "category"),
            accused=Accused(
                _optional(values, "accused_name"),
                _optional(values, "accused_unit"),
                _optional(values, "accused_position"),
            ),
            location=Location(_optional(values, "division_code"), _optional(values, "location_text")),
            reporter=Reporter() if anonymous else _reporter(values),
            anonymous=anonymous,
            # A refreshed or double-clicked submit carries the same id: one report, one receipt.
            external_id=f"form:{sid}" if SUBMISSION_ID.fullmatch(sid) else None,
            # The address is sealed with the identity; behind a trusted proxy, the forwarded one.
            handles={"ip": client_address(request, self.ctx.trust_forwarded_for)},
            # Proof of identity goes with the identity: not kept at all for an anonymous report.
            attachments=tuple(f for f in form.files if not (anonymous and f.identifying)),
        )

    def _check_values(self, values: dict[str, str]) -> None:
        """The form's own checks, before the pipeline's: lengths, the facts, the two lists."""
        for name, limit in LIMITS.items():
            if len(values[name]) > limit:
                raise ValidationError(f"有一项填写内容超过了 {limit} 字，请精简。", code="field_too_long")
        content = values["content"]
        if not content:
            raise ValidationError("请填写反映的主要问题。", code="content_required")
        if len(content) > MAX_CONTENT:
            raise ValidationError(f"主要问题不能超过 {MAX_CONTENT} 字。", code="content_too_long")
        code = values["division_code"]
        if code and code not in self._known_codes:
            raise ValidationError("请从列表中选择所在地区。", code="invalid_division_code")
        category = values["category"]
        if category and category not in CATEGORIES:
            raise ValidationError("请从列表中选择问题类别。", code="invalid_field")

    # --- following a case ---------------------------------------------------------------------

    async def verify_form(self, request: web.Request) -> web.Response:
        return self._page(request, "verify.html", verdict=None, pasted="")

    async def verify(self, request: web.Request) -> web.Response:
        """Check a pasted receipt's signature: nothing is looked up, nothing is stored."""
        form = await read_form(request, VERIFY_FIELDS, lambda f: self._check_token(request, f))
        verdict = verdict_of(self.ctx.intake, form.get("receipt"))
        status = 200 if verdict["valid"] else 422
        return self._page(request, "verify.html", status, verdict=verdict, pasted=form.get("receipt"))

    async def status_form(self, request: web.Request) -> web.Response:
        return self._page(request, "status_query.html", no_store=True, error=None)

    async def status(self, request: web.Request) -> web.Response:
        form = await read_form(request, STATUS_FIELDS, lambda f: self._check_token(request, f))
        return await self._status_page(request, form.get("query_code"))

    async def _status_page(
        self,
        request: web.Request,
        code: str,
        notice: str | None = None,
        status: int = 200,
        error: str | None = None,
        followup: str = "",
    ) -> web.Response:
        desk = self.ctx.informant
        try:
            found = await self.ctx.intake.status(code, self.ctx.client_key(request))
        except IntakeError as exc:
            return self._query_error(request, exc)
        return self._page(
            request,
            "status.html",
            status,
            no_store=True,
            case=found,
            query_code=code,
            notice=notice,
            error=error,
            followup=followup,
            max_content=MAX_CONTENT,
            offers=await desk.offers(found) if desk is not None else None,
            ratings=RATING_CHOICES,
            kind_words=KIND_WORDS,
        )

    def _query_error(self, request: web.Request, exc: IntakeError) -> web.Response:
        """A wrong code (404) or too many tries (429): the query form again, with the reason."""
        response = self._page(request, "status_query.html", exc.status, no_store=True, error=exc.message)
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def followup(self, request: web.Request) -> web.Response:
        try:
            form = await read_form(request, STATUS_FIELDS, lambda f: self._check_token(request, f))
        except FormInvalidCharacters as exc:
            return await self._status_page(
                request,
                exc.form.get("query_code"),
                status=exc.status,
                error=CONTROLS_REMOVED,
                followup=exc.form.get("content"),
            )
        code, content = form.get("query_code"), form.get("content")
        try:
            await self.ctx.intake.add_followup(code, content, "web", self.ctx.client_key(request))
        except ValidationError as exc:
            # What they wrote goes back into the box.
            return await self._status_page(
                request, code, status=exc.status, error=exc.message, followup=content
            )
        except IntakeError as exc:
            return self._query_error(request, exc)
        return await self._status_page(request, code, notice="补充材料已收到，办理人员会一并查看。")

    async def feedback(self, request: web.Request) -> web.Response:
        """满意度评价 from the status page (a plain form: no script)."""
        return await self._loop_form(request, "rate")

    async def review(self, request: web.Request) -> web.Response:
        """复查 / 复核 / 异议 / 回避 from the status page."""
        return await self._loop_form(request, "review")

    async def _loop_form(self, request: web.Request, what: str) -> web.Response:
        form = await read_form(request, STATUS_FIELDS, lambda f: self._check_token(request, f))
        code, desk, key = form.get("query_code"), self.ctx.informant, self.ctx.client_key(request)
        if desk is None:
            return await self._status_page(request, code, error="暂不能办理，请稍后再试。", status=503)
        try:
            if what == "rate":
                rated = await desk.rate(code, form.get("rating"), form.get("comment"), "web", key)
                notice = rated_text(rated)
            else:
                done = await desk.request(code, form.get("kind"), form.get("reason"), "web", key)
                notice = request_text(desk, done)
        except IntakeError as exc:
            if exc.status in (404, 429):
                return self._query_error(request, exc)
            return await self._status_page(request, code, status=exc.status, error=exc.message)
        return await self._status_page(request, code, notice=notice)
