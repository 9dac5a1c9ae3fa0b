"""The notifier: sends a text to a report's informant over their own channel.

Channels with an outbound API register a sender (``deliver(handle, text)``); the notifier reads the
handle through :class:`intake.vault_service.DeliveryHandles` (each read is audited) and hands it to
that sender, so the handle never reaches a person or a log. Work is queued as ``notify`` jobs
(payload ``{"report_id", "text"}``), run by the job worker after the acknowledgement, with its
retries and backoff.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from intake.clock import Clock
from intake.vault_service import DeliveryHandles
from storage.database import Database
from storage.records import JobRecord

log = logging.getLogger("intake.notifier")

Deliver = Callable[[str, str], Awaitable[None]]
NOTIFY_JOB = "notify"
MAX_TEXT = 1500


class DeliveryUnavailable(Exception):
    """The message cannot be sent now (no sender for the channel, outside the platform's window);
    the job is retried with backoff and ends ``dead`` where operators see it."""


class Notifier:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._handles = DeliveryHandles(db, clock)
        self.senders: dict[str, Deliver] = {}

    def register(self, channel: str, deliver: Deliver) -> None:
        self.senders[channel] = deliver

    async def enqueue(self, report_id: uuid.UUID, text: str) -> None:
        """Queue a message to the informant of ``report_id`` (e.g. a status change or a reply)."""
        await self._db.conversations.enqueue(
            NOTIFY_JOB, {"report_id": str(report_id), "text": text[:MAX_TEXT]}, self._clock.now()
        )

    async def notify(self, report_id: uuid.UUID, text: str) -> bool:
        """Send now. False when the report's channel has no address (web, letter …)."""
        found = await self._handles.handle_for_delivery(report_id, purpose="notify")
        if found is None:
            return False
        channel, handle = found
        deliver = self.senders.get(channel)
        if deliver is None:
            raise DeliveryUnavailable(f"no outbound sender for channel {channel}")
        await deliver(handle, text)
        return True

    async def run_job(self, job: JobRecord) -> None:
        sent = await self.notify(uuid.UUID(job.payload["report_id"]), str(job.payload["text"]))
        if not sent:
            log.info("informant has no channel address", extra={"job_id": job.id})
