"""What several server processes on one PostgreSQL database must count together (issue 21): the
rate-limit buckets and the one-time values (signed requests, room tokens) already spent."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class RateBucket(Base):
    """One token bucket: ``bucket`` names the limit (``status``, ``login-address`` …), ``key`` is
    the caller's keyed hash of who spends (never an address or a handle). Times are the service
    clock's seconds; a row untouched for a day is full again and is swept."""

    __tablename__ = "rate_buckets"
    bucket: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(sa.Float)
    stamp: Mapped[float] = mapped_column(sa.Float, index=True)
    granted: Mapped[bool] = mapped_column(sa.Boolean)  # whether the last take got a token


class SpentNonce(Base):
    """A one-time value already used within ``scope`` (a signed app request, a room token), kept
    until it could no longer be accepted anyway (``expires``, the service clock's seconds)."""

    __tablename__ = "spent_nonces"
    scope: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires: Mapped[float] = mapped_column(sa.Float, index=True)
