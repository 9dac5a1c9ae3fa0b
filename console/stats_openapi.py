"""The staff API's statistics operations beyond the table and the alerts (issue 18): the measures,
the export of a table and the periodic report. Made by :func:`operations` with the document's own
helpers (``console.openapi``), which adds them to its list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.openapi import Answer, Operation
from console import stats_schema

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BINARY = {"type": "string", "contentEncoding": "binary"}
OUT_OF_SIGHT = {403: Answer("`unit` is not in the caller's sight (`unit_out_of_scope`)")}


def _file(what: str, content: dict[str, Any]) -> Answer:
    return Answer(
        f"{what} (`Content-Disposition: attachment`, `Cache-Control: no-store`)",
        content=content,
        headers={
            "X-Export-Count": {
                "description": "How many rows (table) or reports (1) the file holds",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            }
        },
    )


def operations(
    op: Callable[..., Operation], authed: Callable[..., dict[int, Answer]], p: str
) -> tuple[Operation, ...]:
    return (
        op(
            "GET",
            f"{p}/stats/measures",
            "staffStatsMeasures",
            "Measures beyond counts (办理质效): times, rates, 同比 and 环比",
            description="For the reports received in a month, quarter or year (up to today for the "
            "current one) in the caller's scope: median and mean calendar days to accept and to close, "
            "overdue, transfer, repeat, merged, satisfaction and real-name rates, each with the period "
            "before (环比) and a year earlier (同比). A value over fewer than `INTAKE_STATS_MIN_CELL` "
            'cases is withheld as `"<5"` (docs/stats.md).',
            query=stats_schema.MeasuresQuery,
            answers=authed(
                Answer("The measures", stats_schema.MeasuresBody),
                {
                    **OUT_OF_SIGHT,
                    422: Answer(
                        "A malformed period (`invalid_period`) or one that has not begun (`future_period`)"
                    ),
                },
            ),
        ),
        op(
            "GET",
            f"{p}/stats/export",
            "staffStatsExport",
            "A statistics table as CSV or XLSX (导出统计表)",
            description="The table of `GET /api/v1/staff/stats` with Chinese headings and labels, the same "
            "suppression, the total last. Each export is an audit event (`stats_exported`).",
            query=stats_schema.StatsExportQuery,
            answers=authed(
                _file("The file", {"text/csv": {"type": "string"}, XLSX: BINARY}),
                {
                    **OUT_OF_SIGHT,
                    422: Answer(
                        "Unknown format (`invalid_format`), and the errors of `GET /api/v1/staff/stats`"
                    ),
                },
            ),
        ),
        op(
            "GET",
            f"{p}/stats/report",
            "staffStatsReport",
            "The periodic report upward (向上报送) of a unit as PDF or XLSX",
            description="The figures 信访工作条例 art 41 asks for, of a unit's subtree for a month, quarter "
            "or year that has ended, with suppression. An audit event (`stats_report_made`).",
            query=stats_schema.ReportQuery,
            answers=authed(
                _file("The report", {"application/pdf": BINARY, XLSX: BINARY}),
                {
                    **OUT_OF_SIGHT,
                    422: Answer(
                        "A malformed period (`invalid_period`), one not ended yet (`period_not_ended`), an "
                        "unknown unit (`unknown_unit`) or format (`invalid_format`)"
                    ),
                },
            ),
        ),
    )
