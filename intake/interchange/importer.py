"""Import of an office's historical cases (``intake reports import FILE [--mapping MAP.json]``).

Each good row becomes a case through :meth:`intake.pipeline.Pipeline.accept` (``imported=``): the
identity columns are sealed into the vault there, the informant's details written into the text
are found and sealed, the case is filed on its own date with its old status, and its old dates,
status words and result are kept as an ``imported`` history event. The case is keyed by the
file's SHA-256 and its row number (``import:<sha256>:<row>``, in the same transaction as the
case), so a second run of the same file, or a run after a crash, files nothing twice: rows
already in are skipped, and those filed but not yet triaged are triaged first. Every imported
case is triaged (and so enters the duplicate index, against which later reports are checked).

Bad rows are reported by row number, column and reason; the good rows still import.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intake.clock import Clock
from intake.domain import ImportedCase, Submission
from intake.errors import IntakeError
from intake.interchange.mapping import DEFAULT, ColumnMapping
from intake.interchange.readers import ImportFileError, detect_format, open_rows
from intake.interchange.records import ImportRecord, RowError, from_cells, from_interchange
from intake.pipeline import Pipeline
from intake.triage_service import TriageService
from storage.database import Database

log = logging.getLogger("intake.interchange")

IN_FLIGHT = 64  # rows being filed at once: the group-commit writer shares its commits among them
TRIAGE_BATCH = 200


@dataclass
class Progress:
    seen: int = 0
    total: int | None = None
    imported: int = 0
    skipped: int = 0
    bad: int = 0
    triaged: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.seen / elapsed if elapsed > 0 else 0.0


@dataclass
class ImportSummary:
    file_sha256: str
    format: str
    rows: int
    imported: int
    skipped: int
    triaged: int
    duplicates: int
    errors: list[RowError]
    seconds: float
    unmapped: list[str]
    case_nos: list[str]
    filing_seconds: float = 0.0  # until the last row was filed (triage goes on a little longer)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ImportService:
    def __init__(
        self,
        db: Database,
        pipeline: Pipeline,
        triage: TriageService,
        clock: Clock,
        *,
        after_triage: Callable[[str], Any] | None = None,
        in_flight: int = IN_FLIGHT,
        triage_batch: int = TRIAGE_BATCH,
    ) -> None:
        self._db = db
        self._pipeline = pipeline
        self._triage = triage
        self._clock = clock
        self._after_triage = after_triage
        self._in_flight = in_flight
        self._triage_batch = triage_batch

    async def run(
        self,
        path: Path,
        mapping: ColumnMapping | None = None,
        *,
        actor: str = "import",
        progress: Callable[[Progress], None] | None = None,
    ) -> ImportSummary:
        fmt = detect_format(path)
        sha = await asyncio.to_thread(file_sha256, path)
        key_prefix = f"import:{sha}:"
        columns = mapping or DEFAULT
        known = frozenset(columns.columns)
        headings, rows, total = await asyncio.to_thread(open_rows, path, fmt, known)
        unmapped = [h for h in headings if h and h not in columns.columns]
        if fmt != "jsonl" and "content" not in {columns.columns.get(h) for h in headings}:
            raise ImportFileError(
                "表头中没有“反映内容”列；请用 --mapping 指定列的对应关系。", code="no_content_column"
            )
        existing = await self._db.exports.imported(key_prefix)
        divisions = frozenset(self._pipeline.jurisdiction.divisions())
        now = self._clock.now()

        def parse(row: Any) -> ImportRecord | RowError:
            if fmt == "jsonl":
                return from_interchange(row.number, row.cells, divisions=divisions, now=now)
            return from_cells(row.number, row.cells, columns, divisions=divisions, now=now)

        run = _Run(self, Progress(total=total), key_prefix, actor, progress)
        # Cases a crashed run filed but did not triage: first in line.
        for found in existing.values():
            if not found.triaged:
                run.triage_queue.put_nowait(found.case_no)
        filed = await run.go(rows, existing, parse)
        state = run.state
        run.errors.sort(key=lambda e: e.row)
        summary = ImportSummary(
            sha,
            fmt,
            state.seen,
            state.imported,
            state.skipped,
            state.triaged,
            run.duplicates,
            run.errors,
            time.monotonic() - run.started,
            unmapped,
            run.case_nos,
            filed,
        )
        await self._db.exports.record(
            "cases_imported",
            actor,
            self._clock.now(),
            {
                "file_sha256": sha,
                "format": fmt,
                "rows": summary.rows,
                "imported": summary.imported,
                "skipped": summary.skipped,
                "bad_rows": len(run.errors),
                "triaged": summary.triaged,
            },
        )
        log.info(
            f"import finished: {summary.rows} rows, {summary.imported} imported, {len(run.errors)} bad rows",
            extra={"count": summary.imported},
        )
        return summary


class _Run:
    """One import's moving parts: rows are filed up to ``in_flight`` at once while one worker
    triages the filed cases in batches; the first unexpected failure stops the reading."""

    def __init__(
        self,
        service: ImportService,
        state: Progress,
        key_prefix: str,
        actor: str,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.service = service
        self.state = state
        self.key_prefix = key_prefix
        self.actor = actor
        self.progress = progress
        self.errors: list[RowError] = []
        self.case_nos: list[str] = []
        self.duplicates = 0
        self.started = time.monotonic()
        self.triage_queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.slots = asyncio.Semaphore(service._in_flight)
        self.filing: set[asyncio.Task[None]] = set()
        self.failure: list[BaseException] = []

    async def go(
        self, rows: Iterable[Any], existing: Container[str], parse: Callable[[Any], ImportRecord | RowError]
    ) -> float:
        """File every row and triage what was filed; the seconds until the last row was filed."""
        triager = asyncio.create_task(self.triage_worker(), name="import-triage")
        try:
            await self.read(rows, existing, parse)
            if self.filing:
                await asyncio.gather(*self.filing)
            if self.failure:
                raise self.failure[0]
            filed = time.monotonic() - self.started
            self.triage_queue.put_nowait(None)
            while not triager.done():
                self.report()
                await asyncio.wait({triager}, timeout=0.5)
            triager.result()
        finally:
            if not triager.done():
                triager.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await triager
        self.report()
        return filed

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.state)

    async def read(
        self, rows: Iterable[Any], existing: Container[str], parse: Callable[[Any], ImportRecord | RowError]
    ) -> None:
        state = self.state
        last_report = 0.0
        for row in rows:
            state.seen += 1
            if self.key_prefix + str(row.number) in existing:
                state.skipped += 1
            elif isinstance(record := parse(row), RowError):
                self.errors.append(record)
                state.bad += 1
            else:
                await self.slots.acquire()
                if self.failure:
                    self.slots.release()
                    break
                task = asyncio.create_task(self.file_one(record))
                self.filing.add(task)
                task.add_done_callback(self.filing.discard)
            if self.progress is not None and time.monotonic() - last_report >= 0.5:
                last_report = time.monotonic()
                self.progress(state)
            if state.seen % 256 == 0:
                await asyncio.sleep(0)  # reading a workbook is CPU work: let the filing run

    async def file_one(self, record: ImportRecord) -> None:
        state = self.state
        try:
            receipt = await self.service._pipeline.accept(
                _submission(record), imported=_imported(record, self.key_prefix, self.actor)
            )
        except IntakeError as exc:
            self.errors.append(RowError(record.row, "", exc.message))  # names fields, never values
            state.bad += 1
            return
        except BaseException as exc:
            self.failure.append(exc)
            return
        finally:
            self.slots.release()
        if receipt.created:
            state.imported += 1
            self.case_nos.append(receipt.case_no)
            self.triage_queue.put_nowait(receipt.case_no)
        else:
            state.skipped += 1

    async def next_batch(self) -> tuple[list[str], bool]:
        """Up to a batch of queued case numbers (waiting for the first), and whether the end
        mark was met."""
        item = await self.triage_queue.get()
        if item is None:
            return [], True
        batch = [item]
        while len(batch) < self.service._triage_batch and not self.triage_queue.empty():
            more = self.triage_queue.get_nowait()
            if more is None:
                return batch, True
            batch.append(more)
        return batch, False

    async def triage_worker(self) -> None:
        done = False
        while not done:
            batch, done = await self.next_batch()
            if not batch:
                break
            outcomes = await self.service._triage.triage_reports(batch)
            for case_no, outcome in zip(batch, outcomes, strict=True):
                await self.triaged(case_no, outcome)

    async def triaged(self, case_no: str, outcome: Any) -> None:
        if isinstance(outcome, Exception):
            log.warning(
                "imported case not triaged",
                extra={"case_no": case_no, "reason": type(outcome).__name__},
            )
            return
        self.state.triaged += 1
        if outcome.get("duplicate_of"):
            self.duplicates += 1
        if outcome.get("sealed") and self.service._after_triage is not None:
            await self.service._after_triage(case_no)


def _submission(r: ImportRecord) -> Submission:
    anonymous = r.anonymous if r.anonymous is not None else r.reporter.is_empty()
    return Submission(
        channel=r.channel,
        content=r.content,
        title=r.title,
        category=r.category,
        accused=r.accused,
        location=r.location,
        reporter=r.reporter,
        anonymous=anonymous,
    )


def _imported(r: ImportRecord, key_prefix: str, actor: str) -> ImportedCase:
    payload: dict[str, object] = {"row": r.row, "status": r.status, **r.source}
    if r.history:
        payload["history"] = r.history
    return ImportedCase(
        key=f"{key_prefix}{r.row}",
        received_at=r.received_at,
        status=r.status,
        actor=f"import:{actor}"[:64],
        history=(("imported", r.received_at, payload),),
    )
