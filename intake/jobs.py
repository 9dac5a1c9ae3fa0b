"""The job worker: runs durable jobs after the acknowledgement, with retries and backoff.

Handlers are registered by kind at application start; a job whose kind has no handler is retried
later (a newer worker may know it) and ends dead after its attempts, visible to operators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from intake.clock import Clock
from intake.metrics import Metrics
from storage.database import Database
from storage.records import JobRecord

log = logging.getLogger("intake.jobs")
Handler = Callable[[JobRecord], Awaitable[None]]


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempt - 1)))


class JobWorker:
    def __init__(self, db: Database, clock: Clock, metrics: Metrics, *, idle_seconds: float = 1.0) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._idle = idle_seconds
        self.handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and run the due jobs; returns how many ran."""
        jobs = await self._db.jobs.claim(self._clock.now())
        for job in jobs:
            await self._run(job)
        return len(jobs)

    async def run_forever(self) -> None:
        while True:
            try:
                ran = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job worker turn failed")
                ran = 0
            if not ran:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle)

    async def _run(self, job: JobRecord) -> None:
        handler = self.handlers.get(job.kind)
        extra = {"job_id": job.id, "job_kind": job.kind, "attempt": job.attempts}
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            await handler(job)
        except Exception as exc:
            now = self._clock.now()
            outcome = await self._db.jobs.fail(job, f"{type(exc).__name__}", now, now + backoff(job.attempts))
            self._metrics.jobs.labels(job.kind, outcome).inc()
            log.warning("job failed", extra={**extra, "outcome": outcome}, exc_info=True)
            return
        await self._db.jobs.finish(job.id, self._clock.now())
        self._metrics.jobs.labels(job.kind, "done").inc()


def builtin_handlers(db: Database) -> dict[str, Handler]:
    async def expire_receipt(job: JobRecord) -> None:
        # After the window, a retried delivery still finds its case but can no longer recover the code.
        await db.reports.expire_receipt(uuid.UUID(job.payload["report_id"]))

    return {"expire_receipt": expire_receipt}
