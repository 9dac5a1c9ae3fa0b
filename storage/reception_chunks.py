"""A video reception session's recording, stored as it comes: each chunk an encrypted blob file
(:mod:`storage.blobs`) with its row in ``reception_chunks``, numbered in the order written. A chunk
names its part (whose media: ``host``, ``officer``, ``host-2`` …) when the server's recorder wrote
it; the browser's upload (the fallback when server recording is off) has none. On filing, each part
is read back whole, to be attached to the case, and the chunk files are then removed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.db import Batch
from storage.records import StoredBlob
from storage.tables import RC, RS

if TYPE_CHECKING:
    from storage.database import Database


class RecordingChunks:
    _db: Database

    async def add_chunk(
        self,
        session_id: uuid.UUID,
        seq: int | None,
        data: bytes,
        max_total: int,
        actor: str,
        now: datetime,
        part: str | None = None,
    ) -> int | str:
        """Store one chunk (encrypted) in order (``seq`` None: the next one): the recording's size
        so far, or why it was refused (``out_of_order``, ``too_large``, or the session's status)."""
        blob: StoredBlob = await asyncio.to_thread(
            self._db.blobs.put, f"{session_id}-{part or 'browser'}.webm", "video/webm", data
        )

        async def reception_chunk_txn(batch: Batch) -> int | str:
            row = (await batch.conn.execute(sa.select(RS.c.status).where(RS.c.id == session_id))).first()
            if row is None or row.status not in ("live", "minutes"):
                return str(row.status) if row else "missing"
            last, total = (
                await batch.conn.execute(
                    sa.select(sa.func.max(RC.c.seq), sa.func.coalesce(sa.func.sum(RC.c.size), 0)).where(
                        RC.c.session_id == session_id
                    )
                )
            ).one()
            following = (-1 if last is None else last) + 1
            if seq is not None and seq != following:
                return "out_of_order"
            if total + len(data) > max_total:
                return "too_large"
            await batch.conn.execute(
                sa.insert(RC).values(
                    session_id=session_id,
                    seq=following,
                    part=part,
                    size=len(data),
                    blob_id=blob.id,
                    created_at=now,
                )
            )
            if following == 0:
                payload = {"session": str(session_id), "by": "server" if part else "browser"}
                batch.event(None, "reception_recording_started", actor, now, payload)
            return int(total) + len(data)

        try:
            result: int | str = await self._db.writer.run(reception_chunk_txn)
        except BaseException:
            self._db.blobs.discard([blob])
            raise
        if isinstance(result, str):
            self._db.blobs.discard([blob])
        return result

    async def recordings(self, session_id: uuid.UUID) -> list[tuple[str | None, bytes]]:
        """Each part's recording, its chunks concatenated in order (one WebM stream per part), the
        parts in the order they began."""
        async with self._db.read_engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(RC.c.part, RC.c.blob_id).where(RC.c.session_id == session_id).order_by(RC.c.seq)
                )
            )
        parts: dict[str | None, list[uuid.UUID]] = {}
        for row in rows:
            parts.setdefault(row.part, []).append(row.blob_id)

        def read() -> list[tuple[str | None, bytes]]:
            return [(p, b"".join(self._db.blobs.get(i).data for i in ids)) for p, ids in parts.items()]

        return await asyncio.to_thread(read)

    async def recording(self, session_id: uuid.UUID) -> bytes:
        """The whole recording of a browser upload (all chunks in order)."""
        return b"".join(data for _, data in await self.recordings(session_id))

    async def drop_chunks(self, session_id: uuid.UUID, actor: str, now: datetime) -> None:
        """After the recording was attached to the case: the chunk files and rows go."""

        async def reception_drop_chunks_txn(batch: Batch) -> list[uuid.UUID]:
            query = sa.select(RC.c.blob_id).where(RC.c.session_id == session_id)
            ids = list((await batch.conn.execute(query)).scalars())
            await batch.conn.execute(sa.delete(RC).where(RC.c.session_id == session_id))
            payload = {"session": str(session_id), "n": len(ids)}
            batch.event(None, "reception_chunks_dropped", actor, now, payload)
            return ids

        ids: list[uuid.UUID] = await self._db.writer.run(reception_drop_chunks_txn)
        self._db.blobs.discard([StoredBlob(i, "", 0, "") for i in ids])
