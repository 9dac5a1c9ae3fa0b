"""The vault's store: custodians, reveal requests, blind indexes, key versions, crypto-shredding.

:class:`VaultStore` has the reads and the self-contained writes; :meth:`VaultStore.shred` is behind
``intake vault shred``. Its key-version part is :mod:`storage.vault_keys` (key rotation, ``intake
vault rotate``, is :mod:`storage.key_rotation`); the steps the reveal transactions are made of are
:mod:`storage.vault_steps`. Their names stay importable from here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.audit import utc
from storage.db import Batch
from storage.redaction_terms import clear_redaction_terms_txn
from storage.tables import VB, VC, VD, VR, R, V
from storage.vault import BlindIndex
from storage.vault_keys import KeyVersionRecord, KeyVersions, RotationResult, VaultStoreError
from storage.vault_steps import (
    ReportRef,
    RevealRequestRecord,
    StoredEntry,
    chunks,
    count_custodians_txn,
    due_requests_txn,
    entries_txn,
    insert_blind_indexes_txn,
    insert_decision_txn,
    insert_request_txn,
    is_custodian_txn,
    report_ref_txn,
    request_record,
    request_txn,
    update_request_txn,
)

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger("storage.vault")

__all__ = [
    "CustodianRecord",
    "KeyVersionRecord",
    "ReportRef",
    "RevealRequestRecord",
    "RotationResult",
    "ShredResult",
    "StoredEntry",
    "VaultStore",
    "VaultStoreError",
    "count_custodians_txn",
    "due_requests_txn",
    "entries_txn",
    "insert_blind_indexes_txn",
    "insert_decision_txn",
    "insert_request_txn",
    "is_custodian_txn",
    "report_ref_txn",
    "request_txn",
    "update_request_txn",
]


@dataclass(frozen=True)
class CustodianRecord:
    username: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class ShredResult:
    entries: int
    reports: int


class VaultStore(KeyVersions):
    def __init__(self, db: Database) -> None:
        self._db = db

    # custodians ---------------------------------------------------------------------------------

    async def add_custodian(self, username: str, actor: str, at: datetime) -> bool:
        """Register (or re-activate) a custodian; False when already active. Audited."""

        async def add_custodian_txn(batch: Batch) -> bool:
            if await is_custodian_txn(batch, username):
                return False
            await batch.conn.execute(sa.delete(VC).where(VC.c.username == username))
            await batch.conn.execute(sa.insert(VC).values(username=username, added_by=actor, added_at=at))
            batch.event(None, "vault_custodian_added", actor, at, {"custodian": username})
            return True

        added: bool = await self._db.writer.run(add_custodian_txn)
        return added

    async def remove_custodian(self, username: str, actor: str, at: datetime) -> bool:
        async def remove_custodian_txn(batch: Batch) -> bool:
            result = await batch.conn.execute(
                sa.update(VC)
                .where(VC.c.username == username, VC.c.removed_at.is_(None))
                .values(removed_at=at)
            )
            if not result.rowcount:
                return False
            batch.event(None, "vault_custodian_removed", actor, at, {"custodian": username})
            return True

        removed: bool = await self._db.writer.run(remove_custodian_txn)
        return removed

    async def custodians(self) -> list[CustodianRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(VC).where(VC.c.removed_at.is_(None)).order_by(VC.c.username))
            return [CustodianRecord(r.username, r.added_by, utc(r.added_at)) for r in rows]

    # reveal requests ----------------------------------------------------------------------------

    async def requests(self, *, status: str | None = None, limit: int = 100) -> list[RevealRequestRecord]:
        query = (
            sa.select(VR, R.c.case_no)
            .join(R, R.c.id == VR.c.report_id)
            .order_by(VR.c.created_at.desc())
            .limit(limit)
        )
        if status:
            query = query.where(VR.c.status == status)
        async with self._db.read_engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            ids = [r.id for r in rows]
            decisions: dict[uuid.UUID, dict[str, str]] = {i: {} for i in ids}
            if ids:
                for d in await conn.execute(sa.select(VD).where(VD.c.request_id.in_(ids))):
                    decisions[d.request_id][d.custodian] = d.decision
        return [request_record(r, decisions[r.id]) for r in rows]

    # blind indexes ------------------------------------------------------------------------------

    async def reports_sharing(self, macs: Sequence[str]) -> list[tuple[uuid.UUID, str, datetime]]:
        """(report id, case number, received at) of every report with one of these indexes, oldest
        first: the repeat-reporter view, with no decryption."""
        if not macs:
            return []
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(R.c.id, R.c.case_no, R.c.received_at)
                .where(R.c.id.in_(sa.select(VB.c.report_id).where(VB.c.mac.in_(list(macs)))))
                .order_by(R.c.received_at, R.c.case_no)
            )
            return [(r.id, r.case_no, utc(r.received_at)) for r in rows]

    async def count_reports_since(self, macs: Sequence[str], since: datetime) -> int:
        """Reports with one of these indexes filed at or after ``since``: per-person rate limits."""
        if not macs:
            return 0
        async with self._db.read_engine.connect() as conn:
            n: int = (
                await conn.execute(
                    sa.select(sa.func.count(sa.distinct(VB.c.report_id))).where(
                        VB.c.mac.in_(list(macs)), VB.c.created_at >= since
                    )
                )
            ).scalar_one()
            return n

    async def indexes_of(self, report_id: uuid.UUID) -> list[BlindIndex]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(VB.c.kind, VB.c.alg, VB.c.mac).where(VB.c.report_id == report_id).order_by(VB.c.id)
            )
            return [BlindIndex(r.kind, r.alg, r.mac) for r in rows]

    # crypto-shredding ---------------------------------------------------------------------------

    async def shred(
        self, cutoff: datetime, actor: str, at: datetime, *, batch_size: int = 1000
    ) -> ShredResult:
        """Destroy the data keys of entries created before ``cutoff`` (and the blind indexes of their
        reports): the reports stay, the identities are gone. One audit event per report."""
        entries = reports = 0
        while True:
            n, r = await self._db.writer.run(self._shred_txn(cutoff, actor, at, batch_size))
            entries, reports = entries + n, reports + r
            if n < batch_size:
                break
        if entries:
            await self._compact()
        return ShredResult(entries, reports)

    def _shred_txn(
        self, cutoff: datetime, actor: str, at: datetime, limit: int
    ) -> Callable[[Batch], Awaitable[tuple[int, int]]]:
        sqlite = self._db.dialect == "sqlite"

        async def shred_entries_txn(batch: Batch) -> tuple[int, int]:
            rows = (
                await batch.conn.execute(
                    sa.select(V.c.id, V.c.report_id, V.c.kind)
                    .where(V.c.created_at < cutoff, V.c.wrapped_key.is_not(None))
                    .order_by(V.c.id)
                    .limit(limit)
                    .with_for_update()
                )
            ).all()
            if sqlite:
                # Freed space in the database pages is zeroed, so the old wrapped keys do not linger.
                await batch.conn.exec_driver_sql("PRAGMA secure_delete=ON")
            if len(rows) < limit:
                # The last batch: the terms were written with the reports, as their first entries
                # were, so the same cutoff clears them (one pass over the reports, not one a batch).
                await clear_redaction_terms_txn(batch, cutoff)
            if not rows:
                return 0, 0
            ids = [r.id for r in rows]
            kinds: dict[uuid.UUID, set[str]] = {}
            for r in rows:
                kinds.setdefault(r.report_id, set()).add(r.kind)
            for chunk in chunks(ids, 500):
                await batch.conn.execute(
                    sa.update(V).where(V.c.id.in_(chunk)).values(wrapped_key=None, shredded_at=at)
                )
            for chunk in chunks(sorted(kinds), 500):
                await batch.conn.execute(sa.delete(VB).where(VB.c.report_id.in_(chunk)))
            for report_id, found in kinds.items():
                batch.event(
                    report_id,
                    "vault_shredded",
                    actor,
                    at,
                    {"kinds": sorted(found), "created_before": utc(cutoff).isoformat()},
                )
            return len(ids), len(kinds)

        return shred_entries_txn

    async def _compact(self) -> None:
        """Best effort: push the overwritten pages out of the SQLite WAL / PostgreSQL dead tuples."""
        try:
            if self._db.dialect == "sqlite":
                async with self._db.read_engine.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                engine = self._db.write_engine.execution_options(isolation_level="AUTOCOMMIT")
                async with engine.connect() as conn:
                    await conn.exec_driver_sql("VACUUM vault_entries")
                    await conn.exec_driver_sql("VACUUM vault_blind_indexes")
        except sa.exc.DBAPIError:
            log.warning("compacting after shredding did not complete; it runs again next time")
