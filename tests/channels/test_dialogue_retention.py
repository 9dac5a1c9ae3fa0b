"""The retention sweep of the platform channels' dialogue state (``purge_dialogue_state``): old seen
messages and abandoned drafts go, recent ones stay, each sweep leaves one audit event with the counts,
and the job keeps exactly one successor queued however many workers start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from intake.jobs import JobWorker
from server.app import Services, build_app, services_of
from server.config import Settings
from storage.audit import utc
from storage.conversations import PURGE_EVERY, PURGE_JOB, ConversationStore
from storage.tables import J as JOBS

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class SteppingClock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at


class IdleTurns:
    """Counts each worker's turns that found nothing due, so a test awaits "the worker has caught
    up" instead of sleeping and hoping it has."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[int, int] = {}
        self._changed = asyncio.Condition()
        original = JobWorker.run_once
        turns = self

        async def run_once(worker: JobWorker) -> int:
            ran = await original(worker)
            if not ran:
                async with turns._changed:
                    turns.counts[id(worker)] = turns.counts.get(id(worker), 0) + 1
                    turns._changed.notify_all()
            return ran

        monkeypatch.setattr(JobWorker, "run_once", run_once)

    async def at_least(self, services: Services, n: int, within: float = 30.0) -> None:
        key = id(services.worker)
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.counts.get(key, 0) >= n)


async def _app(
    aiohttp_client: Any, settings: Settings, clock: SteppingClock, *, run_worker: bool
) -> Services:
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=run_worker))
    return services_of(client.app)


async def _message(store: ConversationStore, n: int, at: datetime) -> None:
    """One platform message taken in hand and answered, as the channels do."""
    assert (await store.claim_message(f"m{n}", "wechat", at)).fresh
    await store.finish_message(
        message_key=f"m{n}",
        reply=f"回复{n}",
        conversation_key=f"c{n}",
        channel="wechat",
        step="what",
        draft={"what": f"草稿{n}"},
        now=at,
    )


async def _seen(services: Services) -> set[str]:
    async with services.db.read_engine.connect() as conn:
        return set((await conn.execute(sa.text("SELECT key FROM channel_messages"))).scalars())


async def _purge_jobs(services: Services) -> list[tuple[str, datetime]]:
    async with services.db.read_engine.connect() as conn:
        rows = await conn.execute(
            sa.select(JOBS.c.status, JOBS.c.run_after).where(JOBS.c.kind == PURGE_JOB).order_by(JOBS.c.id)
        )
        return [(r.status, utc(r.run_after)) for r in rows]


async def _purge_events(services: Services) -> list[dict[str, Any]]:
    events = [ev async for ev in services.db.audit.iter_events() if ev.kind == "dialogue_state_purged"]
    assert all(ev.actor == "system:retention" and ev.report_id is None for ev in events)
    return [json.loads(ev.payload) for ev in events]


async def test_sweep_deletes_old_state_keeps_recent_and_audits_counts(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    clock = SteppingClock(T0)
    services = await _app(aiohttp_client, make_settings(INTAKE_DATABASE_URL=db_url), clock, run_worker=False)
    store = services.db.conversations
    await _message(store, 1, T0)
    await _message(store, 2, T0 + timedelta(hours=20))

    # 49 hours on: the first message is past 48 hours, both drafts are well within 30 days.
    clock.at = T0 + timedelta(hours=49)
    await store.schedule_purge(clock.at, clock.at)
    assert await services.worker.run_once() == 1
    assert await _seen(services) == {"m2"}
    assert await store.get("c1") is not None and await store.get("c2") is not None

    # 30 days and an hour on: the first draft was abandoned, the second (20 hours younger) stays.
    clock.at = T0 + timedelta(days=30, hours=1)
    assert await services.worker.run_once() == 1  # the successor queued by the first sweep
    assert await _seen(services) == set()
    assert await store.get("c1") is None
    kept = await store.get("c2")
    assert kept is not None and kept.draft == {"what": "草稿2"}

    assert await _purge_events(services) == [
        {"conversations": 0, "channel_messages": 1},
        {"conversations": 1, "channel_messages": 1},
    ]
    ok, _, detail = await services.db.audit.verify()
    assert ok, detail


async def test_retention_settings_are_used(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    clock = SteppingClock(T0)
    settings = make_settings(
        INTAKE_DATABASE_URL=db_url,
        INTAKE_DIALOGUE_RETENTION_DAYS="2",
        INTAKE_SEEN_MESSAGE_RETENTION_HOURS="3",
    )
    services = await _app(aiohttp_client, settings, clock, run_worker=False)
    store = services.db.conversations
    await _message(store, 1, T0)
    clock.at = T0 + timedelta(hours=4)
    await store.schedule_purge(clock.at, clock.at)
    await services.worker.run_once()
    assert await _seen(services) == set()
    assert await store.get("c1") is not None
    clock.at = T0 + timedelta(days=2, hours=1)
    await services.worker.run_once()
    assert await store.get("c1") is None
    assert await _purge_events(services) == [
        {"conversations": 0, "channel_messages": 1},
        {"conversations": 1, "channel_messages": 0},
    ]


async def test_sweep_reschedules_itself_exactly_once(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    clock = SteppingClock(T0)
    services = await _app(aiohttp_client, make_settings(INTAKE_DATABASE_URL=db_url), clock, run_worker=False)
    store = services.db.conversations

    # Two workers starting both try to queue the first sweep: one is queued.
    assert await store.schedule_purge(T0, T0)
    assert not await store.schedule_purge(T0, T0)
    assert await _purge_jobs(services) == [("pending", T0)]

    assert await services.worker.run_once() == 1
    assert await _purge_jobs(services) == [("done", T0), ("pending", T0 + PURGE_EVERY)]
    assert await services.worker.run_once() == 0  # the next one is not due for an hour
    clock.at = T0 + PURGE_EVERY
    assert await services.worker.run_once() == 1
    assert await _purge_jobs(services) == [
        ("done", T0),
        ("done", T0 + PURGE_EVERY),
        ("pending", T0 + 2 * PURGE_EVERY),
    ]

    # A sweep re-run (its lease ran out after a crash) finds its successor queued: none added.
    await store.purge(clock.at, next_run=clock.at + PURGE_EVERY)
    assert [s for s, _ in await _purge_jobs(services)].count("pending") == 1


async def test_duplicate_sweeps_collapse_to_one(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    """Two sweeps pending (e.g. queued before this check existed) leave a single successor."""
    clock = SteppingClock(T0)
    services = await _app(aiohttp_client, make_settings(INTAKE_DATABASE_URL=db_url), clock, run_worker=False)
    await services.db.conversations.enqueue(PURGE_JOB, {}, T0)
    await services.db.conversations.enqueue(PURGE_JOB, {}, T0)
    assert await services.worker.run_once() == 2
    jobs = await _purge_jobs(services)
    assert [s for s, _ in jobs] == ["done", "done", "pending"]
    for _ in range(3):
        clock.at += PURGE_EVERY
        assert await services.worker.run_once() == 1
    assert [s for s, _ in await _purge_jobs(services)].count("pending") == 1


async def test_concurrent_scheduling_queues_one(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    """Two processes' writers (two apps on one database) scheduling at once queue one sweep."""
    clock = SteppingClock(T0)
    settings = make_settings(INTAKE_DATABASE_URL=db_url)
    a = await _app(aiohttp_client, settings, clock, run_worker=False)
    b = await _app(aiohttp_client, settings, clock, run_worker=False)
    for _ in range(5):
        await asyncio.gather(
            a.db.conversations.schedule_purge(T0, T0), b.db.conversations.schedule_purge(T0, T0)
        )
    assert await _purge_jobs(a) == [("pending", T0)]


async def test_worker_start_queues_the_first_sweep_once(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppingClock(T0)
    settings = make_settings(INTAKE_DATABASE_URL=db_url)
    turns = IdleTurns(monkeypatch)
    first = await _app(aiohttp_client, settings, clock, run_worker=True)
    # The worker runs the first sweep at once, which queues the next; then it finds nothing due.
    # (It runs two turns at once: one may find nothing while the other still sweeps, so each
    # idle turn is a moment to look, not proof that the sweep is over.)
    want = [("done", T0), ("pending", T0 + PURGE_EVERY)]
    for idle in range(1, 60):
        await turns.at_least(first, idle)
        if await _purge_jobs(first) == want:
            break
    assert await _purge_jobs(first) == want
    # Another worker starts: once both its turns have looked for due work, still one sweep done,
    # one queued.
    second = await _app(aiohttp_client, settings, clock, run_worker=True)
    await turns.at_least(second, 2)
    assert await _purge_jobs(second) == want
    assert await _purge_events(first) == []  # the sweep ran (done above) but deleted nothing: no event


@pytest.mark.parametrize("name", ["INTAKE_DIALOGUE_RETENTION_DAYS", "INTAKE_SEEN_MESSAGE_RETENTION_HOURS"])
def test_retention_must_be_positive(make_settings: Callable[..., Settings], name: str) -> None:
    assert make_settings().dialogue_retention_days == 30
    assert make_settings().seen_message_retention_hours == 48
    with pytest.raises(SystemExit):
        make_settings(**{name: "0"})
