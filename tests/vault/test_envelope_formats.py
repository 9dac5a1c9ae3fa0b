"""The vault's stored formats and the key provider's behaviour, checked independently of the code
that writes them (found by mutation testing, issue 23): an entry opened by hand from its documented
associated data, the plaintext's exact JSON, the entry and attachment headers, a whole submission
sealed in one call, the log lines of failures, the key-derivation and key-check known answers, the
key file's reload rule and the key errors' messages."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import struct
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from storage import keys, vault
from storage.ciphers import PROFILES, aead_decrypt, extract_prk
from storage.key_file import key_doc, read_key_doc, write_key_doc

REPORT = uuid.UUID("33333333-3333-3333-3333-333333333333")
VALUE = {"name": "甄宝琮", "phone": "13912345678", "note": "a b"}


@pytest.fixture(params=["aes", "gm"])
def ring(request: pytest.FixtureRequest, tmp_path: Path) -> keys.Keyring:
    return keys.load_or_create(tmp_path, env={}, profile=request.param)


# --- entries -------------------------------------------------------------------------------------


def open_by_hand(ring: keys.Keyring, entry: vault.SealedEntry) -> bytes:
    """Unwrap and decrypt a format-2 entry from the module docstring's layout alone."""
    assert entry.nonce[0] == 2 and len(entry.nonce) == 14
    profile = {1: "aes", 2: "gm"}[entry.nonce[1]]
    wrap_aad = b"kek/v2|" + bytes([PROFILES[profile]]) + entry.id.bytes
    data_key = ring.provider.unwrap(entry.kek_version, entry.wrapped_key, wrap_aad, profile)
    data_aad = b"vault/v2|" + bytes([PROFILES[profile]]) + entry.id.bytes + entry.report_id.bytes
    return aead_decrypt(profile, data_key, entry.nonce[2:], entry.ciphertext, data_aad + entry.kind.encode())


def test_an_entry_opens_by_its_documented_layout(ring: keys.Keyring) -> None:
    entry = vault.seal(ring, REPORT, "identity", VALUE)
    assert entry.profile == ring.profile
    # Compact JSON, UTF-8 as is: the plaintext's exact bytes.
    assert open_by_hand(ring, entry) == '{"name":"甄宝琮","phone":"13912345678","note":"a b"}'.encode()
    assert vault.unseal(ring, entry) == VALUE


@pytest.mark.parametrize(
    "column",
    [
        bytes([2, 1]) + bytes(11),
        bytes([2, 1]) + bytes(13),
        bytes([3, 1]) + bytes(12),
        bytes([2, 9]) + bytes(12),
    ],
)
def test_entry_headers_of_another_shape_are_refused(column: bytes) -> None:
    with pytest.raises(vault.VaultIntegrityError) as raised:
        vault.entry_profile(column)
    assert str(raised.value) == "unknown vault entry format"


def test_the_entry_header_names_format_and_profile() -> None:
    assert vault.entry_profile(bytes(12)) == "aes"
    assert vault.entry_profile(bytes([2, 1]) + bytes(12)) == "aes"
    assert vault.entry_profile(bytes([2, 2]) + bytes(12)) == "gm"


def test_an_invalid_identifier_of_an_indexed_kind_has_no_index(ring: keys.Keyring) -> None:
    assert vault.blind_index(ring, "phone", "not a number") is None
    assert vault.blind_index(ring, "id_number", "123") is None
    assert vault.blind_index(ring, "name", "张三") is None
    assert vault.blind_index(ring, "phone", "13912345678") is not None


def test_a_submission_is_sealed_in_one_call(ring: keys.Keyring) -> None:
    proof = vault.ProofFile("身份证.jpg", "image/jpeg", b"\xff\xd8jpeg bytes")
    sealed = vault.seal_submission(
        ring,
        REPORT,
        identity={"name": "甄宝琮"},
        handles={"wechat": "wx-openid-1"},
        proofs=[proof, vault.ProofFile("b.pdf", "application/pdf", b"%PDF")],
        in_text=[{"kind": "phone", "value": "13912345678"}],
        identifiers=[
            ("phone", "13912345678"),
            ("id_number", "43012119800101123X"),
            ("phone", "+86 139 1234 5678"),
        ],
        given=[("name", "甄宝琮"), ("phone", "13912345678")],
    )
    assert [e.kind for e in sealed.entries] == [
        "identity",
        "handle",
        "identity_file",
        "identity_file",
        "in_text",
    ]
    assert all(e.report_id == REPORT and e.profile == ring.profile for e in sealed.entries)
    opened = [vault.unseal(ring, e) for e in sealed.entries]
    assert opened[0] == {"name": "甄宝琮"}
    assert opened[1] == {"wechat": "wx-openid-1"}
    assert opened[2] == {
        "filename": "身份证.jpg",
        "content_type": "image/jpeg",
        "size": 12,
        "data": base64.b64encode(b"\xff\xd8jpeg bytes").decode(),
    }
    assert opened[3]["filename"] == "b.pdf" and base64.b64decode(opened[3]["data"]) == b"%PDF"
    assert opened[4] == {"found": [{"kind": "phone", "value": "13912345678"}]}
    assert sealed.indexes == vault.blind_indexes(
        ring, [("phone", "13912345678"), ("id_number", "43012119800101123X")]
    )
    assert [i.kind for i in sealed.indexes] == ["id_number", "phone"]  # strongest first, deduplicated
    assert sealed.redaction_terms == vault.redaction_terms(
        ring, REPORT, [("name", "甄宝琮"), ("phone", "13912345678")]
    )


def test_an_anonymous_submission_without_handles_seals_nothing(ring: keys.Keyring) -> None:
    sealed = vault.seal_submission(
        ring, REPORT, identity=None, handles={}, proofs=[], in_text=[], identifiers=[], given=[]
    )
    assert sealed == vault.SealedSubmission([], [], [])


# --- failures are logged by id only --------------------------------------------------------------


def failure_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "storage.vault"]


def test_an_unseal_failure_is_logged_with_the_entry_and_report(
    ring: keys.Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    entry = vault.seal(ring, REPORT, "identity", VALUE)
    broken = dataclasses.replace(entry, ciphertext=entry.ciphertext[:-1])
    with caplog.at_level(logging.ERROR, logger="storage.vault"), pytest.raises(vault.VaultIntegrityError):
        vault.unseal(ring, broken)
    (record,) = failure_records(caplog)
    assert record.getMessage() == "vault entry failed authentication"
    assert (record.entry_id, record.report_id, record.error) == (str(entry.id), str(REPORT), "InvalidTag")  # type: ignore[attr-defined]


def test_a_rewrap_failure_is_logged_and_names_the_entry(
    ring: keys.Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    entry = vault.seal(ring, REPORT, "identity", VALUE)
    new = ring.provider.add_version()
    with (
        caplog.at_level(logging.ERROR, logger="storage.vault"),
        pytest.raises(vault.VaultIntegrityError) as raised,
    ):
        vault.rewrap(ring, entry.id, entry.nonce, entry.wrapped_key[:-1], entry.kek_version, new)
    assert str(raised.value) == f"vault entry {entry.id} failed authentication"
    (record,) = failure_records(caplog)
    assert record.getMessage() == "vault entry key failed to unwrap"
    assert (record.entry_id, record.error) == (str(entry.id), "InvalidTag")  # type: ignore[attr-defined]


# --- attachment headers --------------------------------------------------------------------------


def blob_header(ring: keys.Keyring, blob_id: uuid.UUID, version: int) -> bytes:
    wrapped = ring.provider.wrap(version, secrets.token_bytes(32), b"blob-kek|" + blob_id.bytes, "aes")
    return vault.BLOB_MAGIC + struct.pack(">I", version) + wrapped


def test_attachment_headers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    blob_id = uuid.uuid4()
    header = blob_header(ring, blob_id, 1)
    assert len(header) == vault.BLOB_HEADER_BYTES and vault.blob_header_version(header) == 1
    # The version is an unsigned 32-bit big-endian number.
    assert vault.blob_header_version(vault.BLOB_MAGIC + b"\x80\0\0\x01" + bytes(60)) == 2**31 + 1
    for bad in (vault.BLOB_MAGIC + bytes(63), b"XFB2" + header[4:], header[:8]):
        with pytest.raises(vault.VaultIntegrityError) as raised:
            vault.blob_header_version(bad)
        assert str(raised.value) == "not an attachment file"
    new = ring.provider.add_version()
    moved = vault.rewrap_blob_header(ring, blob_id, header, new)
    assert moved[:8] == vault.BLOB_MAGIC + struct.pack(">I", new) and len(moved) == 68
    with (
        caplog.at_level(logging.ERROR, logger="storage.vault"),
        pytest.raises(vault.VaultIntegrityError) as raised,
    ):
        vault.rewrap_blob_header(ring, uuid.uuid4(), header, new)  # another file's id: the AAD differs
    other = str(raised.value)
    (record,) = failure_records(caplog)
    assert record.getMessage() == "attachment key failed to unwrap" and record.error == "InvalidTag"  # type: ignore[attr-defined]
    assert record.blob_id != str(blob_id) and record.blob_id in other  # type: ignore[attr-defined]
    assert other == f"attachment {record.blob_id} failed authentication"  # type: ignore[attr-defined]


def test_an_attachment_version_past_31_bits_is_written_unsigned(tmp_path: Path) -> None:
    big = 2**31
    provider = keys.LocalKeyProvider({1: secrets.token_bytes(32), big: secrets.token_bytes(32)})
    ring = keys.Keyring(provider=provider, prks={"aes": bytes(32), "gm": bytes(32)})
    blob_id = uuid.uuid4()
    moved = vault.rewrap_blob_header(ring, blob_id, blob_header(ring, blob_id, 1), big)
    assert vault.blob_header_version(moved) == big


class LongWraps:
    """A provider whose wrapped keys are longer than the attachment header holds."""

    name = "long"
    writable = False

    def __init__(self, inner: keys.LocalKeyProvider) -> None:
        self.inner = inner

    def versions(self) -> list[int]:
        return self.inner.versions()

    def current_version(self) -> int:
        return self.inner.current_version()

    def wrap(self, version: int, data_key: bytes, aad: bytes, profile: str) -> bytes:
        return self.inner.wrap(version, data_key, aad, profile) + b"!"

    def unwrap(self, version: int, wrapped: bytes, aad: bytes, profile: str) -> bytes:
        return self.inner.unwrap(version, wrapped[:60], aad, profile)

    def fingerprint(self, version: int) -> str:
        return "long"

    def add_version(self) -> int:
        raise keys.ReadOnlyKeysError("no")

    def remove_versions(self, versions: Any) -> None:
        raise keys.ReadOnlyKeysError("no")


def test_wrapped_keys_that_do_not_fit_the_attachment_header_are_refused(tmp_path: Path) -> None:
    local = keys.load_or_create(tmp_path, env={})
    blob_id = uuid.uuid4()
    header = blob_header(local, blob_id, 1)
    provider = local.provider
    assert isinstance(provider, keys.LocalKeyProvider)
    ring = keys.Keyring(provider=LongWraps(provider), prks=local.export_prks())
    with pytest.raises(vault.VaultIntegrityError) as raised:
        vault.rewrap_blob_header(ring, blob_id, header, 1)
    assert str(raised.value) == "the key provider's wrapped keys do not fit the attachment header"


# --- keys: known answers -------------------------------------------------------------------------


def test_purpose_keys_are_hkdf_expand_of_the_root(ring: keys.Keyring) -> None:
    prks = ring.export_prks()
    for profile, algorithm in (("aes", hashes.SHA256()), ("gm", hashes.SM3())):
        expected = HKDFExpand(algorithm, 32, b"xinfang-intake/blind-index/phone").derive(prks[profile])
        assert ring.derive_for(profile, "blind-index/phone") == expected
    assert ring.derive("query-code") == HKDFExpand(hashes.SHA256(), 32, b"xinfang-intake/query-code").derive(
        prks["aes"]
    )


def test_key_check_values_and_the_sm4_wrapping_key(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    kek = ring.kek(1)
    expected = hmac.new(kek, b"xinfang-intake/key-check", hashlib.sha256).hexdigest()[:16]
    assert ring.provider.fingerprint(1) == expected and len(expected) == 16
    data_key, aad = secrets.token_bytes(16), b"kek/v2|\x02" + bytes(16)
    wrapped = ring.provider.wrap(1, data_key, aad, "gm")
    sm4_key = HKDFExpand(hashes.SM3(), 16, b"xinfang-intake/kek-sm4").derive(extract_prk("gm", kek))
    assert aead_decrypt("gm", sm4_key, wrapped[:12], wrapped[12:], aad) == data_key


# --- keys: loading, providers and messages -------------------------------------------------------


def test_profiles_of_a_key_file_and_of_the_environment(tmp_path: Path) -> None:
    made = keys.load_or_create(tmp_path, env={})
    assert made.profile == "aes" and made.provider.name == "key-file"
    assert keys.read_key_file(tmp_path / "keys" / keys.KEY_FILE_NAME).profile == "aes"
    env = {"INTAKE_MASTER_KEY": keys.new_key_b64()}
    assert keys.load_or_create(tmp_path / "elsewhere", env=env, profile="gm").profile == "gm"
    assert keys.load_or_create(tmp_path / "elsewhere", env=env).provider.name == "environment"
    assert keys.LocalKeyProvider({1: bytes(32)}).name == "environment"


def test_key_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyError_) as raised:
        keys.LocalKeyProvider({})
    assert str(raised.value) == "a keyring needs at least one key-encryption key"
    with pytest.raises(keys.KeyError_) as raised:
        keys.Keyring()
    assert str(raised.value) == "a keyring needs key-encryption keys or a provider"
    with pytest.raises(keys.KeyError_) as raised:
        keys.Keyring(provider=keys.LocalKeyProvider({1: bytes(32)}))
    assert str(raised.value) == "a keyring needs a derivation root (root= or prks=)"
    external = keys.Keyring(
        provider=LongWraps(keys.LocalKeyProvider({1: bytes(32)})), prks={"aes": bytes(32), "gm": bytes(32)}
    )
    with pytest.raises(keys.KeyError_) as raised:
        external.kek(1)
    assert str(raised.value) == "the key-encryption keys are held by an external provider"
    env_held = keys.Keyring(keks={1: bytes(32)}, root=bytes(32))
    with pytest.raises(keys.KeyError_) as raised:
        env_held.kek(2)  # asking for a missing version re-reads nothing: no file
    assert str(raised.value) == "key-encryption key version 2 is not in the keyring"
    with pytest.raises(keys.ReadOnlyKeysError) as read_only:
        env_held.provider.add_version()
    assert str(read_only.value) == (
        "the key-encryption keys come from INTAKE_MASTER_KEY: add or remove versions there "
        "(see docs/vault.md)"
    )
    ring = keys.load_or_create(tmp_path, env={})
    with pytest.raises(keys.KeyError_) as raised:
        ring.provider.remove_versions([1])
    assert str(raised.value) == "the current key-encryption key cannot be retired"


def test_a_broken_key_file_is_named_in_the_error(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    path = tmp_path / "keys" / keys.KEY_FILE_NAME
    doc = read_key_doc(path)
    write_key_doc(path, {**doc, "keys": {}})
    for action in (
        lambda: keys.read_key_file(path),
        ring.provider.add_version,
        lambda: ring.provider.remove_versions([5]),
        lambda: ring.kek(9),  # a missing version re-reads the (changed) file at once
    ):
        with pytest.raises(keys.KeyError_) as raised:
            action()
        assert str(raised.value) == f"key file {path} holds no keys"


def test_retiring_versions_of_a_format_1_file_and_absent_ones(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    path = tmp_path / "keys" / keys.KEY_FILE_NAME
    before = ring.mac("query-code", b"1")
    ring.provider.add_version()
    doc = read_key_doc(path)
    write_key_doc(path, {"keys": doc["keys"]})  # format 1: no derivation roots stored
    ring.provider.remove_versions([1, 7])  # 7 was never there
    assert read_key_doc(path)["keys"].keys() == {"2"}
    reread = keys.read_key_file(path)
    assert reread.mac("query-code", b"1") == before  # the roots were kept from version 1


class FrozenTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenTime:
    """The key ring's clock, moved by hand."""
    frozen = FrozenTime()
    monkeypatch.setattr(keys, "time", SimpleNamespace(monotonic=frozen.monotonic))
    return frozen


def test_the_key_file_is_reread_at_most_once_a_second(tmp_path: Path, clock: FrozenTime) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    other = keys.read_key_file(tmp_path / "keys" / keys.KEY_FILE_NAME)  # another process
    assert ring.provider.versions() == [1]
    other.provider.add_version()
    clock.t += 0.5
    assert ring.provider.versions() == [1]  # not yet looked at again
    assert ring.kek(2) == other.kek(2)  # but a missing version is looked for at once
    other.provider.remove_versions([1])
    clock.t += 0.5
    assert ring.provider.versions() == [1, 2]  # 0.5 s after that look
    assert ring.kek(1)  # a version it holds is not looked for
    clock.t += 0.5
    assert ring.provider.versions() == [2]  # a full second after the last look
    with pytest.raises(keys.KeyError_):
        ring.kek(1)


@pytest.mark.usefixtures("clock")
def test_a_provider_sees_its_own_changes_at_once(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    ring.provider.add_version()
    assert ring.provider.versions() == [1, 2]
    ring.provider.remove_versions([1])
    assert ring.provider.versions() == [2]


def test_a_key_doc_written_by_hand_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_key_doc(path, key_doc({4: bytes(range(32))}, {"aes": bytes(32), "gm": bytes(32)}))
    ring = keys.read_key_file(path)
    assert ring.kek(4) == bytes(range(32)) and json.loads(path.read_text())["format"] == 2


def test_a_key_file_gone_is_an_error_at_the_next_look(tmp_path: Path, clock: FrozenTime) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    path = tmp_path / "keys" / keys.KEY_FILE_NAME
    path.unlink()
    assert ring.provider.versions() == [1]  # not looked at yet
    clock.t += 1.0
    with pytest.raises(keys.KeyError_) as raised:
        ring.provider.versions()
    assert str(raised.value) == f"cannot read key file {path}: FileNotFoundError"
