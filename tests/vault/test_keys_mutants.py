"""Keyed hashes, redaction terms and sealed receipts value by value (found by mutation testing,
issue 23): the hasher equals the one-shot MAC under both profiles, redaction terms are per report
and packed losslessly, and a receipt opens only for its exact binding."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import Path

import pytest

from storage import keys, vault
from storage.vault import RedactionTerm

R1 = uuid.UUID("11111111-1111-1111-1111-111111111111")
R2 = uuid.UUID("22222222-2222-2222-2222-222222222222")


@pytest.fixture(params=["aes", "gm"])
def ring(request: pytest.FixtureRequest, tmp_path: Path) -> keys.Keyring:
    return keys.load_or_create(tmp_path / "keys", profile=request.param)


def test_the_hasher_is_the_one_shot_mac(ring: keys.Keyring) -> None:
    for profile in ("aes", "gm"):
        h = ring.hasher(profile, "purpose-x")
        for data in (b"", b"13912345678", "张三".encode()):
            assert h(data) == ring.mac_for(profile, "purpose-x", data)
        assert h(b"a") != ring.hasher(profile, "purpose-y")(b"a")
        assert h(b"a") == h(b"a")  # the keyed state is copied, not consumed
    assert ring.hasher("aes", "p")(b"a") != ring.hasher("gm", "p")(b"a")
    assert len(ring.hasher("aes", "p")(b"a")) == 64 and len(ring.hasher("gm", "p")(b"a")) == 64
    assert ring.mac("p", b"a") == ring.mac_for("aes", "p", b"a")
    with pytest.raises(Exception, match="unknown crypto profile"):
        ring.hasher("des", "p")


def test_the_aes_hasher_is_hmac_sha256_under_the_purpose_key(ring: keys.Keyring) -> None:
    key = ring._purpose("aes", "p")
    assert ring.hasher("aes", "p")(b"data") == hmac.new(key, b"data", hashlib.sha256).hexdigest()


def test_redaction_terms_are_per_report_deduplicated_and_64_bits(ring: keys.Keyring) -> None:
    terms = vault.redaction_terms(ring, R1, [("name", "李四"), ("phone", "13912345678"), ("name", "李四")])
    alg = vault.INDEX_ALGORITHMS[ring.profile]
    assert [(t.kind, t.length, t.alg) for t in terms] == [("name", 2, alg), ("phone", 11, alg)]
    assert all(len(t.mac) == 16 for t in terms)
    hasher = vault.redaction_term_hasher(ring, alg, R1)
    assert [t.mac for t in terms] == [hasher("name", "李四"), hasher("phone", "13912345678")]
    profile = {a: p for p, a in vault.INDEX_ALGORITHMS.items()}[alg]
    assert (
        hasher("name", "李四")
        == ring.hasher(profile, "redaction-term")(R1.bytes + b"name|" + "李四".encode())[:16]
    )
    other = vault.redaction_terms(ring, R2, [("name", "李四")])
    assert other[0].mac != terms[0].mac  # the same value in another report links nothing
    assert vault.redaction_terms(ring, R1, [("phone", "李四")])[0].mac != terms[0].mac  # the kind counts
    assert vault.redaction_terms(ring, R1, []) == []


def test_redaction_terms_pack_and_unpack() -> None:
    terms = [
        RedactionTerm("name", 2, "hmac-sha256", "0123456789abcdef"),
        RedactionTerm("phone", 11, "hmac-sha256", "fedcba9876543210"),
    ]
    packed = vault.pack_redaction_terms(terms)
    assert packed == "hmac-sha256;name:2:0123456789abcdef,phone:11:fedcba9876543210"
    assert vault.unpack_redaction_terms(packed) == terms
    assert vault.pack_redaction_terms([]) is None
    assert vault.unpack_redaction_terms(None) == [] and vault.unpack_redaction_terms("") == []
    one = [RedactionTerm("id_number", 18, "hmac-sm3", "aa" * 8)]
    assert vault.unpack_redaction_terms(vault.pack_redaction_terms(one)) == one


def test_a_receipt_opens_only_for_its_binding(ring: keys.Keyring, tmp_path: Path) -> None:
    sealed = keys.seal_receipt(ring, "web/key-1/fp", "1234567812345678")
    assert keys.open_receipt(ring, "web/key-1/fp", sealed) == "1234567812345678"
    assert sealed[:12] != keys.seal_receipt(ring, "web/key-1/fp", "1234567812345678")[:12]  # fresh nonce
    assert len(sealed) == 12 + 16 + 16
    assert keys.open_receipt(ring, "web/key-2/fp", sealed) is None
    assert keys.open_receipt(ring, "app/key-1/fp", sealed) is None
    assert keys.open_receipt(ring, "web/key-1/fp", sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert keys.open_receipt(ring, "web/key-1/fp", sealed[:5]) is None
    other = keys.load_or_create(tmp_path / "other-keys", profile=ring.profile)
    assert keys.open_receipt(other, "web/key-1/fp", sealed) is None
