"""The accept transaction: many new reports filed in one writer transaction, in named steps.

A report delivered again under its idempotency key (channel, external id) is a retry: it gets the
answer of the report already filed, whether in an earlier transaction or earlier in this batch.
The fresh ones get their case numbers (per year and receiving unit), their rows (report, vault
entries, attachments, blind indexes), their ``received`` audit event and their jobs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Batch
from storage.records import AcceptResult, NewReport, StoredBlob
from storage.tables import A, C, R, V, cols, record_of
from storage.vault import SealedEntry, pack_redaction_terms
from storage.vault_steps import insert_blind_indexes_txn


def format_case_no(year: int, unit_code: str, seq: int) -> str:
    return f"{year}-{unit_code}-{seq:06d}"


async def accept_reports_txn(batch: Batch, reports: Sequence[NewReport]) -> list[AcceptResult]:
    """File many reports in the writer's transaction: idempotency, case numbers, rows, events, jobs."""
    existing = await _existing_txn(batch.conn, _idempotency_keys(reports))
    results, fresh, first_in_batch = _sort_out_retries(reports, existing)
    filed = await _file_txn(batch, [reports[i] for i in fresh])
    for i, result in zip(fresh, filed, strict=True):
        results[i] = result
    return _answer_retries_in_batch(reports, results, first_in_batch)


def _idempotency_keys(reports: Sequence[NewReport]) -> set[tuple[str, str]]:
    return {(r.channel, r.external_id) for r in reports if r.external_id is not None}


async def _file_txn(batch: Batch, reports: Sequence[NewReport]) -> list[AcceptResult]:
    """Number the fresh reports, write their rows, record their events and jobs; their answers."""
    case_numbers = await _allocate_case_numbers_txn(batch.conn, reports)
    filed = list(zip(reports, case_numbers, strict=True))
    await _insert_reports_txn(batch.conn, filed)
    # How many earlier reports share an identifier with each new one (a repeat reporter), counted
    # on the blind indexes before this batch's own are added.
    earlier = await insert_blind_indexes_txn(batch, [(r.id, r.received_at, r.blind_indexes) for r in reports])
    for r, case_no in filed:
        _record_received(batch, r, case_no, earlier.get(r.id))
    return [
        AcceptResult(r.id, case_no, r.status, r.received_at, True, r.request_fingerprint)
        for r, case_no in filed
    ]


def _answer_retries_in_batch(
    reports: Sequence[NewReport],
    results: list[AcceptResult | None],
    first_in_batch: dict[tuple[str, str], int],
) -> list[AcceptResult]:
    """Every report's answer: a retry of a report earlier in this batch gets its original's."""
    for i, r in enumerate(reports):
        if results[i] is None:
            j = first_in_batch[(r.channel, r.external_id)]  # type: ignore[index]
            first = results[j]
            assert first is not None
            results[i] = replace(first, created=False, receipt_sealed=reports[j].receipt_sealed)
    return [r for r in results if r is not None]


async def _existing_txn(conn: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], AcceptResult]:
    """The reports already filed under these (channel, external id) pairs: retries."""
    if not keys:
        return {}
    columns = cols(R, "id case_no status received_at channel external_id request_fingerprint receipt_sealed")
    if conn.dialect.name == "postgresql":
        # The (channel, external id) pairs as one table joined on the unique index: one
        # statement text whatever the batch size, and an index probe per pair.
        pairs = sorted(keys)
        k = (
            sa.func.unnest(
                sa.bindparam(None, [c for c, _ in pairs], type_=postgresql.ARRAY(sa.String)),
                sa.bindparam(None, [e for _, e in pairs], type_=postgresql.ARRAY(sa.String)),
            )
            .table_valued("channel", "external_id")
            .render_derived(name="k")
        )
        query = sa.select(*columns).join_from(
            R, k, sa.and_(R.c.channel == k.c.channel, R.c.external_id == k.c.external_id)
        )
    else:
        query = sa.select(*columns).where(sa.tuple_(R.c.channel, R.c.external_id).in_(sorted(keys)))
    existing: dict[tuple[str, str], AcceptResult] = {}
    for row in await conn.execute(query):
        if (row.channel, row.external_id) not in keys:
            continue
        existing[(row.channel, row.external_id)] = record_of(
            AcceptResult, row, report_id=row.id, created=False
        )
    return existing


def _sort_out_retries(
    reports: Sequence[NewReport], existing: dict[tuple[str, str], AcceptResult]
) -> tuple[list[AcceptResult | None], list[int], dict[tuple[str, str], int]]:
    """Each report's answer when it is a retry of a stored one; the indexes of the fresh ones; and
    for each key the first report of this batch that carries it (later ones are its retries)."""
    results: list[AcceptResult | None] = [None] * len(reports)
    fresh: list[int] = []
    first_in_batch: dict[tuple[str, str], int] = {}
    for i, r in enumerate(reports):
        key = (r.channel, r.external_id) if r.external_id is not None else None
        if key is not None and key in existing:
            results[i] = existing[key]
        elif key is not None and key in first_in_batch:
            continue  # a retry racing its original inside one batch: resolved at the end
        else:
            fresh.append(i)
            if key is not None:
                first_in_batch[key] = i
    return results, fresh, first_in_batch


def _report_row(r: NewReport, case_no: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "case_no": case_no,
        "query_hash": r.query_hash,
        "channel": r.channel,
        "external_id": r.external_id,
        "request_fingerprint": r.request_fingerprint,
        "receipt_sealed": r.receipt_sealed,
        "title": r.title,
        "content": r.content,
        "category": r.category,
        "accused_name": r.accused_name,
        "accused_unit": r.accused_unit,
        "accused_position": r.accused_position,
        "location_code": r.location_code,
        "location_text": r.location_text,
        "anonymous": r.anonymous,
        "informant_alias": r.informant_alias,
        "redaction_terms": pack_redaction_terms(r.redaction_terms),
        "receiving_unit": r.receiving_unit,
        "handling_unit": r.handling_unit,
        "status": r.status,
        "received_at": r.received_at,
        "updated_at": max([r.received_at, *(at for _, at, _ in r.history)]),
    }


def _blob_row(r: NewReport, b: StoredBlob) -> dict[str, Any]:
    return {
        "id": b.id,
        "report_id": r.id,
        "content_type": b.content_type,
        "size": b.size,
        "blob_path": b.blob_path,
        "created_at": r.received_at,
    }


async def _insert_reports_txn(conn: Any, filed: Sequence[tuple[NewReport, str]]) -> None:
    """The new reports' rows, their vault entries and their attachments."""
    report_rows = [_report_row(r, case_no) for r, case_no in filed]
    vault_rows = [vault_row(s, r.received_at) for r, _ in filed for s in r.sealed]
    blob_rows = [_blob_row(r, b) for r, _ in filed for b in r.attachments]
    if report_rows:
        await conn.execute(sa.insert(R), report_rows)
    if vault_rows:
        await conn.execute(sa.insert(V), vault_rows)
    if blob_rows:
        await conn.execute(sa.insert(A), blob_rows)


def _record_received(batch: Batch, r: NewReport, case_no: str, repeat_reporter: int | None) -> None:
    """The report's ``received`` audit event and its jobs (triage first)."""
    payload = {"case_no": case_no, **r.event_payload}
    if repeat_reporter:
        payload["repeat_reporter"] = repeat_reporter
    actor = r.actor or f"channel:{r.channel}"
    batch.event(r.id, "received", actor, r.received_at, payload)
    for kind, at, event_payload in r.history:  # an imported case's old history
        batch.event(r.id, kind, actor, at, event_payload)
    for kind, job_payload, run_after in r.jobs:
        batch.job(kind, {"report_id": str(r.id), "case_no": case_no, **job_payload}, run_after, r.received_at)


def vault_row(s: SealedEntry, at: datetime) -> dict[str, Any]:
    return {
        "id": s.id,
        "report_id": s.report_id,
        "kind": s.kind,
        "kek_version": s.kek_version,
        "wrapped_key": s.wrapped_key,
        "nonce": s.nonce,
        "ciphertext": s.ciphertext,
        "created_at": at,
    }


async def _allocate_case_numbers_txn(conn: Any, reports: Sequence[NewReport]) -> list[str]:
    """Hand out per-(year, receiving unit) sequence numbers; the counter rows serialise writers.

    One statement per counter: an upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``) that
    creates the counter on its first use or takes its row lock and reserves the numbers. Two
    workers filing a unit's first report of the year at once are served one after the other (an
    insert-if-missing after an update failed the second of them on the key).
    """
    if not reports:
        return []
    needed = Counter((r.case_year, r.receiving_unit) for r in reports)
    insert = postgresql.insert(C) if conn.dialect.name == "postgresql" else sqlite.insert(C)
    last: dict[tuple[int, str], int] = {}
    for (year, unit), n in sorted(needed.items()):
        statement = (
            insert.values(year=year, unit_code=unit, last=n)
            .on_conflict_do_update(index_elements=[C.c.year, C.c.unit_code], set_={"last": C.c.last + n})
            .returning(C.c.last)
        )
        last[(year, unit)] = (await conn.execute(statement)).scalar_one() - n
    out = []
    for r in reports:
        key = (r.case_year, r.receiving_unit)
        last[key] += 1
        out.append(format_case_no(r.case_year, r.receiving_unit, last[key]))
    return out
