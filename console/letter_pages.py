"""The informant's notices on the console: which were sent, which failed, and the notice letters
(告知书) owed to informants who can only be reached by post — printed from here and recorded as
mailed. The letter carries no identity: the office writes the address from the envelope it got."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from console.page_base import PREFIX, ConsoleRedirect, PageBase, page
from intake import notices
from intake.errors import IntakeError
from intake.notifier import lookup_hint
from intake.workflow import CaseView

MAILED_FIELDS = frozenset({"csrf"})


class LetterPages(PageBase):
    def letter_routes(self) -> list[web.AbstractRouteDef]:
        p = f"{PREFIX}/cases/{{case_no}}/letters/{{seq}}"
        return [web.get(p, self.letter), web.post(f"{p}/mailed", self.letter_mailed)]

    async def _owed(self, request: web.Request) -> tuple[notices.OwedLetter, CaseView]:
        member, _ = await self._member(request)
        view = await self.ctx.workflow.case(member, self._case_no(request))  # 404 outside scope
        try:
            seq = int(request.match_info["seq"])
        except ValueError:
            seq = -1
        for owed in notices.owed_letters(view.events):
            if owed.seq == seq:
                return owed, view
        raise IntakeError("没有这份告知书。", code="letter_not_found", status=404)

    @page
    async def letter(self, request: web.Request) -> web.StreamResponse:
        """The letter, print-ready (A4, no console chrome)."""
        member, session = await self._member(request)
        owed, view = await self._owed(request)
        report = view.report
        tree = self.ctx.workflow.tree
        handling = report.handling_unit if report.handling_unit != report.receiving_unit else None
        notifier = self.ctx.notifier
        letter = notices.compose(
            owed.kind,
            report,
            unit_name=tree.name(view.state.owner_unit),
            at=owed.at,
            handling_unit=tree.name(handling) if handling else None,
            lookup=lookup_hint("web", notifier.public_url, notifier.hotline),
        )
        return self._render(request, "letter.html", member=member, session=session, letter=letter, owed=owed)

    @page
    async def letter_mailed(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        await self._form(request, MAILED_FIELDS, session)
        owed, view = await self._owed(request)
        report = view.report
        if owed.mailed_at is None:
            await self.ctx.notifier.letter_mailed(report.id, owed.seq, member.actor)
        raise ConsoleRedirect(f"{PREFIX}/cases/{quote(report.case_no)}?done=mailed#notices")
