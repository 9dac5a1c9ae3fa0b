"""The console's statistics files (issue 18): the export of the table on ``/console/stats`` as CSV
or XLSX, the list of periodic reports (向上报送) of the member's unit with their downloads, and the
measures beyond counts shown on ``/console/stats``. The same functions as the staff API
(:mod:`console.stats_export`), behind the console's session instead of a bearer token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels.schema import validated
from console.data import send_export
from console.page_base import PREFIX, PageBase, page
from console.stats_export import report_file, table_file
from console.stats_schema import ReportQuery, StatsExportQuery
from intake.errors import IntakeError
from intake.staff import StaffMember
from intake.stats_measures import Measures, make_period, parse_period
from intake.stats_report import ended_periods

KIND_LABELS = {"month": "月报", "quarter": "季报", "year": "年报"}


def _query(request: web.Request, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: request.query[k] for k in keys if request.query.get(k)}


async def measures_context(page: PageBase, member: StaffMember, period_text: str | None) -> dict[str, Any]:
    """The measures of ``period_text`` (default the current quarter) for ``/console/stats``."""
    service = page.ctx.measures
    if service is None:
        return {"measures": None, "measures_error": None, "period": ""}
    today = page.ctx.stats.today()
    text = period_text or make_period("quarter", today.year, (today.month - 1) // 3 + 1).label
    try:
        found: Measures = await service.measures(member, parse_period(text))
    except IntakeError as exc:
        return {"measures": None, "measures_error": exc.message, "period": text}
    return {"measures": found, "measures_error": None, "period": text}


class StatsFilePages(PageBase):
    def stats_routes(self) -> list[web.AbstractRouteDef]:
        p = PREFIX
        return [
            web.get(f"{p}/stats/export", self.stats_export),
            web.get(f"{p}/stats/reports", self.stats_reports),
            web.get(f"{p}/stats/report", self.stats_report),
        ]

    @page
    async def stats_export(self, request: web.Request) -> web.StreamResponse:
        """The table of ``/console/stats`` with the same parameters, as a file."""
        member, _ = await self._member(request)
        q = validated(StatsExportQuery, _query(request, ("format", "from", "to", "by", "unit")))
        return await send_export(request, await table_file(self.ctx, member, q))

    @page
    async def stats_reports(self, request: web.Request) -> web.StreamResponse:
        """The months, quarters and years ended in the last two years, each with PDF and XLSX."""
        member, session = await self._member(request)
        periods = ended_periods(self.ctx.stats.today())
        groups = [(KIND_LABELS[k], [p for p in periods if p.kind == k]) for k in ("quarter", "month", "year")]
        unit = self.ctx.workflow.tree.name(member.unit)
        return self._render(
            request, "stats_reports.html", member=member, session=session, groups=groups, report_unit=unit
        )

    @page
    async def stats_report(self, request: web.Request) -> web.StreamResponse:
        member, _ = await self._member(request)
        q = validated(ReportQuery, _query(request, ("period", "format", "unit")))
        return await send_export(request, await report_file(self.ctx, member, q))
