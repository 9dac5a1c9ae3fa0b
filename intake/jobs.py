"""The job worker: runs durable jobs after the acknowledgement, with retries and backoff.

Handlers are registered by kind at application start; a job whose kind has no handler is retried
later (a newer worker may know it) and ends dead after its attempts, visible to operators.

While the database is out of reach the worker waits, longer each turn up to a few seconds, and
logs nothing itself: storage logs the outage once per interval. A job claimed before the outage
and not settled is claimed again when its lease runs out.
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
from storage.errors import DatabaseUnavailable
from storage.records import JobRecord

log = logging.getLogger("intake.jobs")
Handler = Callable[[JobRecord], Awaitable[None]]
# Takes every job of its kind that one turn claimed; returns, per job in order, None (done) or the
# error that job met.
BatchHandler = Callable[[list[JobRecord]], Awaitable[list[Exception | None]]]


OUTAGE_WAIT_MAX = 5.0  # seconds between turns while the database is out of reach


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempt - 1)))


class JobWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        *,
        idle_seconds: float = 1.0,
        claim: int = 16,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self._db = db
        # How long a claimed job is this worker's: past it (the worker died), another takes it.
        self._lease = lease
        # Jobs per turn. 64 drained a burst no faster (136 against 141 triaged reports/s: the triage
        # process is the limit) and, while reports kept coming, added ~20 ms to the p99 of filing.
        self._claim = claim
        self._clock = clock
        self._metrics = metrics
        self._idle = idle_seconds
        self.handlers: dict[str, Handler] = {}
        self.batch_handlers: dict[str, BatchHandler] = {}
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def register_batch(self, kind: str, handler: BatchHandler) -> None:
        """A handler for many jobs of one kind at once (work that is cheaper in bulk, and whose
        jobs do not depend on each other's order of completion)."""
        self.batch_handlers[kind] = handler

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and run the due jobs; returns how many ran. Jobs with a plain handler run one
        after another, in the order claimed; alongside them, each batch handler gets all the
        claimed jobs of its kind in one call."""
        jobs = await self._db.jobs.claim(self._clock.now(), limit=self._claim, lease=self._lease)
        single: list[JobRecord] = []
        batched: dict[str, list[JobRecord]] = {}
        for job in jobs:
            if job.kind in self.batch_handlers:
                batched.setdefault(job.kind, []).append(job)
            else:
                single.append(job)

        async def one_by_one() -> None:
            for job in single:
                await self._run(job)

        await asyncio.gather(one_by_one(), *(self._run_batch(kind, group) for kind, group in batched.items()))
        return len(jobs)

    async def run_forever(self, turns: int = 2) -> None:
        """Run turns until cancelled, ``turns`` of them at once: while one turn's jobs write their
        results, the next turn's are already claimed and running (the triage processes are kept
        busy instead of waiting for the writer). Claims never overlap: each job runs once."""
        await asyncio.gather(*(self._turns() for _ in range(max(1, turns))))

    async def _turns(self) -> None:
        outage_wait = 0.0
        while True:
            try:
                ran = await self.run_once()
                outage_wait = 0.0
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable:
                outage_wait = min(OUTAGE_WAIT_MAX, max(self._idle, outage_wait * 2))
                await self._pause(outage_wait)
                continue
            except Exception:
                log.exception("job worker turn failed", extra={"reason": "job_worker_failed"})
                ran = 0
            if not ran:
                await self._pause(self._idle)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if new jobs are announced (``wake``)."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _run(self, job: JobRecord) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            await handler(job)
        except Exception as exc:
            await self._settle(job, exc)
            return
        await self._settle(job, None)

    async def _run_batch(self, kind: str, jobs: list[JobRecord]) -> None:
        try:
            errors = await self.batch_handlers[kind](jobs)
            if len(errors) != len(jobs):
                raise RuntimeError(
                    f"the {kind!r} batch handler answered for {len(errors)} of {len(jobs)} jobs"
                )
        except Exception as exc:
            errors = [exc] * len(jobs)
        # Settled together, the jobs' updates share the writer's commits.
        await asyncio.gather(*(self._settle(job, error) for job, error in zip(jobs, errors, strict=True)))

    async def _settle(self, job: JobRecord, error: Exception | None) -> None:
        """Finish a job, or record its failure for a retry with backoff (dead after its attempts)."""
        if error is None:
            await self._db.jobs.finish(job.id, self._clock.now())
            self._metrics.jobs.labels(job.kind, "done").inc()
            return
        now = self._clock.now()
        outcome = await self._db.jobs.fail(job, f"{type(error).__name__}", now, now + backoff(job.attempts))
        self._metrics.jobs.labels(job.kind, outcome).inc()
        if isinstance(error, DatabaseUnavailable):
            return  # an outage, logged by storage, not a fault of this job
        extra = {"job_id": job.id, "job_kind": job.kind, "attempt": job.attempts, "outcome": outcome}
        log.warning("job failed", extra=extra, exc_info=error)


def builtin_handlers(db: Database) -> dict[str, Handler]:
    async def expire_receipt(job: JobRecord) -> None:
        # After the window, a retried delivery still finds its case but can no longer recover the code.
        await db.reports.expire_receipt(uuid.UUID(job.payload["report_id"]))

    return {"expire_receipt": expire_receipt}
