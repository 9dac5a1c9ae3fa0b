"""Key rotation: every data key re-wrapped (vault entries and attachment headers), nothing decrypted
to disk, interrupted runs resume, old keys retired only when unused, keys from the environment."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from intake.vault_service import VaultService, index_lookup
from storage import keys, models, vault
from storage.blobs import BlobStore
from storage.database import Database
from storage.key_rotation import retire_old_keys, rotate, scan_blobs
from storage.vault_store import VaultStore, VaultStoreError
from tests.vault.conftest import IDENTITY, FileReport, SteppingClock

V = cast(sa.Table, models.VaultEntry.__table__)
E = cast(sa.Table, models.ReportEvent.__table__)
PHOTO = b"\xff\xd8\xff" + b"evidence-photo-bytes" * 50


async def _entries(db: Database) -> dict[uuid.UUID, Any]:
    async with db.read_engine.connect() as conn:
        return {r.id: r for r in await conn.execute(sa.select(V))}


async def _event_kinds(db: Database) -> list[str]:
    async with db.read_engine.connect() as conn:
        return list((await conn.execute(sa.select(E.c.kind).order_by(E.c.seq))).scalars())


async def _file_many(file_report: FileReport, n: int) -> list[str]:
    out = []
    for i in range(n):
        filed = await file_report(identity={**IDENTITY, "name": f"测试人{i}"}, handles={"ip": f"10.0.0.{i}"})
        out.append(filed.case_no)
    return out


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def _key_doc(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "keys" / keys.KEY_FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


async def test_rotation_rewraps_entries_and_attachments(
    database: Database, file_report: FileReport, service: VaultService, clock: SteppingClock, data_dir: Path
) -> None:
    cases = await _file_many(file_report, 5)
    blobs = [database.blobs.put(f"证据{i}.jpg", "image/jpeg", PHOTO) for i in range(2)]
    before = await _entries(database)
    query_mac = database.keyring.mac("query-code", b"1234567890123456")
    seen: list[tuple[int, int]] = []

    result = await rotate(
        database,
        blob_root=data_dir / "blobs",
        actor="cli:root",
        now=clock.now(),
        batch_size=3,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (result.version, result.created, result.entries, result.blobs) == (2, True, 10, 2)
    assert result.complete and seen[0] == (0, 12) and seen[-1] == (12, 12)
    after = await _entries(database)
    assert {r.kek_version for r in after.values()} == {2}
    for entry_id, row in after.items():
        # Only the wrapping changed: ciphertexts and nonces are the same bytes.
        assert (row.ciphertext, row.nonce) == (before[entry_id].ciphertext, before[entry_id].nonce)
        assert row.wrapped_key != before[entry_id].wrapped_key
    assert sorted(_key_doc(data_dir)["keys"]) == ["1", "2"]
    assert {v for _, _, v in scan_blobs(data_dir / "blobs")} == {2}
    fresh = keys.load_or_create(data_dir, env={})
    assert fresh.current_version == 2
    assert BlobStore(data_dir / "blobs", fresh).get(blobs[0].id).data == PHOTO
    assert fresh.mac("query-code", b"1234567890123456") == query_mac

    req = await service.request(cases[3], "identity", "alice", "核查")
    await service.approve(req.id, "bob")
    assert (await service.open(req.id, "alice")).entries["identity"]["name"] == "测试人3"
    kinds = await _event_kinds(database)
    assert kinds.count("vault_key_created") == 1 and kinds.count("vault_key_rotated") == 1
    ok, _, detail = await database.audit.verify()
    assert ok, detail
    # Nothing was decrypted to disk: no identity and no attachment bytes in any file.
    assert _files_containing(data_dir, [b"evidence-photo", *(v.encode() for v in IDENTITY.values())]) == []


async def test_interrupted_rotation_resumes(
    database: Database,
    file_report: FileReport,
    clock: SteppingClock,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _file_many(file_report, 4)
    blob = database.blobs.put("a.pdf", "application/pdf", b"%PDF-1.4 evidence")
    real = VaultStore.rewrap_batch
    calls = 0

    async def crash_after_one(self: VaultStore, version: int, *, after: Any, limit: int) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C, or the machine went down
        return await real(self, version, after=after, limit=limit)

    monkeypatch.setattr(VaultStore, "rewrap_batch", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        await rotate(database, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now(), batch_size=3)
    monkeypatch.setattr(VaultStore, "rewrap_batch", real)
    versions = [r.kek_version for r in (await _entries(database)).values()]
    assert sorted(versions) == [1, 1, 1, 1, 1, 2, 2, 2]
    # A half-written temporary file from an interrupted attachment re-wrap is harmless.
    blob_path = data_dir / "blobs" / blob.blob_path
    blob_path.with_name(blob_path.stem + ".rewrap").write_bytes(b"partial")

    again = await rotate(
        database, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now(), batch_size=3
    )
    assert (again.version, again.created, again.entries, again.blobs) == (2, False, 5, 1)
    assert {r.kek_version for r in (await _entries(database)).values()} == {2}
    assert not blob_path.with_name(blob_path.stem + ".rewrap").exists()
    assert database.blobs.get(blob.id).data == b"%PDF-1.4 evidence"

    third = await rotate(database, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now())
    assert (third.version, third.created, third.entries, third.blobs) == (3, True, 8, 1)
    ok, _, detail = await database.audit.verify()
    assert ok, detail


async def test_old_keys_are_retired_only_when_unused(
    database: Database,
    file_report: FileReport,
    service: VaultService,
    clock: SteppingClock,
    data_dir: Path,
) -> None:
    filed = await file_report(identity=IDENTITY, handles={"phone": "13912345678"})
    blob = database.blobs.put("a.txt", "text/plain", b"attachment text")
    root = data_dir / "blobs"
    assert await retire_old_keys(database, blob_root=root, actor="cli:root", now=clock.now()) == []
    before_index = index_lookup(database.keyring, "phone", "13912345678")
    old_kek = database.keyring.kek(1)
    await rotate(database, blob_root=root, actor="cli:root", now=clock.now())

    # A server that has not noticed version 2 yet seals one more entry under version 1.
    stale = keys.Keyring(keks={1: old_kek}, prks=database.keyring.export_prks())
    await file_report(identity={"name": "迟到的"}, db=_with_keyring(database, stale))
    with pytest.raises(VaultStoreError, match="version 1: 1 entries"):
        await retire_old_keys(database, blob_root=root, actor="cli:root", now=clock.now())
    assert "1" in _key_doc(data_dir)["keys"]

    resumed = await rotate(database, blob_root=root, actor="cli:root", now=clock.now(), new_key=False)
    assert (resumed.version, resumed.created, resumed.entries) == (2, False, 1)
    assert await retire_old_keys(database, blob_root=root, actor="cli:root", now=clock.now()) == [1]

    doc = _key_doc(data_dir)
    assert sorted(doc["keys"]) == ["2"]
    assert base64.b64encode(old_kek).decode() not in json.dumps(doc)
    fresh = keys.load_or_create(data_dir, env={})
    # Derived keys do not depend on the retired key: query codes and blind indexes still match.
    assert fresh.mac("query-code", b"1") == database.keyring.mac("query-code", b"1")
    assert index_lookup(fresh, "phone", "139-1234-5678") == before_index
    assert BlobStore(root, fresh).get(blob.id).data == b"attachment text"
    req = await service.request(filed.case_no, "identity", "alice", "核查")
    await service.approve(req.id, "carol")
    assert (await service.open(req.id, "alice")).entries["identity"] == IDENTITY
    versions = {k.version: k for k in await VaultStore(database).key_versions()}
    assert versions[1].retired_at is not None and versions[2].rotated_at is not None
    ok, _, detail = await database.audit.verify()
    assert ok, detail


def _with_keyring(db: Database, keyring: keys.Keyring) -> Database:
    """The same database, sealing with another keyring (a second server process)."""

    class Proxy:
        def __getattr__(self, name: str) -> Any:
            return keyring if name == "keyring" else getattr(db, name)

    return cast(Database, Proxy())


def test_a_running_provider_sees_a_version_added_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = keys.load_or_create(tmp_path, env={})
    operator = keys.load_or_create(tmp_path, env={})
    new = operator.provider.add_version()
    assert new == 2
    entry = vault.seal(operator, uuid.uuid4(), "identity", {"name": "x"})
    assert entry.kek_version == 2
    assert vault.unseal(server, entry) == {"name": "x"}  # an unknown version forces a re-read
    monkeypatch.setattr(keys, "RELOAD_SECONDS", 0.0)
    assert server.current_version == 2


async def test_keys_from_the_environment(
    db_url: str, tmp_path: Path, clock: SteppingClock, file_report: FileReport, database: Database
) -> None:
    await database.close()
    data_dir = tmp_path / "env-data"
    one, two = keys.new_key_b64(), keys.new_key_b64()
    env_db = Database(db_url, keys.load_or_create(data_dir, env={"INTAKE_MASTER_KEY": one}), data_dir)
    await env_db.start()
    try:
        await file_report(identity=IDENTITY, db=env_db)
        with pytest.raises(keys.ReadOnlyKeysError):
            await rotate(env_db, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now())
    finally:
        await env_db.close()
    assert not (data_dir / "keys").exists()  # nothing was written next to the data

    ring = keys.load_or_create(data_dir, env={"INTAKE_MASTER_KEY": f"1:{one},2:{two}"})
    env_db = Database(db_url, ring, data_dir)
    await env_db.start()
    try:
        result = await rotate(env_db, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now())
        assert (result.version, result.created, result.entries) == (2, False, 1)
        with pytest.raises(keys.ReadOnlyKeysError):
            await retire_old_keys(env_db, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now())
    finally:
        await env_db.close()
    # Retiring version 1 in the environment: the printed value keeps version 2 and the roots.
    value = keys.env_value(ring, versions=[2])
    assert one not in value and two in value
    retired = keys.load_or_create(data_dir, env={"INTAKE_MASTER_KEY": value})
    assert retired.keks == {2: base64.b64decode(two)}
    assert retired.mac("query-code", b"7") == ring.mac("query-code", b"7")


def test_key_file_rewrites_are_atomic_and_private(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    path = tmp_path / "keys" / keys.KEY_FILE_NAME
    first = json.loads(path.read_text())
    assert first["format"] == 1
    ring.provider.add_version()
    ring.provider.add_version()
    with pytest.raises(keys.KeyError_):
        ring.provider.remove_versions([3])  # the current version stays
    ring.provider.remove_versions([1, 2])
    doc = json.loads(path.read_text())
    assert doc["format"] == 2 and list(doc["keys"]) == ["3"] and set(doc["prk"]) == {"aes", "gm"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert keys.load_or_create(tmp_path, env={}).mac("a", b"b") == ring.mac("a", b"b")
