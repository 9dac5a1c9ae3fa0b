"""Export of the cases in sight (staff API, console, command line): never identity, one audit event
per export, the interchange format valid against its schema, and an export that imports again."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from intake.domain import Accused, Reporter, Submission
from intake.interchange.exporter import ExportService
from intake.interchange.importer import ImportService
from intake.interchange.records import interchange_schema
from server.config import Settings
from tests.console.conftest import console_login
from tests.interchange.conftest import Office
from tests.interchange.test_import import FakeTriage
from tests.workflow.conftest import open_office

SECRET_NAME = "欧阳明珠"
SECRET_PHONE = "13912345678"
SECRET_ID = "430121199001011234"


async def file_case(o: Office, content: str, *, channel: str = "web", named: bool = True) -> str:
    sub = Submission(
        channel=channel,
        content=content,
        accused=Accused("张德福", "黄兴镇某村", "村支书"),
        reporter=Reporter(SECRET_NAME, SECRET_ID, SECRET_PHONE, "星沙镇某小区") if named else Reporter(),
        anonymous=not named,
    )
    receipt = await o.services.pipeline.accept(sub)
    return receipt.case_no


async def export_events(o: Office) -> list[dict[str, Any]]:
    out = []
    async for e in o.services.db.audit.iter_events():
        if e.kind == "cases_exported":
            out.append({"actor": e.actor, **json.loads(e.payload)})
    return out


async def test_api_export_in_scope_never_identity_and_audited(office: Office) -> None:
    county = await file_case(office, f"我叫{SECRET_NAME}，电话{SECRET_PHONE}。反映村支书张德福优亲厚友。")
    town = await file_case(office, "反映黄兴镇某村会计挪用资金。")
    # The town's case belongs to the township once transferred down; until then the county owns both.
    await office.triaged(county)
    await office.triaged(town, unit={"id": "430121102", "name": "黄兴镇纪委"})
    await office.login("county_reg")
    await office.login("town_officer")
    await office.login("county_sup")

    async def export(name: str, query: str) -> tuple[int, bytes, Any]:
        resp = await office.client.get(f"/api/v1/staff/reports/export?{query}", headers=office.auth(name))
        return resp.status, await resp.read(), resp.headers

    status, body, headers = await export("county_reg", "format=jsonl")
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in headers["Content-Disposition"] and headers["Cache-Control"] == "no-store"
    records = [json.loads(line) for line in body.decode().splitlines()]
    assert {r["case_no"] for r in records} == {county, town} and headers["X-Export-Count"] == "2"
    for r in records:
        jsonschema.validate(r, interchange_schema())
        assert "reporter" not in r and r["informant"].startswith("检举人")
    text = body.decode()
    for secret in (SECRET_NAME, SECRET_PHONE, SECRET_ID, "星沙镇某小区"):
        assert secret not in text

    # The township's officer sees none of the county's cases (they own none).
    status, body, _ = await export("town_officer", "format=csv")
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["案件编号", "登记日期", "来源"] and len(rows) == 1

    # Selected cases only; XLSX that a spreadsheet opens.
    import openpyxl

    status, body, _ = await export("county_sup", f"format=xlsx&cases={county}")
    assert status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    got = list(sheet.iter_rows(values_only=True))
    assert len(got) == 2 and got[1][0] == county
    assert not any(s in str(got) for s in (SECRET_NAME, SECRET_PHONE, SECRET_ID))

    events = await export_events(office)
    assert [(e["actor"], e["format"], e["cases"]) for e in events] == [
        ("staff:county_reg", "jsonl", 2),
        ("staff:town_officer", "csv", 0),
        ("staff:county_sup", "xlsx", 1),
    ]
    await office.audit_ok()


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 422, "field_required"),
        ("format=pdf", 422, "invalid_format"),
        ("format=csv&status=nope", 422, "invalid_status"),
        ("format=csv&cases=a,,b", 422, "invalid_field"),
        ("format=csv&cases=" + ",".join(["x"] * 201), 422, "invalid_field"),
    ],
)
async def test_api_export_bad_queries_are_4xx(office: Office, query: str, status: int, code: str) -> None:
    await office.login("county_reg")
    resp = await office.client.get(f"/api/v1/staff/reports/export?{query}", headers=office.auth("county_reg"))
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code


async def test_api_export_needs_a_login(office: Office) -> None:
    resp = await office.client.get("/api/v1/staff/reports/export?format=csv")
    assert resp.status == 401


async def test_console_export_buttons(office: Office) -> None:
    case_no = await file_case(office, "反映村支书张德福违规发放补贴。")
    await console_login(office, "county_reg")
    resp = await office.client.get("/console/cases", headers={"Accept": "text/html"})
    html = await resp.text()
    assert 'id="export-xlsx"' in html and 'id="export-csv"' in html and 'id="export-jsonl"' in html
    assert f'name="case_no" value="{case_no}" form="export-form"' in html
    resp = await office.client.get(f"/console/cases/export?format=csv&case_no={case_no}")
    assert resp.status == 200 and resp.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == [case_no]
    resp = await office.client.get("/console/cases/export?format=doc", headers={"Accept": "text/html"})
    assert resp.status == 422


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "xlsx"])
async def test_export_round_trips_through_the_import(
    office: Office, aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path, fmt: str
) -> None:
    """Cases exported by one office import into another as the same cases (content, channel,
    dates, status), and that office's export of them says the same."""
    await file_case(office, "反映村支书张德福优亲厚友，把低保给了亲属。", channel="letter")
    await file_case(office, "=SUM(A1) 反映某单位公款吃喝。", channel="visit", named=False)
    await file_case(office, "反映黄兴镇卫生院院长收受回扣。", channel="phone")
    names = {u.code: u.name for u in office.services.pipeline.jurisdiction.units}

    async def export_from(o: Office, path: Path) -> None:
        with path.open("wb") as f:
            await ExportService(o.services.db, o.services.clock, names).export(
                fmt, f, actor="test", units=None
            )

    first = tmp_path / f"a.{fmt}"
    await export_from(office, first)

    other = await open_office(aiohttp_client, make_settings(INTAKE_DATA_DIR=str(tmp_path / "b")))
    s = other.services
    summary = await ImportService(s.db, s.pipeline, FakeTriage(other), s.clock).run(first)
    assert summary.imported == 3 and not summary.errors, [e.line() for e in summary.errors]
    second = tmp_path / f"b.{fmt}"
    await export_from(other, second)

    def essentials(path: Path) -> list[tuple[Any, ...]]:
        rows = _records(path, fmt)
        return sorted((r["channel"], r["received_at"], r["status"], r["content"]) for r in rows)

    assert essentials(first) == essentials(second)
    # And importing the same file again adds nothing.
    again = await ImportService(s.db, s.pipeline, FakeTriage(other), s.clock).run(first)
    assert again.imported == 0 and again.skipped == 3


def _records(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [
            {k: r[k] for k in ("channel", "received_at", "status", "content")}
            for r in map(json.loads, path.read_text("utf-8").splitlines())
        ]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    else:
        import openpyxl

        rows = [
            ["" if v is None else str(v) for v in row]
            for row in openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)
        ]
    head = rows[0]
    return [
        {
            "channel": r[head.index("来源")],
            "received_at": r[head.index("登记日期")],
            "status": r[head.index("办理状态")],
            "content": r[head.index("反映内容")],
        }
        for r in rows[1:]
    ]


async def test_export_pages_through_every_case_once(office: Office) -> None:
    """Keyset pages (received time, then case number: these share one time on the test clock)."""
    filed = [await file_case(office, f"反映第{i}件事：某村会计挪用资金。", named=False) for i in range(7)]
    got = [c.case_no async for c in office.services.db.exports.cases(units=None, page=2)]
    assert got == sorted(filed)
    scoped = [c.case_no async for c in office.services.db.exports.cases(units=["430121102"], page=2)]
    assert scoped == []
