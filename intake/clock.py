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


def china_time(at: datetime | str) -> str:
    """A moment as staff read it, on the console and the command line alike: China time to the
    minute (the page or the command says once that times are 北京时间)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def china_year(at: datetime) -> int:
    """The calendar year in China (case numbers follow the local year, not UTC's)."""
    return at.astimezone(CHINA).year
