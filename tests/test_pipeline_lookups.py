"""Following a case through the pipeline, called directly (found by mutation testing, issue 23): the
status document's every field, a follow-up's sealed details, the per-client and per-informant
limits at their defaults and edges on the injected clock, the global miss budget, and the counters
and log lines operators read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from intake.domain import CaseStatus, Reply, Reporter, Submission
from intake.errors import NotFound, RateLimited
from intake.metrics import Metrics
from intake.pipeline import Pipeline
from server.app import build_app, services_of
from server.config import Settings
from storage import models, vault
from tests.pipeline_support import CONTENT, Clock

V = models.VaultEntry.__table__
BAD = "abc"  # never a query code: refused without a lookup
MISS_WARNING = "query-code misses above the global limit"


@pytest.fixture
async def office(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[Any, Clock]:
    clock = Clock()
    client = await aiohttp_client(
        build_app(make_settings(), channels.REGISTRY, clock=clock, run_worker=False)
    )
    return services_of(client.app), clock


def sub(**kw: Any) -> Submission:
    return Submission(**({"channel": "web", "content": CONTENT} | kw))


def pipeline(s: Any, clock: Clock, **limits: Any) -> Pipeline:
    """Another pipeline on the same database, with its own limits (the defaults when none given)."""
    return Pipeline(s.db, s.pipeline.jurisdiction, clock, Metrics(), **limits)


def _count(p: Pipeline, name: str, **labels: str) -> float:
    return p.metrics.registry.get_sample_value(name, labels) or 0.0


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "intake.pipeline" and r.getMessage() == message]


async def _throttled(attempt: Any) -> RateLimited:
    with pytest.raises(RateLimited) as raised:
        await attempt
    return raised.value


# --- the status document ----------------------------------------------------------------------------


async def test_the_status_document_of_a_transferred_case_with_a_reply_and_a_follow_up(
    office: tuple[Any, Clock],
) -> None:
    s, clock = office
    received = clock.at
    receipt = await s.pipeline.accept(sub(channel="app"))
    report = await s.db.reports.get(receipt.case_no)
    # Triage routes it upward sealed; the workflow hands it to the city at once.
    clock.at += timedelta(minutes=10)
    doc = {"sealed": True, "level": "city", "unit": {"id": "4301", "name": "长沙市纪委监委"}}
    await s.db.reports.set_triage(report.id, {"triage": doc}, clock.at)
    await s.workflow.after_triage(receipt.case_no)
    clock.at += timedelta(hours=1)
    replied = clock.at
    await s.db.reports.add_message(report.id, "out", "app", "已收到，正在核实。", replied, actor="staff:li")
    clock.at += timedelta(hours=1)
    await s.pipeline.add_followup(receipt.query_code, "补充：还有一户。", "app", "c")
    status = await s.pipeline.status(receipt.query_code, "c")
    assert status == CaseStatus(
        receipt.case_no,
        "app",
        "transferred",
        "已转办",
        received,
        clock.at,
        [Reply(replied, "已收到，正在核实。")],
        1,
        status.timeline,
    )
    assert [(e.at, e.event, e.text) for e in status.timeline] == [
        (received, "received", "收到您的反映，已生成案件编号。"),
        (received + timedelta(minutes=10), "transferred", "已转送市级纪检监察机关办理。"),
    ]


async def test_lookups_are_counted_by_outcome(office: tuple[Any, Clock]) -> None:
    s, clock = office
    p = pipeline(s, clock, status_attempts_per_minute=2)
    receipt = await p.accept(sub())
    await p.status(receipt.query_code, "c")
    with pytest.raises(NotFound) as raised:
        await p.status("1" * 16, "c")
    assert (raised.value.code, str(raised.value)) == ("not_found", "查询码无效，或没有对应的举报。")
    err = await _throttled(p.status(receipt.query_code, "c"))
    assert (str(err), err.retry_after) == ("查询过于频繁，请稍后再试。", 30)
    counts = {r: _count(p, "intake_status_lookups_total", result=r) for r in ("hit", "miss", "throttled")}
    assert counts == {"hit": 1, "miss": 1, "throttled": 1}


# --- follow-ups -------------------------------------------------------------------------------------


async def test_a_follow_ups_own_details_are_sealed_and_it_is_counted_and_logged(
    office: tuple[Any, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    s, _ = office
    caplog.set_level(logging.INFO, logger="intake.pipeline")
    receipt = await s.pipeline.accept(sub())
    report = await s.db.reports.get(receipt.case_no)
    case_no = await s.pipeline.add_followup(
        receipt.query_code, "补充：我的电话是13800000000。", "wechat", "c"
    )
    assert case_no == receipt.case_no
    async with s.db.read_engine.connect() as conn:
        [row] = (
            await conn.execute(sa.select(V).where(V.c.report_id == report.id, V.c.kind == "in_text"))
        ).all()
    entry = vault.SealedEntry(
        row.id, row.report_id, row.kind, row.kek_version, row.wrapped_key, row.nonce, row.ciphertext
    )
    assert vault.unseal(s.db.keyring, entry) == {"found": [{"kind": "mobile", "text": "13800000000"}]}
    assert _count(s.pipeline, "intake_followups_total", channel="wechat") == 1
    [record] = _logged(caplog, "follow-up added")
    assert (record.case_no, record.channel) == (receipt.case_no, "wechat")  # type: ignore[attr-defined]


# --- the limits -------------------------------------------------------------------------------------


async def test_the_default_limits(office: tuple[Any, Clock]) -> None:
    """Ten lookups a minute per client, thirty reports an hour per informant."""
    s, clock = office
    p = pipeline(s, clock)
    for _ in range(10):
        with pytest.raises(NotFound):
            await p.status(BAD, "c")
    assert (await _throttled(p.status(BAD, "c"))).retry_after == 6
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    for _ in range(30):
        await p.accept(sub(**me))
    assert (await _throttled(p.accept(sub(**me)))).retry_after == 120


async def test_a_limit_of_one_allows_one(office: tuple[Any, Clock]) -> None:
    s, clock = office
    p = pipeline(s, clock, status_attempts_per_minute=1, reports_per_informant_per_hour=1)
    with pytest.raises(NotFound):
        await p.status(BAD, "c")
    assert (await _throttled(p.status(BAD, "c"))).retry_after == 60
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    await p.accept(sub(**me))
    assert (await _throttled(p.accept(sub(**me)))).retry_after == 3600


async def test_under_a_second_to_wait_is_still_a_wait_of_one_second(office: tuple[Any, Clock]) -> None:
    s, clock = office
    p = pipeline(s, clock, status_attempts_per_minute=1, reports_per_informant_per_hour=1)
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    with pytest.raises(NotFound):
        await p.status(BAD, "c")
    await p.accept(sub(**me))
    clock.at += timedelta(seconds=59.5)  # half a second short of the next lookup
    assert (await _throttled(p.status(BAD, "c"))).retry_after == 1
    clock.at += timedelta(seconds=3600 - 59.5 - 0.5)  # and of the next report
    err = await _throttled(p.accept(sub(**me)))
    assert (str(err), err.retry_after) == ("您提交得过于频繁，请稍后再试。", 1)


async def test_the_global_miss_budget_runs_on_the_service_clock(
    office: tuple[Any, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    """600 misses at once across all clients, then 100 a second; past it, a warning per miss."""
    s, clock = office
    caplog.set_level(logging.WARNING, logger="intake.pipeline")
    p = pipeline(s, clock, status_attempts_per_minute=1000)

    async def miss() -> int:
        before = len(_logged(caplog, MISS_WARNING))
        with pytest.raises(NotFound):
            await p.status(BAD, "c")
        return len(_logged(caplog, MISS_WARNING)) - before

    assert [await miss() for _ in range(600)] == [0] * 600
    assert await miss() == 1
    clock.at += timedelta(microseconds=9_999)  # a token is back after 10 ms: not yet
    assert await miss() == 1
    clock.at += timedelta(microseconds=20)
    assert await miss() == 0
    assert await miss() == 1
    assert {r.levelno for r in _logged(caplog, MISS_WARNING)} == {logging.WARNING}
    assert _count(p, "intake_status_lookups_total", result="miss") == 604


# --- late files -------------------------------------------------------------------------------------


async def test_a_late_file_for_no_case(office: tuple[Any, Clock]) -> None:
    s, _ = office
    with pytest.raises(LookupError) as raised:
        await s.pipeline.attach("2026-430121-999999", "a.png", "image/png", b"x", "channel:wechat")
    assert str(raised.value) == "no such case"


async def test_a_late_file_that_cannot_be_linked_is_not_kept(
    office: tuple[Any, Clock], data_dir: Path
) -> None:
    s, _ = office
    receipt = await s.pipeline.accept(sub())
    await s.db.writer.close()  # the database stops taking writes after the case was found
    with pytest.raises(RuntimeError):
        await s.pipeline.attach(receipt.case_no, "a.png", "image/png", b"x", "channel:wechat")
    assert list((data_dir / "blobs").rglob("*.bin")) == []
