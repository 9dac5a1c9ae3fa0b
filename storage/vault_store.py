"""The vault's store: vault entries, blind indexes, custodians, reveal requests and key versions.

SQL only: the reveal workflow's rules live in :mod:`intake.vault_service`, which composes the
``*_txn`` steps below into its own writer transactions (each step awaits only ``batch.conn``, so it
runs inside the group-commit writer on both databases). :class:`VaultStore` has the reads and the
self-contained writes; :meth:`VaultStore.shred` is behind ``intake vault shred``. Key rotation
(``intake vault rotate``) is :mod:`storage.key_rotation`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from storage import models
from storage.audit import utc
from storage.db import Batch, one_of
from storage.redaction_terms import clear_redaction_terms_txn
from storage.vault import (
    BlindIndex,
    SealedEntry,
    VaultIntegrityError,
    rewrap,
)

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger("storage.vault")

V = cast(sa.Table, models.VaultEntry.__table__)
R = cast(sa.Table, models.Report.__table__)
VK = cast(sa.Table, models.VaultKey.__table__)
VC = cast(sa.Table, models.VaultCustodian.__table__)
VR = cast(sa.Table, models.VaultRevealRequest.__table__)
VD = cast(sa.Table, models.VaultRevealDecision.__table__)
VB = cast(sa.Table, models.VaultBlindIndex.__table__)


class VaultStoreError(Exception):
    """A maintenance operation cannot go ahead (the message says why and what to do)."""


# --- records ---------------------------------------------------------------------------------------


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
class CustodianRecord:
    username: str
    added_by: str
    added_at: datetime


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


@dataclass(frozen=True)
class KeyVersionRecord:
    version: int
    provider: str
    fingerprint: str | None
    created_at: datetime
    rotated_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class RotationResult:
    version: int
    created: bool
    entries: int
    blobs: int
    failed_entries: list[uuid.UUID]
    failed_blobs: list[uuid.UUID]
    seconds: float

    @property
    def complete(self) -> bool:
        return not self.failed_entries and not self.failed_blobs


@dataclass(frozen=True)
class ShredResult:
    entries: int
    reports: int


# --- steps for the service's transactions (await only batch.conn) ----------------------------------


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
    return _request(row, {d.custodian: d.decision for d in decisions})


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
    return [_request(row, {}) for row in rows]


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
    for chunk in _chunks(macs, 500):
        found = await batch.conn.execute(
            sa.select(VB.c.mac, sa.func.count(sa.distinct(VB.c.report_id)))
            .where(one_of(batch.conn, VB.c.mac, chunk))
            .group_by(VB.c.mac)
        )
        counts.update({m: int(n) for m, n in found})
    await batch.conn.execute(sa.insert(VB), rows)
    return {rid: max((counts.get(i.mac, 0) for i in indexes), default=0) for rid, _, indexes in reports}


# --- the repository --------------------------------------------------------------------------------


class VaultStore:
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
        return [_request(r, decisions[r.id]) for r in rows]

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

    # key versions -------------------------------------------------------------------------------

    async def key_versions(self) -> list[KeyVersionRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(VK).order_by(VK.c.version))
            return [
                KeyVersionRecord(
                    r.version,
                    r.provider,
                    r.fingerprint,
                    utc(r.created_at),
                    utc(r.rotated_at) if r.rotated_at else None,
                    utc(r.retired_at) if r.retired_at else None,
                )
                for r in rows
            ]

    async def sync_key_versions(self, actor: str, at: datetime) -> list[KeyVersionRecord]:
        """Record provider versions the database has not seen, and check the ones it has: a key file
        whose check values differ from the recorded ones is refused (it belongs to another
        deployment, or was restored from the wrong backup)."""
        provider = self._db.keyring.provider
        known = {k.version: k for k in await self.key_versions()}
        wrong = [
            v
            for v in provider.versions()
            if v in known and known[v].fingerprint not in (None, provider.fingerprint(v))
        ]
        if wrong:
            raise VaultStoreError(
                f"the key-encryption keys do not match this database (version {', '.join(map(str, wrong))}): "
                "wrong key file or INTAKE_MASTER_KEY"
            )
        new = [v for v in provider.versions() if v not in known]
        if new:

            async def record_key_versions_txn(batch: Batch) -> None:
                have = set((await batch.conn.execute(sa.select(VK.c.version))).scalars())
                for v in new:
                    if v in have:
                        continue
                    await batch.conn.execute(
                        sa.insert(VK).values(
                            version=v,
                            provider=provider.name,
                            fingerprint=provider.fingerprint(v),
                            created_at=at,
                        )
                    )
                    batch.event(
                        None, "vault_key_recorded", actor, at, {"version": v, "provider": provider.name}
                    )

            await self._db.writer.run(record_key_versions_txn)
        return await self.key_versions()

    async def entry_versions(self) -> dict[int, int]:
        """Live (not shredded) vault entries per key-encryption key version."""
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(
                sa.select(V.c.kek_version, sa.func.count())
                .where(V.c.wrapped_key.is_not(None))
                .group_by(V.c.kek_version)
            )
            return {int(v): int(n) for v, n in rows}

    async def entry_counts(self) -> dict[str, int]:
        async with self._db.read_engine.connect() as conn:
            live, shredded = (
                await conn.execute(
                    sa.select(
                        sa.func.count().filter(V.c.wrapped_key.is_not(None)),
                        sa.func.count().filter(V.c.wrapped_key.is_(None)),
                    )
                )
            ).one()
        return {"live": int(live), "shredded": int(shredded)}

    async def count_not_on(self, version: int) -> int:
        async with self._db.read_engine.connect() as conn:
            n: int = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(V)
                    .where(V.c.kek_version != version, V.c.wrapped_key.is_not(None))
                )
            ).scalar_one()
            return n

    async def rewrap_batch(
        self, version: int, *, after: uuid.UUID | None, limit: int
    ) -> tuple[int, uuid.UUID | None, list[uuid.UUID]]:
        """Re-wrap up to ``limit`` entries (id order, after ``after``) to ``version`` in one writer
        transaction. Returns (re-wrapped, last id seen or None when done, ids that failed)."""
        keyring = self._db.keyring

        async def rewrap_entries_txn(batch: Batch) -> tuple[int, uuid.UUID | None, list[uuid.UUID]]:
            query = (
                sa.select(V.c.id, V.c.kek_version, V.c.wrapped_key, V.c.nonce)
                .where(V.c.kek_version != version, V.c.wrapped_key.is_not(None))
                .order_by(V.c.id)
                .limit(limit)
                .with_for_update()
            )
            if after is not None:
                query = query.where(V.c.id > after)
            rows = (await batch.conn.execute(query)).all()
            if not rows:
                return 0, None, []
            updates, failed = [], []
            for row in rows:
                try:
                    wrapped = rewrap(keyring, row.id, row.nonce, row.wrapped_key, row.kek_version, version)
                except VaultIntegrityError:
                    failed.append(row.id)
                    continue
                updates.append({"b_id": row.id, "b_old": row.kek_version, "b_wrapped": wrapped})
            if updates:
                await batch.conn.execute(
                    sa.update(V)
                    .where(V.c.id == sa.bindparam("b_id"), V.c.kek_version == sa.bindparam("b_old"))
                    .values(kek_version=version, wrapped_key=sa.bindparam("b_wrapped")),
                    updates,
                )
            return len(updates), rows[-1].id, failed

        result: tuple[int, uuid.UUID | None, list[uuid.UUID]] = await self._db.writer.run(rewrap_entries_txn)
        return result

    async def finish_rotation(self, result: RotationResult, actor: str, at: datetime) -> None:
        async def finish_rotation_txn(batch: Batch) -> None:
            if result.complete:
                await batch.conn.execute(
                    sa.update(VK).where(VK.c.version == result.version).values(rotated_at=at)
                )
            batch.event(
                None,
                "vault_key_rotated" if result.complete else "vault_rotation_incomplete",
                actor,
                at,
                {
                    "version": result.version,
                    "new_key": result.created,
                    "entries": result.entries,
                    "attachments": result.blobs,
                    "failed_entries": [str(i) for i in result.failed_entries],
                    "failed_attachments": [str(i) for i in result.failed_blobs],
                },
            )

        await self._db.writer.run(finish_rotation_txn)

    async def mark_retired(self, versions: Sequence[int], actor: str, at: datetime) -> None:
        async def retire_key_versions_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(VK).where(VK.c.version.in_(list(versions))).values(retired_at=at)
            )
            batch.event(None, "vault_key_retired", actor, at, {"versions": sorted(versions)})

        await self._db.writer.run(retire_key_versions_txn)

    async def record_key_created(self, version: int, actor: str, at: datetime) -> None:
        provider = self._db.keyring.provider

        async def record_key_created_txn(batch: Batch) -> None:
            exists = (
                await batch.conn.execute(sa.select(VK.c.version).where(VK.c.version == version))
            ).first()
            if exists is None:
                await batch.conn.execute(
                    sa.insert(VK).values(
                        version=version,
                        provider=provider.name,
                        fingerprint=provider.fingerprint(version),
                        created_at=at,
                    )
                )
            batch.event(None, "vault_key_created", actor, at, {"version": version, "provider": provider.name})

        await self._db.writer.run(record_key_created_txn)

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
            for chunk in _chunks(ids, 500):
                await batch.conn.execute(
                    sa.update(V).where(V.c.id.in_(chunk)).values(wrapped_key=None, shredded_at=at)
                )
            for chunk in _chunks(sorted(kinds), 500):
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


# --- helpers ---------------------------------------------------------------------------------------


def _stored_entry(row: Any) -> StoredEntry:
    sealed = None
    if row.wrapped_key is not None:
        sealed = SealedEntry(
            row.id, row.report_id, row.kind, row.kek_version, row.wrapped_key, row.nonce, row.ciphertext
        )
    return StoredEntry(row.id, row.kind, sealed, utc(row.shredded_at) if row.shredded_at else None)


def _request(row: Any, decisions: dict[str, str]) -> RevealRequestRecord:
    def opt(value: datetime | None) -> datetime | None:
        return utc(value) if value is not None else None

    return RevealRequestRecord(
        id=row.id,
        report_id=row.report_id,
        case_no=row.case_no,
        kind=row.kind,
        requester=row.requester,
        reason=row.reason,
        commission_ref=row.commission_ref,
        approvals_needed=row.approvals_needed,
        status=row.status,
        created_at=utc(row.created_at),
        expires_at=utc(row.expires_at),
        approved_at=opt(row.approved_at),
        open_until=opt(row.open_until),
        closed_at=opt(row.closed_at),
        decisions=decisions,
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
