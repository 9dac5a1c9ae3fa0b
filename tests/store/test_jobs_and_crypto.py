"""Jobs claimed once across workers; sealed entries and attachment files fail loudly when tampered."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from intake import jurisdiction
from storage import keys, vault
from storage.blobs import BlobStore
from storage.database import Database
from storage.db import Batch
from storage.records import NewReport
from tests.conftest import COUNTY_JURISDICTION

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def _enqueue(db: Database, n: int) -> None:
    async def add_jobs_txn(batch: Batch) -> None:
        for i in range(n):
            batch.job("test", {"i": i}, NOW, NOW, max_attempts=2)

    await db.writer.run(add_jobs_txn)


async def test_claim_finish_and_fail(database: Database) -> None:
    await _enqueue(database, 3)
    claimed = await database.jobs.claim(NOW, limit=2)
    assert [j.payload["i"] for j in claimed] == [0, 1]
    assert all(j.attempts == 1 for j in claimed)
    # Claimed jobs are leased: nobody else gets them until the lease runs out.
    assert [j.payload["i"] for j in await database.jobs.claim(NOW)] == [2]
    assert await database.jobs.claim(NOW) == []
    await database.jobs.finish(claimed[0].id, NOW)
    assert await database.jobs.fail(claimed[1], "boom", NOW, NOW + timedelta(minutes=1)) == "pending"
    retried = await database.jobs.claim(NOW + timedelta(minutes=2))
    assert [j.payload["i"] for j in retried] == [1]
    assert await database.jobs.fail(retried[0], "boom", NOW, NOW) == "dead"
    # The unfinished job whose lease ran out comes back.
    assert [j.payload["i"] for j in await database.jobs.claim(NOW + timedelta(hours=1))] == [2]
    assert await database.jobs.counts() == {"done": 1, "dead": 1, "running": 1}


async def test_two_workers_never_claim_the_same_job(pg_url: str, tmp_path: Path) -> None:
    keyring = keys.load_or_create(tmp_path / "keys")
    first, second = (Database(pg_url, keyring, tmp_path / name) for name in ("a", "b"))
    await first.start()
    await second.start()
    try:
        await _enqueue(first, 200)
        seen: list[int] = []

        async def drain(db: Database) -> None:
            while jobs := await db.jobs.claim(NOW, limit=7):
                seen.extend(j.id for j in jobs)

        await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
        assert len(seen) == 200 and len(set(seen)) == 200
    finally:
        await first.close()
        await second.close()


def test_vault_round_trip_and_tampering(tmp_path: Path) -> None:
    keyring = keys.load_or_create(tmp_path)
    report_a, report_b = uuid.uuid4(), uuid.uuid4()
    a = vault.seal(keyring, report_a, "identity", {"name": "甄宝琮", "phone": "13912345678"})
    b = vault.seal(keyring, report_b, "identity", {"name": "李秀英"})
    assert vault.unseal(keyring, a) == {"name": "甄宝琮", "phone": "13912345678"}
    assert "甄宝琮".encode() not in a.ciphertext
    swapped = dataclasses.replace(a, ciphertext=b.ciphertext, nonce=b.nonce)
    moved = dataclasses.replace(a, report_id=report_b)
    truncated = dataclasses.replace(a, ciphertext=a.ciphertext[:-1])
    other_key = keys.load_or_create(tmp_path / "other")
    for broken, ring in ((swapped, keyring), (moved, keyring), (truncated, keyring), (a, other_key)):
        with pytest.raises(vault.VaultIntegrityError):
            vault.unseal(ring, broken)


def test_blob_round_trip_and_tampering(tmp_path: Path) -> None:
    keyring = keys.load_or_create(tmp_path)
    store = BlobStore(tmp_path / "blobs", keyring)
    stored = store.put("证据.jpg", "image/jpeg", b"\xff\xd8\xff" + b"photo" * 100)
    got = store.get(stored.id)
    assert got.filename == "证据.jpg" and got.data.endswith(b"photo")
    path = tmp_path / "blobs" / stored.blob_path
    raw = bytearray(path.read_bytes())
    assert b"photo" not in raw and "证据".encode() not in raw
    raw[-5] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(vault.VaultIntegrityError):
        store.get(stored.id)


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = keys.load_or_create(tmp_path)
    path = tmp_path / "keys" / keys.KEY_FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert keys.load_or_create(tmp_path).keks == first.keks
    assert first.mac("query-code", b"1") == keys.load_or_create(tmp_path).mac("query-code", b"1")


async def test_units_sync_is_idempotent(database: Database) -> None:
    units = jurisdiction.load(COUNTY_JURISDICTION).units
    await database.units.sync(units)
    stored = await database.units.all()
    assert len(stored) == len(units) == 21
    assert {u.code for u in stored if u.level == "township"} >= {"430121102", "430121001"}


async def test_reports_list_newest_first(database: Database, new_report: Callable[..., NewReport]) -> None:
    for hours in range(3):
        await database.reports.accept(new_report(received_at=NOW + timedelta(hours=hours)))
    listed = await database.reports.recent(limit=2)
    assert [r.case_no for r in listed] == ["2026-430121-000003", "2026-430121-000002"]
