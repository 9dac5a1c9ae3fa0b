"""What the pipeline hands back and what it files (found by mutation testing, issue 23): the receipt
and its signature over the stored text, the receipt window, the stored fields, formats and jobs,
the receiving unit an entry point names, the informant's blind indexes, imported historical cases,
and the counters and log lines operators read."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from intake.domain import Accused, ImportedCase, Location, Receipt, Reporter, Submission, Upload
from intake.errors import Conflict, RateLimited, ValidationError
from intake.jobs import JobWorker, builtin_handlers
from intake.metrics import Metrics
from intake.pipeline import Pipeline
from intake.receipts import received_text
from server.app import build_app, services_of
from server.config import Settings
from storage import models
from tests.pipeline_support import CONTENT, Clock

R = models.Report.__table__
J = models.Job.__table__


@pytest.fixture
async def office(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> tuple[Any, Clock]:
    """On SQLite and on PostgreSQL (the ``db_url`` fixture)."""
    clock = Clock()
    settings = make_settings(INTAKE_REPORTS_PER_INFORMANT_PER_HOUR="2", INTAKE_DATABASE_URL=db_url)
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return services_of(client.app), clock


def sub(**kw: Any) -> Submission:
    return Submission(**({"channel": "web", "content": CONTENT} | kw))


async def _row(s: Any, case_no: str) -> Any:
    async with s.db.read_engine.connect() as conn:
        return (await conn.execute(sa.select(R).where(R.c.case_no == case_no))).one()


async def _jobs(s: Any, report_id: uuid.UUID) -> list[tuple[str, datetime]]:
    async with s.db.read_engine.connect() as conn:
        rows = (await conn.execute(sa.select(J.c.kind, J.c.payload, J.c.run_after).order_by(J.c.id))).all()
    return [(r.kind, r.run_after) for r in rows if r.payload["report_id"] == str(report_id)]


async def _received_payload(s: Any, case_no: str) -> dict[str, Any]:
    report = await s.db.reports.get(case_no)
    (first, *_) = await s.db.reports.events(report.id)
    assert first.kind == "received"
    payload: dict[str, Any] = json.loads(first.payload)
    return payload


def _blob_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "blobs").rglob("*.bin"))


def _count(s: Any, name: str, **labels: str) -> float:
    return s.pipeline.metrics.registry.get_sample_value(name, labels) or 0.0


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "intake.pipeline" and r.getMessage() == message]


# --- the receipt ------------------------------------------------------------------------------------


async def test_the_receipt_is_signed_over_the_stored_text_and_a_retry_gets_it_again(
    office: tuple[Any, Clock],
) -> None:
    s, clock = office
    receipt = await s.pipeline.accept(sub(title="标题", external_id="k-1", receiving_unit="430121102"))
    report = await s.db.reports.get(receipt.case_no)
    assert receipt.case_no.startswith("2026-430121102-")
    assert (receipt.channel, receipt.status, receipt.received_at, receipt.created) == (
        "web",
        "received",
        clock.at,
        True,
    )
    signed = receipt.signed
    assert signed is not None
    stored_text = f"{report.title}\n{report.content}"
    assert (signed.case_no, signed.unit, signed.received_at, signed.sha256) == (
        receipt.case_no,
        "430121102",
        received_text(clock.at),
        hashlib.sha256(stored_text.encode()).hexdigest(),
    )
    assert s.pipeline.receipts.check(asdict(signed)) is None
    # A retry: the same receipt, signature and all, marked as not created.
    clock.at += timedelta(minutes=1)
    again = await s.pipeline.accept(sub(title="标题", external_id="k-1", receiving_unit="430121102"))
    assert again == replace(receipt, created=False)
    with pytest.raises(Conflict) as raised:
        await s.pipeline.accept(sub(title="另一个标题", external_id="k-1", receiving_unit="430121102"))
    assert (raised.value.code, str(raised.value)) == (
        "idempotency_key_reused",
        "这个幂等键已用于另一份不同内容的举报。",
    )


async def test_a_retry_after_the_receipt_window_finds_the_case_but_no_code(office: tuple[Any, Clock]) -> None:
    s, clock = office
    first = await s.pipeline.accept(sub(external_id="k-2"))
    report = await s.db.reports.get(first.case_no)
    assert await _jobs(s, report.id) == [
        ("triage", clock.at),
        ("expire_receipt", clock.at + timedelta(hours=24)),
    ]
    worker = JobWorker(s.db, clock, Metrics())
    for kind, handler in builtin_handlers(s.db).items():
        worker.register(kind, handler)
    clock.at += timedelta(hours=24)
    await worker.run_once()
    again = await s.pipeline.accept(sub(external_id="k-2"))
    assert (again.case_no, again.query_code, again.created) == (first.case_no, None, False)
    assert again.signed == first.signed
    # The informant's own code still finds the case.
    assert (await s.pipeline.status(first.query_code, "c")).case_no == first.case_no


async def test_a_report_without_a_key_has_only_its_triage_job(office: tuple[Any, Clock]) -> None:
    s, clock = office
    receipt = await s.pipeline.accept(sub())
    report = await s.db.reports.get(receipt.case_no)
    assert await _jobs(s, report.id) == [("triage", clock.at)]
    assert (await _row(s, receipt.case_no)).receipt_sealed is None


# --- what is stored ---------------------------------------------------------------------------------


async def test_the_reports_fields_and_its_evidence_are_stored(
    office: tuple[Any, Clock], data_dir: Path
) -> None:
    s, _ = office
    receipt = await s.pipeline.accept(
        sub(
            title="低保问题",
            category="群众纪律",
            accused=Accused("张三", "金凤村村委会", "村支书"),
            location=Location("430121102", "金凤村"),
            attachments=[Upload("证据.png", "image/png", b"\x89PNG-evidence")],
        )
    )
    report = await s.db.reports.get(receipt.case_no)
    assert (report.title, report.content, report.category) == ("低保问题", CONTENT, "群众纪律")
    assert (report.accused_name, report.accused_unit, report.accused_position) == (
        "张三",
        "金凤村村委会",
        "村支书",
    )
    assert (report.location_code, report.location_text) == ("430121102", "金凤村")
    assert (report.receiving_unit, report.handling_unit, report.status) == ("430121", None, "received")
    [stored] = await s.db.workflow.attachments(report.id)
    blob = s.db.blobs.get(stored.id)
    assert (blob.filename, blob.content_type, blob.data) == ("证据.png", "image/png", b"\x89PNG-evidence")
    assert len(_blob_files(data_dir)) == 1


async def test_a_retrys_own_copy_of_the_attachments_is_discarded(
    office: tuple[Any, Clock], data_dir: Path
) -> None:
    s, _ = office
    evidence = [Upload("证据.png", "image/png", b"\x89PNG-evidence")]
    first = await s.pipeline.accept(sub(external_id="k-3", attachments=evidence))
    again = await s.pipeline.accept(sub(external_id="k-3", attachments=evidence))
    assert not again.created
    [stored] = await s.db.workflow.attachments((await s.db.reports.get(first.case_no)).id)
    assert [p.stem for p in _blob_files(data_dir)] == [stored.id.hex]


async def test_a_filing_that_fails_leaves_no_attachment_behind(
    office: tuple[Any, Clock], data_dir: Path
) -> None:
    """A history payload that is not JSON (an importer's fault) fails the transaction."""
    s, clock = office
    bad = ImportedCase("file:1", clock.at, "closed", "import:li", (("note", clock.at, {"x": object()}),))
    with pytest.raises(TypeError, match="JSON serializable"):
        await s.pipeline.accept(sub(attachments=[Upload("a.png", "image/png", b"x")]), imported=bad)
    assert _blob_files(data_dir) == []
    assert await s.db.reports.count() == 0


async def test_the_stored_query_hash_and_fingerprint_keep_their_format(office: tuple[Any, Clock]) -> None:
    """Both are keyed hashes stored with the report and recomputed on every lookup or retry: a
    change of their purpose strings loses every filed report's code and retries (needs a migration)."""
    s, _ = office
    submission = sub(external_id="k-4")
    receipt = await s.pipeline.accept(submission)
    row = await _row(s, receipt.case_no)
    assert row.query_hash == s.db.keyring.mac("query-code", receipt.query_code.encode())
    assert row.request_fingerprint == s.db.keyring.mac("request-fingerprint", Pipeline._canonical(submission))
    assert row.external_id == "k-4"


# --- the receiving unit and the place ---------------------------------------------------------------


@pytest.mark.parametrize("unit", ["4", "4301211021234", "43012a", "４３０１"])
async def test_a_malformed_receiving_unit(office: tuple[Any, Clock], unit: str) -> None:
    s, _ = office
    with pytest.raises(ValidationError) as raised:
        await s.pipeline.accept(sub(receiving_unit=unit))
    assert (raised.value.code, str(raised.value)) == ("invalid_unit", "受理单位代码应为 2 至 12 位数字。")
    # Staff read this message: Chinese, without the field's internal name.
    assert not re.search(r"[A-Za-z_]", str(raised.value))


@pytest.mark.parametrize("unit", ["43", "4301", "110105", "430121102999"])
async def test_a_unit_that_does_not_take_reports_here(office: tuple[Any, Clock], unit: str) -> None:
    """The province and the city are in the file for routing only; the others are not in it."""
    s, _ = office
    with pytest.raises(ValidationError) as raised:
        await s.pipeline.accept(sub(receiving_unit=unit))
    assert (raised.value.code, str(raised.value)) == ("unknown_unit", "本平台没有这个单位。")


async def test_the_units_that_take_reports(office: tuple[Any, Clock]) -> None:
    s, _ = office
    for unit in ("430121", "430121102"):
        receipt = await s.pipeline.accept(sub(receiving_unit=unit))
        assert (await s.db.reports.get(receipt.case_no)).receiving_unit == unit
    s.pipeline.check_unit(None)
    s.pipeline.check_unit("430121001")


@pytest.mark.parametrize("code", ["11", "110105000000"])
async def test_a_well_formed_division_code_of_another_place(office: tuple[Any, Clock], code: str) -> None:
    s, _ = office
    with pytest.raises(ValidationError) as raised:
        await s.pipeline.accept(sub(location=Location(code)))
    assert raised.value.code == "unknown_division"


async def test_a_control_character_in_the_division_code_is_refused_as_such(office: tuple[Any, Clock]) -> None:
    s, _ = office
    with pytest.raises(ValidationError) as raised:
        await s.pipeline.accept(sub(location=Location("4301\x00")))
    assert raised.value.code == "invalid_characters"


# --- the informant's blind indexes ------------------------------------------------------------------


async def test_one_informant_is_recognised_across_reports(office: tuple[Any, Clock]) -> None:
    s, _ = office
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    a = await s.pipeline.accept(sub(**me))
    b = await s.pipeline.accept(sub(**me))
    ra, rb = await s.db.reports.get(a.case_no), await s.db.reports.get(b.case_no)
    assert ra.informant_alias == rb.informant_alias
    assert "repeat_reporter" not in await _received_payload(s, a.case_no)
    assert (await _received_payload(s, b.case_no))["repeat_reporter"] == 1


async def test_an_anonymous_reports_reporter_fields_are_not_indexed(office: tuple[Any, Clock]) -> None:
    s, _ = office
    anon = {"reporter": Reporter(None, None, "13900000000", None), "anonymous": True}
    receipts = [await s.pipeline.accept(sub(**anon)) for _ in range(3)]  # the limit is 2 an hour
    aliases = {(await s.db.reports.get(r.case_no)).informant_alias for r in receipts}
    assert len(aliases) == 3
    for r in receipts:
        assert "repeat_reporter" not in await _received_payload(s, r.case_no)


async def test_a_phone_number_in_the_text_is_indexed_and_a_name_is_not(office: tuple[Any, Clock]) -> None:
    s, _ = office
    first = await s.pipeline.accept(sub(content=CONTENT + "我的电话是13800000000，我叫王五。"))
    same_phone = await s.pipeline.accept(sub(content=CONTENT + "我的电话是13800000000，我叫赵六。"))
    same_name = await s.pipeline.accept(sub(content=CONTENT + "我的电话是13700000000，我叫王五。"))
    assert (await _received_payload(s, same_phone.case_no))["repeat_reporter"] == 1
    assert "repeat_reporter" not in await _received_payload(s, same_name.case_no)
    assert "repeat_reporter" not in await _received_payload(s, first.case_no)


# --- imported historical cases ----------------------------------------------------------------------


async def test_an_imported_case_is_filed_on_its_own_date_status_and_history(
    office: tuple[Any, Clock],
) -> None:
    s, _ = office
    old = datetime(2019, 5, 6, 1, 30, tzinfo=UTC)
    later = old + timedelta(days=20)
    case = ImportedCase("file:abc:1", old, "closed", "import:li", (("closed", later, {"note": "已办结"}),))
    receipt = await s.pipeline.accept(sub(accused=Accused("张三")), imported=case)
    assert receipt == Receipt(receipt.case_no, None, "web", "closed", old, True, None)
    assert receipt.case_no.startswith("2019-430121-")
    report = await s.db.reports.get(receipt.case_no)
    assert (report.status, report.received_at, report.updated_at) == ("closed", old, later)
    row = await _row(s, receipt.case_no)
    assert (row.external_id, row.request_fingerprint, row.receipt_sealed) == ("file:abc:1", None, None)
    events = await s.db.reports.events(report.id)
    assert [(e.kind, e.actor, e.at) for e in events] == [
        ("received", "import:li", old),
        ("closed", "import:li", later),
    ]
    assert json.loads(events[0].payload) == {
        "case_no": receipt.case_no,
        "channel": "web",
        "anonymous": True,
        "attachments": 0,
        "sealed": [],
        "redacted": 0,
        "imported": True,
    }
    assert json.loads(events[1].payload) == {"note": "已办结"}
    assert await _jobs(s, report.id) == []  # the import triages in bulk; nobody holds a receipt
    # A second run of the same file finds the case already in.
    again = await s.pipeline.accept(sub(accused=Accused("张三")), imported=case)
    assert again == Receipt(receipt.case_no, None, "web", "closed", old, False, None)
    assert await s.db.reports.count() == 1


async def test_imported_cases_are_not_held_to_the_per_informant_limit(office: tuple[Any, Clock]) -> None:
    s, clock = office
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    for n in range(3):  # the limit is 2 an hour
        case = ImportedCase(f"file:abc:{n}", clock.at - timedelta(days=n + 1), "closed", "import:li")
        assert (await s.pipeline.accept(sub(**me), imported=case)).created
    with pytest.raises(ValueError) as raised:
        await s.pipeline.accept(sub(external_id="k"), imported=case)
    assert str(raised.value) == "an imported case is keyed by its import key"


# --- counters and log lines -------------------------------------------------------------------------


async def test_filings_retries_and_imports_are_counted_and_logged(
    office: tuple[Any, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    s, clock = office
    caplog.set_level(logging.DEBUG, logger="intake.pipeline")
    new = await s.pipeline.accept(sub(channel="app", external_id="k-5"))
    await s.pipeline.accept(sub(channel="app", external_id="k-5"))
    case = ImportedCase("file:abc:9", clock.at - timedelta(days=1), "closed", "import:li")
    imported = await s.pipeline.accept(sub(channel="letter"), imported=case)
    await s.pipeline.accept(sub(channel="letter"), imported=case)
    assert _count(s, "intake_reports_accepted_total", channel="app") == 1
    assert _count(s, "intake_reports_duplicate_total", channel="app") == 1
    assert _count(s, "intake_reports_accepted_total", channel="letter") == 1
    assert _count(s, "intake_reports_duplicate_total", channel="letter") == 1
    for message, case_no, channel, level in (
        ("report accepted", new.case_no, "app", logging.INFO),
        ("report retried", new.case_no, "app", logging.INFO),
        ("case imported", imported.case_no, "letter", logging.DEBUG),
    ):
        [record] = _logged(caplog, message)
        assert (record.levelno, record.case_no, record.channel) == (level, case_no, channel)  # type: ignore[attr-defined]


async def test_a_throttled_informant_is_counted_by_channel(office: tuple[Any, Clock]) -> None:
    s, _ = office
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    for _ in range(2):
        await s.pipeline.accept(sub(channel="wechat", **me))
    with pytest.raises(RateLimited) as raised:
        await s.pipeline.accept(sub(channel="wechat", **me))
    assert str(raised.value) == "您提交得过于频繁，请稍后再试。"
    assert _count(s, "intake_reports_throttled_total", channel="wechat") == 1
