"""Scans held between the console's "识别扫描件" (OCR) step and the filing of the letter.

The console's letter form works without JavaScript: "识别扫描件" posts the form with its scans,
and the page comes back with the proposed text to correct. So that the officer need not choose the
files again, the scans are kept meanwhile, encrypted like any attachment (the blob store), under
ids the page carries in a field signed for the officer's session. Filing takes them back and
removes the held copies; scans held for a form never filed stay encrypted on disk (like the blobs
of a report whose transaction failed) until :meth:`HeldScans.sweep` removes them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from intake.domain import Upload
from intake.errors import ValidationError
from storage.database import Database
from storage.records import StoredBlob

MAX_HELD_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Held:
    id: uuid.UUID
    identifying: bool


class HeldScans:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._held: dict[uuid.UUID, tuple[StoredBlob, float]] = {}

    async def hold(self, uploads: Sequence[Upload]) -> list[Held]:
        def put() -> list[tuple[StoredBlob, bool]]:
            return [(self._db.blobs.put(u.filename, u.content_type, u.data), u.identifying) for u in uploads]

        self.sweep()
        stored = await asyncio.to_thread(put)
        now = time.monotonic()
        for blob, _ in stored:
            self._held[blob.id] = (blob, now)
        return [Held(blob.id, identifying) for blob, identifying in stored]

    async def take(self, held: Sequence[Held]) -> list[Upload]:
        """The held scans as uploads again (they are removed once the filing is through)."""

        def get() -> list[Upload]:
            out = []
            for h in held:
                try:
                    blob = self._db.blobs.get(h.id)
                except OSError:
                    raise ValidationError(
                        "保留的扫描件已过期，请重新选择扫描件。", code="held_scan_expired"
                    ) from None
                out.append(Upload(blob.filename, blob.content_type, blob.data, h.identifying))
            return out

        return await asyncio.to_thread(get)

    def release(self, held: Sequence[Held]) -> None:
        for h in held:
            self._held.pop(h.id, None)
        self._db.blobs.discard([StoredBlob(h.id, "", 0, "") for h in held])

    def sweep(self) -> None:
        """Remove the scans held longer than a day (forms opened and never filed)."""
        cutoff = time.monotonic() - MAX_HELD_SECONDS
        old = [h for h, (_, at) in self._held.items() if at < cutoff]
        self._db.blobs.discard([self._held.pop(h)[0] for h in old])


def pack(held: Sequence[Held]) -> str:
    return ",".join(f"{h.id.hex}:{int(h.identifying)}" for h in held)


def unpack(text: str) -> list[Held]:
    out = []
    for item in filter(None, text.split(",")):
        hex_id, _, flag = item.partition(":")
        try:
            out.append(Held(uuid.UUID(hex=hex_id), flag == "1"))
        except ValueError:
            raise ValidationError("页面已过期，请刷新后重试。", code="invalid_form_token") from None
    return out
