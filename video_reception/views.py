"""Routes under ``/reception``: pages, the JSON API the pages call, and the signaling WebSocket.

Staff sign in once (password + TOTP, :meth:`StaffService.login`), at ``/console`` or here: the
bearer token travels in an HttpOnly, SameSite=Strict cookie limited to ``/reception`` (the console's
login sets it beside its own, :data:`intake.staff.RECEPTION_COOKIE`: one sign-on), or in an
``Authorization: Bearer`` header, the staff API's token, for API clients. Every state-changing
call is a JSON POST: a cross-site form can send neither that content type nor the cookie. Pages
need JavaScript (WebRTC does).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from intake.edge import parse_json_object, read_body, read_bounded_json
from intake.errors import ValidationError
from intake.ratelimit import client_address
from intake.reception.service import MAX_CHUNK, OFFICER_ROLES, ReceptionContext
from intake.staff import RECEPTION_COOKIE, StaffMember

HERE = Path(__file__).resolve().parent
PREFIX = "/reception"
COOKIE = RECEPTION_COOKIE[0]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CSP = (
    "default-src 'self'; media-src 'self' blob: mediastream:; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
)
MAX_JSON = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(("html",)),
    undefined=jinja2.StrictUndefined,
)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(
        doc, status=status, headers=NO_STORE, dumps=lambda d: json.dumps(d, ensure_ascii=False)
    )


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object posted (an empty body stands for ``{}``), through the shared reader and parser."""
    return parse_json_object(await read_bounded_json(request, MAX_JSON) or b"{}")


class ReceptionViews:
    def __init__(self, ctx: ReceptionContext, hub_handler: Handler) -> None:
        self.ctx = ctx
        self.reception = ctx.service
        self.staff = ctx.staff
        self.secure = ctx.https
        self.hub_handler = hub_handler

    def routes(self) -> list[web.AbstractRouteDef]:
        p = PREFIX
        return [
            web.get(f"{p}", self.index),
            web.get(f"{p}/", self.index),
            web.get(f"{p}/room/{{session}}", self.room_page),
            web.get(f"{p}/oversight", self.oversight_page),
            web.get(f"{p}/ws/{{room}}", self.hub_handler),
            web.post(f"{p}/api/login", self.login),
            web.post(f"{p}/api/logout", self.logout),
            web.get(f"{p}/api/me", self.me),
            web.get(f"{p}/api/slots", self.slots),
            web.post(f"{p}/api/bookings", self.book),
            web.post(f"{p}/api/sessions", self.open_session),
            web.get(f"{p}/api/schedule", self.schedule),
            web.get(f"{p}/api/upcoming", self.upcoming),
            web.get(f"{p}/api/oversight", self.oversight),
            web.get(f"{p}/api/sessions/{{session}}", self.session),
            web.post(f"{p}/api/sessions/{{session}}/token", self.token),
            web.post(f"{p}/api/sessions/{{session}}/cancel", self.cancel),
            web.post(f"{p}/api/sessions/{{session}}/consent", self.consent),
            web.post(f"{p}/api/sessions/{{session}}/minutes", self.minutes),
            web.post(f"{p}/api/sessions/{{session}}/end", self.end),
            web.post(f"{p}/api/sessions/{{session}}/confirm", self.confirm),
            web.post(f"{p}/api/sessions/{{session}}/chunks/{{seq}}", self.chunk),
            web.get(f"{p}/api/sessions/{{session}}/recording", self.recording),
            web.static(f"{p}/static", HERE / "static", append_version=True),
        ]

    # --- authentication ---------------------------------------------------------------------------

    async def _member(self, request: web.Request) -> StaffMember:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.cookies.get(COOKIE)
        return await self.staff.authenticate(token)

    def _client(self, request: web.Request) -> str:
        """A keyed hash of the client's address, as the channels make it (``ChannelContext``)."""
        address = client_address(request, self.ctx.trust_forwarded_for)
        return self.ctx.mac("client", address.encode())

    async def login(self, request: web.Request) -> web.Response:
        doc = await _body(request)
        token, _expires, member = await self.staff.login(
            str(doc.get("username", ""))[:64],
            str(doc.get("password", ""))[:200],
            str(doc.get("totp", ""))[:8],
            client=self._client(request),
        )
        response = _json({"username": member.username, "unit": member.unit, "role": member.role})
        response.set_cookie(
            COOKIE,
            token,
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            max_age=int(self.staff.token_ttl.total_seconds()),
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        await _body(request)
        token = request.cookies.get(COOKIE)
        member = await self._member(request)
        if token:
            await self.staff.logout(token, member)
        response = _json({"ok": True})
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    async def me(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        townships = self.reception.townships_of(member)
        tree = self.reception.tree
        return _json(
            {
                "username": member.username,
                "unit": member.unit,
                "unit_name": tree.name(member.unit),
                "role": member.role,
                "townships": [{"code": c, "name": tree.name(c)} for c in townships],
                "supervisor": member.role in ("supervisor", "leader", "admin"),
                "officer": member.role in OFFICER_ROLES
                and tree.units[member.unit].level not in ("township", "village"),
            }
        )

    # --- pages ------------------------------------------------------------------------------------

    def _page(self, template: str, **context: Any) -> web.Response:
        body = _env.get_template(template).render(**context)
        return web.Response(
            text=body,
            content_type="text/html",
            charset="utf-8",
            headers={**NO_STORE, "Content-Security-Policy": CSP},
        )

    async def index(self, request: web.Request) -> web.Response:
        return self._page("index.html", page="index")

    async def room_page(self, request: web.Request) -> web.Response:
        role = request.query.get("as", "")
        if role not in ("host", "officer", "supervisor"):
            raise web.HTTPNotFound()
        return self._page("room.html", page="room", session=request.match_info["session"], role=role)

    async def oversight_page(self, request: web.Request) -> web.Response:
        return self._page("oversight.html", page="oversight")

    # --- API --------------------------------------------------------------------------------------

    async def slots(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        return _json({"slots": await self.reception.free_slots(member, request.query.get("township", ""))})

    async def book(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        doc = await _body(request)
        client = self._client(request)
        booked = await self.reception.book(member, doc, client)
        return _json(self.reception.oversight.row(booked, member), status=201)

    async def open_session(self, request: web.Request) -> web.Response:
        """The contract: ``{"unit": township, "walk_in": true}`` opens a walk-in session now."""
        member = await self._member(request)
        doc = await _body(request)
        opened = await self.reception.open_walk_in(member, doc, self._client(request))
        return _json({**self.reception.oversight.row(opened, member), "id": str(opened.id)}, status=201)

    async def schedule(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        return _json({"sessions": await self.reception.oversight.schedule(member)})

    async def upcoming(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        return _json({"days": await self.reception.oversight.upcoming(member)})

    async def oversight(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        return _json(await self.reception.oversight.view(member))

    async def session(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        found = await self.reception.session(member, request.match_info["session"])
        row = self.reception.oversight.row(found, member)
        row["minutes_text"] = found.minutes
        row["attendees_planned"] = self.reception.attendees(found)
        return _json(row)

    async def token(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        doc = await _body(request)
        return _json(await self.reception.token(member, request.match_info["session"], str(doc.get("role"))))

    async def cancel(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        await _body(request)
        await self.reception.cancel(member, request.match_info["session"])
        return _json({"ok": True})

    async def consent(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        doc = await _body(request)
        found = await self.reception.consent(member, request.match_info["session"], doc)
        return _json(self.reception.oversight.row(found, member))

    async def minutes(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        doc = await _body(request)
        await self.reception.save_minutes(member, request.match_info["session"], doc)
        return _json({"ok": True})

    async def end(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        doc = await _body(request)
        await self.reception.end(member, request.match_info["session"], doc)
        return _json({"ok": True})

    async def confirm(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        await _body(request)
        filed = await self.reception.confirm(member, request.match_info["session"])
        # The query code goes to the township screen only, for the citizen to note down.
        return _json({"case_no": filed.case_no, "query_code": filed.query_code})

    async def chunk(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        try:
            seq = int(request.match_info["seq"])
        except ValueError:
            raise ValidationError("分片序号应为数字。", code="invalid_field") from None
        data = await read_body(request, MAX_CHUNK)
        size = await self.reception.add_chunk(member, request.match_info["session"], seq, data)
        return _json({"seq": seq, "total_bytes": size})

    async def recording(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        content_type, data = await self.reception.recording(member, request.match_info["session"])
        return web.Response(
            body=data,
            content_type=content_type,
            headers={**NO_STORE, "Content-Disposition": 'attachment; filename="recording.webm"'},
        )
