"""Triage after the acknowledgement: the ``triage`` job, staff corrections, the manual queue.

The accept transaction enqueues a ``triage`` job for every new report; its handler (composed in
``server.app.open_services``) takes all the triage jobs of a worker turn and calls
:meth:`TriageService.triage_reports`, which stores each result and the report's words for
full-text search (the words triage segmented, reused: :func:`search_document`).
:func:`triage.triage` is pure and CPU-bound (jieba, the gazetteer, the classifier), so it runs
in a child process of its own: the server's event loop and its database writer never wait for
the interpreter lock behind it. The child also holds the
near-duplicate index, loaded at its start from the signatures stored with earlier triage results
and extended with each report it triages, so ``duplicate_of`` sees every report this database
holds.

A result below the confidence threshold goes to the manual triage queue (``needs_review`` in the
stored result); staff corrections are audit events (``triage_corrected``, with what changed and
who changed it) and can be exported as labelled text for retraining the classifier.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from intake.clock import Clock
from intake.errors import NotFound, ValidationError
from intake.staff import Scope
from storage.database import Database
from storage.search import report_details

log = logging.getLogger("intake.triage")

REFRESH_SECONDS = 10.0
# A batch is shared among the triage processes only in runs of at least this many reports: below
# it, handing work out costs more than it saves (and a quiet server needs one process only).
SHARE_FROM = 8

# What staff may correct, and the values each field takes (DESIGN.md's triage contract).
CORRECTABLE = {
    "scope": ("accusation", "appeal", "suggestion", "petition", "out_of_scope"),
    "level": ("central", "province", "city", "county", "township"),
    "priority": ("urgent", "high", "normal"),
    "category": None,  # free text: the deployment's own taxonomy
    "unit": None,  # a unit code of the jurisdiction
}


# --- the child process ----------------------------------------------------------------------------

_state: dict[str, Any] = {}


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this process when the server that started it is gone. A server killed outright
    (``kill -9``, the OOM killer) cannot shut its pool down, and the child would otherwise live on
    with its models and duplicate index: one more orphan after every crash."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def _child_start(jurisdiction: Mapping[str, Any], model_path: str | None, server_pid: int) -> None:
    import triage

    # The server's pid comes from the server: read here, a server killed while this process was
    # still starting would already have been replaced by init.
    watch = threading.Thread(target=_exit_with_parent, args=(server_pid,), name="parent-watch", daemon=True)
    watch.start()

    # Triage is work after the acknowledgement: under load, filing reports comes first and the
    # queue drains when the machine has time (a lower scheduling priority, where the OS allows).
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)

    j = triage.Jurisdiction.from_dict(jurisdiction)
    _state["jurisdiction"] = j
    _state["model"] = triage.Model.load(model_path) if model_path else None
    _state["index"] = triage.DuplicateIndex()
    triage.warm_up(j)


def _child_load(case_nos: Sequence[str], signatures: Sequence[bytes]) -> int:
    """Add stored signatures to the index; those of cases it holds already are left out (a
    refresh sees again the cases this process triaged itself)."""
    import numpy as np

    index = _state["index"]
    known: set[str] = _state.setdefault("known", set())
    fresh = [(c, s) for c, s in zip(case_nos, signatures, strict=True) if c not in known]
    if fresh:
        sigs = np.frombuffer(b"".join(s for _, s in fresh), dtype=np.uint32)
        index.add_signatures([c for c, _ in fresh], sigs)
        known.update(c for c, _ in fresh)
    return len(index)


def search_document(result: Any, details: str) -> str:
    """The words the full-text index stores for a triaged report: jieba's search mode over the
    words triage cut from its title and text (:attr:`triage.TriageResult.tokens`: the text is
    segmented once, by triage's tokenizer) and over ``details``, the accused and place fields
    triage does not read (:func:`storage.search.report_details`).

    Queries are cut by jieba's own dictionary, which lacks triage's words (titles, pseudonyms,
    the jurisdiction's places) and splits them (黄兴镇 → 黄兴 | 镇, 纪工委书记 → 纪工委 | 书记):
    so every dictionary word inside a longer word is stored, and the last character of a word of
    three or more (a one-character query word matches as a prefix; the others are prefixes of the
    word's two-character pieces)."""
    import triage
    from storage.search import document_tokens_of

    tokens = list(result.tokens)
    if details:
        tokens.extend(triage.words(details))
    words = triage.search_words(tokens, all_pieces=True)
    words.extend(w[-1] for w in tokens if len(w) > 2 and _HAN_FIRST <= w[-1] <= _HAN_LAST)
    return document_tokens_of(words)


_HAN_FIRST, _HAN_LAST = "\u4e00", "\u9fff"


class _Known:
    """The duplicate already decided for one report (by :func:`_child_dedupe`, in case order),
    answered where triage asks its index."""

    def __init__(self, case_no: str) -> None:
        self.case_no = case_no

    def query_signature(self, sig: bytes) -> str | None:
        return self.case_no


def _child_triage(
    case_no: str,
    text: str,
    channel: str,
    real_name: bool,
    details: str,
    receiving_unit: str | None = None,
    duplicates: str = "index",
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """``duplicates``: ``index`` (ask this process's index, then add the report to it), ``later``
    (no duplicate yet: the index process decides, :func:`_child_dedupe`), or the case number
    that process found."""
    import triage

    index = (
        _state["index"] if duplicates == "index" else None if duplicates == "later" else _Known(duplicates)
    )
    result = triage.triage(
        text,
        channel=channel,
        jurisdiction=_state["jurisdiction"],
        model=_state["model"],
        duplicates=cast("triage.DuplicateIndex | None", index),
        real_name=real_name,
        receiving_unit=_received_at(receiving_unit),
    )
    if duplicates == "index":
        _state["index"].add_signature(case_no, result.signature)
        _state.setdefault("known", set()).add(case_no)
    extra = {
        "needs_review": result.needs_review,
        "sealed": result.sealed,
        "transfer": result.transfer,
        "forward_to": result.forward_to,
        "advice": result.advice,
        "redirect_to": result.redirect_to,
        "signature": base64.b64encode(result.signature).decode(),
        "explanations": list(result.explanations),
    }
    return result.to_json(), extra, search_document(result, details)


ChildResult = tuple[dict[str, Any], dict[str, Any], str]


def _received_at(unit: str | None) -> str | None:
    """The report's receiving unit when triage's tree has it (routing and transfers start there),
    else the tree's own receiving unit."""
    j = _state["jurisdiction"]
    return unit if unit is not None and j.unit(unit) is not None else None


TriageItem = tuple[str, str, str, bool, str, str | None]


def _child_triage_many(
    items: Sequence[TriageItem], duplicates: str = "index"
) -> list[ChildResult | Exception]:
    """Each report in turn; one that fails does not take the others down with it."""
    out: list[ChildResult | Exception] = []
    for item in items:
        try:
            out.append(_child_triage(*item, duplicates=duplicates))
        except Exception as exc:
            out.append(exc)
    return out


def _child_triage_known(items: Sequence[tuple[TriageItem, str]]) -> list[ChildResult | Exception]:
    """Reports whose duplicate :func:`_child_dedupe` found, triaged again with it (priority and
    the explanations depend on it)."""
    out: list[ChildResult | Exception] = []
    for item, duplicate_of in items:
        try:
            out.append(_child_triage(*item, duplicates=duplicate_of))
        except Exception as exc:
            out.append(exc)
    return out


def _child_dedupe(case_nos: Sequence[str], signatures: Sequence[bytes]) -> list[str | None]:
    """In case order: each report's earlier near-duplicate (among the stored reports and those
    before it here), then the report joins the index: what triaging one after the other in this
    process would have found."""
    index = _state["index"]
    known: set[str] = _state.setdefault("known", set())
    found: list[str | None] = []
    for case_no, sig in zip(case_nos, signatures, strict=True):
        found.append(index.query_signature(sig))
        index.add_signature(case_no, sig)
        known.add(case_no)
    return found


def _chunks(items: Sequence[TriageItem], parts: int, least: int) -> list[Sequence[TriageItem]]:
    """At most ``parts`` consecutive runs of at least ``least`` items each (case order kept)."""
    parts = max(1, min(parts, len(items) // max(1, least)))
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


# --- the service ----------------------------------------------------------------------------------


def locate_words(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping spans of ``words`` in ``text`` as written (traditional script and full-width
    forms too), longest words first: where the console highlights the words that decided."""
    from triage.normalize import fold_for_search

    folded = fold_for_search(text)
    spans: list[tuple[int, int]] = []
    for word in sorted({w.lower() for w in words if w}, key=len, reverse=True):
        i = folded.find(word)
        while i >= 0:
            end = i + len(word)
            if not any(i < e and s < end for s, e in spans):
                spans.append((i, end))
            i = folded.find(word, end)
    return sorted(spans)


def usable_model(path: Path | None) -> Path | None:
    """``path`` when it holds a model triage can use; else None, said once in the log: a corrupt,
    foreign or outdated model file is refused at start and the rules-only category takes over."""
    if path is None:
        return None
    import triage

    try:
        triage.Model.load(path)
    except triage.ModelError as exc:
        log.warning("triage model refused, the rules-only category takes over: %s", exc)
        return None
    return path


# Which explanation a corrected field replaces, and how its values read to officers.
_EXPLAINED = {
    "category": "category",
    "scope": "scope",
    "level": "level",
    "unit": "unit",
    "priority": "urgency",
}


def _value_label(name: str, value: Any, units: Mapping[str, str] | None = None) -> str:
    from triage.explain import LEVEL_NAMES, PRIORITY_NAMES, SCOPE_NAMES

    names: Mapping[str, str] = {"scope": SCOPE_NAMES, "level": LEVEL_NAMES, "priority": PRIORITY_NAMES}.get(
        name, {}
    )
    if name == "unit" and units is not None:
        return units.get(str(value), str(value))
    return names.get(str(value), str(value))


def corrected_explanations(
    explanations: Sequence[Mapping[str, Any]],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    units: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The stored explanations after staff changed some decisions: each changed one says so (the
    new value, then what triage had proposed and why), with the person's decision as sure."""
    out = []
    for e in explanations:
        entry = dict(e)
        for name, value in after.items():
            if _EXPLAINED.get(name) == e.get("decision"):
                entry["text"] = (
                    f"已人工修改为“{_value_label(name, value, units)}”"
                    f"（自动判断原为“{_value_label(name, before.get(name), units)}”：{e.get('text', '')}）"
                )
                entry.update(confidence=1.0, confidence_label="高", confidence_text="把握：人工确认")
        out.append(entry)
    return out


@dataclass(frozen=True)
class Correction:
    case_no: str
    text: str
    field: str
    before: Any
    after: Any
    actor: str


class TriageService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        jurisdiction: Mapping[str, Any],
        *,
        model_path: Path | None = None,
        processes: int = 1,
    ) -> None:
        self._db = db
        self._clock = clock
        self._jurisdiction = dict(jurisdiction)
        self._units = {u["code"]: u["name"] for u in jurisdiction["units"]}
        self._model_path = usable_model(model_path)
        # The first process holds the duplicate index; the others (up to ``processes`` in all)
        # start when a batch is big enough to share (issue 21: triage on every core).
        self.processes = max(1, processes)
        self._pool: ProcessPoolExecutor | None = None
        self._helpers: list[ProcessPoolExecutor] = []
        self._pool_lock = asyncio.Lock()
        # Batches reach the index process in the order they were handed in (the job worker's
        # claims), even when two job turns run at once: the duplicate index sees earlier cases first.
        self._tickets = 0
        self._turn = 0
        self._turn_changed = asyncio.Condition()
        # The audit position up to which the child's index holds every triaged case, and when it
        # last looked: cases triaged elsewhere (another worker process, ``intake reports import``)
        # join the index within REFRESH_SECONDS.
        self._index_seq = 0
        self._refreshed = 0.0

    async def close(self) -> None:
        for pool in [*self._helpers, *([self._pool] if self._pool is not None else [])]:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._helpers = None, []

    @property
    def running(self) -> int:
        """The triage processes started (the index process and those sharing big batches)."""
        return (self._pool is not None) + len(self._helpers)

    def _new_process(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_start,
            initargs=(self._jurisdiction, str(self._model_path) if self._model_path else None, os.getpid()),
        )

    def _forget_processes(self) -> None:
        """A child died (killed, out of memory): all start afresh next time; the jobs retry."""
        for pool in [*self._helpers, *([self._pool] if self._pool is not None else [])]:
            pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._helpers = None, []

    async def _sharing(self, batch: int) -> list[ProcessPoolExecutor]:
        """The other processes a batch of ``batch`` reports is shared with (started on first need)."""
        wanted = min(self.processes, batch // SHARE_FROM) - 1
        async with self._pool_lock:
            while len(self._helpers) < wanted:
                self._helpers.append(self._new_process())
        return self._helpers[: max(0, wanted)]

    async def _executor(self) -> ProcessPoolExecutor:
        """The index process, started on first use with every stored signature loaded."""
        async with self._pool_lock:
            if self._pool is None:
                pool = self._new_process()
                loop = asyncio.get_running_loop()
                try:
                    self._index_seq, _ = await self._db.audit.head()
                    self._refreshed = time.monotonic()
                    loaded = None
                    async for case_nos, signatures in self._db.reports.triage_signatures():
                        loaded = await loop.run_in_executor(pool, _child_load, case_nos, signatures)
                    if loaded is None:  # nothing stored yet: the process is started all the same
                        loaded = await loop.run_in_executor(pool, _child_load, [], [])
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                log.info(f"triage worker started with {loaded} stored reports for duplicate detection")
                self._pool = pool
            return self._pool

    async def _refresh_index(self, pool: ProcessPoolExecutor) -> None:
        if time.monotonic() - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = time.monotonic()
        stored, seq = await self._db.reports.triage_signatures_since(self._index_seq)
        if stored:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, _child_load, [c for c, _ in stored], [s for _, s in stored])
        self._index_seq = seq

    async def triage_reports(self, case_nos: Sequence[str]) -> list[dict[str, Any] | Exception]:
        """Triage stored reports and keep each result: the job handler, for all the triage jobs one
        worker turn claimed. They go to the child in one call, in the order given (the duplicate
        index sees earlier cases first), and their results are written together, so a burst of
        reports is triaged at the child's pace rather than one commit round trip after another.
        Returns, per case, the stored result or the error that case met (the others still count).

        A report that already has a result keeps it: its job ran before, committed the triage and
        lost its worker before the job was marked done, and the job was claimed again."""
        outcomes: list[dict[str, Any] | Exception] = [
            NotFound("没有这个案件。", code="case_not_found") for _ in case_nos
        ]
        ticket = self._take_ticket()
        try:  # the turn is passed on however this ends (passing it twice is harmless)
            by_case = await self._db.reports.get_many(case_nos)
            found = []
            for i, case_no in enumerate(case_nos):
                report = by_case.get(case_no)
                if report is not None and report.triage is not None:
                    outcomes[i] = report.triage
                elif report is not None:
                    found.append((i, report))
            if not found:
                return outcomes
            items = [
                (
                    r.case_no,
                    "\n".join(t for t in (r.title, r.content) if t),
                    r.channel,
                    not r.anonymous,
                    report_details(r),
                    r.receiving_unit,
                )
                for _, r in found
            ]
            results = await self._triage_in_turn(ticket, items)
        except BrokenProcessPool:
            self._forget_processes()
            raise
        finally:
            await self._pass_turn(ticket)
        at = self._clock.now()

        async def keep(i: int, report_id: Any, result: ChildResult | Exception) -> None:
            if isinstance(result, Exception):
                outcomes[i] = result
                return
            doc, extra, tokens = result
            stored = {**doc, **extra}
            unit = doc["unit"].get("id") if isinstance(doc.get("unit"), dict) else None
            fields: dict[str, Any] = {
                "scope": doc["scope"],
                "level": doc["level"],
                "priority": doc["priority"],
                "confidence": doc["confidence"],
                "duplicate_of": doc["duplicate_of"],
                "triage": stored,
            }
            if unit in self._units:
                fields["handling_unit"] = unit
            try:
                # Queued together, these writes share the writer's commits.
                await self._db.reports.set_triage(report_id, fields, at)
                await self._db.search.index_tokens(report_id, tokens, at)
            except Exception as exc:
                outcomes[i] = exc
                return
            outcomes[i] = stored

        await asyncio.gather(*(keep(i, r.id, res) for (i, r), res in zip(found, results, strict=True)))
        return outcomes

    def _take_ticket(self) -> int:
        self._tickets += 1
        return self._tickets - 1

    async def _wait_turn(self, ticket: int) -> None:
        async with self._turn_changed:
            await self._turn_changed.wait_for(lambda: self._turn >= ticket)

    async def _pass_turn(self, ticket: int) -> None:
        """The batch of ``ticket`` is done with the index (or gave up): the next one's turn."""
        async with self._turn_changed:
            if self._turn <= ticket:
                self._turn = ticket + 1
            self._turn_changed.notify_all()

    async def _triage_in_turn(
        self, ticket: int, items: Sequence[TriageItem]
    ) -> list[ChildResult | Exception]:
        """One process for a small batch. A big one is cut into runs in case order, one a process,
        triaged at once without the duplicate step; then the index process finds each report's
        duplicate in case order, and the few that have one are triaged again with it. The results
        are those of triaging the batch one report after another in the index process. What
        touches the index is handed to its process in ticket order (a process runs what it is
        handed in order), and the next batch may go on as soon as it is handed over."""
        loop = asyncio.get_running_loop()
        helpers = await self._sharing(len(items))
        if not helpers:
            await self._wait_turn(ticket)
            pool = await self._executor()
            await self._refresh_index(pool)
            sequential = loop.run_in_executor(pool, _child_triage_many, items)
            await self._pass_turn(ticket)
            return list(await sequential)
        pool = await self._executor()
        return await self._shared(ticket, pool, helpers, items)

    async def _shared(
        self,
        ticket: int,
        pool: ProcessPoolExecutor,
        helpers: list[ProcessPoolExecutor],
        items: Sequence[TriageItem],
    ) -> list[ChildResult | Exception]:
        loop = asyncio.get_running_loop()
        runs = _chunks(items, len(helpers) + 1, SHARE_FROM)
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(p, _child_triage_many, run, "later")
                for p, run in zip([pool, *helpers], runs, strict=False)
            )
        )
        results: list[ChildResult | Exception] = [r for part in parts for r in part]
        done = [(i, r) for i, r in enumerate(results) if not isinstance(r, Exception)]
        signatures = [base64.b64decode(r[1]["signature"]) for _, r in done]
        await self._wait_turn(ticket)
        await self._refresh_index(pool)
        deduped = loop.run_in_executor(pool, _child_dedupe, [items[i][0] for i, _ in done], signatures)
        await self._pass_turn(ticket)
        found = await deduped
        again = [(i, dup) for (i, _), dup in zip(done, found, strict=True) if dup is not None]
        if again:
            redone = await loop.run_in_executor(pool, _child_triage_known, [(items[i], d) for i, d in again])
            for (i, _), result in zip(again, redone, strict=True):
                results[i] = result
        return results

    async def correct(self, case_no: str, actor: str, changes: Mapping[str, str]) -> dict[str, Any]:
        """Staff override one or more triage decisions; the before and after go to the audit chain
        (and, for the category, to the retraining export)."""
        if not actor.strip():
            raise ValidationError("请注明修改人。", code="actor_required")
        if not changes:
            raise ValidationError("没有要修改的内容。", code="nothing_to_correct")
        for name, value in changes.items():
            self._check_correction(name, value)
        report = await self._db.reports.get(case_no)
        if report is None:
            raise NotFound("没有这个案件。", code="case_not_found")
        current = dict(report.triage or {})
        before, after, columns = self._apply_corrections(current, changes)
        current["corrected_by"] = actor
        current["needs_review"] = False
        if after:
            current["explanations"] = corrected_explanations(
                current.get("explanations") or [], before, after, self._units
            )
        columns["triage"] = current
        kind = "triage_corrected" if after else "triage_confirmed"
        await self._db.reports.correct_triage(
            report.id, columns, before, after, actor, self._clock.now(), kind=kind
        )
        return current

    def _check_correction(self, name: str, value: str) -> None:
        """Refuse a correction of a field staff may not set, or to a value it cannot take."""
        allowed = CORRECTABLE.get(name, ())
        if name not in CORRECTABLE:
            raise ValidationError(f"不能修改 {name}。", code="not_correctable")
        if allowed is not None and value not in allowed:
            raise ValidationError(f"{name} 只能是 {'、'.join(allowed)}。", code="invalid_value")
        if name == "unit" and value not in self._units:
            raise ValidationError(f"辖区内没有单位 {value}。", code="unknown_unit")
        if name == "category" and not (0 < len(value.strip()) <= 64):
            raise ValidationError("类别应为 1 至 64 个字。", code="invalid_value")

    def _apply_corrections(
        self, current: dict[str, Any], changes: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Write the changes into ``current`` (the triage document); the values before and after
        and the report columns that change with them."""
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        for name, value in changes.items():
            now = (current.get("unit") or {}).get("id") if name == "unit" else current.get(name)
            if value == now:
                continue  # not a correction: nothing changes, nothing is recorded for retraining
            before[name] = now
            if name == "unit":
                current["unit"] = {"id": value, "name": self._units[value]}
                columns["handling_unit"] = value
            else:
                current[name] = value
                if name in ("scope", "level", "priority"):
                    columns[name] = value
            after[name] = value
        return before, after, columns

    async def review_queue(self, limit: int = 200, scope: Scope | None = None) -> list[dict[str, Any]]:
        """Reports whose triage was not sure enough, oldest first, for a person to decide: every
        one, or those of a staff member's ``scope``."""
        return await self._db.reports.needing_review(
            limit,
            units=None if scope is None else scope.units,
            hide_sealed_received_by=() if scope is None else scope.hide_sealed_received_by,
        )

    async def corrections(self) -> list[Correction]:
        """Every staff correction with the report's (already redacted) text, oldest first."""
        return [Correction(*row) for row in await self._db.reports.triage_corrections()]
