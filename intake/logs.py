"""Structured logs: one JSON object per line, on stderr and in ``<data dir>/logs/intake.log``.

Nothing a client sent may reach a log, so a record is written from parts that cannot hold it:

- only whitelisted fields, so report text, identity and client addresses cannot slip in through
  ``extra=``;
- an exception as its type and frames (``file:line:function``), for each exception in its chain,
  never its message nor a formatted traceback (whose last line is the message: a file name, a
  driver's error quoting a statement, a header value);
- for a library's logger, its message template without the arguments (aiohttp's "Error handling
  request from %s" is followed by the client's address) and only the first line (asyncio's task
  report goes on with the exception's repr). Our own loggers (and Alembic's) write messages made
  of safe values.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

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
    # Identifiers and codes of ours, never an informant's: staff actors and roles, workflow
    # actions, refusal codes, sessions, reports, vault entries and blobs (ids), error types.
    "actor",
    "role",
    "action",
    "why",
    "session",
    "report_id",
    "entry_id",
    "blob_id",
    "error",
)


OWN_LOGGERS = ("server", "intake", "storage", "channels", "console", "video_reception", "triage")
# Libraries whose message arguments are ours and safe: Alembic names the revisions it runs.
SAFE_ARGUMENT_LOGGERS = ("alembic",)
_ROOT = Path(__file__).resolve().parent.parent
_MAX_FRAMES = 30  # innermost frames kept per exception
_MAX_CHAIN = 8


def _where(filename: str) -> str:
    """A frame's file, short: below site-packages or the project, else its name alone."""
    if "site-packages/" in filename:
        return filename.rsplit("site-packages/", 1)[1]
    path = Path(filename)
    return str(path.relative_to(_ROOT)) if path.is_relative_to(_ROOT) else path.name


def safe_trace(exc: BaseException) -> list[str]:
    """The exception chain, the first cause first (as Python prints it): per exception, its type
    and frames, ``"OSError at a/b.py:12:connect < a/c.py:40:run"`` (innermost frame first)."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < _MAX_CHAIN and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    lines = []
    for one in reversed(chain):
        frames = traceback.extract_tb(one.__traceback__)[-_MAX_FRAMES:]
        where = " < ".join(f"{_where(f.filename)}:{f.lineno}:{f.name}" for f in reversed(frames))
        lines.append(f"{type(one).__qualname__} at {where}" if where else type(one).__qualname__)
    return lines


# What aiohttp's HTTP protocol raises for a request the client sent malformed (a header with a NUL,
# a 16 KB line, a body that is not what its Content-Encoding says, bytes after a short
# Content-Length): the client's fault, answered 400 by aiohttp itself. Logged as one warning without
# frames; any other exception aiohttp's server reports keeps its trace.
CLIENT_PROTOCOL_ERRORS = (HttpProcessingError, RequestPayloadError)


def _client_fault(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return record.name.startswith("aiohttp.") and isinstance(exc, CLIENT_PROTOCOL_ERRORS)


def _message(record: logging.LogRecord) -> str:
    if record.name.split(".", 1)[0] in OWN_LOGGERS + SAFE_ARGUMENT_LOGGERS:
        return record.getMessage()
    return str(record.msg).split("\n", 1)[0]


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
            "msg": _message(record),
        }
        for name in SAFE_FIELDS:
            if name in record.__dict__:
                doc[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[1] is not None:
            doc["error"] = type(record.exc_info[1]).__qualname__
            if _client_fault(record):
                doc["level"], doc["msg"] = "warning", "malformed request refused"
            else:
                doc["trace"] = safe_trace(record.exc_info[1])
        return json.dumps(doc, ensure_ascii=False)


_crash_log = logging.getLogger("intake.crash")


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    # Instead of Python's printed traceback (the message on its last line) on stderr.
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _crash_log.critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _crash_log.critical(
            "uncaught exception in a thread", exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
        )


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
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    # aiohttp's access log would write client addresses: it is off (see server.cli).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
