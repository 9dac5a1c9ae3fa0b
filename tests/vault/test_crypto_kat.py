"""Known-answer tests for both profiles' primitives, as the vault calls them, and the 国密 profile
end to end (密评 asks for evidence that the algorithms are the standard ones)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from storage import keys, vault

H = bytes.fromhex


def test_sm4_block_cipher_gbt_32907_vector() -> None:
    # GB/T 32907-2016 Appendix A, example 1: key = plaintext = 0123456789abcdeffedcba9876543210.
    key = H("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one block, the standard's KAT
    assert (enc.update(key) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gcm_rfc_8998_vector() -> None:
    # RFC 8998 Appendix A.1 (SM4-GCM), through the vault's own AEAD function.
    key = H("0123456789ABCDEFFEDCBA9876543210")
    iv = H("00001234567800000000ABCD")
    aad = H("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    pt = H(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    sealed = keys.aead_encrypt("gm", key, iv, pt, aad)
    assert sealed[:-16].hex() == (
        "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
        "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
    )
    assert sealed[-16:].hex() == "83de3541e4c2b58177e065a9bf7b62ec"
    assert keys.aead_decrypt("gm", key, iv, sealed, aad) == pt
    for broken in (sealed[:-1], sealed[:10], b"", bytes([sealed[0] ^ 1]) + sealed[1:]):
        with pytest.raises(InvalidTag):
            keys.aead_decrypt("gm", key, iv, broken, aad)
    with pytest.raises(InvalidTag):
        keys.aead_decrypt("gm", key, iv, sealed, aad + b"x")


def test_aes_256_gcm_nist_vector() -> None:
    # The GCM specification's test case 16 (AES-256, 96-bit IV, with AAD), as used by NIST CAVP.
    key = H("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    iv = H("cafebabefacedbaddecaf888")
    aad = H("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    pt = H(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    sealed = keys.aead_encrypt("aes", key, iv, pt, aad)
    assert sealed[:-16].hex() == (
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    )
    assert sealed[-16:].hex() == "76fc6ece0f4e1768cddf8853bb2d551b"
    assert keys.aead_decrypt("aes", key, iv, sealed, aad) == pt


def test_sm3_abc_vector() -> None:
    # GB/T 32905-2016 Appendix A.1.
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    assert h.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        # GM/T 0042-2015 Appendix D.3 (also OpenSSL's evpmac_sm3.txt).
        (
            H("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "ca05e144ed05d1857840d1f318a4a8669e559fc8391f414485bfdf7bb408963a",
        ),
        (
            H("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425"),
            b"\xcd" * 50,
            "220bf579ded555393f0159f66c99877822a3ecf610d1552154b41d44b94db3ae",
        ),
        (
            b"\x0b" * 32,
            b"Hi There",
            "c0ba18c68b90c88bc07de794bfc7d2c8d19ec31ed8773bc2b390c9604e0be11e",
        ),
        (
            b"Jefe Jeferson Jr",
            b"what do ya want for nothing?",
            "ce791a34c59adef472997a249600f3f244d59e875be04055ba2ae12fc845e78c",
        ),
    ],
)
def test_hmac_sm3_gmt_0042_vectors(key: bytes, data: bytes, expected: str) -> None:
    assert keys.hmac_digest("gm", key, data).hex() == expected


def test_hmac_sha256_rfc_4231_vector() -> None:
    # RFC 4231 test case 2.
    assert keys.hmac_digest("aes", b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_gm_profile_round_trip_and_both_profiles_open(tmp_path: Path) -> None:
    gm = keys.load_or_create(tmp_path, env={"INTAKE_CRYPTO_PROFILE": "gm"})
    assert gm.profile == "gm"
    report = uuid.uuid4()
    sealed_gm = vault.seal(gm, report, "identity", {"name": "李秀英", "phone": "13800000000"})
    assert sealed_gm.profile == "gm"
    assert len(sealed_gm.nonce) == 14 and sealed_gm.nonce[:2] == b"\x02\x02"
    assert "李秀英".encode() not in sealed_gm.ciphertext
    # The same keys under the default profile: new entries are AES, old GM entries still open.
    aes = keys.load_or_create(tmp_path, env={})
    sealed_aes = vault.seal(aes, report, "identity", {"name": "王五"})
    assert sealed_aes.profile == "aes"
    assert vault.unseal(aes, sealed_gm) == {"name": "李秀英", "phone": "13800000000"}
    assert vault.unseal(gm, sealed_aes) == {"name": "王五"}
    # A GM entry's wrapped data key is SM4-GCM: 12 nonce + 16 key + 16 tag.
    assert len(sealed_gm.wrapped_key) == 44 and len(sealed_aes.wrapped_key) == 60
    # Relabelling the profile byte does not open: the profile is bound into the associated data.
    relabelled = dataclasses.replace(sealed_gm, nonce=b"\x02\x01" + sealed_gm.nonce[2:])
    with pytest.raises(vault.VaultIntegrityError):
        vault.unseal(gm, relabelled)


def test_gm_blind_indexes_are_hmac_sm3(tmp_path: Path) -> None:
    gm = keys.load_or_create(tmp_path, profile="gm")
    aes = keys.load_or_create(tmp_path, profile="aes")
    idx_gm = vault.blind_index(gm, "phone", "139 1234 5678")
    idx_aes = vault.blind_index(aes, "phone", "+86 13912345678")
    assert idx_gm is not None and idx_aes is not None
    assert (idx_gm.alg, idx_aes.alg) == ("hmac-sm3", "hmac-sha256")
    expected = keys.hmac_digest("gm", gm.derive_for("gm", "blind-index/phone"), b"+8613912345678").hex()
    assert idx_gm.mac == expected != idx_aes.mac
    # A lookup computes both, so reports indexed before a profile switch are still found.
    assert {i.mac for i in vault.blind_index_variants(aes, "phone", "13912345678")} == {
        idx_gm.mac,
        idx_aes.mac,
    }


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyError_):
        keys.load_or_create(tmp_path, env={"INTAKE_CRYPTO_PROFILE": "des"})
