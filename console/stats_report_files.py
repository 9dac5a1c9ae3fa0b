"""The periodic report upward (向上报送) as files: a print-ready A4 PDF (reportlab, its built-in
CID font STSong-Light for the Chinese, so no font file ships with us) and an XLSX of the same
figures, one sheet per section. The figures are :class:`intake.stats_report.PeriodicReport`'s,
already suppressed; this module only lays them out, in Chinese."""

from __future__ import annotations

import io
from typing import IO, Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from console.stats_export import COUNT_HEADING, GROUPING_LABELS, Labels, write_xlsx
from intake.clock import CHINA
from intake.stats_measures import Measure
from intake.stats_report import PeriodicReport

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=24, alignment=1, spaceAfter=6)
HEADING = ParagraphStyle(
    "heading", fontName=FONT, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4, keepWithNext=1
)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=15)
SECTIONS = (
    ("channel", "二、来源渠道"),
    ("category", "三、反映问题类别"),
    ("status", "五、办理情况"),
    ("owner_unit", "六、各单位收件"),
)
MEASURE_HEADINGS = ["指标", "本期", "上期", "环比", "去年同期", "同比"]
MEASURE_WIDTHS = [w * mm for w in (46, 20, 20, 31, 22, 31)]


def title(report: PeriodicReport, labels: Labels) -> str:
    return f"{labels.unit(report.unit)}信访举报{report.period.name}统计报表"


def shown(kind: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value}%" if kind == "rate" else str(value)


def change(kind: str, value: float | None) -> str:
    if value is None:
        return "—"
    unit = {"count": "%", "rate": "个百分点", "days": "天"}[kind]
    return f"{value:+.1f}{unit}"


def measure_rows(report: PeriodicReport) -> list[list[Any]]:
    rows: list[list[Any]] = [MEASURE_HEADINGS]
    m: Measure
    for m in report.measures.measures:
        rows.append(
            [
                m.label,
                shown(m.kind, m.value),
                shown(m.kind, m.previous.value),
                change(m.kind, m.previous.change),
                shown(m.kind, m.year_ago.value),
                change(m.kind, m.year_ago.change),
            ]
        )
    return rows


def section_rows(report: PeriodicReport, name: str, labels: Labels) -> list[list[Any]]:
    table = report.tables[name]
    rows: list[list[Any]] = [[GROUPING_LABELS[name], COUNT_HEADING]]
    rows += [[labels.value(name, r.get(name)), r["count"]] for r in table.rows]
    rows.append(["合计", table.total])
    return rows


def accused_rows(report: PeriodicReport) -> list[list[Any]]:
    return [["被反映单位", COUNT_HEADING]] + [[u, n] for u, n in report.accused_units]


def intro(report: PeriodicReport, labels: Labels) -> list[str]:
    p = report.period
    total = report.measures.get("reports")
    made = report.made_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    return [
        f"统计范围：{labels.unit(report.unit)}及其所辖单位，{p.start} 至 {p.end}（北京时间）收到的信访举报。",
        f"收件 {shown('count', total.value)} 件，环比 {change('count', total.previous.change)}，"
        f"同比 {change('count', total.year_ago.change)}。",
        f"少于 {report.min_cell} 件的数字及据以推算的数字不显示，记作“<5”；用时按自然日计。"
        f"依据《信访工作条例》第四十一条。生成时间：{made}。",
    ]


def _table(rows: list[list[Any]], widths: list[float]) -> Table:
    t = Table([[str(c) for c in r] for r in rows], colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return t


def render_pdf(report: PeriodicReport, labels: Labels) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title(report, labels),
        author=labels.unit(report.unit),
    )
    story: list[Any] = [Paragraph(title(report, labels), TITLE)]
    story += [Paragraph(line, BODY) for line in intro(report, labels)]
    story += [
        Paragraph("一、办理质效与同比、环比", HEADING),
        _table(measure_rows(report), MEASURE_WIDTHS),
    ]
    for name, heading in SECTIONS[:2]:
        story += [
            Paragraph(heading, HEADING),
            _table(section_rows(report, name, labels), [110 * mm, 40 * mm]),
        ]
    story.append(Paragraph("四、被反映较多的单位", HEADING))
    if report.accused_units:
        story.append(_table(accused_rows(report), [110 * mm, 40 * mm]))
    else:
        story.append(Paragraph(f"没有被反映 {report.min_cell} 件以上的单位。", BODY))
    for name, heading in SECTIONS[2:]:
        story += [
            Paragraph(heading, HEADING),
            _table(section_rows(report, name, labels), [110 * mm, 40 * mm]),
        ]
    story.append(Spacer(1, 6 * mm))
    doc.build(story)
    return out.getvalue()


def render_xlsx(report: PeriodicReport, labels: Labels) -> IO[bytes]:
    sheets = [
        ("概况", [[title(report, labels)], *[[line] for line in intro(report, labels)]]),
        ("办理质效", measure_rows(report)),
        *[(heading[2:], section_rows(report, name, labels)) for name, heading in SECTIONS],
        ("被反映较多的单位", accused_rows(report)),
    ]
    return write_xlsx(sheets)
