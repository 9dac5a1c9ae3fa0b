"""TokenBucket and client_address on an injected clock: refill, burst, per-key isolation, eviction,
refunds, a clock stepped back. No waiting: the clock is a number the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intake.ratelimit import TokenBucket, client_address, clock_seconds


class Seconds:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def bucket(rate: float = 6, burst: int = 3, **kw: Any) -> tuple[TokenBucket, Seconds]:
    clock = Seconds()
    return TokenBucket(rate, burst, monotonic=clock, **kw), clock


def test_a_full_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    b, _ = bucket(rate=6, burst=3)  # one token every 10 s
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("a") == pytest.approx(10.0)


def test_tokens_refill_at_the_rate_and_never_above_the_burst() -> None:
    b, clock = bucket(rate=6, burst=3)
    for _ in range(3):
        b.take("a")
    clock.t += 5  # half a token back
    assert b.take("a") == pytest.approx(5.0)
    clock.t += 5
    assert b.take("a") == 0.0
    assert b.take("a") == pytest.approx(10.0)
    clock.t += 3600  # an hour idle refills the burst, not 360 tokens
    assert [b.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert b.take("a") > 0


def test_a_fractional_token_does_not_let_a_request_through() -> None:
    b, clock = bucket(rate=6, burst=1)
    b.take("a")
    clock.t += 9.9
    assert b.take("a") == pytest.approx(0.1)
    assert b.take("a") == pytest.approx(0.1)  # a refused attempt spends nothing


def test_exactly_one_token_back_is_enough() -> None:
    b, clock = bucket(rate=60, burst=1)
    b.take("a")
    clock.t += 1.0
    assert b.take("a") == 0.0


def test_each_key_has_its_own_bucket() -> None:
    b, _ = bucket(rate=6, burst=2)
    b.take("a")
    b.take("a")
    assert b.take("a") > 0
    assert b.take("b") == 0.0 and b.take("b") == 0.0
    assert b.take("b") > 0


def test_a_clock_stepped_back_refills_nothing_and_takes_nothing() -> None:
    b, clock = bucket(rate=6, burst=2)
    b.take("a")
    clock.t -= 3600
    assert b.take("a") == 0.0
    assert b.take("a") > 0


def test_a_zero_rate_waits_a_minute() -> None:
    b, _ = bucket(rate=0, burst=1)
    assert b.take("a") == 0.0
    assert b.take("a") == 60.0


def test_the_oldest_key_is_evicted_beyond_max_keys_and_comes_back_full() -> None:
    b, _ = bucket(rate=6, burst=1, max_keys=2)
    b.take("a")
    b.take("b")
    b.take("c")  # evicts "a", the least recently used
    assert b.take("a") == 0.0
    assert b.take("c") > 0  # "c" is still remembered (evicting it would be the bug)
    assert len(b._buckets) == 2


def test_max_keys_keeps_exactly_that_many() -> None:
    b, _ = bucket(rate=6, burst=1, max_keys=3)
    for key in "abc":
        b.take(key)
    assert all(b.take(key) > 0 for key in "abc")


def test_the_default_max_keys_is_large() -> None:
    b = TokenBucket(6, 1)
    assert b._max_keys == 100_000
    assert b._rate == pytest.approx(0.1) and b._burst == 1.0


def test_the_default_clock_is_monotonic_time() -> None:
    import time

    assert TokenBucket(6, 1)._now is time.monotonic


def test_forget_starts_a_key_afresh_and_leaves_others() -> None:
    b, _ = bucket(rate=6, burst=1)
    b.take("a")
    b.take("b")
    b.forget("a")
    b.forget("never seen")  # no error
    assert b.take("a") == 0.0
    assert b.take("b") > 0


def test_refund_gives_one_token_back_up_to_the_burst() -> None:
    b, clock = bucket(rate=6, burst=2)
    b.take("a")
    b.take("a")
    b.refund("a")
    assert b.take("a") == 0.0
    assert b.take("a") > 0
    b.refund("a")
    b.refund("a")
    b.refund("a")  # never above the burst
    assert [b.take("a") for _ in range(3)][:2] == [0.0, 0.0]
    assert b.take("a") > 0
    clock.t += 1
    b.refund("fresh")  # a key never seen stays at its burst
    assert [b.take("fresh") for _ in range(3)][:2] == [0.0, 0.0]


def test_refund_counts_the_refill_up_to_now() -> None:
    b, clock = bucket(rate=6, burst=3)
    for _ in range(3):
        b.take("a")
    clock.t += 10  # one token refilled
    b.refund("a")  # plus one given back
    assert [b.take("a") for _ in range(2)] == [0.0, 0.0]
    assert b.take("a") > 0


def test_clock_seconds_reads_the_service_clock() -> None:
    class Fixed:
        at = datetime(2026, 1, 1, tzinfo=UTC)

        def now(self) -> datetime:
            return self.at

    clock = Fixed()
    seconds = clock_seconds(clock)
    first = seconds()
    clock.at += timedelta(seconds=90)
    assert seconds() - first == pytest.approx(90.0)
    assert first == clock.at.timestamp() - 90


class FakeRequest:
    def __init__(self, remote: str | None, forwarded: str | None = None) -> None:
        self.remote = remote
        self.headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}


@pytest.mark.parametrize(
    ("forwarded", "trusted", "expected"),
    [
        ("198.51.100.7", True, "198.51.100.7"),
        ("198.51.100.7, 10.0.0.1", True, "198.51.100.7"),
        (" 2001:db8::1 ,10.0.0.1", True, "2001:db8::1"),
        ("2001:DB8:0:0::1", True, "2001:db8::1"),  # one spelling per address
        ("not an address", True, "10.0.0.2"),
        ("", True, "10.0.0.2"),
        (None, True, "10.0.0.2"),
        ("198.51.100.7", False, "10.0.0.2"),  # not behind a trusted proxy: the header is ignored
    ],
)
def test_client_address(forwarded: str | None, trusted: bool, expected: str) -> None:
    request: Any = FakeRequest("10.0.0.2", forwarded)
    assert client_address(request, trusted) == expected


def test_client_address_without_a_peer() -> None:
    request: Any = FakeRequest(None)
    assert client_address(request, True) == "unknown"
    assert client_address(request, False) == "unknown"
