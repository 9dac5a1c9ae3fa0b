"""Request and answer models of the statistics routes beyond the table and the alerts (issue 18):
the measures, the table export and the periodic report."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from channels.schema import IsoDate, OneOf, QueryModel, ResponseModel
from console.schema import StatsQuery

PERIOD = Field(
    max_length=16,
    description="A month (2026-09), quarter (2026Q3) or year (2026)",
    json_schema_extra={"examples": ["2025Q3"]},
)
UNIT = Field(None, max_length=64, description="Only this unit's subtree (a unit in sight)")


class MeasuresQuery(QueryModel):
    period: str = PERIOD
    unit: str | None = UNIT


class StatsExportQuery(StatsQuery):
    format: Annotated[str, OneOf(("csv", "xlsx"), "invalid_format", "导出格式应为 csv 或 xlsx。")] = Field(
        description="csv (UTF-8 with BOM) or xlsx"
    )


class ReportQuery(QueryModel):
    period: str = PERIOD
    unit: str | None = Field(None, max_length=64, description="The unit reported on (default the caller's)")
    format: Annotated[str, OneOf(("pdf", "xlsx"), "invalid_format", "报表格式应为 pdf 或 xlsx。")] = Field(
        "pdf", description="pdf (print-ready) or xlsx"
    )


class Compared(ResponseModel):
    period: str
    value: float | Literal["<5"] | None
    change: float | None = Field(description="Percent for counts, percentage points for rates, days for days")


class MeasureView(ResponseModel):
    name: str
    label: str
    kind: Literal["count", "rate", "days"]
    value: float | Literal["<5"] | None
    cases: int | Literal["<5"] = Field(description="The cases the value is over")
    previous: Compared = Field(description="The period before (环比)")
    year_ago: Compared = Field(description="The same period a year earlier (同比)")


class MeasuresBody(ResponseModel):
    model_config = ConfigDict(populate_by_name=True)
    period: str
    from_: IsoDate = Field(alias="from")
    to: IsoDate
    unit: str | None
    min_cell: int
    days: Literal["calendar"]
    measures: list[MeasureView]
