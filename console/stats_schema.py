"""Request and answer models of the statistics routes (issue 18): the table, the alerts, the
measures, the table export and the periodic report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from channels.schema import Date, IsoDate, OneOf, QueryModel, ResponseModel
from intake.stats import GROUPINGS


class StatsQuery(QueryModel):
    from_: IsoDate | None = Field(
        None, alias="from", description="First day counted (China date); default 29 days before `to`"
    )
    to: IsoDate | None = Field(
        None, description="Last day counted (China date), not after today; default today"
    )
    by: str | None = Field(
        None,
        max_length=200,
        description="Comma-separated grouping fields: "
        + ", ".join(GROUPINGS)
        + " (at most one period; default channel)",
    )
    unit: str | None = Field(None, max_length=64, description="Only this unit's subtree (a unit in sight)")


class StatsRow(ResponseModel):
    """Each grouping field's value, and the count: an integer, or "<5" when withheld."""

    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)
    count: int | Literal["<5"]


class StatsTableBody(ResponseModel):
    by: list[str]
    from_: Date = Field(serialization_alias="from")
    to: Date
    min_cell: int = Field(description="Counts below this are withheld (INTAKE_STATS_MIN_CELL)")
    rows: list[StatsRow]
    total: int | Literal["<5"]

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class AlertsQuery(QueryModel):
    date: IsoDate | None = Field(None, description="The day the alerts are for (default today)")
    period: Annotated[str, OneOf(("day", "week"), "invalid_period", "period 只能是 day 或 week。")] = Field(
        "day", description="Spikes of the day, or of the 7 days ending on `date`"
    )


class AlertView(ResponseModel):
    kind: Literal["spike", "hot_word", "accused", "repeat_informant"]
    reason: str
    place: str | None
    category: str | None
    reports: list[str] = Field(description="The case numbers behind the alert, in the caller's scope")
    count: int
    p_value: float | None


class AlertList(ResponseModel):
    alerts: list[AlertView]
    more: dict[str, int] = Field(
        default_factory=dict,
        description="Per kind, how many alerts are not listed (accused and repeat informants: the "
        "20 with the most reports are)",
    )


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
