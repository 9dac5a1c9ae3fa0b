"""What the pipeline's tests share (tests/test_pipeline_*.py): a report's text with a fact in it,
and a clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime

CONTENT = "村支书张三在低保评定中优亲厚友，2025年3月把低保名额给了亲属。"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at
