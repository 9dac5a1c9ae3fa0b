"""The declarative base of every table model and the column type for points in time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

# A naming convention lets Alembic's batch mode (SQLite) find constraints by name.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A point in time, stored as UTC on both databases and read back aware.

    SQLite has no time zones: SQLAlchemy writes the wall-clock digits of whatever zone the value
    carries and reads them back naive. Converting to UTC on the way in keeps an event stamped in
    Beijing time (+08:00) the same instant after a round trip, so the audit hash still matches.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value  # naive values are UTC by this project's convention
        return value.astimezone(UTC)

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        """On SQLite, the text SQLAlchemy's ``DATETIME`` would store (``2026-11-30 10:59:03.000123``),
        written in one C call instead of two Python steps with a ``%``-format of seven fields: every
        report row carries several of these, and they were the writer's largest single cost."""
        composed = super().bind_processor(dialect)
        if dialect.name != "sqlite" or composed is None:
            return composed

        def process(value: Any) -> Any:
            if type(value) is not datetime:
                return composed(value)  # None and subclasses: the general path
            if value.tzinfo is not None:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]  # [:26]: without the "+00:00"

        return process

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
