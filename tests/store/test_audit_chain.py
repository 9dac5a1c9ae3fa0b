"""The audit hash chain: every column of an event is in its hash, so editing any one of them behind
the server's back (seq, prev_hash, report_id, kind, actor, at, payload, hash) breaks verification;
plus the hash function itself, value by value, on SQLite's naive and PostgreSQL's aware timestamps."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
import sqlalchemy as sa

from storage import models
from storage.audit import GENESIS, canonical_payload, event_hash, utc
from storage.database import Database
from storage.db import make_engine
from storage.records import NewReport

E = cast(sa.Table, models.ReportEvent.__table__)
H = cast(sa.Table, models.AuditHead.__table__)

AT = datetime(2026, 11, 23, 2, 0, 0, 123456, tzinfo=UTC)
RID = uuid.UUID("12345678-1234-5678-1234-567812345678")
BASE: dict[str, Any] = {
    "prev_hash": "a" * 64,
    "seq": 7,
    "report_id": RID,
    "kind": "filed",
    "actor": "channel:app",
    "at": AT,
    "payload": '{"x":1}',
}


def test_the_hash_is_sha256_over_every_column_in_order() -> None:
    material = "|".join(
        ["a" * 64, "7", RID.hex, "filed", "channel:app", "2026-11-23T02:00:00.123456Z", '{"x":1}']
    )
    assert event_hash(**BASE) == hashlib.sha256(material.encode()).hexdigest()


def test_an_event_without_a_report_hashes_an_empty_field() -> None:
    material = "|".join(["a" * 64, "7", "", "filed", "channel:app", "2026-11-23T02:00:00.123456Z", '{"x":1}'])
    assert event_hash(**{**BASE, "report_id": None}) == hashlib.sha256(material.encode()).hexdigest()


@pytest.mark.parametrize(
    ("column", "other"),
    [
        ("prev_hash", "b" * 64),
        ("seq", 8),
        ("report_id", uuid.UUID("87654321-4321-8765-4321-876543218765")),
        ("report_id", None),
        ("kind", "triaged"),
        ("actor", "staff:alice"),
        ("at", AT + timedelta(microseconds=1)),
        ("payload", '{"x":2}'),
    ],
)
def test_every_column_changes_the_hash(column: str, other: Any) -> None:
    assert event_hash(**{**BASE, column: other}) != event_hash(**BASE)


def test_a_naive_timestamp_is_read_as_utc_and_an_aware_one_is_converted() -> None:
    naive = AT.replace(tzinfo=None)
    beijing = AT.astimezone(timezone(timedelta(hours=8)))
    assert event_hash(**{**BASE, "at": naive}) == event_hash(**BASE)
    assert event_hash(**{**BASE, "at": beijing}) == event_hash(**BASE)
    assert utc(naive) == AT and utc(naive).tzinfo is UTC
    assert utc(beijing) == AT and utc(beijing).tzinfo is UTC
    assert utc(AT) is not None and utc(AT).utcoffset() == timedelta(0)


def test_canonical_payload_is_sorted_compact_and_keeps_chinese() -> None:
    assert canonical_payload({"b": 1, "a": "举报"}) == '{"a":"举报","b":1}'


def test_genesis_is_sixty_four_zeros() -> None:
    assert GENESIS == "0" * 64


async def _events(database: Database) -> list[Any]:
    async with database.read_engine.connect() as conn:
        return list((await conn.execute(sa.select(E).order_by(E.c.seq))).all())


async def _tamper(database: Database, statement: Any) -> None:
    # A connection of its own, as someone editing the database behind the server's back would have.
    engine = make_engine(database.url, writer=False)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "column", ["seq", "prev_hash", "report_id", "kind", "actor", "at", "payload", "hash", "head"]
)
async def test_editing_any_column_of_an_event_breaks_the_chain(
    database: Database, new_report: Callable[..., NewReport], column: str
) -> None:
    reports = [await database.reports.accept(new_report()) for _ in range(3)]
    assert await database.audit.verify() == (True, 3, "ok")
    events = await _events(database)
    middle = events[1]
    where = E.c.seq == middle.seq
    values: dict[str, Any] = {
        "seq": {"seq": 10},
        "prev_hash": {"prev_hash": "f" * 64},
        "report_id": {"report_id": reports[0].report_id},
        "kind": {"kind": "note"},
        "actor": {"actor": "staff:mallory"},
        "at": {"at": middle.at + timedelta(seconds=1)},
        "payload": {"payload": "{}"},
        "hash": {"hash": "e" * 64},
    }
    if column == "head":
        await _tamper(database, sa.update(H).values(hash="d" * 64))
    else:
        assert getattr(middle, column) != next(iter(values[column].values()))
        await _tamper(database, sa.update(E).where(where).values(**values[column]))
    ok, n, detail = await database.audit.verify()
    assert not ok
    expected = {
        "seq": (1, "event 2 is missing (next is 3)"),
        "prev_hash": (1, "event 2 does not link to event 1"),
        "head": (3, "the chain ends at event 3 but the head records event 3"),
    }.get(column, (1, "event 2 was altered"))
    assert (n, detail) == expected


async def test_an_untouched_chain_verifies_and_counts_its_events(
    database: Database, new_report: Callable[..., NewReport]
) -> None:
    assert await database.audit.verify() == (True, 0, "ok")
    for _ in range(2):
        await database.reports.accept(new_report())
    assert await database.audit.verify() == (True, 2, "ok")
    first, second = await _events(database)
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    assert await database.audit.head() == (2, second.hash)


def test_a_naive_timestamp_is_utc_whatever_the_servers_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite hands back naive UTC; reading it as local time would break the chain on a server
    set to Beijing time."""
    import time

    naive = AT.replace(tzinfo=None)
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert utc(naive) == AT
        assert event_hash(**{**BASE, "at": naive}) == event_hash(**BASE)
    finally:
        monkeypatch.undo()
        time.tzset()
