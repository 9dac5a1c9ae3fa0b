"""``intake reports import``: an office's register in, identities sealed, bad rows reported by row
and column (never by value), idempotent and resumable, cases triaged and in the duplicate index."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from intake.errors import ValidationError
from intake.interchange import readers
from intake.interchange.importer import ImportService
from intake.interchange.mapping import load_mapping, parse_mapping
from intake.interchange.records import RowError
from intake.pipeline import Pipeline
from storage import models
from tests.interchange.conftest import Office
from tests.interchange.registers import HEADINGS, write_csv, write_xlsx


class FakeTriage:
    """At the seam: stores a triage result as the job would, without the child process."""

    def __init__(self, office: Office) -> None:
        self.office = office
        self.seen: list[str] = []

    async def triage_reports(self, case_nos: list[str]) -> list[Any]:
        out = []
        for c in case_nos:
            self.seen.append(c)
            await self.office.triaged(c)
            out.append({"duplicate_of": None, "sealed": False})
        return out


def service(o: Office, triage: Any = None, pipeline: Any = None) -> ImportService:
    s = o.services
    return ImportService(s.db, pipeline or s.pipeline, triage or FakeTriage(o), s.clock)


async def report_count(o: Office) -> int:
    n: int = await o.services.db.reports.count()
    return n


async def test_register_imports_with_bad_rows_listed_and_identities_sealed(
    office: Office, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="intake")
    reg = write_xlsx(tmp_path / "登记表.xlsx", 300, bad=12, seed=3)
    triage = FakeTriage(office)
    progress: list[int] = []
    summary = await service(office, triage).run(reg.path, progress=lambda p: progress.append(p.seen))

    assert summary.rows == 300
    assert summary.imported == 300 - 12
    assert {(e.row, e.column) for e in summary.errors} == set(reg.bad_rows.items())
    assert summary.triaged == 288 and len(triage.seen) == 288
    assert progress and progress[-1] == 300
    assert await report_count(office) == 288

    # Never a value in a reason: not the identities, not the bad cells.
    text = "\n".join(e.line() for e in summary.errors)
    for value in reg.identities:
        assert value not in text
    assert "去年秋天" not in text and "托人转交" not in text
    # Nor in the database's report rows or the logs.
    async with office.services.db.read_engine.connect() as conn:
        rows = (await conn.execute(sa.select(models.Report.__table__))).all()
        events = (await conn.execute(sa.select(models.ReportEvent.payload))).scalars().all()
        vault = (await conn.execute(sa.select(models.VaultEntry.kind, models.VaultEntry.report_id))).all()
    plain = "\n".join(map(str, rows)) + "\n".join(events) + caplog.text
    for value in reg.identities:
        assert value not in plain, "an identity value is stored or logged in plaintext"
    # Every informant's identity went to the vault; their details written in the text too.
    assert sum(1 for kind, _ in vault if kind == "identity") == 288
    assert any(kind == "in_text" for kind, _ in vault)
    assert all(r.informant_alias.startswith("检举人") and not r.anonymous for r in rows)
    await office.audit_ok()


async def test_channels_dates_and_statuses_are_kept(office: Office, tmp_path: Path) -> None:
    reg = write_xlsx(tmp_path / "r.xlsx", 60, seed=5)
    summary = await service(office).run(reg.path)
    assert summary.imported == 60
    by_case = await office.services.db.reports.get_many(summary.case_nos)
    channels = {r.channel for r in by_case.values()}
    assert channels <= {"letter", "visit", "web", "phone"} and {"letter", "visit"} <= channels
    statuses = {r.status for r in by_case.values()}
    assert statuses == {"closed", "registered"}  # a result means done; none means registered
    import openpyxl

    sheet = openpyxl.load_workbook(reg.path, read_only=True).worksheets[0]
    first = next(iter(sheet.iter_rows(min_row=2, max_row=2, values_only=True)))
    case = by_case[summary.case_nos[0]] if summary.case_nos else None
    assert case is not None
    events = await office.services.db.reports.events(case.id)
    imported = [json.loads(e.payload) for e in events if e.kind == "imported"]
    assert imported and imported[0]["row"] == 2 and imported[0]["source_case_no"] == first[0]
    assert case.received_at.astimezone().replace(tzinfo=None) is not None
    assert case.received_at.strftime("%Y") == str(first[1].year)
    assert case.case_no.startswith(f"{first[1].year}-")  # numbered in its own year


async def test_rerun_adds_nothing_and_a_crashed_run_resumes(office: Office, tmp_path: Path) -> None:
    reg = write_csv(tmp_path / "r.csv", 120, bad=4, seed=7)
    real = office.services.pipeline

    class Crashing:
        """The pipeline, failing for good after 50 reports (the process dies mid-import)."""

        def __init__(self) -> None:
            self.jurisdiction = real.jurisdiction
            self.calls = 0

        async def accept(self, sub: Any, **kw: Any) -> Any:
            self.calls += 1
            if self.calls > 50:
                raise RuntimeError("killed")
            return await Pipeline.accept(real, sub, **kw)

    with pytest.raises(RuntimeError):
        await service(office, pipeline=Crashing()).run(reg.path)
    first = await report_count(office)
    assert 0 < first <= 50 + 63  # what committed before the crash (up to the rows in flight)

    triage = FakeTriage(office)
    summary = await service(office, triage).run(reg.path)
    assert await report_count(office) == 116
    assert summary.imported == 116 - first and summary.skipped == first
    # The cases filed before the crash but never triaged are triaged on the resumed run.
    assert len(triage.seen) == 116

    again = await service(office).run(reg.path)
    assert again.imported == 0 and again.skipped == 116 and len(again.errors) == 4
    assert await report_count(office) == 116


async def test_mapping_file_and_gb18030_csv(office: Office, tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "收件时间,方式,写信人,手机,问题\n"
        "2021年3月5日,信件,赵大宝,13900001111,反映黄兴镇某村会计挪用集体资金。\n"
        "2021/4/6 10:20,上门,赵大宝,13900001111,反映黄兴镇某村主任违规建房。\n"
        "2021-05-07,传真,钱二,13900002222,反映某单位问题。\n",
        encoding="gb18030",
    )
    mapping_file = tmp_path / "map.json"
    mapping_file.write_text(
        json.dumps(
            {
                "columns": {
                    "收件时间": "received_at",
                    "方式": "channel",
                    "写信人": "reporter.name",
                    "手机": "reporter.phone",
                    "问题": "content",
                },
                "channels": {"上门": "visit"},
            },
            ensure_ascii=False,
        ),
        "utf-8",
    )
    summary = await service(office).run(path, load_mapping(mapping_file))
    assert summary.imported == 2
    assert [(e.row, e.column) for e in summary.errors] == [(4, "方式")]  # 传真 is no channel
    by_case = await office.services.db.reports.get_many(summary.case_nos)
    assert sorted(r.channel for r in by_case.values()) == ["letter", "visit"]
    # One person, two letters: the same pseudonym (the blind index), no rate limit on history.
    assert len({r.informant_alias for r in by_case.values()}) == 1


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([], "JSON 对象"),
        ({"columns": {}}, "columns"),
        ({"columns": {"内容": "body"}}, "字段不存在"),
        ({"columns": {"日期": "received_at"}}, "反映内容"),
        ({"columns": {"内容": "content"}, "channels": {"信": "fax"}}, "channels"),
        ({"columns": {"内容": "content"}, "extra": 1}, "不认识的键"),
    ],
)
def test_wrong_mappings_are_refused_clearly(doc: Any, needle: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_mapping(doc)
    assert err.value.code == "invalid_mapping" and needle in err.value.message and err.value.status == 422


def test_bad_files_are_refused_as_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 this is no workbook" * 10)
    not_zip = tmp_path / "text.xlsx"
    not_zip.write_text("登记日期,反映内容\n", "utf-8")
    no_workbook = tmp_path / "other.xlsx"
    with zipfile.ZipFile(no_workbook, "w") as z:
        z.writestr("hello.txt", "hi")
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\x00" * (8 * 1024 * 1024))
    monkeypatch.setattr(readers, "MAX_XLSX_UNPACKED", 1024 * 1024)
    for path in (corrupt, not_zip, no_workbook, bomb):
        with pytest.raises(readers.ImportFileError) as err:
            readers.open_rows(path, "xlsx")
        assert 400 <= err.value.status < 500, path
    assert "解压后过大" in _message(bomb, "xlsx")

    big = tmp_path / "big.csv"
    big.write_text("登记日期,反映内容\n" + "2021-01-01,内容\n" * 2000, "utf-8")
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 1000)
    assert "文件过大" in _message(big, "csv")
    with pytest.raises(readers.ImportFileError):
        readers.detect_format(tmp_path / "x.docx")


def _message(path: Path, fmt: str) -> str:
    with pytest.raises(readers.ImportFileError) as err:
        readers.open_rows(path, fmt)
    return err.value.message


async def test_interchange_lines_with_errors_by_line_and_field(office: Office, tmp_path: Path) -> None:
    good = {
        "channel": "letter",
        "received_at": "2022-03-04T09:30:00+08:00",
        "content": "反映某镇干部违规收受礼金。",
        "reporter": {"name": "孙小美", "phone": "13700003333"},
        "status": "closed",
        "history": [{"at": "2022-03-05T10:00:00+08:00", "event": "accepted"}],
    }
    lines = [
        json.dumps(good, ensure_ascii=False),
        "{not json",
        json.dumps({**good, "channel": "fax"}),
        json.dumps({**good, "reporter": {"name": "孙小美" * 40}}, ensure_ascii=False),
        json.dumps({k: v for k, v in good.items() if k != "content"}, ensure_ascii=False),
        json.dumps({**good, "secret_field": "孙小美"}, ensure_ascii=False),
        "",
        json.dumps({**good, "received_at": "2099-01-01T00:00:00Z"}, ensure_ascii=False),
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    summary = await service(office).run(path)
    assert summary.imported == 1
    assert [(e.row, e.column) for e in summary.errors] == [
        (2, ""),
        (3, "channel"),
        (4, "reporter.name"),
        (5, "content"),
        (6, "secret_field"),
        (8, "received_at"),
    ]
    text = "\n".join(e.line() for e in summary.errors)
    assert "孙小美" not in text and "13700003333" not in text and "fax" not in text
    (case_no,) = summary.case_nos
    report = await office.services.db.reports.get(case_no)
    assert report is not None and report.status == "closed" and report.channel == "letter"


def test_row_error_line_names_row_and_column() -> None:
    assert RowError(7, "身份证号", "号码有误。").line() == "第 7 行“身份证号”列：号码有误。"
    assert "信访人" in HEADINGS


async def test_a_case_filed_later_repeating_an_imported_one_is_found(office: Office, tmp_path: Path) -> None:
    """Real triage (the child process): the imported cases enter the duplicate index, both of a
    server started afterwards and of one already running (its index catches up on its own)."""
    import openpyxl

    from intake.domain import Submission
    from intake.triage_service import TriageService

    path = tmp_path / "r.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["登记日期", "来源", "信访人", "反映内容"])
    repeated = (
        "反映黄兴镇卫生院院长刘志强违规收受药品回扣，卫生院近两年采购的药品价格明显高于周边医院，"
        "部分供应商每月按采购金额的百分之十给刘志强返现。"
    )
    sheet.append(["2023-05-06", "来信", "周小红", repeated])
    sheet.append(
        ["2023-06-07", "来访", "吴大伟", "反映江背镇新屋村村委会主任陈立军在征地补偿中虚报面积，多领补偿款。"]
    )
    book.save(path)
    s = office.services
    running = TriageService(s.db, s.clock, s.pipeline.jurisdiction.document)
    try:
        # A server running before the import, with its index loaded.
        (case_before,) = (await office.file("反映某村会计挪用集体资金。"))[:1]
        await running.triage_reports([case_before])

        importer = TriageService(s.db, s.clock, s.pipeline.jurisdiction.document)
        try:
            summary = await ImportService(s.db, s.pipeline, importer, s.clock).run(path)
        finally:
            await importer.close()
        assert summary.imported == 2 and summary.triaged == 2
        imported_case = summary.case_nos[0]
        report = await s.db.reports.get(imported_case)
        assert report is not None and report.triage is not None and report.triage.get("signature")

        later = await s.pipeline.accept(Submission(channel="web", content="举报：" + repeated))
        import intake.triage_service as ts

        ts_refresh = ts.REFRESH_SECONDS
        ts.REFRESH_SECONDS = 0.0
        try:
            (found,) = await running.triage_reports([later.case_no])
        finally:
            ts.REFRESH_SECONDS = ts_refresh
        assert not isinstance(found, Exception)
        assert found["duplicate_of"] == imported_case
    finally:
        await running.close()

    fresh = TriageService(s.db, s.clock, s.pipeline.jurisdiction.document)
    try:
        again = await s.pipeline.accept(Submission(channel="app", content=repeated + "请调查。"))
        (found,) = await fresh.triage_reports([again.case_no])
        assert not isinstance(found, Exception) and found["duplicate_of"] in (imported_case, later.case_no)
    finally:
        await fresh.close()


def test_the_documented_mapping_example_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "register.mapping.json"
    mapping = load_mapping(example)
    assert mapping.columns["身份证号"] == "reporter.id_number" and mapping.channel_of("信件") == "letter"
    assert mapping.status_of("已归档") == "closed" and mapping.defaults == {"channel": "letter"}


def test_interchange_schema_bounds_are_the_field_limits_table() -> None:
    """``case.schema.json`` is a static document: its lengths must be the one table's."""
    from intake.interchange.records import interchange_schema
    from intake.limits import FIELD_LIMITS, MAX_CONTENT

    props = interchange_schema()["properties"]
    assert props["content"]["maxLength"] == MAX_CONTENT
    for name, limit in FIELD_LIMITS.items():
        part, _, field = name.rpartition(".")
        node = props[part]["properties"][field] if part else props[field]
        assert node["maxLength"] == limit, name
