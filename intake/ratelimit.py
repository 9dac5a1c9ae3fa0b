"""Token buckets for query-code lookups, staff logins and other guessable endpoints, and the
one-time values (signed requests) already spent.

Keys are client addresses (or pairs with them) reduced to a keyed hash by the caller; no address is
stored or logged. Time comes from the service clock (:func:`clock_seconds`), so tests advance a
clock instead of sleeping.

Where they are counted (issue 21): in this process's memory (:class:`TokenBucket`,
:class:`LocalNonces`) on the embedded SQLite default, which one process owns; in the database
(:class:`SharedBucket`, :class:`SharedNonces`) on PostgreSQL, where several workers serve the same
deployment and a guesser spreading requests over them must meet one budget, not one per worker.
:func:`bucket` and :func:`nonces` choose by the database.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from intake.clock import Clock
from storage.shared_limits import SharedLimits


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


class Limiter(Protocol):
    """A budget per key, wherever it is counted."""

    async def take(self, key: str) -> float:
        """Spend one token: 0 when allowed, else the seconds until one is back."""
        ...

    async def refund(self, key: str) -> None: ...

    async def forget(self, key: str) -> None: ...


class LocalBucket:
    """:class:`TokenBucket` behind the :class:`Limiter` calls: one process's memory."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    async def take(self, key: str) -> float:
        return self.bucket.take(key)

    async def refund(self, key: str) -> None:
        self.bucket.refund(key)

    async def forget(self, key: str) -> None:
        self.bucket.forget(key)


class SharedBucket:
    """The same budget counted in the database, across every worker (one statement a call)."""

    def __init__(
        self, store: SharedLimits, name: str, rate_per_minute: float, burst: int, seconds: Callable[[], float]
    ) -> None:
        self._store = store
        self._name = name
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._now = seconds

    async def take(self, key: str) -> float:
        taken = await self._store.take(self._name, key, self._rate, self._burst, self._now())
        if taken.granted:
            return 0.0
        return (1.0 - taken.tokens) / self._rate if self._rate > 0 else 60.0

    async def refund(self, key: str) -> None:
        await self._store.refund(self._name, key, self._rate, self._burst, self._now())

    async def forget(self, key: str) -> None:
        await self._store.forget(self._name, key)


def bucket(
    shared: SharedLimits | None, name: str, rate_per_minute: float, burst: int, seconds: Callable[[], float]
) -> Limiter:
    """A budget named ``name`` (at most 32 characters): in the database when ``shared`` is given
    (PostgreSQL), else in memory."""
    if shared is not None:
        return SharedBucket(shared, name, rate_per_minute, burst, seconds)
    return LocalBucket(TokenBucket(rate_per_minute, burst, monotonic=seconds))


class Nonces(Protocol):
    async def spend(self, nonce: str, expires: float) -> str:
        """Record a one-time value until ``expires`` (service-clock seconds): ``fresh`` (now
        spent), ``replayed`` (spent before), or ``full`` (no room to remember it: answer busy)."""
        ...


class LocalNonces:
    """One process's memory, bounded: past ``max_values`` unexpired values nothing new is taken."""

    def __init__(self, seconds: Callable[[], float], *, max_values: int = 100_000) -> None:
        self._now = seconds
        self._max = max_values
        self._spent: dict[str, float] = {}
        self._swept_at = 0.0

    def __len__(self) -> int:
        return len(self._spent)

    async def spend(self, nonce: str, expires: float) -> str:
        now = self._now()
        if now - self._swept_at >= 1.0 or len(self._spent) >= self._max:
            self._swept_at = now
            self._spent = {n: exp for n, exp in self._spent.items() if exp >= now}
        if nonce in self._spent:
            return "replayed"
        if len(self._spent) >= self._max:
            return "full"
        self._spent[nonce] = expires
        return "fresh"


class SharedNonces:
    def __init__(self, store: SharedLimits, scope: str, seconds: Callable[[], float]) -> None:
        self._store = store
        self._scope = scope
        self._now = seconds

    async def spend(self, nonce: str, expires: float) -> str:
        fresh = await self._store.spend(self._scope, nonce, expires, self._now())
        return "fresh" if fresh else "replayed"


def nonces(shared: SharedLimits | None, scope: str, seconds: Callable[[], float]) -> Nonces:
    """One-time values of ``scope`` (at most 16 characters): in the database when ``shared`` is
    given (PostgreSQL), else in memory."""
    return SharedNonces(shared, scope, seconds) if shared is not None else LocalNonces(seconds)
