"""The vault's store: vault entries, blind indexes, custodians, reveal requests and key versions.

SQL only: the reveal workflow's rules live in :mod:`intake.vault_service`, which composes the
``*_txn`` steps below into its own writer transactions (each step awaits only ``batch.conn``, so it
runs inside the group-commit writer on both databases). :class:`VaultStore` has the reads and the
self-contained writes; :func:`rotate`, :func:`retire_old_keys` and :meth:`VaultStore.shred` are the
maintenance operations behind ``intake vault rotate`` and ``intake vault shred``.

Rotation, step by step (every step can be interrupted; running it again continues):

1. if every data key (vault entries and attachment files) is already wrapped under the current KEK
   version, the provider makes a new version (the key file is rewritten atomically);
2. vault entries not on the current version are re-wrapped in batches, one writer transaction per
   batch (unwrap under the old version, wrap under the new one, in memory; ciphertexts untouched);
3. attachment files not on the current version get a new header: the new header and the unchanged
   encrypted body go to a temporary file, fsynced and renamed over the old one;
4. a last pass catches entries sealed meanwhile by servers that had not yet seen the new version;
   then ``vault_keys.rotated_at`` is set and a ``vault_key_rotated`` audit event written.

Old versions stay in the key file until :func:`retire_old_keys` finds that nothing uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from storage import models
from storage.audit import utc
from storage.db import Batch, one_of
from storage.keys import KeyError_, ReadOnlyKeysError
from storage.redaction_terms import clear_redaction_terms_txn
from storage.vault import (
    BLOB_HEADER_BYTES,
    BlindIndex,
    SealedEntry,
    VaultIntegrityError,
    blob_header_version,
    rewrap,
    rewrap_blob_header,
)

if TYPE_CHECKING:
    from storage.database import Database
    from storage.keys import Keyring

log = logging.getLogger("storage.vault")

V = cast(sa.Table, models.VaultEntry.__table__)
R = cast(sa.Table, models.Report.__table__)
VK = cast(sa.Table, models.VaultKey.__table__)
VC = cast(sa.Table, models.VaultCustodian.__table__)
VR = cast(sa.Table, models.VaultRevealRequest.__table__)
VD = cast(sa.Table, models.VaultRevealDecision.__table__)
VB = cast(sa.Table, models.VaultBlindIndex.__table__)

Progress = Callable[[int, int], None]


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


# --- rotation --------------------------------------------------------------------------------------


def scan_blobs(blob_root: Path) -> Iterator[tuple[uuid.UUID, Path, int | None]]:
    """(blob id, path, KEK version or None when unreadable) of every attachment file."""
    if not blob_root.is_dir():
        return
    for path in sorted(blob_root.glob("*/*.bin")):
        try:
            blob_id = uuid.UUID(hex=path.stem)
        except ValueError:
            continue
        try:
            with path.open("rb") as fh:
                version: int | None = blob_header_version(fh.read(BLOB_HEADER_BYTES))
        except (OSError, VaultIntegrityError):
            version = None
        yield blob_id, path, version


def rewrap_blob_file(keyring: Keyring, path: Path, blob_id: uuid.UUID, version: int) -> bool:
    """Give one attachment file a header wrapped under ``version``: the new header and the
    unchanged encrypted body go to a private temporary file, fsynced, then renamed over the old
    one (readers see the old file or the new, never half of each). False if already there."""
    tmp = path.with_name(path.stem + ".rewrap")
    with path.open("rb") as src:
        header = src.read(BLOB_HEADER_BYTES)
        if blob_header_version(header) == version:
            return False
        new_header = rewrap_blob_header(keyring, blob_id, header, version)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as dst:
                dst.write(new_header)
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
    if not path.exists():  # discarded meanwhile (its report never committed): do not bring it back
        tmp.unlink()
        return False
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def _blob_pass(keyring: Keyring, blob_root: Path, version: int) -> tuple[int, list[uuid.UUID]]:
    done, failed = 0, []
    for blob_id, path, found in scan_blobs(blob_root):
        if found == version:
            continue
        try:
            done += rewrap_blob_file(keyring, path, blob_id, version)
        except (OSError, VaultIntegrityError, KeyError_):
            log.error("attachment could not be re-wrapped", extra={"blob_id": str(blob_id)})
            failed.append(blob_id)
    return done, failed


async def rotate(
    db: Database,
    *,
    blob_root: Path,
    actor: str,
    now: datetime,
    batch_size: int = 1000,
    progress: Progress | None = None,
    new_key: bool = True,
) -> RotationResult:
    """Re-wrap every data key under the current KEK version, first making a new version when
    everything already is (see the module docstring). Safe to interrupt and run again.
    ``new_key=False`` only finishes a pending rotation."""
    started = time.monotonic()
    store = VaultStore(db)
    provider = db.keyring.provider
    await store.sync_key_versions(actor, now)
    version = provider.current_version()
    pending = await store.count_not_on(version)
    stale_blobs = await asyncio.to_thread(lambda: sum(1 for _, _, v in scan_blobs(blob_root) if v != version))
    created = False
    if pending == 0 and stale_blobs == 0:
        if not new_key:
            return RotationResult(version, False, 0, 0, [], [], time.monotonic() - started)
        if not provider.writable:
            raise ReadOnlyKeysError(
                f"every data key is already under version {version}, and the keys come from "
                "INTAKE_MASTER_KEY: add a new version there first (see docs/vault.md)"
            )
        version = await asyncio.to_thread(provider.add_version)
        created = True
        await store.record_key_created(version, actor, now)
        pending = await store.count_not_on(version)
        stale_blobs = await asyncio.to_thread(lambda: sum(1 for _ in scan_blobs(blob_root)))
    total = pending + stale_blobs
    done = 0
    failed_entries: list[uuid.UUID] = []
    if progress:
        progress(0, total)
    # Passes until one finds nothing: the last catches entries sealed under the old version by
    # servers that had not noticed the new one yet (they re-read the key file within a second).
    for _ in range(3):
        after: uuid.UUID | None = None
        rewrapped_this_pass = 0
        while True:
            n, after, failed = await store.rewrap_batch(version, after=after, limit=batch_size)
            failed_entries.extend(f for f in failed if f not in failed_entries)
            done += n
            rewrapped_this_pass += n
            if progress and n:
                progress(min(done, total), total)
            if after is None:
                break
        if rewrapped_this_pass == 0:
            break
    entries_done = done
    blobs_done, failed_blobs = await asyncio.to_thread(_blob_pass, db.keyring, blob_root, version)
    done += blobs_done
    if progress:
        progress(total, total)
    result = RotationResult(
        version, created, entries_done, blobs_done, failed_entries, failed_blobs, time.monotonic() - started
    )
    await store.finish_rotation(result, actor, now)
    return result


async def retire_old_keys(db: Database, *, blob_root: Path, actor: str, now: datetime) -> list[int]:
    """Remove the KEK versions older than the current one from the provider, once no vault entry
    and no attachment file uses them. Returns the retired versions (empty: nothing to retire)."""
    provider = db.keyring.provider
    store = VaultStore(db)
    await store.sync_key_versions(actor, now)
    current = provider.current_version()
    older = [v for v in provider.versions() if v < current]
    if not older:
        return []
    in_use = {v: n for v, n in (await store.entry_versions()).items() if v in older}
    blob_use: dict[int, int] = {}
    for _, _, v in await asyncio.to_thread(lambda: list(scan_blobs(blob_root))):
        if v is not None and v in older:
            blob_use[v] = blob_use.get(v, 0) + 1
    if in_use or blob_use:
        detail = ", ".join(
            f"version {v}: {in_use.get(v, 0)} entries, {blob_use.get(v, 0)} attachments"
            for v in sorted(set(in_use) | set(blob_use))
        )
        raise VaultStoreError(f"old keys still in use ({detail}): run `intake vault rotate` again first")
    await asyncio.to_thread(provider.remove_versions, older)
    await store.mark_retired(older, actor, now)
    return older


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
