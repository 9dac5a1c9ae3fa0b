"""The UTC timestamp type's fast SQLite bind processing stores exactly what SQLAlchemy's own
``DATETIME`` processing (after the conversion to UTC) would, so rows, comparisons and the audit
chain's hashes are unchanged."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storage.models import UTCDateTime

BEIJING = timezone(timedelta(hours=8))


def _reference(value: object) -> object:
    """UTCDateTime's conversion followed by SQLite DATETIME's own bind processor."""
    dialect = sqlite.dialect()
    converted = UTCDateTime().process_bind_param(value, dialect)  # type: ignore[arg-type]
    inner = sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert inner is not None
    return inner(converted)


def _values() -> list[object]:
    rng = random.Random(5)
    values: list[object] = [
        None,
        datetime(2026, 11, 30, 10, 59, 3),  # naive: UTC by convention, microsecond 0
        datetime(2026, 11, 30, 10, 59, 3, 7, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),  # crosses a year
        datetime(2027, 1, 1, 7, 59, 59, 999999, tzinfo=BEIJING),  # the previous day in UTC
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # a three-digit year, padded
        datetime(1, 1, 1, 12, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
    ]
    for _ in range(500):
        at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 40 * 365 * 86400))
        zone = timezone(timedelta(minutes=rng.randrange(-12 * 60, 14 * 60, 15)))
        values += [at.astimezone(zone), at.replace(tzinfo=None), at.replace(microsecond=0)]
    return values


def test_sqlite_bind_processing_matches_sqlalchemy() -> None:
    dialect = sqlite.dialect()
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None
    values = _values()
    assert [fast(v) for v in values] == [_reference(v) for v in values]


def test_other_databases_keep_the_composed_processing() -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    at = datetime(2027, 1, 1, 7, 0, tzinfo=BEIJING)
    stored = processor(at) if processor else UTCDateTime().process_bind_param(at, dialect)
    assert stored == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def test_round_trip_through_sqlite() -> None:
    engine = sa.create_engine("sqlite://")
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UTCDateTime)
    )
    at = datetime(2027, 1, 1, 7, 59, 59, 123, tzinfo=BEIJING)
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(sa.insert(table), [{"id": 1, "at": at}, {"id": 2, "at": at + timedelta(seconds=1)}])
        raw = conn.exec_driver_sql("SELECT at FROM t ORDER BY id").scalars().all()
        later = conn.execute(sa.select(table.c.id).where(table.c.at > at)).scalars().all()
        back = conn.execute(sa.select(table.c.at).where(table.c.id == 1)).scalar_one()
    assert raw == ["2026-12-31 23:59:59.000123", "2027-01-01 00:00:00.000123"]
    assert later == [2]
    assert back == at and back.tzinfo == UTC
