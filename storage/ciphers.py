"""The two cipher profiles: ``aes`` (AES-256-GCM, HMAC-SHA256, HKDF-SHA256) and ``gm`` (国密:
SM4-GCM, HMAC-SM3, HKDF-SM3). The profile byte is recorded in each sealed entry, so a deployment
that switches can still open what it sealed before."""

from __future__ import annotations

import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import KeyError_

PROFILES: dict[str, int] = {"aes": 1, "gm": 2}  # the byte recorded in each sealed entry
PROFILE_NAMES = {code: name for name, code in PROFILES.items()}
INDEX_ALGORITHMS = {"aes": "hmac-sha256", "gm": "hmac-sm3"}
NONCE_BYTES = 12
TAG_BYTES = 16


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise KeyError_(f"unknown crypto profile {profile!r}: use 'aes' or 'gm'")
    return profile


def data_key_size(profile: str) -> int:
    """AES-256 takes 32-byte keys; SM4 takes 16."""
    return 32 if check_profile(profile) == "aes" else 16


def aead_encrypt(profile: str, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM or SM4-GCM: ciphertext followed by the 16-byte tag."""
    if check_profile(profile) == "aes":
        return AESGCM(key).encrypt(nonce, plaintext, aad)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return body + enc.tag


def aead_decrypt(profile: str, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Open what :func:`aead_encrypt` sealed; raises ``InvalidTag`` on any change, truncation included."""
    if check_profile(profile) == "aes":
        return AESGCM(key).decrypt(nonce, data, aad)
    if len(data) < TAG_BYTES:
        raise InvalidTag()
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag, min_tag_length=TAG_BYTES)).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(body) + dec.finalize()


def hmac_digest(profile: str, key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (``aes``) or HMAC-SM3 (``gm``)."""
    if check_profile(profile) == "aes":
        return hmac.digest(key, data, "sha256")  # OpenSSL's one-shot HMAC
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def hkdf_hash(profile: str) -> hashes.HashAlgorithm:
    return hashes.SHA256() if profile == "aes" else hashes.SM3()


def extract_prk(profile: str, root: bytes) -> bytes:
    """HKDF-Extract with no salt (RFC 5869 §2.2: a salt of zeros), as ``HKDF(salt=None)`` does."""
    return hmac_digest(profile, b"\0" * 32, root)
