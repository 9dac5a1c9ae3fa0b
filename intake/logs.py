"""Structured logs: one JSON object per line, on stderr and in ``<data dir>/logs/intake.log``.

Only whitelisted fields are written, so report text, identity and client addresses cannot slip in
through ``extra=``; exception tracebacks carry types and frames (engines hide SQL parameters).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path

SAFE_FIELDS = (
    "case_no",
    "channel",
    "route",
    "status",
    "method",
    "duration_ms",
    "job_id",
    "job_kind",
    "attempt",
    "outcome",
    "count",
    "reason",
    "port",
    "host",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # The same record goes to stderr and to the file: format it once.
        cached: str | None = record.__dict__.get("_intake_json")
        if cached is None:
            cached = record.__dict__["_intake_json"] = self._format(record)
        return cached

    def _format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            if name in record.__dict__:
                doc[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = record.exc_info[0].__name__
            doc["trace"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup(level: str, data_dir: Path | None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_intake", False):
            root.removeHandler(handler)
    fmt = JsonFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if data_dir is not None:
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_dir / "intake.log", maxBytes=20 * 2**20, backupCount=5, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler._intake = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log would write client addresses: it is off (see intake.app).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
