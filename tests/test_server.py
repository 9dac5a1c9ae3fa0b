"""Server-wide behaviour: health, metrics, the job worker after the acknowledgement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import channels
from intake.jobs import JobWorker, backoff
from server.app import build_app, services_of
from server.config import Settings
from storage.records import JobRecord


class SteppingClock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at


async def test_healthz_lists_mounted_channels(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert "app" in body["channels"]


async def test_metrics_count_reports_by_channel(client: Any) -> None:
    await client.post("/api/v1/reports", json={"content": "一"})
    await client.post("/api/v1/reports", json={"content": "二"})
    await client.post("/api/v1/status", json={"query_code": "0" * 16})
    text = await (await client.get("/metrics")).text()
    assert 'intake_reports_accepted_total{channel="app"} 2.0' in text
    assert 'intake_status_lookups_total{result="miss"} 1.0' in text
    assert "intake_writer_commits" in text
    assert 'route="/api/v1/reports",status="201"' in text


async def test_receipt_window_closes_through_the_job_queue(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    clock = SteppingClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    client = await aiohttp_client(
        build_app(make_settings(), channels.REGISTRY, clock=clock, run_worker=False)
    )
    services = services_of(client.app)
    body = {"content": "重复提交测试"}
    first = await (await client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": "w1"})).json()

    # Within the window a retry recovers the code; only the triage job is due, not the expiry.
    assert await services.worker.run_once() == 1
    assert (await services.db.reports.get(first["case_no"])).triage is not None
    retry = await (await client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": "w1"})).json()
    assert retry["query_code"] == first["query_code"]

    clock.at += timedelta(hours=24, seconds=1)
    assert await services.worker.run_once() == 1
    assert await services.db.jobs.counts() == {"done": 2}
    late = await client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": "w1"})
    assert late.status == 200
    late_body = await late.json()
    assert late_body["case_no"] == first["case_no"]
    assert late_body["query_code"] is None
    # The code itself still works for the citizen who kept it.
    status = await client.post("/api/v1/status", json={"query_code": first["query_code"]})
    assert status.status == 200


async def test_failing_jobs_back_off_then_die(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    clock = SteppingClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    client = await aiohttp_client(
        build_app(make_settings(), channels.REGISTRY, clock=clock, run_worker=False)
    )
    services = services_of(client.app)
    worker = JobWorker(services.db, clock, services.metrics)
    calls: list[int] = []

    async def flaky(job: JobRecord) -> None:
        calls.append(job.attempts)
        raise RuntimeError("platform down")

    worker.register("expire_receipt", flaky)
    worker.register_batch("triage", services.worker.batch_handlers["triage"])
    await client.post("/api/v1/reports", json={"content": "x"}, headers={"Idempotency-Key": "f1"})
    assert await worker.run_once() == 1  # the triage job, due at once
    clock.at += timedelta(days=1, seconds=1)
    for _ in range(8):
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0  # not due again until the backoff passed
        clock.at += backoff(len(calls)) + timedelta(seconds=1)
    assert calls == [1, 2, 3, 4, 5, 6, 7, 8]
    assert await services.db.jobs.counts() == {"dead": 1, "done": 1}
    text = await (await client.get("/metrics")).text()
    assert 'intake_jobs_total{kind="expire_receipt",outcome="dead"} 1.0' in text


async def test_a_batch_handler_gets_its_kind_together_and_fails_only_the_failing(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    clock = SteppingClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    client = await aiohttp_client(
        build_app(make_settings(), channels.REGISTRY, clock=clock, run_worker=False)
    )
    services = services_of(client.app)
    worker = JobWorker(services.db, clock, services.metrics)
    calls: list[list[int]] = []
    singles: list[int] = []

    async def bulk(jobs: list[JobRecord]) -> list[Exception | None]:
        calls.append([job.payload["n"] for job in jobs])
        return [ValueError("odd") if job.payload["n"] % 2 else None for job in jobs]

    async def single(job: JobRecord) -> None:
        singles.append(job.payload["n"])

    worker.register_batch("bulk", bulk)
    worker.register("single", single)
    for n in range(6):
        await services.db.conversations.enqueue("bulk", {"n": n}, clock.now())
        clock.at += timedelta(milliseconds=1)
    await services.db.conversations.enqueue("single", {"n": 99}, clock.now())
    assert await worker.run_once() == 7
    assert calls == [[0, 1, 2, 3, 4, 5]]  # one call, in the order queued
    assert singles == [99]
    assert await services.db.jobs.counts() == {"done": 4, "pending": 3}  # the odd ones retry later
    clock.at += backoff(1) + timedelta(seconds=1)
    assert await worker.run_once() == 3
    assert calls[-1] == [1, 3, 5]  # only the failed ones come back (and fail again)

    async def broken(jobs: list[JobRecord]) -> list[Exception | None]:
        return [None]  # answers for fewer jobs than it was given: all of them fail

    worker.register_batch("bulk", broken)
    clock.at += backoff(2) + timedelta(seconds=1)
    assert await worker.run_once() == 3
    assert await services.db.jobs.counts() == {"done": 4, "pending": 3}
    text = await (await client.get("/metrics")).text()
    assert 'intake_jobs_total{kind="bulk",outcome="done"} 3.0' in text
    assert 'intake_jobs_total{kind="bulk",outcome="pending"} 9.0' in text  # 3 failures a turn


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff(30) == timedelta(hours=1)
