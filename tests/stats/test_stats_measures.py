"""Measures beyond counts, the export of a table and the periodic report (issue 18 §1, §6), over
the staff API on SQLite and PostgreSQL, with reports filed and handled through the app
(:mod:`tests.stats.handled`): hand-computed figures, suppression, files that read back equal to
the JSON, and the 4xx for bad input."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import statistics
from contextlib import redirect_stderr, redirect_stdout
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from intake.stats_measures import MEASURES, parse_period, previous, year_ago
from server.cli import main
from storage.stats_rollup import days_bin, sql_days_bin
from storage.tables import CD
from tests.console.conftest import console_get, console_login
from tests.stats.handled import EXPECTED, TOWN, Handled, handle
from tests.workflow.conftest import Office

pytestmark = pytest.mark.asyncio
SHOTS = os.environ.get("INTAKE_SCREENSHOT_DIR")


@pytest.fixture
async def handled(office: Office) -> Handled:
    return await handle(office)


async def raw(o: Office, who: str, path: str) -> tuple[int, bytes, Any]:
    resp = await o.client.get(path, headers=o.auth(who))
    return resp.status, await resp.read(), resp.headers


async def events(o: Office, kind: str) -> list[Any]:
    return [e async for e in o.services.db.audit.iter_events() if e.kind == kind]


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in doc["measures"]}


async def overdue_expected(o: Office, case_nos: list[str], today: date) -> float:
    """Straight from the deadlines table: a case is late when one of its deadlines was met after
    its day (China date) or is open past it."""
    late = with_deadline = 0
    async with o.services.db.read_engine.connect() as conn:
        for case_no in case_nos:
            report = await o.services.db.reports.get(case_no)
            rows = (
                await conn.execute(
                    sa.select(CD).where(CD.c.report_id == report.id, CD.c.status != "cancelled")
                )
            ).all()
            if not rows:
                continue
            with_deadline += 1
            late += any(
                (d.status == "open" and d.due_on < today)
                or (d.status == "met" and (d.closed_at + timedelta(hours=8)).date() > d.due_on)
                for d in rows
            )
    assert with_deadline > 0
    return round(100 * late / with_deadline, 1)


async def test_periods() -> None:
    q3 = parse_period("2026Q3")
    assert (q3.start, q3.end, q3.name) == (date(2026, 7, 1), date(2026, 9, 30), "2026年第3季度")
    assert previous(q3).label == "2026Q2" and year_ago(q3).label == "2025Q3"
    assert previous(parse_period("2026Q1")).label == "2025Q4"
    assert previous(parse_period("2026-01")).label == "2025-12"
    assert parse_period("2026-02").end == date(2026, 2, 28)
    assert previous(parse_period("2026")).label == "2025"


async def test_measures_are_the_hand_computed_ones(handled: Handled) -> None:
    o = handled.office
    await o.login("county_sup")
    status, doc = await o.get("county_sup", "/api/v1/staff/stats/measures?period=2025Q3")
    assert status == 200, doc
    assert (doc["period"], doc["from"], doc["to"], doc["days"]) == (
        "2025Q3",
        "2025-07-01",
        "2025-09-30",
        "calendar",
    )
    m = by_name(doc)
    assert {k: m[k]["value"] for k in EXPECTED} == EXPECTED
    assert m["accept_days_median"]["cases"] == 9 and m["close_days_mean"]["cases"] == 5
    assert m["satisfaction_rate"]["cases"] == 5
    expected_overdue = await overdue_expected(o, handled.q3, date(2025, 10, 10))
    assert m["overdue_rate"]["value"] == expected_overdue
    # 环比 (2025Q2: 6 reports, all anonymous, none handled) and 同比 (2024Q3: 5 reports).
    assert m["reports"]["previous"] == {"period": "2025Q2", "value": 6, "change": 100.0}
    assert m["reports"]["year_ago"] == {"period": "2024Q3", "value": 5, "change": 140.0}
    assert m["real_name_rate"]["previous"] == {"period": "2025Q2", "value": 0.0, "change": 50.0}
    assert m["accept_days_mean"]["previous"] == {"period": "2025Q2", "value": None, "change": None}
    # One township's subtree: two transferred reports, under the threshold: withheld.
    status, doc = await o.get("county_sup", f"/api/v1/staff/stats/measures?period=2025Q3&unit={TOWN}")
    assert status == 200, doc
    m = by_name(doc)
    assert m["reports"]["value"] == "<5" and m["reports"]["cases"] == "<5"
    assert m["transfer_rate"]["value"] == "<5" and m["repeat_rate"]["value"] == "<5"
    assert m["reports"]["previous"]["change"] is None
    # The current period counts up to today.
    status, doc = await o.get("county_sup", "/api/v1/staff/stats/measures?period=2025Q4")
    assert status == 200 and doc["to"] == "2025-10-10" and by_name(doc)["reports"]["value"] == 0


async def test_measures_bad_input(handled: Handled) -> None:
    o = handled.office
    await o.login("county_sup")
    for query, status_, code in [
        ("period=2025Q5", 422, "invalid_period"),
        ("period=2025-13", 422, "invalid_period"),
        ("period=next", 422, "invalid_period"),
        ("", 422, None),
        ("period=2026Q1", 422, "future_period"),
        ("period=2025Q3&unit=4301", 403, "unit_out_of_scope"),
    ]:
        status, body = await o.get("county_sup", f"/api/v1/staff/stats/measures?{query}")
        assert status == status_, (query, body)
        assert code is None or body["error"]["code"] == code, (query, body)


async def test_exports_read_back_equal_to_the_json(handled: Handled) -> None:
    o = handled.office
    await o.login("county_sup")
    query = "by=owner_unit,anonymous&from=2025-07-01&to=2025-09-30"
    _, doc = await o.get("county_sup", f"/api/v1/staff/stats?{query}")
    counts = [r["count"] for r in doc["rows"]]
    assert "<5" in counts  # the township's two reports, and what would give them away
    status, body, headers = await raw(o, "county_sup", f"/api/v1/staff/stats/export?format=csv&{query}")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"] and headers["X-Export-Count"] == str(len(counts))
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["所属单位", "实名/匿名", "件数"]
    assert [r[-1] for r in rows[1:-1]] == [str(c) for c in counts]
    assert rows[-1] == ["合计", "", str(doc["total"])]
    assert {r[0] for r in rows[1:-1]} == {"长沙县纪委监委", "黄兴镇纪委"} or "黄兴镇" in str(rows)
    assert {r[1] for r in rows[1:-1]} <= {"实名", "匿名"}

    status, body, headers = await raw(o, "county_sup", f"/api/v1/staff/stats/export?format=xlsx&{query}")
    assert status == 200 and "spreadsheetml" in headers["Content-Type"]
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    cells = [[("" if v is None else v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == rows[0]
    assert [r[-1] for r in cells[1:-1]] == counts and cells[-1][-1] == doc["total"]
    assert [[str(v) for v in r] for r in cells] == rows

    for q, code in [("format=pdf", "invalid_format"), ("format=csv&by=colour", "unknown_grouping")]:
        status, body, _ = await raw(o, "county_sup", f"/api/v1/staff/stats/export?{q}")
        assert status == 422 and code.encode() in body, body
    exported = await events(o, "stats_exported")
    assert len(exported) == 2 and exported[0].actor == "staff:county_sup"


def pdf_text(data: bytes) -> str:
    pdf = pypdfium2.PdfDocument(data)
    return "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


async def test_report_pdf_and_xlsx_hold_the_figures(handled: Handled) -> None:
    o = handled.office
    await o.login("county_sup")
    status, body, headers = await raw(o, "county_sup", "/api/v1/staff/stats/report?period=2025Q3&format=pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf" and body.startswith(b"%PDF")
    text = pdf_text(body).replace("\r", "").replace("\n", "")
    if SHOTS:  # each page as PNG, to look at (INTAKE_SCREENSHOT_DIR)
        pages = pypdfium2.PdfDocument(body)
        for i in range(len(pages)):
            pages[i].render(scale=1.3).to_pil().save(f"{SHOTS}/report-{i}.png")
    assert "长沙县纪委监委信访举报2025年第3季度统计报表" in text
    assert "收件 12 件，环比 +100.0%，同比 +140.0%" in text
    for figure in (
        "受理用时中位数（自然日）",
        "80.0%",
        "16.7%",
        "8.3%",
        "50.0%",
        "+50.0个百分点",
        "2.0",
        "10.0",
    ):
        assert figure in text, figure
    assert "来源渠道" in text and "被反映较多的单位" in text and "黄兴镇某村" in text

    status, body, _ = await raw(o, "county_sup", "/api/v1/staff/stats/report?period=2025Q3&format=xlsx")
    assert status == 200
    book = load_workbook(io.BytesIO(body), read_only=True)
    sheet = book["办理质效"]
    rows = {r[0]: r for r in sheet.iter_rows(values_only=True)}
    assert rows["收件量（件）"][1:4] == ("12", "6", "+100.0%")
    assert rows["满意率（%）"][1] == "80.0%"
    accused = list(book["被反映较多的单位"].iter_rows(values_only=True))
    assert accused[1] == ("黄兴镇某村", 12)

    for q, status_, code in [
        ("period=2025Q4", 422, "period_not_ended"),
        ("period=2025Q9", 422, "invalid_period"),
        ("period=2025Q3&unit=999999", 422, "unknown_unit"),
        ("period=2025Q3&unit=4301", 403, "unit_out_of_scope"),
        ("period=2025Q3&format=doc", 422, "invalid_format"),
    ]:
        status, body, _ = await raw(o, "county_sup", f"/api/v1/staff/stats/report?{q}")
        assert status == status_ and code.encode() in body, (q, body)
    assert len(await events(o, "stats_report_made")) == 2  # the two good ones, not the refused


async def test_the_report_command(
    handled: Handled, data_dir: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``intake stats report`` on the office's database: a PDF and an XLSX by the extension, and
    exit 2 with a Chinese message for bad input. (The command runs on the system clock: 2025Q3
    has ended long since.)"""
    monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("INTAKE_DATABASE_URL", db_url)
    monkeypatch.setenv("INTAKE_JURISDICTION_FILE", str(tmp_path / "jurisdiction.json"))
    monkeypatch.setenv("INTAKE_LOG_LEVEL", "WARNING")

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["stats", "report", *args])
        return code, out.getvalue(), err.getvalue()

    pdf = tmp_path / "q3.pdf"
    code, out, err = await asyncio.to_thread(run, "--unit", "430121", "--period", "2025Q3", "--out", str(pdf))
    assert code == 0, err
    assert "已生成报表" in out
    text = pdf_text(pdf.read_bytes()).replace("\r", "").replace("\n", "")
    assert "长沙县纪委监委信访举报2025年第3季度统计报表" in text and "收件 12 件" in text
    xlsx = tmp_path / "q3.xlsx"
    code, _, err = await asyncio.to_thread(run, "--unit", "430121", "--period", "2025Q3", "--out", str(xlsx))
    assert code == 0, err
    rows = {r[0]: r for r in load_workbook(xlsx, read_only=True)["办理质效"].iter_rows(values_only=True)}
    assert rows["收件量（件）"][1] == "12" and rows["实名举报占比（%）"][1] == "50.0%"
    for args, message in [
        (("--unit", "999999", "--period", "2025Q3", "--out", str(pdf)), "单位代码不存在"),
        (("--unit", "430121", "--period", "2025Q7", "--out", str(pdf)), "期间格式无效"),
        (("--unit", "430121", "--period", "2099", "--out", str(pdf)), "尚未结束"),
        (("--unit", "430121", "--period", "2025Q3", "--out", str(tmp_path / "q3.doc")), "扩展名"),
    ]:
        code, _, err = await asyncio.to_thread(run, *args)
        assert code == 2 and message in err, (args, err)


async def test_console_shows_measures_exports_and_reports(handled: Handled) -> None:
    o = handled.office
    await console_login(o, "county_sup")
    status, html = await console_get(
        o, "/console/stats?period=2025Q3&from=2025-07-01&to=2025-09-30&by1=channel"
    )
    assert status == 200, html
    measures = html[html.index('id="measures"') : html.index('id="alerts"')]
    assert "办理质效（2025Q3）" in measures and "满意率（%）" in measures and "80.0" in measures
    assert "+100.0" in measures and "+140.0" in measures
    assert (
        'href="/console/stats/export?format=csv&amp;by=channel&amp;from=2025-07-01&amp;to=2025-09-30"' in html
    )
    assert 'href="/console/stats/reports"' in html
    resp = await o.client.get("/console/stats/export?format=csv&by=channel&from=2025-07-01&to=2025-09-30")
    assert resp.status == 200 and (await resp.read()).decode("utf-8-sig").splitlines()[1] == "网上举报,12"
    status, html = await console_get(o, "/console/stats?period=2025Q9")
    assert status == 200 and 'id="measures-error"' in html and "期间格式无效" in html

    status, html = await console_get(o, "/console/stats/reports")
    assert status == 200 and "定期报表（向上报送）" in html and "长沙县纪委监委" in html
    assert 'href="/console/stats/report?period=2025Q3&amp;format=pdf"' in html
    assert 'href="/console/stats/report?period=2025-09&amp;format=xlsx"' in html
    assert "2025Q4" not in html  # not ended on 2025-10-10
    resp = await o.client.get("/console/stats/report?period=2025Q3&format=pdf")
    assert resp.status == 200 and (await resp.read()).startswith(b"%PDF")
    status, html = await console_get(o, "/console/stats/report?period=2025Q4&format=pdf")
    assert status == 422 and "尚未结束" in html


async def test_days_are_binned_alike_in_python_and_sql() -> None:
    """The roll-up's bins (tenths of a day below 10 days, days below 100, ten days beyond), at
    and around each edge, the same from :func:`days_bin` and from its SQL (run by SQLite)."""
    edges = [0, 4319, 4320, 8640, 859_679, 859_680, 864_000, 8_596_799, 8_596_800, 9_000_000, 40_000_000]
    seconds = sorted({max(0, s + d) for s in edges for d in (-1, 0, 1)})
    con = sqlite3.connect(":memory:")
    try:
        sql = [int(con.execute(f"SELECT {sql_days_bin(str(s))}").fetchone()[0]) for s in seconds]
    finally:
        con.close()
    assert sql == [days_bin(s) for s in seconds]
    assert [days_bin(s) for s in (0, 4319, 4320, 86400, 859_679, 859_680, 8_596_800)] == [
        0,
        0,
        1,
        10,
        99,
        100,
        1000,
    ]
    assert (
        days_bin(15 * 86400) == 150 and days_bin(int(15.4 * 86400)) == 150 and days_bin(250 * 86400) == 2500
    )


async def test_the_median_of_the_bins_is_the_median_of_the_binned_times() -> None:
    """Odd and even counts, bins of many: as :func:`statistics.median` over each time binned."""
    median = next(m for m in MEASURES if m.name == "accept_days_median").compute
    for bins in ({"10": 3}, {"10": 2, "40": 2}, {"5": 1, "10": 1, "40": 5, "100": 1}, {"0": 4, "1000": 3}):
        times = [int(t) / 10 for t, n in bins.items() for _ in range(n)]
        sums: dict[str, dict[str, int]] = {"accept_days": bins}
        assert median(sums, date(2026, 1, 1)) == (round(statistics.median(times), 1), len(times))
