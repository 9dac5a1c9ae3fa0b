"""The staff inbox (``/console/inbox``, 待办提醒): the alerts of the member's unit — deadlines that
turned yellow (临期) or red (超期), supervision notices (督办函) received, answered, returned or
closed — with links to the cases, each member's read state, and whether the e-mail went out (a
mail server that is down shows "邮件未送达，将重试" until the retry gets through). The header of every
page shows the member's unread count (:meth:`console.page_base.PageBase._member`)."""

from __future__ import annotations

from aiohttp import web

from console.inbox_schema import MAX_ALERT_ID
from console.page_base import PREFIX, ConsoleRedirect, PageBase, page
from intake.errors import IntakeError

INBOX_FIELDS = frozenset({"csrf", "alert_id", "all"})
MAX_MARKED = 200


class InboxPages(PageBase):
    def inbox_routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get(f"{PREFIX}/inbox", self.inbox),
            web.post(f"{PREFIX}/inbox/read", self.inbox_read),
        ]

    @page
    async def inbox(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        urging = self.ctx.require_urging()
        items = await urging.inbox(member)
        notice = "已标记为已读。" if request.query.get("done") else None
        return self._render(request, "inbox.html", member=member, session=session, items=items, notice=notice)

    @page
    async def inbox_read(self, request: web.Request) -> web.StreamResponse:
        """Mark one alert (``alert_id``) or all of them (``all``) read by the member."""
        member, session = await self._member(request)
        form = await self._form(request, INBOX_FIELDS, session)
        ids: list[int] | None = None
        if not form.fields.get("all"):
            raw = form.fields.get("alert_id", "")
            # Within the alerts' integer key: a 12-digit id reached PostgreSQL and failed there.
            if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ALERT_ID:
                raise IntakeError("请选择要标记的提醒。", code="invalid_alert", status=422)
            ids = [int(raw)][:MAX_MARKED]
        await self.ctx.require_urging().mark_read(member, ids)
        raise ConsoleRedirect(f"{PREFIX}/inbox?done=1")
