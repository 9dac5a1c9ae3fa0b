"""Token buckets in memory, for query-code lookups and other guessable endpoints.

Keys are client addresses reduced to a keyed hash by the caller; nothing here is stored or logged.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


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

    def take(self, key: str) -> float:
        """Spend one token. Returns 0 when allowed, else the seconds until a token is back."""
        now = self._now()
        tokens, stamp = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - stamp) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self._rate if self._rate > 0 else 60.0
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait
