"""Budgets and one-time values counted in PostgreSQL for several workers (issue 21): two database
handles stand for two server processes on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from intake.ratelimit import SharedBucket, SharedNonces, bucket
from storage import keys
from storage.database import Database
from storage.shared_limits import FULL_AFTER, SharedLimits


@pytest.fixture
async def two(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[SharedLimits, SharedLimits]]:
    keyring = keys.load_or_create(tmp_path / "keys")
    first, second = (Database(pg_url, keyring, tmp_path / name) for name in ("a", "b"))
    try:
        assert first.shared_limits is not None and second.shared_limits is not None
        yield first.shared_limits, second.shared_limits
    finally:
        await first.close()
        await second.close()


class Seconds:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_concurrent_takes_on_two_workers_spend_one_budget(
    two: tuple[SharedLimits, SharedLimits],
) -> None:
    clock = Seconds()
    a, b = (SharedBucket(store, "status", 10, 10, clock) for store in two)
    waits = await asyncio.gather(*(limiter.take("client") for _ in range(25) for limiter in (a, b)))
    assert sum(1 for w in waits if w == 0) == 10  # ten tokens in all, not ten per worker
    assert all(w == pytest.approx(6.0) for w in waits if w)  # 10 a minute: one back in 6 s
    clock.t += 6
    assert [await a.take("client"), await b.take("client")] == [0, pytest.approx(6.0)]
    assert await b.take("another client") == 0  # keys are apart


async def test_refund_and_forget_reach_the_other_worker(two: tuple[SharedLimits, SharedLimits]) -> None:
    clock = Seconds()
    a, b = (SharedBucket(store, "login-address", 2, 2, clock) for store in two)
    assert [await a.take("k"), await a.take("k")] == [0, 0]
    assert await b.take("k") == pytest.approx(30.0)
    await a.refund("k")
    assert await b.take("k") == 0
    assert await b.take("k") > 0
    await b.forget("k")
    assert [await a.take("k"), await a.take("k"), await a.take("k") > 0] == [0, 0, True]


async def test_a_clock_stepped_back_refills_nothing(two: tuple[SharedLimits, SharedLimits]) -> None:
    clock = Seconds()
    limiter = SharedBucket(two[0], "status", 60, 1, clock)
    assert await limiter.take("k") == 0
    clock.t -= 3600
    assert await limiter.take("k") == pytest.approx(1.0)


async def test_a_signed_request_is_accepted_once_across_workers(
    two: tuple[SharedLimits, SharedLimits],
) -> None:
    clock = Seconds()
    a, b = (SharedNonces(store, "app-signature", clock) for store in two)
    verdicts = await asyncio.gather(
        *(n.spend("1000000.abc", clock.t + 300) for _ in range(5) for n in (a, b))
    )
    assert sorted(verdicts) == ["fresh"] + ["replayed"] * 9
    assert await b.spend("1000000.abd", clock.t + 300) == "fresh"
    clock.t += 301  # expired: the window refuses it as stale anyway, so it may be spent afresh
    assert await a.spend("1000000.abc", clock.t + 300) == "fresh"
    assert await b.spend("1000000.abc", clock.t + 300) == "replayed"


async def test_the_sweep_deletes_full_buckets_and_expired_values(
    two: tuple[SharedLimits, SharedLimits],
) -> None:
    store = two[0]
    clock = Seconds()
    limiter = SharedBucket(store, "status", 1, 1, clock)
    await limiter.take("old")
    clock.t += FULL_AFTER / 2
    await limiter.take("recent")
    nonces = SharedNonces(store, "room-token", clock)
    sweep_at = clock.t + FULL_AFTER / 2 + 1  # a day after the old bucket's last use
    await nonces.spend("gone", sweep_at - 1)
    await nonces.spend("kept", sweep_at + 60)
    assert await store.sweep(sweep_at) == 2  # the old bucket and the expired value
    assert await nonces.spend("kept", sweep_at + 60) == "replayed"
    assert await limiter.take("recent") > 0  # still counted: not swept


def test_memory_is_chosen_without_a_shared_store() -> None:
    local = bucket(None, "status", 10, 10, Seconds())
    assert not isinstance(local, SharedBucket)
