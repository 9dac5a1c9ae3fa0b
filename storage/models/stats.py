"""The statistics roll-up (issue 18, ``storage.stats_rollup``): counts of reports per China day
(and per month), owner unit, sealed-from unit, field and value; what was counted for each report;
the reports changed since."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class StatsCount(Base):
    """How many reports received on ``day`` (grain ``d``; grain ``m``: in the month beginning on
    ``day``), owned by ``owner_unit``, sealed away from ``sealed_from`` (the receiving unit of a
    sealed case, else ``''``), have ``value`` for ``field`` (``''`` for none), as of the last refresh
    (``storage.stats_rollup``). A count can fall to 0 and stay as a row."""

    __tablename__ = "stats_counts"
    field: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    owner_unit: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    sealed_from: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)
    __table_args__ = (sa.Index("ix_stats_counts_value", "field", "value", "grain", "owner_unit", "day"),)


class StatsCounted(Base):
    """What the roll-up counted for one report (``storage.stats_rollup``): its China day and
    month, owner unit, sealed-from unit, keywords, blind indexes and each field's value."""

    __tablename__ = "stats_counted"
    report_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date)
    month: Mapped[date] = mapped_column(sa.Date)
    owner_unit: Mapped[str] = mapped_column(sa.String(16))
    sealed_from: Mapped[str] = mapped_column(sa.String(16))
    keywords: Mapped[str | None] = mapped_column(sa.Text)
    informants: Mapped[str | None] = mapped_column(sa.Text)  # the distinct blind indexes (0024)
    f_channel: Mapped[str | None] = mapped_column(sa.String(320))
    f_category: Mapped[str | None] = mapped_column(sa.String(320))
    f_scope: Mapped[str | None] = mapped_column(sa.String(320))
    f_level: Mapped[str | None] = mapped_column(sa.String(320))
    f_priority: Mapped[str | None] = mapped_column(sa.String(320))
    f_status: Mapped[str | None] = mapped_column(sa.String(320))
    f_handling_unit: Mapped[str | None] = mapped_column(sa.String(320))
    f_receiving_unit: Mapped[str | None] = mapped_column(sa.String(320))
    f_place: Mapped[str | None] = mapped_column(sa.String(320))
    f_anonymous: Mapped[str | None] = mapped_column(sa.String(320))
    f_place_category: Mapped[str | None] = mapped_column(sa.String(320))
    f_accused: Mapped[str | None] = mapped_column(sa.String(320))
    f_indexed: Mapped[str | None] = mapped_column(sa.String(320))
    # The measures (0025): seconds to 受理 and to 办结, their bins and the cases' flags.
    accept_s: Mapped[int | None] = mapped_column(sa.BigInteger)
    close_s: Mapped[int | None] = mapped_column(sa.BigInteger)
    f_accept_days: Mapped[str | None] = mapped_column(sa.String(320))
    f_close_days: Mapped[str | None] = mapped_column(sa.String(320))
    f_transferred: Mapped[str | None] = mapped_column(sa.String(320))
    f_duplicate: Mapped[str | None] = mapped_column(sa.String(320))
    f_merged: Mapped[str | None] = mapped_column(sa.String(320))
    f_deadline: Mapped[str | None] = mapped_column(sa.String(320))
    f_late: Mapped[str | None] = mapped_column(sa.String(320))
    f_open_due: Mapped[str | None] = mapped_column(sa.String(320))
    f_rating: Mapped[str | None] = mapped_column(sa.String(320))
    # The subtrees its owner is counted in too (0026): a JSON array of ``*<code>`` and nulls.
    subtrees: Mapped[str | None] = mapped_column(sa.Text)


class StatsPending(Base):
    """A report whose contribution may have changed since the roll-up counted it: added by the
    triggers of migration 0023 in the changing transaction, removed by the refresh. ``seq`` (from
    a sequence on PostgreSQL, 0 on SQLite) tells the refresh whether it changed again meanwhile."""

    __tablename__ = "stats_pending"
    report_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
