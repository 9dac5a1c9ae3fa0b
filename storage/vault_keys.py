"""The vault's key versions as the database knows them, and the store's part in key rotation.

The database records each key-encryption key version it has seen (its public check value, never
the key), refuses a key file that does not match, counts and re-wraps the data keys of the vault
entries by version, and records rotations and retirements. The rotation itself (``intake vault
rotate``: entries and attachment files, then retiring old versions) is :mod:`storage.key_rotation`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.db import Batch
from storage.tables import VK, V, record_of
from storage.vault import VaultIntegrityError, rewrap

if TYPE_CHECKING:
    from storage.database import Database


class VaultStoreError(Exception):
    """A maintenance operation cannot go ahead (the message says why and what to do)."""


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


class KeyVersions:
    """The key-version part of :class:`storage.vault_store.VaultStore` (a base class of it)."""

    _db: Database

    async def key_versions(self) -> list[KeyVersionRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(VK).order_by(VK.c.version))
            return [record_of(KeyVersionRecord, r) for r in rows]

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
