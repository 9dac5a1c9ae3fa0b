"""The durable job queue: claiming due jobs under a lease, finishing them, recording failures.
Jobs are queued by the writer's transactions (:meth:`storage.db.Batch.job`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.db import Batch
from storage.records import JobRecord
from storage.tables import J, record_of

if TYPE_CHECKING:
    from storage.database import Database


class JobRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, now: datetime, *, limit: int = 16, lease: timedelta = timedelta(minutes=5)
    ) -> list[JobRecord]:
        """Take due jobs (and jobs whose lease ran out); other workers skip the locked rows."""

        async def claim_jobs_txn(batch: Batch) -> list[JobRecord]:
            due = (
                sa.select(J.c.id)
                .where(
                    sa.or_(
                        sa.and_(J.c.status == "pending", J.c.run_after <= now),
                        sa.and_(J.c.status == "running", J.c.locked_until < now),
                    )
                )
                .order_by(J.c.run_after, J.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list((await batch.conn.execute(due)).scalars())
            if not ids:
                return []
            await batch.conn.execute(
                sa.update(J)
                .where(J.c.id.in_(ids))
                .values(status="running", attempts=J.c.attempts + 1, locked_until=now + lease)
            )
            rows = await batch.conn.execute(
                sa.select(J.c.id, J.c.kind, J.c.payload, J.c.attempts, J.c.max_attempts)
                .where(J.c.id.in_(ids))
                .order_by(J.c.id)
            )
            return [record_of(JobRecord, r) for r in rows]

        claimed: list[JobRecord] = await self._db.writer.run(claim_jobs_txn)
        return claimed

    async def finish(self, job_id: int, now: datetime) -> None:
        async def finish_job_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(J).where(J.c.id == job_id).values(status="done", finished_at=now, locked_until=None)
            )

        await self._db.writer.run(finish_job_txn)

    async def fail(self, job: JobRecord, error: str, now: datetime, retry_at: datetime) -> str:
        """Record a failed attempt: back to pending with a later ``run_after``, or dead."""
        status = "dead" if job.attempts >= job.max_attempts else "pending"

        async def fail_job_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(J)
                .where(J.c.id == job.id)
                .values(
                    status=status,
                    run_after=retry_at,
                    locked_until=None,
                    last_error=error[:500],
                    finished_at=now if status == "dead" else None,
                )
            )

        await self._db.writer.run(fail_job_txn)
        return status

    async def counts(self) -> dict[str, int]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(J.c.status, sa.func.count()).group_by(J.c.status))
            return {r[0]: int(r[1]) for r in rows}
