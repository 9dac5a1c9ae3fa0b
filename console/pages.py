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
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from channels.schema import validated
from channels.verify import verify_form_token
from console.api import (
    check_filing_role,
    file_filed,
    filing_submission,
)
from console.case_pages import CasePages
from console.data import Proposal, export_cases, parse_case_list, propose_text, send_export
from console.inbox_pages import InboxPages
from console.letter_pages import LetterPages
from console.page_base import (
    CASE_NO,
    DEAD_LETTER_ROLES,
    FILING_FIELDS,
    HERE,
    IDENTITY_FIELDS,
    LOGIN_COOKIE,
    LOGIN_FIELDS,
    PREFIX,
    RELATION_FIELDS,
    SCAN_REFUSED,
    SCAN_TYPES,
    SESSION_COOKIE,
    STALE_FORM,
    ConsoleRedirect,
    page,
)
from console.schema import ExportQuery
from console.stats_pages import StatsPages
from console.stats_report_pages import StatsFilePages
from intake import ocr
from intake.errors import IntakeError, RateLimited, ValidationError
from intake.files import human_size
from intake.forms import FormData, FormTooLarge, read_form
from intake.held_scans import Held
from intake.held_scans import pack as pack_held
from intake.held_scans import unpack as unpack_held
from intake.notifier import DeadLetter
from intake.staff import RECEPTION_COOKIE, StaffMember, Unauthorized


class ConsolePages(CasePages, LetterPages, StatsPages, StatsFilePages, InboxPages):
    """Every console page: the case area (:class:`CasePages`), the notice letters
    (:class:`LetterPages`), the statistics (:class:`StatsPages`), login, filing, my account and the
    dead letters; ``routes`` lists them all."""

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
            web.get(f"{p}/clues/reported", self.clue_results),
            web.get(f"{p}/search", self.search),
            web.get(f"{p}/stats", self.stats),
            web.get(f"{p}/file", self.file_form),
            web.post(f"{p}/file", self.file),
            web.post(f"{p}/file/ocr", self.file_ocr),
            web.get(f"{p}/me", self.me),
            web.post(f"{p}/me/relations", self.declare_relation),
            web.get(f"{p}/dead-letters", self.dead_letters),
            web.post(f"{p}/dead-letters/{{job_id}}/retry", self.retry_dead),
            *self.letter_routes(),
            *self.stats_routes(),
            *self.inbox_routes(),
            web.static("/static/console", HERE / "static"),
        ]

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
        # One sign-on: the same session token for the video reception pages (issue 20).
        response.set_cookie(
            RECEPTION_COOKIE[0],
            token,
            httponly=True,
            samesite="Strict",
            path=RECEPTION_COOKIE[1],
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
        response.del_cookie(RECEPTION_COOKIE[0], path=RECEPTION_COOKIE[1])
        return response

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
        return self._file_page(request, member, session, _filing_channel(request.query.get("channel")))

    async def _filing_form(
        self, request: web.Request, member: StaffMember, session: str, channel: str | None = None
    ) -> FormData | web.StreamResponse:
        """The letter/visit form with its scans, or the form again with a 413 when the files are too
        large (``channel`` the form to show then; by default the one the form names)."""
        try:
            return await self._form(
                request,
                FILING_FIELDS,
                session,
                max_file_bytes=self.ctx.max_file_bytes,
                max_files=self.ctx.max_files,
            )
        except FormTooLarge as exc:
            if not exc.verified:
                raise
            shown = channel or _filing_channel(exc.form.get("channel"))
            return self._file_page(
                request, member, session, shown, status=413, error=exc.message, values=exc.form.fields
            )

    @page
    async def file(self, request: web.Request) -> web.StreamResponse:
        """A letter (with its scans) or a walk-in visit, filed through the API's own calls: the
        identity is sealed by the pipeline, the case registered at once, the query code shown once."""
        member, session = await self._member(request)
        check_filing_role(member)  # before the body is read
        form = await self._filing_form(request, member, session)
        if isinstance(form, web.StreamResponse):
            return form
        channel = _filing_channel(form.get("channel"))
        if _scans_refused(form):
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
            uploads = [*form.files, *(await self.ctx.held_scans.take(held))] if held else form.files
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
            self.ctx.held_scans.release(held)  # filed: the pipeline stored its own copies
        return self._render(
            request, "receipt.html", member=member, session=session, receipt=receipt, channel=channel
        )

    # --- reading a scanned letter (识别扫描件) ---------------------------------------------------------

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
        form = await self._filing_form(request, member, session, channel="letter")
        if isinstance(form, web.StreamResponse):
            return form
        values = dict(form.fields)
        if _scans_refused(form):
            return self._file_page(
                request, member, session, "letter", status=422, error=SCAN_REFUSED, values=values
            )
        try:
            earlier, proposals = await self._read_scans(form, session)
        except IntakeError as exc:
            if exc.status in (401, 403, 404):
                raise
            return self._file_page(
                request, member, session, "letter", status=exc.status, error=exc.message, values=values
            )
        held = [*earlier, *(await self.ctx.held_scans.hold(form.files))]
        values["held"] = self._held_field(held, session)
        values["content"] = "\n\n".join(p.text for p in proposals if p.text)
        notice = _ocr_notice(proposals) if values["content"] else "扫描件中没有识别出文字，请手工录入。"
        return self._file_page(request, member, session, "letter", values=values, notice=notice)

    async def _read_scans(self, form: FormData, session: str) -> tuple[list[Held], list[Proposal]]:
        """The scans held from an earlier step, and the text OCR proposes for the letter's scans
        (those just sent, or else the held ones)."""
        earlier = self._held(form.get("held"), session)
        if len(earlier) + len(form.files) > self.ctx.max_files:
            raise ValidationError(f"扫描件最多 {self.ctx.max_files} 个。", code="too_many_files")
        letters = [u for u in form.files if not u.identifying]
        if not letters and earlier:
            letters = [u for u in await self.ctx.held_scans.take(earlier) if not u.identifying]
        if not letters:
            raise ValidationError("请先在“信件正文”中选择来信扫描件，再点“识别扫描件”。", code="no_scan")
        return earlier, [await propose_text(u.data) for u in letters]

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


def _scans_refused(form: FormData) -> bool:
    """A file the filing form refused, or one that is not a scan (an image or a PDF)."""
    return bool(form.refused_files) or any(u.content_type not in SCAN_TYPES for u in form.files)


def _ocr_notice(proposals: list[Proposal]) -> str:
    """What the officer is told after OCR: how much was read, and how many of the writer's details
    the text seems to hold (sealed at filing)."""
    pages = sum(p.pages for p in proposals)
    found = sum(p.identity_found for p in proposals)
    notice = f"已识别 {len(proposals)} 个扫描件（共 {pages} 页），请对照原件校对“主要事实”中的文字后再登记。"
    if found:
        notice += f"识别出的文字中可能含有来信人的身份信息 {found} 处，登记时将自动加密封存，办理人员不可见。"
    return notice


def _filing_channel(value: str | None) -> str:
    """What staff file at the counter: a letter when the form says so, else a walk-in visit."""
    return "letter" if value == "letter" else "visit"
