"""The manual triage queue reads through its partial index (migration 0031, issue 21): the
repository's predicate must say what the index's does, or PostgreSQL scans every report."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from storage.models.reports import NEEDS_REVIEW


async def test_the_review_queue_query_can_use_the_partial_index(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SET enable_seqscan = off"))
            await conn.execute(sa.text("SET enable_sort = off"))
            query = "EXPLAIN SELECT case_no FROM reports WHERE {} ORDER BY received_at, case_no LIMIT 500"
            explain = sa.text(query.format(NEEDS_REVIEW["postgresql"]))
            plan = "\n".join(row[0] for row in await conn.execute(explain))
            predicate = (
                await conn.execute(
                    sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_reports_needs_review'")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert "ix_reports_needs_review" in plan, plan
    assert "needs_review" in predicate and predicate.startswith("CREATE INDEX")
