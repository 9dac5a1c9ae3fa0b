"""Tampering fails loudly and is logged without plaintext: ciphertexts swapped between rows, a
wrong key, a truncated tag; plus the old entry format and the external-provider seam."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from intake.vault_service import VaultIntegrity, VaultService
from storage import keys, models, vault
from storage.database import Database
from storage.vault_store import VaultStore, VaultStoreError
from tests.vault.conftest import IDENTITY, FileReport, SteppingClock

V = cast(sa.Table, models.VaultEntry.__table__)
E = cast(sa.Table, models.ReportEvent.__table__)


async def _approved(service: VaultService, case_no: str) -> uuid.UUID:
    req = await service.request(case_no, "identity", "alice", "核查是否诬告陷害")
    await service.approve(req.id, "bob")
    return req.id


async def _update_entry(db: Database, report_id: uuid.UUID, **values: Any) -> None:
    async with db.write_engine.begin() as conn:
        await conn.execute(
            sa.update(V).where(V.c.report_id == report_id, V.c.kind == "identity").values(**values)
        )


async def _entry(db: Database, report_id: uuid.UUID) -> Any:
    async with db.read_engine.connect() as conn:
        return (await conn.execute(sa.select(V).where(V.c.report_id == report_id))).one()


async def _kinds(db: Database) -> list[str]:
    async with db.read_engine.connect() as conn:
        return list((await conn.execute(sa.select(E.c.kind).order_by(E.c.seq))).scalars())


def _no_plaintext(caplog: pytest.LogCaptureFixture) -> None:
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for value in IDENTITY.values():
        assert value not in text


async def test_ciphertexts_swapped_between_rows_fail_and_are_audited(
    database: Database, service: VaultService, file_report: FileReport, caplog: pytest.LogCaptureFixture
) -> None:
    a = await file_report(identity=IDENTITY)
    b = await file_report(identity={"name": "李秀英", "phone": "13800000000"})
    row_a, row_b = await _entry(database, a.report_id), await _entry(database, b.report_id)
    await _update_entry(database, a.report_id, ciphertext=row_b.ciphertext, nonce=row_b.nonce)
    request_id = await _approved(service, a.case_no)
    caplog.set_level(logging.INFO)
    with pytest.raises(VaultIntegrity) as raised:
        await service.open(request_id, "alice")
    assert raised.value.code == "vault_integrity"
    assert "vault entry failed authentication" in caplog.text
    _no_plaintext(caplog)
    assert (await _kinds(database))[-1] == "vault_integrity_failure"
    # The request was not consumed: after the row is repaired, the same approval opens it.
    await _update_entry(database, a.report_id, ciphertext=row_a.ciphertext, nonce=row_a.nonce)
    assert (await service.open(request_id, "alice")).entries["identity"] == IDENTITY
    ok, _, detail = await database.audit.verify()
    assert ok, detail


async def test_wrapped_keys_swapped_between_rows_fail(
    database: Database, service: VaultService, file_report: FileReport
) -> None:
    a = await file_report(identity=IDENTITY)
    b = await file_report(identity={"name": "李秀英"})
    await _update_entry(database, a.report_id, wrapped_key=(await _entry(database, b.report_id)).wrapped_key)
    request_id = await _approved(service, a.case_no)
    with pytest.raises(VaultIntegrity):
        await service.open(request_id, "alice")


async def test_truncated_tag_fails(
    database: Database, service: VaultService, file_report: FileReport, caplog: pytest.LogCaptureFixture
) -> None:
    a = await file_report(identity=IDENTITY)
    row = await _entry(database, a.report_id)
    await _update_entry(database, a.report_id, ciphertext=row.ciphertext[:-1])
    request_id = await _approved(service, a.case_no)
    with pytest.raises(VaultIntegrity):
        await service.open(request_id, "alice")
    _no_plaintext(caplog)


async def test_wrong_key_is_refused_loudly(
    db_url: str,
    database: Database,
    file_report: FileReport,
    clock: SteppingClock,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    a = await file_report(identity=IDENTITY)
    await VaultStore(database).sync_key_versions("cli:root", clock.now())  # records the key's check value
    await database.close()
    # The same database opened with another deployment's key file.
    wrong = Database(db_url, keys.load_or_create(tmp_path / "elsewhere", env={}), data_dir)
    await wrong.start()
    try:
        with pytest.raises(VaultStoreError, match="do not match this database"):
            await VaultStore(wrong).sync_key_versions("cli:root", clock.now())
        svc = VaultService(wrong, clock)
        for name in ("alice", "bob"):
            await svc.add_custodian(name, "cli:root")
        request_id = await _approved(svc, a.case_no)
        with pytest.raises(VaultIntegrity):
            await svc.open(request_id, "alice")
        ok, _, detail = await wrong.audit.verify()
        assert ok, detail
    finally:
        await wrong.close()


def test_unseal_failures_name_the_entry_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    for profile in ("aes", "gm"):
        entry = vault.seal(ring, uuid.uuid4(), "identity", IDENTITY, profile=profile)
        broken = [
            dataclasses.replace(entry, ciphertext=entry.ciphertext[:-16]),  # tag cut off
            dataclasses.replace(entry, ciphertext=entry.ciphertext[:-1]),
            dataclasses.replace(entry, wrapped_key=entry.wrapped_key[:-1]),
            dataclasses.replace(entry, kind="handle"),
            dataclasses.replace(entry, report_id=uuid.uuid4()),
            dataclasses.replace(entry, kek_version=7),
            dataclasses.replace(entry, nonce=entry.nonce[:13]),
        ]
        for b in broken:
            with pytest.raises(vault.VaultIntegrityError) as raised:
                vault.unseal(ring, b)
            assert str(entry.id) in str(raised.value)
    _no_plaintext(caplog)
    assert caplog.records and all(r.levelno == logging.ERROR for r in caplog.records)


def test_entries_sealed_before_profiles_still_open(tmp_path: Path) -> None:
    """Format 1 (bare 12-byte nonce, AES, v1 associated data): what the foundation wrote."""
    ring = keys.load_or_create(tmp_path, env={})
    entry_id, report_id = uuid.uuid4(), uuid.uuid4()
    data_key, nonce, wrap_nonce = (
        AESGCM.generate_key(bit_length=256),
        secrets.token_bytes(12),
        secrets.token_bytes(12),
    )
    aad = b"vault/v1|" + entry_id.bytes + report_id.bytes + b"identity"
    ciphertext = AESGCM(data_key).encrypt(nonce, b'{"name":"\xe7\x94\x84"}', aad)
    wrapped = wrap_nonce + AESGCM(ring.kek(1)).encrypt(wrap_nonce, data_key, b"kek/v1|" + entry_id.bytes)
    legacy = vault.SealedEntry(entry_id, report_id, "identity", 1, wrapped, nonce, ciphertext)
    assert legacy.profile == "aes"
    assert vault.unseal(ring, legacy) == {"name": "甄"}
    # Re-wrapping keeps it openable under a new version.
    new_version = ring.provider.add_version()
    moved = dataclasses.replace(
        legacy,
        kek_version=new_version,
        wrapped_key=vault.rewrap(ring, entry_id, nonce, wrapped, 1, new_version),
    )
    assert vault.unseal(ring, moved) == {"name": "甄"}


class FakeHsm:
    """An external provider: wraps inside "the device" and never hands out key bytes."""

    name = "fake-hsm"
    writable = False

    def __init__(self) -> None:
        self._device = keys.LocalKeyProvider({3: secrets.token_bytes(32)})
        self.calls = 0

    def versions(self) -> list[int]:
        return [3]

    def current_version(self) -> int:
        return 3

    def wrap(self, version: int, data_key: bytes, aad: bytes, profile: str) -> bytes:
        self.calls += 1
        return b"HSM" + self._device.wrap(version, data_key, aad, profile)

    def unwrap(self, version: int, wrapped: bytes, aad: bytes, profile: str) -> bytes:
        self.calls += 1
        if not wrapped.startswith(b"HSM"):
            raise ValueError("not ours")
        return self._device.unwrap(version, wrapped[3:], aad, profile)

    def fingerprint(self, version: int) -> str:
        return f"hsm-key-{version}"

    def add_version(self) -> int:
        raise keys.ReadOnlyKeysError("rotate in the HSM console")

    def remove_versions(self, versions: Any) -> None:
        raise keys.ReadOnlyKeysError("retire in the HSM console")


def test_an_external_provider_plugs_in_without_exposing_keys() -> None:
    hsm = FakeHsm()
    ring = keys.Keyring(provider=hsm, prks={"aes": b"a" * 32, "gm": b"g" * 32}, profile="gm")
    entry = vault.seal(ring, uuid.uuid4(), "identity", {"name": "赵六"})
    assert entry.kek_version == 3 and entry.wrapped_key.startswith(b"HSM")
    assert vault.unseal(ring, entry) == {"name": "赵六"}
    assert hsm.calls == 2
    assert ring.keks == {}
    with pytest.raises(keys.KeyError_):
        ring.kek(3)
    assert ring.mac("query-code", b"1") == keys.Keyring(provider=hsm, prks=ring.export_prks()).mac(
        "query-code", b"1"
    )
