"""Statistics out of the console (issue 18): a statistics table as CSV or XLSX (Chinese headings
and values, the same suppression as the JSON), the measures beyond counts as JSON, and the
periodic report (向上报送) as PDF or XLSX — for the staff API (:class:`StatsApi`, bearer token)
and the console pages (session), which call the same functions.

Files are written to a spooled temporary file and sent as a ``StreamResponse`` in chunks
(:func:`console.data.send_export`); an XLSX is written by openpyxl in write-only mode, row by row.
A table is at most :data:`intake.stats.MAX_ROWS` rows, so nothing grows without bound. Every
export is an audit event (``stats_exported``), every report made one too (``stats_report_made``).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from typing import IO, Any

from aiohttp import web
from openpyxl import Workbook

from channels.base import json_response
from channels.schema import validated_query
from console.context import ConsoleContext
from console.data import ExportFile, send_export
from console.labels import CHANNEL_LABELS, LEVEL_LABELS, PRIORITY_LABELS, SCOPE_LABELS
from console.stats_schema import MeasuresQuery, ReportQuery, StatsExportQuery
from intake.domain import STATUS_LABELS
from intake.jurisdiction import Jurisdiction
from intake.staff import OrgTree, StaffMember
from intake.stats import StatsTable, parse_day, parse_grouping
from intake.stats_measures import parse_period

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
PDF = "application/pdf"
SPOOL = 4 * 1024 * 1024  # bytes kept in memory before the temporary file goes to disk
GROUPING_LABELS = {
    "channel": "渠道",
    "category": "问题类别",
    "scope": "性质",
    "level": "办理层级",
    "priority": "紧急程度",
    "status": "状态",
    "handling_unit": "承办单位",
    "receiving_unit": "受理单位",
    "owner_unit": "所属单位",
    "place": "地点",
    "anonymous": "实名/匿名",
    "day": "日",
    "week": "周",
    "month": "月",
    "quarter": "季度",
    "year": "年",
}
NONE_LABEL = "（未填）"
COUNT_HEADING = "件数"
TOTAL_LABEL = "合计"


class Labels:
    """Codes as staff read them: channels, statuses, units and places by name."""

    def __init__(self, tree: OrgTree, jurisdiction: Jurisdiction) -> None:
        self._tree = tree
        self._places = {u.division_code: u.division_name for u in jurisdiction.units}

    @classmethod
    def of(cls, ctx: ConsoleContext) -> Labels:
        return cls(ctx.workflow.tree, ctx.pipeline.jurisdiction)

    def unit(self, code: str) -> str:
        return self._tree.name(code)

    def value(self, name: str, value: Any) -> str:
        if value is None:
            return NONE_LABEL
        if name in ("handling_unit", "receiving_unit", "owner_unit"):
            return self._tree.name(str(value))
        if name == "place":
            return self._places.get(str(value), str(value))
        labels: Mapping[str, str] = {
            "channel": CHANNEL_LABELS,
            "scope": SCOPE_LABELS,
            "level": LEVEL_LABELS,
            "priority": PRIORITY_LABELS,
            "status": STATUS_LABELS,
            "anonymous": {"anonymous": "匿名", "real_name": "实名"},
        }.get(name, {})
        return labels.get(str(value), str(value))


def table_rows(table: StatsTable, labels: Labels) -> list[list[Any]]:
    """The table as rows: Chinese headings, each value's label, the count (``"<5"`` as in the JSON),
    and the total last."""
    rows: list[list[Any]] = [[GROUPING_LABELS[n] for n in table.by] + [COUNT_HEADING]]
    for r in table.rows:
        rows.append([labels.value(n, r.get(n)) for n in table.by] + [r["count"]])
    rows.append([TOTAL_LABEL] + [""] * (len(table.by) - 1) + [table.total])
    return rows


def spooled() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL)  # closed by send_export


def write_csv(rows: list[list[Any]]) -> IO[bytes]:
    """UTF-8 with a byte-order mark, so that Excel reads the Chinese."""
    out = spooled()
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    csv.writer(text).writerows(rows)
    text.flush()
    text.detach()
    out.seek(0)
    return out


def write_xlsx(sheets: list[tuple[str, list[list[Any]]]]) -> IO[bytes]:
    """One sheet per ``(title, rows)``, written row by row (openpyxl write-only mode)."""
    book = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = book.create_sheet(title[:31])
        for row in rows:
            sheet.append(row)
    out = spooled()
    book.save(out)
    out.seek(0)
    return out


async def table_file(ctx: ConsoleContext, member: StaffMember, q: StatsExportQuery) -> ExportFile:
    table = await ctx.stats.table(
        member,
        parse_grouping(q.by),
        start=parse_day(q.from_, "from"),
        end=parse_day(q.to, "to"),
        unit=q.unit,
        record="stats_exported",
    )
    rows = table_rows(table, Labels.of(ctx))
    name = f"stats-{'-'.join(table.by)}-{table.start}-{table.end}"
    if q.format == "xlsx":
        return ExportFile(write_xlsx([("统计表", rows)]), f"{name}.xlsx", XLSX, len(table.rows))
    return ExportFile(write_csv(rows), f"{name}.csv", CSV, len(table.rows))


async def report_file(ctx: ConsoleContext, member: StaffMember, q: ReportQuery) -> ExportFile:
    from console.stats_report_files import render_pdf, render_xlsx

    assert ctx.reports is not None
    period = parse_period(q.period)
    unit = q.unit or member.unit
    report = await ctx.reports.make(member, unit, period)
    name = f"report-{unit}-{period.label}"
    if q.format == "xlsx":
        return ExportFile(render_xlsx(report, Labels.of(ctx)), f"{name}.xlsx", XLSX, 1)
    out = spooled()
    out.write(render_pdf(report, Labels.of(ctx)))
    out.seek(0)
    return ExportFile(out, f"{name}.pdf", PDF, 1)


class StatsApi:
    """The staff API's statistics routes beyond the table and the alerts."""

    def __init__(self, ctx: ConsoleContext, member: Callable[[web.Request], Awaitable[StaffMember]]) -> None:
        self.ctx = ctx
        self._member = member

    def handlers(self) -> dict[str, Any]:
        return {
            "staffStatsMeasures": self.measures,
            "staffStatsExport": self.export,
            "staffStatsReport": self.report,
        }

    async def measures(self, request: web.Request) -> web.Response:
        member = await self._member(request)
        q = validated_query(MeasuresQuery, request)
        assert self.ctx.measures is not None
        found = await self.ctx.measures.measures(member, parse_period(q.period), q.unit)
        return json_response(self.ctx.measures.document(found), headers={"Cache-Control": "no-store"})

    async def export(self, request: web.Request) -> web.StreamResponse:
        member = await self._member(request)
        q = validated_query(StatsExportQuery, request)
        return await send_export(request, await table_file(self.ctx, member, q))

    async def report(self, request: web.Request) -> web.StreamResponse:
        member = await self._member(request)
        q = validated_query(ReportQuery, request)
        return await send_export(request, await report_file(self.ctx, member, q))
