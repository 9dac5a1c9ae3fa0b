"""The statistics roll-up (issue 18): counts of reports per China day (and per month), owner
unit, sealed-from unit, field and value, kept exact by the triggers of migration 0021."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class StatsCount(Base):
    """How many reports received on ``day`` (grain ``d``; grain ``m``: in the month beginning on
    ``day``), owned by ``owner_unit``, sealed away from ``sealed_from`` (the receiving unit of a
    sealed case, else ``''``), have ``value`` for ``field`` (``''`` for none). Written only by the
    triggers (``storage.stats_store`` reads it); a count can fall to 0 and stay as a row."""

    __tablename__ = "stats_counts"
    field: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    owner_unit: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    sealed_from: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)
    __table_args__ = (sa.Index("ix_stats_counts_value", "field", "value", "grain", "day"),)
