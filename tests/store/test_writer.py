"""The group-commit writer: concurrent filing, case numbers, idempotency, two writers on one database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intake import jurisdiction
from storage import keys
from storage.database import Database
from storage.records import NewReport
from tests.conftest import COUNTY_JURISDICTION


async def test_concurrent_reports_get_gap_free_numbers_in_few_commits(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    commits_before = database.writer.commits
    results = await asyncio.gather(*(database.reports.accept(new_report()) for _ in range(200)))
    numbers = sorted(r.case_no for r in results)
    assert numbers == [f"2026-430121-{i:06d}" for i in range(1, 201)]
    assert all(r.created for r in results)
    assert database.writer.commits - commits_before < 200  # reports were committed together
    assert await database.reports.count() == 200
    ok, n, detail = await database.audit.verify()
    assert (ok, n) == (True, 200), detail


async def test_same_external_id_at_once_files_one_report(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    reports = [new_report(external_id="msg-1", request_fingerprint="f" * 64) for _ in range(20)]
    results = await asyncio.gather(*(database.reports.accept(r) for r in reports))
    assert len({r.case_no for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await database.reports.count() == 1
    again = await database.reports.accept(new_report(external_id="msg-1"))
    assert not again.created and again.case_no == results[0].case_no
    # The same external id on another channel is another report.
    other = await database.reports.accept(new_report(channel="sms", external_id="msg-1"))
    assert other.created


async def test_case_numbers_restart_each_year_per_unit(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    a = await database.reports.accept(new_report(case_year=2026))
    b = await database.reports.accept(new_report(case_year=2027))
    c = await database.reports.accept(new_report(case_year=2027, receiving_unit="430121102"))
    assert [a.case_no, b.case_no, c.case_no] == [
        "2026-430121-000001",
        "2027-430121-000001",
        "2027-430121102-000001",
    ]


async def test_a_failing_operation_does_not_sink_its_batch(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    bad = new_report(receiving_unit="999999")  # no such unit: the foreign key refuses it
    results = await asyncio.gather(
        *(database.reports.accept(new_report()) for _ in range(10)),
        database.reports.accept(bad),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert await database.reports.count() == 10
    assert (await database.audit.verify())[0]


async def test_two_writers_on_one_postgresql_database(
    pg_url: str, tmp_path: Path, new_report: Callable[..., NewReport]
) -> None:
    keyring = keys.load_or_create(tmp_path / "keys")
    first, second = (Database(pg_url, keyring, tmp_path / name) for name in ("a", "b"))
    await first.start()
    await second.start()
    try:
        await first.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
        results = await asyncio.gather(
            *(db.reports.accept(new_report()) for _ in range(60) for db in (first, second))
        )
        assert sorted(r.case_no for r in results) == [f"2026-430121-{i:06d}" for i in range(1, 121)]
        dup = await asyncio.gather(
            *(db.reports.accept(new_report(external_id="x")) for _ in range(5) for db in (first, second))
        )
        assert len({r.case_no for r in dup}) == 1 and sum(r.created for r in dup) == 1
        ok, n, detail = await first.audit.verify()
        assert (ok, n) == (True, 121), detail
    finally:
        await first.close()
        await second.close()


async def test_audit_verify_while_reports_are_filed_sees_no_false_break(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    """The head and the events are read in one snapshot: read apart, a commit landing in between
    made a whole chain look broken ("the chain ends at event N but the head records event N+k")."""
    for _ in range(20):
        await database.reports.accept(new_report())
    filing = True

    async def file_reports() -> int:
        filed = 0
        while filing:
            await asyncio.gather(*(database.reports.accept(new_report()) for _ in range(5)))
            filed += 5
        return filed

    writer = asyncio.create_task(file_reports())
    checked: list[tuple[int, int]] = []  # (page size, events verified)
    pages = (5000, 7)

    def grew_under_both() -> bool:
        return all(len({n for p, n in checked if p == page}) > 1 for page in pages)

    try:
        # One page, and many pages (a snapshot across statements), until the chain was seen to
        # grow under both (bounded by rounds, not by time: a loaded machine files slowly).
        while len(checked) < 2000 and not grew_under_both():
            page = pages[len(checked) % 2]
            ok, n, detail = await database.audit.verify(page=page)
            assert ok, detail
            checked.append((page, n))
    finally:
        filing = False
        filed = await writer
    assert filed > 0 and grew_under_both()  # reports were filed while the chain was verified
    assert await database.audit.verify() == (True, 20 + filed, "ok")


@pytest.mark.parametrize("how", ["payload", "delete", "head"])
async def test_audit_chain_detects_tampering(
    database: Database, new_report: Callable[..., NewReport], how: str
) -> None:
    for _ in range(3):
        await database.reports.accept(new_report())
    assert (await database.audit.verify())[0]
    import sqlalchemy as sa

    from storage.db import make_engine

    # A connection of its own, as someone editing the database behind the server's back would have.
    tamper = make_engine(database.url, writer=False)
    async with tamper.begin() as conn:
        if how == "payload":
            await conn.execute(sa.text("UPDATE report_events SET payload = '{}' WHERE seq = 2"))
        elif how == "delete":
            await conn.execute(sa.text("DELETE FROM report_events WHERE seq = 3"))
        else:
            await conn.execute(sa.text("UPDATE audit_head SET seq = 2"))
    await tamper.dispose()
    ok, _n, detail = await database.audit.verify()
    assert not ok
    expected = {"payload": "altered", "delete": "head records", "head": "head records"}[how]
    assert expected in detail


async def test_writer_reports_results_only_after_commit(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    result = await database.reports.accept(new_report())
    # A separate connection sees the row as soon as the result is back.
    other = Database(database.url, database.keyring, Path("/nonexistent-unused"))
    try:
        found: Any = await other.reports.get(result.case_no)
        assert found is not None
    finally:
        await other.close()


async def test_times_in_any_zone_keep_the_audit_chain_whole(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    """A clock in Beijing time stores the same instants: the chain verifies and times read back
    equal (SQLite has no zones; without converting, +08:00 digits were read back as UTC)."""
    from datetime import datetime, timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    at = datetime(2026, 10, 1, 9, 30, tzinfo=beijing)
    accepted = await database.reports.accept(new_report(received_at=at))
    report = await database.reports.get(accepted.case_no)
    assert report is not None and report.received_at == at
    events = await database.reports.events(report.id)
    assert events[0].at == at
    assert (await database.audit.verify())[0]


async def test_closing_with_queued_operations_whose_callers_gave_up(
    pg_url: str, tmp_path: Path, new_report: Callable[..., NewReport]
) -> None:
    """A caller cancelled while its operation waits in the queue (a job turn cancelled at
    shutdown) leaves a cancelled future there: closing answers the others and does not trip on
    it. (On PostgreSQL the writer's transaction runs on the event loop, so an operation can hold
    it open until the test lets go.)"""
    database = Database(pg_url, keys.load_or_create(tmp_path / "keys"), tmp_path / "data")
    await database.start()
    await database.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
    gate = asyncio.Event()

    async def held(_batch: Any) -> None:
        await gate.wait()

    first = asyncio.create_task(database.writer.run(held))  # keeps the writer busy
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(database.reports.accept(new_report())) for _ in range(3)]
    await asyncio.sleep(0.2)
    waiting[0].cancel()
    closing = asyncio.create_task(database.close())
    await asyncio.sleep(0.05)
    gate.set()
    await closing
    outcomes = await asyncio.gather(first, *waiting, return_exceptions=True)
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert all(isinstance(o, RuntimeError) and str(o) == "database closed" for o in outcomes[2:]), outcomes
