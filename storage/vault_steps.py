"""The vault's steps for the service's transactions, and the records they return.

SQL only: the reveal workflow's rules live in :mod:`intake.vault_service` and the reveal
transactions in :mod:`storage.reveal`, which compose the ``*_txn`` steps below into their own writer
transactions (each step awaits only ``batch.conn``, so it runs inside the group-commit writer on
both databases). :func:`insert_blind_indexes_txn` is a step of the accept transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from storage.audit import utc
from storage.db import Batch
from storage.tables import VB, VC, VD, VR, R, V, one_of, record_of
from storage.vault import BlindIndex, SealedEntry


@dataclass(frozen=True)
class ReportRef:
    id: uuid.UUID
    case_no: str
    channel: str
    anonymous: bool


@dataclass(frozen=True)
class StoredEntry:
    """A vault row: ``sealed`` is None once the entry was crypto-shredded."""

    id: uuid.UUID
    kind: str
    sealed: SealedEntry | None
    shredded_at: datetime | None


@dataclass(frozen=True)
class RevealRequestRecord:
    id: uuid.UUID
    report_id: uuid.UUID
    case_no: str
    kind: str
    requester: str
    reason: str
    commission_ref: str | None
    approvals_needed: int
    status: str
    created_at: datetime
    expires_at: datetime
    approved_at: datetime | None
    open_until: datetime | None
    closed_at: datetime | None
    decisions: dict[str, str] = field(default_factory=dict)

    @property
    def approvers(self) -> list[str]:
        return sorted(c for c, d in self.decisions.items() if d == "approve")


async def report_ref_txn(
    batch: Batch, *, case_no: str | None = None, report_id: uuid.UUID | None = None
) -> ReportRef | None:
    query = sa.select(R.c.id, R.c.case_no, R.c.channel, R.c.anonymous)
    query = query.where(R.c.case_no == case_no) if case_no is not None else query.where(R.c.id == report_id)
    row = (await batch.conn.execute(query)).first()
    return ReportRef(row.id, row.case_no, row.channel, bool(row.anonymous)) if row else None


async def is_custodian_txn(batch: Batch, username: str) -> bool:
    row = (
        await batch.conn.execute(
            sa.select(VC.c.username).where(VC.c.username == username, VC.c.removed_at.is_(None))
        )
    ).first()
    return row is not None


async def count_custodians_txn(batch: Batch) -> int:
    n: int = (
        await batch.conn.execute(sa.select(sa.func.count()).select_from(VC).where(VC.c.removed_at.is_(None)))
    ).scalar_one()
    return n


async def entries_txn(
    batch: Batch, report_id: uuid.UUID, kinds: Sequence[str] | None = None
) -> list[StoredEntry]:
    """The report's vault entries (of ``kinds``, or all), shredded ones included."""
    query = sa.select(V).where(V.c.report_id == report_id).order_by(V.c.created_at, V.c.id)
    if kinds is not None:
        query = query.where(V.c.kind.in_(list(kinds)))
    return [_stored_entry(row) for row in await batch.conn.execute(query)]


async def insert_request_txn(
    batch: Batch,
    *,
    request_id: uuid.UUID,
    report_id: uuid.UUID,
    kind: str,
    requester: str,
    reason: str,
    commission_ref: str | None,
    approvals_needed: int,
    at: datetime,
    expires_at: datetime,
) -> None:
    await batch.conn.execute(
        sa.insert(VR).values(
            id=request_id,
            report_id=report_id,
            kind=kind,
            requester=requester,
            reason=reason,
            commission_ref=commission_ref,
            approvals_needed=approvals_needed,
            status="pending",
            created_at=at,
            expires_at=expires_at,
        )
    )


async def request_txn(
    batch: Batch, request_id: uuid.UUID, *, lock: bool = True
) -> RevealRequestRecord | None:
    """A request with its decisions, its row locked for the rest of the transaction (PostgreSQL)."""
    query = sa.select(VR, R.c.case_no).join(R, R.c.id == VR.c.report_id).where(VR.c.id == request_id)
    if lock:
        query = query.with_for_update(of=VR)
    row = (await batch.conn.execute(query)).first()
    if row is None:
        return None
    decisions = await batch.conn.execute(
        sa.select(VD.c.custodian, VD.c.decision).where(VD.c.request_id == request_id)
    )
    return request_record(row, {d.custodian: d.decision for d in decisions})


async def insert_decision_txn(
    batch: Batch, request_id: uuid.UUID, custodian: str, decision: str, at: datetime
) -> None:
    await batch.conn.execute(
        sa.insert(VD).values(request_id=request_id, custodian=custodian, decision=decision, at=at)
    )


async def update_request_txn(batch: Batch, request_id: uuid.UUID, **values: Any) -> None:
    await batch.conn.execute(sa.update(VR).where(VR.c.id == request_id).values(**values))


async def due_requests_txn(batch: Batch, now: datetime) -> list[RevealRequestRecord]:
    """Requests whose approval window (pending) or opening window (approved) has passed."""
    rows = await batch.conn.execute(
        sa.select(VR, R.c.case_no)
        .join(R, R.c.id == VR.c.report_id)
        .where(
            sa.or_(
                sa.and_(VR.c.status == "pending", VR.c.expires_at < now),
                sa.and_(VR.c.status == "approved", VR.c.open_until < now),
            )
        )
        .order_by(VR.c.created_at)
        .with_for_update(of=VR)
    )
    return [request_record(row, {}) for row in rows]


async def insert_blind_indexes_txn(
    batch: Batch, reports: Sequence[tuple[uuid.UUID, datetime, Sequence[BlindIndex]]]
) -> dict[uuid.UUID, int]:
    """Store the blind indexes of newly filed reports, in the accept transaction (after the report
    rows). Returns, per report, how many *earlier* reports share one of its indexes (0: a first
    report; more: a repeat reporter), counted before this batch's rows are added."""
    rows: list[dict[str, Any]] = [
        {"report_id": rid, "kind": i.kind, "alg": i.alg, "mac": i.mac, "created_at": at}
        for rid, at, indexes in reports
        for i in indexes
    ]
    if not rows:
        return {rid: 0 for rid, _, _ in reports}
    macs = sorted({i.mac for _, _, indexes in reports for i in indexes})
    counts: dict[str, int] = {}
    for chunk in chunks(macs, 500):
        found = await batch.conn.execute(
            sa.select(VB.c.mac, sa.func.count(sa.distinct(VB.c.report_id)))
            .where(one_of(batch.conn, VB.c.mac, chunk))
            .group_by(VB.c.mac)
        )
        counts.update({m: int(n) for m, n in found})
    await batch.conn.execute(sa.insert(VB), rows)
    return {rid: max((counts.get(i.mac, 0) for i in indexes), default=0) for rid, _, indexes in reports}


def request_record(row: Any, decisions: dict[str, str]) -> RevealRequestRecord:
    """A reveal request row (joined with its report's case number) and its decisions."""
    return record_of(RevealRequestRecord, row, decisions=decisions)


def _stored_entry(row: Any) -> StoredEntry:
    sealed = None
    if row.wrapped_key is not None:
        sealed = SealedEntry(
            row.id, row.report_id, row.kind, row.kek_version, row.wrapped_key, row.nonce, row.ciphertext
        )
    return StoredEntry(row.id, row.kind, sealed, utc(row.shredded_at) if row.shredded_at else None)


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
