"""Rate-limit buckets and spent one-time values in the database, for several server processes on
one PostgreSQL database (issue 21). SQL only: the limits themselves (which bucket, what rate) are
the callers' (:mod:`intake.ratelimit`).

Each call is one short transaction of one statement on the write engine's pool, not a turn of the
group-commit writer: it locks one row (the bucket) for the time of the statement, so two workers
spending from the same bucket are counted one after the other, and no batch of reports waits on
a guesser's bucket. Times are the service clock's seconds, passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from storage.tables import NONCE, RB

if TYPE_CHECKING:
    from storage.database import Database

FULL_AFTER = 24 * 3600.0  # every bucket in use refills within a day: an older row is a full one


@dataclass(frozen=True)
class Taken:
    granted: bool
    tokens: float  # left after the take (or before it, when refused)


class SharedLimits:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(self, bucket: str, key: str, rate: float, burst: float, now: float) -> Taken:
        """Refill the bucket for the time since its last use (at ``rate`` per second, up to
        ``burst``; a clock stepped back refills nothing), then spend one token if there is one."""
        refilled = sa.func.least(burst, RB.c.tokens + sa.func.greatest(0.0, now - RB.c.stamp) * rate)
        insert = postgresql.insert(RB).values(
            bucket=bucket, key=key, tokens=burst - 1, stamp=now, granted=True
        )
        statement = insert.on_conflict_do_update(
            index_elements=[RB.c.bucket, RB.c.key],
            set_={
                "granted": refilled >= 1.0,
                "tokens": refilled - sa.case((refilled >= 1.0, 1.0), else_=0.0),
                "stamp": now,
            },
        ).returning(RB.c.granted, RB.c.tokens)
        async with self._db.write_engine.begin() as conn:
            row = (await conn.execute(statement)).one()
        return Taken(bool(row.granted), float(row.tokens))

    async def refund(self, bucket: str, key: str, rate: float, burst: float, now: float) -> None:
        """One token back (a good login), never above ``burst``."""
        refilled = sa.func.least(burst, RB.c.tokens + sa.func.greatest(0.0, now - RB.c.stamp) * rate + 1.0)
        async with self._db.write_engine.begin() as conn:
            await conn.execute(
                sa.update(RB).where(RB.c.bucket == bucket, RB.c.key == key).values(tokens=refilled, stamp=now)
            )

    async def forget(self, bucket: str, key: str) -> None:
        """The bucket starts afresh (full)."""
        async with self._db.write_engine.begin() as conn:
            await conn.execute(sa.delete(RB).where(RB.c.bucket == bucket, RB.c.key == key))

    async def spend(self, scope: str, nonce: str, expires: float, now: float) -> bool:
        """Record a one-time value; False when it was spent before (and has not expired)."""
        insert = postgresql.insert(NONCE).values(scope=scope, nonce=nonce, expires=expires)
        statement = insert.on_conflict_do_update(
            index_elements=[NONCE.c.scope, NONCE.c.nonce],
            set_={"expires": insert.excluded.expires},
            where=NONCE.c.expires < now,  # an expired record no longer counts: spent afresh
        ).returning(NONCE.c.nonce)
        async with self._db.write_engine.begin() as conn:
            return (await conn.execute(statement)).first() is not None

    async def sweep(self, now: float) -> int:
        """Delete full buckets and expired values; the number of rows gone."""
        async with self._db.write_engine.begin() as conn:
            buckets = await conn.execute(sa.delete(RB).where(RB.c.stamp < now - FULL_AFTER))
            nonces = await conn.execute(sa.delete(NONCE).where(NONCE.c.expires < now))
        return int(buckets.rowcount or 0) + int(nonces.rowcount or 0)
