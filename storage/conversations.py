"""Dialogue state of the platform channels (WeChat, Weibo), and the platform messages already seen.

SQL and sealing only; the dialogue's rules live in :mod:`intake.conversations`.

* A **conversation** is keyed by the blind index of the informant's channel handle (an HMAC of the
  openid or uid, computed by the caller): the handle itself is never written here. The draft (what
  happened, who, where, media ids, and a real-name reporter's name and phone) is sealed with
  AES-256-GCM under a purpose key, bound to the row's key.
* A **channel message** row records that a platform message (keyed hash of its id) was taken in
  hand, and then the reply it got (sealed, the same way): a platform retry is answered with that
  reply instead of being processed again. Rows are kept for :data:`SEEN_FOR`.
* :meth:`ConversationStore.add_attachment` links a file that a job downloaded after the report was
  filed (platform media arrive by id, not with the message).
* :meth:`ConversationStore.purge` is the retention sweep (the :data:`PURGE_JOB` job, recurring
  every :data:`PURGE_EVERY`): channel messages and abandoned conversations past their retention go,
  and one audit event records how many (counts only).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.dialects import postgresql, sqlite

from storage.audit import utc
from storage.db import Batch
from storage.records import StoredBlob
from storage.tables import CONV, SEEN, A, J

if TYPE_CHECKING:
    from storage.database import Database


SEEN_FOR = timedelta(days=1)  # platforms retry within seconds; a day covers any replay window
TAKEOVER_AFTER = timedelta(seconds=30)  # a "pending" message older than this was abandoned by a crash

# The retention sweep: a recurring job, at most one pending at a time (see ConversationStore.purge).
PURGE_JOB = "purge_dialogue_state"
PURGE_EVERY = timedelta(hours=1)
SEEN_RETENTION = timedelta(hours=48)  # platform retries come within minutes; a day's margin for Telegram
DIALOGUE_RETENTION = timedelta(days=30)  # the dialogue restarts a draft after 24 h anyway
_PURGE_LOCK = 0x78665F7075726765  # pg_advisory_xact_lock key: one scheduling decision at a time


@dataclass(frozen=True)
class ConversationRecord:
    step: str
    draft: dict[str, Any]
    last_inbound_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PurgeCounts:
    conversations: int
    channel_messages: int


@dataclass(frozen=True)
class MessageClaim:
    """``fresh``: this caller processes the message. Otherwise it was seen: ``reply`` is the answer
    given (None while the first delivery is still being processed, or when it had no reply)."""

    fresh: bool
    done: bool = False
    reply: str | None = None


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._draft_key = db.keyring.aead("channel-conversation-draft")
        self._reply_key = db.keyring.aead("channel-message-reply")

    # --- sealing -------------------------------------------------------------------------------

    def _seal(self, which: str, key: str, doc: Any) -> bytes:
        aead = self._draft_key if which == "draft" else self._reply_key
        nonce = secrets.token_bytes(12)
        plain = json.dumps(doc, ensure_ascii=False).encode()
        return nonce + aead.encrypt(nonce, plain, f"{which}|{key}".encode())

    def _open(self, which: str, key: str, sealed: bytes) -> Any:
        aead = self._draft_key if which == "draft" else self._reply_key
        try:
            plain = aead.decrypt(sealed[:12], sealed[12:], f"{which}|{key}".encode())
        except InvalidTag:
            return None  # a row moved or tampered with: treated as no state at all
        return json.loads(plain)

    # --- conversations -------------------------------------------------------------------------

    async def get(self, key: str) -> ConversationRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(sa.select(CONV).where(CONV.c.key == key))).first()
        if row is None:
            return None
        draft = self._open("draft", key, row.draft) if row.draft is not None else None
        return ConversationRecord(
            row.step,
            draft if isinstance(draft, dict) else {},
            utc(row.last_inbound_at),
            utc(row.updated_at),
        )

    # --- seen messages -------------------------------------------------------------------------

    async def claim_message(self, key: str, channel: str, now: datetime) -> MessageClaim:
        """Take a platform message in hand, or learn that it was seen (and what it was answered)."""

        async def claim_message_txn(batch: Batch) -> tuple[bool, str | None, bytes | None]:
            conn = batch.conn
            await conn.execute(sa.delete(SEEN).where(SEEN.c.created_at < now - SEEN_FOR))
            inserted = await conn.execute(
                _insert_ignore(conn.dialect.name, SEEN).values(
                    key=key, channel=channel, status="pending", reply=None, created_at=now
                )
            )
            if inserted.rowcount:
                return True, None, None
            row = (await conn.execute(sa.select(SEEN).where(SEEN.c.key == key).with_for_update())).first()
            if row is None:  # purged between the two statements: ours now
                await conn.execute(
                    sa.insert(SEEN).values(
                        key=key, channel=channel, status="pending", reply=None, created_at=now
                    )
                )
                return True, None, None
            if row.status == "pending" and utc(row.created_at) < now - TAKEOVER_AFTER:
                await conn.execute(sa.update(SEEN).where(SEEN.c.key == key).values(created_at=now))
                return True, None, None
            return False, row.status, row.reply

        fresh, status, sealed = await self._db.writer.run(claim_message_txn)
        if fresh:
            return MessageClaim(True)
        reply = self._open("reply", key, sealed) if sealed is not None else None
        return MessageClaim(False, status == "done", reply if isinstance(reply, str) else None)

    async def seen_reply(self, key: str) -> MessageClaim:
        """Where a message seen before stands now (for a retry waiting on the first delivery)."""
        async with self._db.read_engine.connect() as conn:
            row = (
                await conn.execute(sa.select(SEEN.c.status, SEEN.c.reply).where(SEEN.c.key == key))
            ).first()
        if row is None:
            return MessageClaim(False)
        reply = self._open("reply", key, row.reply) if row.reply is not None else None
        return MessageClaim(False, row.status == "done", reply if isinstance(reply, str) else None)

    async def release_message(self, key: str) -> None:
        """Forget a message whose processing failed, so that the platform's retry processes it."""

        async def release_message_txn(batch: Batch) -> None:
            await batch.conn.execute(sa.delete(SEEN).where(SEEN.c.key == key, SEEN.c.status == "pending"))

        await self._db.writer.run(release_message_txn)

    async def finish_message(
        self,
        *,
        message_key: str,
        reply: str | None,
        conversation_key: str,
        channel: str,
        step: str,
        draft: dict[str, Any] | None,
        now: datetime,
        jobs: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        """One transaction: the conversation's new state (a ``draft`` of None leaves none), the
        time of the informant's last message, the reply recorded for retries, and jobs to run."""
        sealed_reply = self._seal("reply", message_key, reply) if reply is not None else None
        sealed_draft = self._seal("draft", conversation_key, draft) if draft else None

        async def finish_message_txn(batch: Batch) -> None:
            conn = batch.conn
            values = {
                "channel": channel,
                "step": step,
                "draft": sealed_draft,
                "last_inbound_at": now,
                "updated_at": now,
            }
            await conn.execute(
                _upsert(conn.dialect.name, CONV, "key", {"key": conversation_key, **values}, values)
            )
            await conn.execute(
                sa.update(SEEN).where(SEEN.c.key == message_key).values(status="done", reply=sealed_reply)
            )
            for kind, payload in jobs:
                batch.job(kind, payload, now, now)

        await self._db.writer.run(finish_message_txn)

    # --- retention -----------------------------------------------------------------------------

    async def purge(
        self,
        now: datetime,
        *,
        seen_for: timedelta = SEEN_RETENTION,
        idle_for: timedelta = DIALOGUE_RETENTION,
        next_run: datetime | None = None,
    ) -> PurgeCounts:
        """One transaction: delete the channel messages seen before ``now - seen_for`` and the
        conversations last active before ``now - idle_for``, record one audit event with the counts,
        and (given ``next_run``) schedule the next sweep unless one is already pending."""
        if seen_for < TAKEOVER_AFTER or idle_for <= timedelta(0):
            raise ValueError("retention too short")

        async def purge_dialogue_state_txn(batch: Batch) -> PurgeCounts:
            conn = batch.conn
            seen = await conn.execute(sa.delete(SEEN).where(SEEN.c.created_at < now - seen_for))
            conv = await conn.execute(sa.delete(CONV).where(CONV.c.updated_at < now - idle_for))
            counts = PurgeCounts(int(conv.rowcount or 0), int(seen.rowcount or 0))
            if counts.conversations or counts.channel_messages:
                # Only sweeps that deleted something are in the chain (not 24 empty ones a day).
                batch.event(
                    None,
                    "dialogue_state_purged",
                    "system:retention",
                    now,
                    {"conversations": counts.conversations, "channel_messages": counts.channel_messages},
                )
            if next_run is not None:
                await _schedule_purge(batch, next_run, now)
            return counts

        counts: PurgeCounts = await self._db.writer.run(purge_dialogue_state_txn)
        return counts

    async def schedule_purge(self, run_after: datetime, now: datetime) -> bool:
        """Enqueue a sweep unless one is pending already (each worker calls this at start)."""

        async def schedule_purge_txn(batch: Batch) -> bool:
            return await _schedule_purge(batch, run_after, now)

        scheduled: bool = await self._db.writer.run(schedule_purge_txn)
        return scheduled

    # --- jobs and late attachments -------------------------------------------------------------

    async def enqueue(self, kind: str, payload: dict[str, Any], now: datetime, max_attempts: int = 8) -> None:
        async def enqueue_job_txn(batch: Batch) -> None:
            batch.job(kind, payload, now, now, max_attempts)

        await self._db.writer.run(enqueue_job_txn)

    async def add_attachment(self, report_id: uuid.UUID, blob: StoredBlob, at: datetime, actor: str) -> None:
        """Link a file downloaded after filing (already encrypted on disk) to its report."""

        async def add_late_attachment_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.insert(A).values(
                    id=blob.id,
                    report_id=report_id,
                    content_type=blob.content_type,
                    size=blob.size,
                    blob_path=blob.blob_path,
                    created_at=at,
                )
            )
            batch.event(
                report_id,
                "attachment_added",
                actor,
                at,
                {"attachment": str(blob.id), "content_type": blob.content_type, "size": blob.size},
            )

        await self._db.writer.run(add_late_attachment_txn)

    async def attachments_of(self, report_id: uuid.UUID) -> list[tuple[uuid.UUID, str, int]]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(A.c.id, A.c.content_type, A.c.size).where(A.c.report_id == report_id)
            )
            return [(r.id, r.content_type, r.size) for r in rows]


async def _schedule_purge(batch: Batch, run_after: datetime, now: datetime) -> bool:
    """Enqueue a :data:`PURGE_JOB` unless one is pending (in the database or in this batch), so
    that however many workers start, and however often a sweep is retried, one sweep stays queued.
    SQLite's writer holds the database lock (``BEGIN IMMEDIATE``). On PostgreSQL a transaction
    advisory lock keeps two workers from both finding none pending and both enqueueing; it is only
    tried, never waited for (no deadlock with the rows a batch holds): whoever holds it is making
    this same decision, and a sweep will be queued when it commits."""
    conn = batch.conn
    if conn.dialect.name == "postgresql":
        locked = await conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_PURGE_LOCK)))
        if not locked.scalar():
            return False
    if any(job["kind"] == PURGE_JOB for job in batch.jobs):
        return False
    pending = await conn.execute(
        sa.select(J.c.id).where(J.c.kind == PURGE_JOB, J.c.status == "pending").limit(1)
    )
    if pending.first() is not None:
        return False
    batch.job(PURGE_JOB, {}, run_after, now)
    return True


def _insert_ignore(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _upsert(dialect: str, table: sa.Table, pk: str, row: dict[str, Any], update: dict[str, Any]) -> Any:
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return ins.values(**row).on_conflict_do_update(index_elements=[pk], set_=update)
