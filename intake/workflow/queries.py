"""The workflow's reading side: the scoped queue, one case, the deadline board, evidence
attachments and full-text search. Nothing here changes a case (opening an attachment is logged)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from intake.colours import COLOUR_LABELS, deadline_colour
from intake.errors import NotFound
from intake.staff import StaffMember
from intake.text import check_text
from intake.workflow.core import CaseView, WorkflowBase, china_date
from storage.blobs import BlobContent
from storage.records import ReportSummary
from storage.workflow_store import AttachmentRecord, CaseRow, DeadlineRecord
from triage.normalize import to_simplified

# The deadline board lists this many overdue deadlines and as many due soon (most urgent first);
# its counts by unit cover them all.
BOARD_LIMIT = 200


class WorkflowQueries(WorkflowBase):
    async def queue(
        self,
        member: StaffMember,
        *,
        status: str | None = None,
        channel: str | None = None,
        category: str | None = None,
        due_within: int | None = None,
        case_nos: list[str] | None = None,
    ) -> list[CaseRow]:
        check_text(channel, category)  # filters from a query string, compared in SQL
        scope = self.staff.scope(member)
        due_by = None
        if due_within is not None:
            due_by = china_date(self._clock.now()) + timedelta(days=due_within)
        rows = await self._db.workflow.cases(
            units=scope.units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            status=status,
            channel=channel,
            due_by=due_by,
            case_nos=case_nos,
        )
        if category:
            rows = [r for r in rows if category in (r.category, r.triage_category)]
        return rows

    async def reports_of(self, rows: list[CaseRow]) -> dict[str, ReportSummary]:
        """The reports of rows :meth:`queue` gave (so in the member's scope), read in one
        query by case number: their own fields, without the attachment count and the messages a
        case view reads. A list page shows many cases: one case view each took ten queries."""
        return await self._db.reports.get_many([r.case_no for r in rows])

    async def case(self, member: StaffMember, case_no: str) -> CaseView:
        report, state = await self._load(member, case_no)
        wf = self._db.workflow
        return CaseView(
            report,
            state,
            await wf.deadlines(report_id=report.id),
            await wf.transfers(report.id),
            await wf.recusals(report.id),
            await wf.merged_channels(report.case_no),
            await self._db.reports.events(report.id),
            await self._db.clues.clue(report.id),
            await self._db.urging.notices(report.id),
        )

    async def clue_results(self, member: StaffMember) -> list[Any]:
        """The clue results reported back to the member's units as the receiving unit (S1 art 18),
        whether or not the case itself is still in their sight; no case sent up sealed."""
        return await self._db.clues.reported_to(self.staff.scope(member).units)

    async def open_case(self, member: StaffMember, case_no: str, via: str) -> CaseView:
        """A case opened by staff to read (the case page, the API's case document): the read is an
        event on the case's trail (全程留痕 covers access, not only changes). ``via`` says where
        (``console`` or ``api``). Internal loads (checks before an action) use :meth:`case`."""
        view = await self.case(member, case_no)
        await self._db.workflow.record_access(
            view.report.id, "case_opened", member.actor, self._clock.now(), via=via
        )
        return view

    def colour(self, due_on: date, status: str = "open") -> tuple[str, str]:
        """The deadline's colour (green, yellow, red) and its label (正常, 临期, 超期) today."""
        colour = deadline_colour(self.calendar, due_on, china_date(self._clock.now()), status)
        return colour, COLOUR_LABELS[colour]

    async def board(self, member: StaffMember, within: int = 10) -> dict[str, Any]:
        """Open deadlines of visible cases: overdue, and due within ``within`` days, by unit.
        The lists hold the first :data:`BOARD_LIMIT` of each, most urgent first; ``by_unit``
        counts them all (``overdue_total``, ``due_soon_total``: its sums)."""
        today = china_date(self._clock.now())
        scope = self.staff.scope(member)
        overdue, soon, counts = await self._db.workflow.board(
            units=scope.units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            today=today,
            due_by=today + timedelta(days=within),
            limit=BOARD_LIMIT,
        )

        def item(d: DeadlineRecord) -> dict[str, Any]:
            colour, colour_label = self.colour(d.due_on)
            return {
                "id": d.id,
                "case_no": d.case_no,
                "rule": d.rule,
                "label": self.label(d.rule),
                "unit": d.unit_code,
                "unit_name": self.tree.name(d.unit_code),
                "due_on": d.due_on.isoformat(),
                "days_left": (d.due_on - today).days,
                "overdue": d.due_on < today,
                "colour": colour,
                "colour_label": colour_label,
            }

        return {
            "today": today.isoformat(),
            "overdue": [item(d) for d in overdue],
            "due_soon": [item(d) for d in soon],
            "overdue_total": sum(n for _, n, _ in counts),
            "due_soon_total": sum(n for _, _, n in counts),
            "by_unit": [
                {"unit": u, "unit_name": self.tree.name(u), "overdue": late, "due_soon": n}
                for u, late, n in counts
            ],
        }

    async def attachments(self, member: StaffMember, case_no: str) -> list[AttachmentRecord]:
        """The case's evidence attachments (404 outside the member's scope)."""
        report, _ = await self._load(member, case_no)
        return await self._db.workflow.attachments(report.id)

    async def attachment(self, member: StaffMember, case_no: str, attachment_id: str) -> BlobContent:
        """One evidence attachment of a visible case, decrypted off the event loop."""
        report, _ = await self._load(member, case_no)
        found = [a for a in await self._db.workflow.attachments(report.id) if str(a.id) == attachment_id]
        if not found:
            raise NotFound("没有这个附件。", code="attachment_not_found")
        blob = await asyncio.to_thread(self._db.blobs.get, found[0].id)
        # Who opened which piece of evidence is part of the case's trail (全程留痕).
        await self._db.workflow.record_access(
            report.id, "attachment_opened", member.actor, self._clock.now(), attachment=attachment_id
        )
        return blob

    async def search(self, member: StaffMember, text: str, limit: int = 100) -> list[CaseRow]:
        """Full-text search over report text (storage.search), scoped exactly like the queue."""
        check_text(text)
        await self._db.search.catch_up(self._clock.now())
        # Reports are indexed in simplified characters (triage's words): so is the query, so that
        # 黃興鎮 finds what 黄兴镇 finds.
        scope = self.staff.scope(member)
        found = await self._db.search.search(
            to_simplified(text),
            units=scope.units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            limit=limit,
        )
        rows = {r.case_no: r for r in await self.queue(member, case_nos=found)} if found else {}
        hits = [rows[c] for c in found if c in rows][:limit]
        # Who searched for what, and which cases it showed them, is on the audit trail.
        await self._db.workflow.record_access(
            None,
            "cases_searched",
            member.actor,
            self._clock.now(),
            words=text,
            results=len(hits),
            cases=[r.case_no for r in hits],
        )
        return hits
