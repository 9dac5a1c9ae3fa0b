"""The injected clock: code asks ``clock.now()``; tests pass a fixed or stepping clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def china_year(at: datetime) -> int:
    """The calendar year in China (case numbers follow the local year, not UTC's)."""
    return at.astimezone(CHINA).year
