"""Evidence fetched from Twilio arrives whole before Twilio's copy is deleted (issue 14, defect 1).

The fake serves a one-minute call recording (960,044 bytes) and a 1.5 MB MMS picture the way a
network does, in 64 KiB chunks with pauses; the old download read once and kept the first chunk.
Each test checks the stored attachment, decrypted, against what was served, byte for byte, and
what the server had stored at the moment each ``DELETE`` reached Twilio. A body cut short or
dropped mid-way deletes nothing and is retried; a file over the cap stays at Twilio."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa

from channels.twilio.api import MAX_MEDIA_BYTES
from channels.twilio.sms import MEDIA_JOB
from channels.twilio.voice import RECORDING_JOB
from intake.jobs import backoff
from tests.fakes import twilio
from tests.fakes.slow import CHUNK, Fault, media_file
from tests.fakes.twilio import Hotline, receipt_of, sid

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

RECORDING = twilio.wav(60, noise=True)  # a minute at 8 kHz, 16-bit mono
PICTURE = media_file(twilio.PNG[:8], 1_500_000)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def run_jobs(h: Hotline) -> None:
    while await h.services.worker.run_once():
        pass


async def stored(h: Hotline, report_id: uuid.UUID) -> list[str]:
    """SHA-256 of each attachment of the report, decrypted through the blob store."""
    atts = await h.services.db.conversations.attachments_of(report_id)
    return [digest(h.services.db.blobs.get(blob_id).data) for blob_id, _, _ in atts]


def watch_deletes(h: Hotline, report_id: Callable[[], Awaitable[uuid.UUID]]) -> list[tuple[str, list[str]]]:
    """(SID, what the report had stored) for every DELETE, taken as it reaches the fake."""
    seen: list[tuple[str, list[str]]] = []

    async def at_delete(name: str) -> None:
        seen.append((name, await stored(h, await report_id())))

    h.api.on_delete = at_delete
    return seen


async def recording_report(h: Hotline, data: bytes) -> tuple[str, uuid.UUID]:
    """A report by phone whose recording (``data``) Twilio has announced; its job is queued."""
    call = h.driver.call()
    await call.start()
    await call.press("1")
    await call.say("某局长收受工程款回扣")
    recording = sid("RE")
    h.api.recordings[recording] = data
    await call.record(recording)
    assert await call.recording_status(recording) == 200
    return recording, (await h.services.db.reports.recent())[0].id


async def mms_report(h: Hotline, data: bytes) -> tuple[str, uuid.UUID]:
    url, kind = h.api.add_media(data, "image/png")
    status, replies = await h.driver.sms("举报 某所长违规公车私用，见照片", media=[(url, kind)])
    assert status == 200 and "1 份材料" in replies[0]
    report = await h.services.db.reports.get(receipt_of(replies[0])[0])
    assert report is not None
    return url.rsplit("/", 1)[1], report.id


FILED = {"recording": (recording_report, RECORDING, RECORDING_JOB), "mms": (mms_report, PICTURE, MEDIA_JOB)}


async def job_state(h: Hotline, kind: str) -> tuple[str, int, str | None]:
    async with h.services.db.read_engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT status, attempts, last_error FROM jobs WHERE kind = :kind"), {"kind": kind}
        )
        found = [tuple(r) for r in rows]
    assert len(found) == 1, found
    status, attempts, error = found[0]
    return str(status), int(attempts), error


@pytest.mark.parametrize("what", sorted(FILED))
async def test_served_slowly_the_file_is_stored_whole_before_twilio_deletes_it(h: Hotline, what: str) -> None:
    file, data, _ = FILED[what]
    assert len(data) > 10 * CHUNK  # many chunks, each followed by a pause
    report: list[uuid.UUID] = []

    async def report_id() -> uuid.UUID:
        return report[0]

    seen = watch_deletes(h, report_id)
    media_sid, rid = await file(h, data)
    report.append(rid)
    await run_jobs(h)
    assert await stored(h, rid) == [digest(data)]
    atts = await h.services.db.conversations.attachments_of(rid)
    assert [s for _, _, s in atts] == [len(data)]
    # When the DELETE reached Twilio, the whole file was already stored (committed).
    assert seen == [(media_sid, [digest(data)])] and h.api.deleted == [media_sid]


@pytest.mark.parametrize("what", sorted(FILED))
async def test_a_body_cut_short_or_dropped_deletes_nothing_and_is_retried(sh: Hotline, what: str) -> None:
    file, data, kind = FILED[what]
    faults: list[Fault] = ["short", "drop"]  # Content-Length not met; chunked body dropped
    sh.api.faults = list(faults)
    media_sid, rid = await file(sh, data)
    await run_jobs(sh)
    for attempt, _ in enumerate(faults, start=1):
        assert len(sh.api.downloads) == attempt
        assert sh.api.deleted == [] and await stored(sh, rid) == []
        assert await job_state(sh, kind) == ("pending", attempt, "DownloadError")
        sh.clock.advance(seconds=backoff(attempt).total_seconds() + 1)
        await run_jobs(sh)
    # The third attempt gets the whole file, stores it, then deletes Twilio's copy.
    assert len(sh.api.downloads) == len(faults) + 1
    assert await stored(sh, rid) == [digest(data)]
    assert sh.api.deleted == [media_sid] and (await job_state(sh, kind))[0] == "done"


async def test_a_recording_over_the_cap_stays_at_twilio_and_its_job_ends_dead(sh: Hotline) -> None:
    too_large = RECORDING[:44] + bytes(MAX_MEDIA_BYTES - 43)  # a WAV header, one byte over
    recording, rid = await recording_report(sh, too_large)
    await run_jobs(sh)
    assert await job_state(sh, RECORDING_JOB) == ("pending", 1, "MediaTooLarge")
    for _ in range(10):
        sh.clock.advance(hours=2)
        await run_jobs(sh)
    status, attempts, error = await job_state(sh, RECORDING_JOB)
    assert (status, error) == ("dead", "MediaTooLarge") and attempts == len(sh.api.downloads)
    assert sh.api.deleted == [] and recording in sh.api.recordings and await stored(sh, rid) == []
