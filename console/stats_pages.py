"""The statistics page (``/console/stats``, 统计分析与风向标): the table of the chosen grouping, a bar
chart drawn on the server as SVG (readable without JavaScript, printable), and the alerts with
links to their cases. It calls the same service as the staff API (:class:`intake.stats.StatsService`),
so the scope and the suppression are the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from markupsafe import Markup

from console.labels import CHANNEL_LABELS, LEVEL_LABELS, PRIORITY_LABELS, SCOPE_LABELS
from console.page_base import PageBase, page
from console.stats_export import GROUPING_LABELS, NONE_LABEL
from console.stats_report_pages import measures_context
from intake.domain import STATUS_LABELS
from intake.errors import IntakeError
from intake.stats import GROUPINGS, SUPPRESSED, Alerts, StatsTable, parse_day, parse_grouping

ALERT_LABELS = {
    "spike": "突增",
    "hot_word": "热词",
    "accused": "同一被反映人多次被举报",
    "repeat_informant": "重复举报人",
}
BAR_HEIGHT = 22
LABEL_WIDTH = 260
CHART_WIDTH = 720
MAX_BARS = 60


@dataclass(frozen=True)
class Bar:
    label: str
    count: int | str


def _svg_bars(bars: Sequence[Bar], title: str) -> Markup:
    """A horizontal bar chart: one bar per row, withheld counts drawn as a hatched stub "<5"."""
    shown = bars[:MAX_BARS]
    top = max((b.count for b in shown if isinstance(b.count, int)), default=1) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 70
    height = BAR_HEIGHT * len(shown) + 30
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{w}" height="{h}" '
            'viewBox="0 0 {w} {h}" aria-label="{t}"><title>{t}</title>'
            '<defs><pattern id="withheld" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="3" height="6" fill="#9aa5b1"/></pattern></defs>'
        ).format(w=CHART_WIDTH, h=height, t=title)
    ]
    for i, b in enumerate(shown):
        y = 10 + i * BAR_HEIGHT
        withheld = not isinstance(b.count, int)
        width = 12 if withheld else max(1, round(span * int(b.count) / top))
        parts.append(
            Markup(
                '<g class="bar{cls}"><text x="{lx}" y="{ty}" text-anchor="end" font-size="13">{label}</text>'
                '<rect x="{x}" y="{y}" width="{wd}" height="{bh}" fill="{fill}"/>'
                '<text x="{vx}" y="{ty}" font-size="13">{value}</text></g>'
            ).format(
                cls=" withheld" if withheld else "",
                lx=LABEL_WIDTH - 8,
                ty=y + BAR_HEIGHT - 8,
                label=b.label[:30],
                x=LABEL_WIDTH,
                y=y + 3,
                wd=width,
                bh=BAR_HEIGHT - 6,
                fill="url(#withheld)" if withheld else "#2f6fb0",
                vx=LABEL_WIDTH + width + 6,
                value=b.count,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


class StatsPages(PageBase):
    _places: dict[str, str] | None = None

    def _place_names(self) -> dict[str, str]:
        """Division code → name, made once (a province's jurisdiction has tens of thousands)."""
        if self._places is None:
            self._places = {u.division_code: u.division_name for u in self.ctx.pipeline.jurisdiction.units}
        return self._places

    def _value_label(self, name: str, value: Any) -> str:
        if value is None:
            return NONE_LABEL
        tree = self.ctx.workflow.tree
        labels: Mapping[str, str] = {
            "channel": CHANNEL_LABELS,
            "scope": SCOPE_LABELS,
            "level": LEVEL_LABELS,
            "priority": PRIORITY_LABELS,
            "status": STATUS_LABELS,
            "anonymous": {"anonymous": "匿名", "real_name": "实名"},
        }.get(name, {})
        if name in ("handling_unit", "receiving_unit", "owner_unit"):
            return tree.name(str(value))
        if name == "place":
            return self._place_names().get(str(value), str(value))
        return labels.get(str(value), str(value))

    def _row_label(self, table: StatsTable, row: Mapping[str, Any]) -> str:
        return " · ".join(self._value_label(n, row.get(n)) for n in table.by)

    @page
    async def stats(self, request: web.Request) -> web.StreamResponse:
        member, session = await self._member(request)
        q = request.query
        first, second = q.get("by1") or "", q.get("by2") or ""
        by_text = q.get("by") or ",".join(x for x in (first, second) if x) or "category"
        form = {"from": q.get("from", ""), "to": q.get("to", ""), "by": by_text}
        service = self.ctx.stats
        context: dict[str, Any] = {
            "form": form,
            "groupings": GROUPINGS,
            "grouping_labels": GROUPING_LABELS,
            "alert_labels": ALERT_LABELS,
            "withheld": SUPPRESSED,
            "place_names": {},
            "by_selected": (),
            "error": None,
        }
        status = 200
        try:
            by = parse_grouping(by_text)
            table = await service.table(
                member, by, start=parse_day(form["from"], "from"), end=parse_day(form["to"], "to")
            )
            alerts: Alerts = await service.alerts(member, on=table.end)
            context.update(await measures_context(self, member, q.get("period")))
        except IntakeError as exc:
            status = exc.status
            context.update(error=exc.message, table=None, alerts=[], chart=None, labels=[])
        else:
            labels = [self._row_label(table, r) for r in table.rows]
            names = {a.place: self._value_label("place", a.place) for a in alerts if a.place}
            context.update(
                table=table,
                labels=labels,
                alerts=alerts,
                place_names=names,
                by_selected=by,
                chart=_svg_bars(
                    [Bar(label, r["count"]) for label, r in zip(labels, table.rows, strict=True)],
                    f"按{'、'.join(GROUPING_LABELS[n] for n in by)}统计",
                )
                if table.rows
                else None,
            )
        return self._render(request, "stats.html", status, member=member, session=session, **context)
