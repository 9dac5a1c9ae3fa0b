"""Storage's own errors: the database being out of reach is one exception, whatever the driver said.

The engines translate every driver failure that means "the database cannot be reached now" (the
server down or restarting, a connection dropped, refused, timed out, too many clients, an SQLite
file locked past its busy timeout) into :class:`DatabaseUnavailable` (see ``storage.db``), so the
layers above answer 503 and retry later instead of crashing. The exception carries no text from
the driver: a driver's message may quote a statement, and is never shown or logged.

:class:`OutageLog` writes one line when an outage begins and then at most one per interval (with
the number of failures in between), and one line when a connection succeeds again: a request
storm during an outage must not become one log line per request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

log = logging.getLogger("storage")

# SQLSTATE classes of unavailability: 08 connection exception (08003 connection does not exist,
# 08006 connection failure, ...), 53 insufficient resources (53300 too many connections, 53100
# disk full), 57P operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
# connect now: starting up or shutting down).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
_CHAIN_DEPTH = 6  # driver error -> adapter error -> SQLAlchemy error: a few links are enough


class DatabaseUnavailable(Exception):
    """The database cannot be reached now; the operation did not complete and may be retried.

    A write that raises this was not acknowledged: its commit failed or its outcome is unknown (a
    retry with the same idempotency key finds it if it did commit)."""

    def __init__(self) -> None:
        super().__init__("the database is unavailable")


def _unavailable_one(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable | OSError | TimeoutError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the driver reported a disconnect
        return True
    # SQLite: another process has held the write lock for longer than the busy timeout (10 s).
    return isinstance(exc, sqlite3.OperationalError) and str(exc) == "database is locked"


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the database is out of reach."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return False
        if _unavailable_one(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class OutageLog:
    """The log of one database's outages: the first failure, then one line per ``interval``."""

    def __init__(self, interval: float = 30.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()  # the SQLite writer thread reports here too
        self._down = False
        self._last_line = 0.0
        self._failures = 0  # since the last line

    @property
    def down(self) -> bool:
        return self._down

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            now = self._monotonic()
            if self._down and now - self._last_line < self._interval:
                return
            first, self._down = not self._down, True
            count, self._failures, self._last_line = self._failures, 0, now
        log.warning(
            "database unavailable" if first else "database still unavailable",
            extra={"reason": "database_unavailable", "count": count},
        )

    def connected(self) -> None:
        if not self._down:  # the common case, without the lock: a new connection, no outage
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
            count, self._failures = self._failures, 0
        log.warning("database available again", extra={"reason": "database_available", "count": count})


# --- key material ----------------------------------------------------------------------------------


class KeyError_(Exception):
    """The key file is missing, unreadable or malformed, or a key version is not available."""


class ReadOnlyKeysError(KeyError_):
    """The provider cannot add or remove key versions (``INTAKE_MASTER_KEY``, an external KMS)."""
