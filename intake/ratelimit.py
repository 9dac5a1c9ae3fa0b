"""Token buckets in memory, for query-code lookups, staff logins and other guessable endpoints.

Keys are client addresses (or pairs with them) reduced to a keyed hash by the caller; nothing here
is stored or logged. Time comes from the service clock (:func:`clock_seconds`), so tests advance a
clock instead of sleeping.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from intake.clock import Clock


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    """The client's address: the first ``X-Forwarded-For`` entry behind a trusted proxy, else the
    peer. One definition for the channels, the staff API, the console and video reception."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(first))
        except ValueError:
            pass
    return request.remote or "unknown"


def clock_seconds(clock: Clock) -> Callable[[], float]:
    """The service clock as seconds, for :class:`TokenBucket`."""
    return lambda: clock.now().timestamp()


class TokenBucket:
    def __init__(
        self,
        rate_per_minute: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._max_keys = max_keys
        self._now = monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.pop(key, (self._burst, now))
        # A wall clock stepped back refills nothing (and takes nothing away).
        return min(self._burst, tokens + max(0.0, now - stamp) * self._rate)

    def _keep(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def take(self, key: str) -> float:
        """Spend one token. Returns 0 when allowed, else the seconds until a token is back."""
        now = self._now()
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            self._keep(key, tokens - 1.0, now)
            return 0.0
        self._keep(key, tokens, now)
        return (1.0 - tokens) / self._rate if self._rate > 0 else 60.0

    def forget(self, key: str) -> None:
        """Start ``key`` afresh, with a full bucket."""
        self._buckets.pop(key, None)

    def refund(self, key: str) -> None:
        """Give back a token spent on an attempt that turned out not to count (a good login)."""
        now = self._now()
        self._keep(key, min(self._burst, self._tokens(key, now) + 1.0), now)
