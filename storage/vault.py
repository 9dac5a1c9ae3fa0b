"""The identity vault: envelope encryption of identities and channel handles.

Each entry gets a fresh 256-bit data key; the plaintext is sealed with AES-256-GCM under it, with the
entry id and report id as associated data (a ciphertext moved to another row fails to open). The data
key is wrapped with AES-256-GCM under the current key-encryption key, bound to the entry id too.
Nothing here decrypts for a person: the reveal workflow (custodians, approvals, audit) sits on top.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.keys import Keyring


class VaultIntegrityError(Exception):
    """A sealed entry failed authentication: wrong key, swapped or truncated ciphertext."""


@dataclass(frozen=True)
class SealedEntry:
    id: uuid.UUID
    report_id: uuid.UUID
    kind: str
    kek_version: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def _aad(entry_id: uuid.UUID, report_id: uuid.UUID, kind: str) -> bytes:
    return b"vault/v1|" + entry_id.bytes + report_id.bytes + kind.encode()


def seal(keyring: Keyring, report_id: uuid.UUID, kind: str, value: dict[str, Any]) -> SealedEntry:
    entry_id = uuid.uuid4()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(12)
    plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _aad(entry_id, report_id, kind))
    version = keyring.current_version
    wrap_nonce = secrets.token_bytes(12)
    wrapped = wrap_nonce + AESGCM(keyring.kek(version)).encrypt(
        wrap_nonce, data_key, b"kek/v1|" + entry_id.bytes
    )
    return SealedEntry(entry_id, report_id, kind, version, wrapped, nonce, ciphertext)


def unseal(keyring: Keyring, entry: SealedEntry) -> dict[str, Any]:
    """Decrypt an entry. Callers above storage reach this only through audited paths."""
    try:
        wrap_nonce, wrapped = entry.wrapped_key[:12], entry.wrapped_key[12:]
        data_key = AESGCM(keyring.kek(entry.kek_version)).decrypt(
            wrap_nonce, wrapped, b"kek/v1|" + entry.id.bytes
        )
        plaintext = AESGCM(data_key).decrypt(
            entry.nonce, entry.ciphertext, _aad(entry.id, entry.report_id, entry.kind)
        )
    except (InvalidTag, ValueError) as exc:
        raise VaultIntegrityError(f"vault entry {entry.id} failed authentication") from exc
    value: dict[str, Any] = json.loads(plaintext)
    return value
