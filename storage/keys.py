"""Key material: the key file in the data directory and the keys derived from it.

The key file holds versioned 256-bit master keys (the newest one wraps new data keys). Purpose keys
(query-code hashing, blind indexes, attachment encryption, form tokens) are derived from the first
master key with HKDF, so rotating the key-encryption key does not change query-code hashes.
The embedded default is a file created 0600 on first start; ``INTAKE_MASTER_KEY`` (base64 of 32
bytes) overrides it for deployments that keep keys out of the data directory.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_NAME = "master.key"


class KeyError_(Exception):
    """The key file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Keyring:
    """Versioned key-encryption keys plus HKDF-derived purpose keys."""

    keks: dict[int, bytes]
    root: bytes

    @property
    def current_version(self) -> int:
        return max(self.keks)

    def kek(self, version: int) -> bytes:
        try:
            return self.keks[version]
        except KeyError:
            raise KeyError_(f"key-encryption key version {version} is not in the keyring") from None

    def derive(self, purpose: str) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"xinfang-intake/" + purpose.encode()
        ).derive(self.root)

    def mac(self, purpose: str, data: bytes) -> str:
        """A keyed hash (HMAC-SHA256, hex) under the purpose key: for query codes and indexes."""
        return hmac.new(self._purpose(purpose), data, hashlib.sha256).hexdigest()

    def _purpose(self, purpose: str) -> bytes:
        cache = self.__dict__.setdefault("_cache", {})
        if purpose not in cache:
            cache[purpose] = self.derive(purpose)
        key: bytes = cache[purpose]
        return key

    def aead(self, purpose: str) -> AESGCM:
        return AESGCM(self._purpose(purpose))


def load_or_create(data_dir: Path) -> Keyring:
    """Read the keyring from ``INTAKE_MASTER_KEY`` or the data directory, creating it on first run."""
    env = os.environ.get("INTAKE_MASTER_KEY")
    if env:
        raw = _b64(env)
        return Keyring(keks={1: raw}, root=raw)
    key_dir = data_dir / "keys"
    path = key_dir / KEY_FILE_NAME
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {"format": 1, "keys": {"1": base64.b64encode(secrets.token_bytes(32)).decode()}}
        # O_EXCL: two processes starting at once cannot both write a different key.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
                fh.flush()
                os.fsync(fh.fileno())
    return read_key_file(path)


def read_key_file(path: Path) -> Keyring:
    try:
        doc = json.loads(path.read_text())
        keks = {int(v): _b64(k) for v, k in doc["keys"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyError_(f"cannot read key file {path}: {type(exc).__name__}") from None
    if not keks:
        raise KeyError_(f"key file {path} holds no keys")
    return Keyring(keks=keks, root=keks[min(keks)])


def _b64(text: str) -> bytes:
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise KeyError_("a master key must be 32 bytes")
    return raw


def seal_receipt(keyring: Keyring, binding: str, code: str) -> bytes:
    """Encrypt a query code under a key derived from ``binding`` (channel, idempotency key and
    request fingerprint): only a retry of the very same request can recover the code."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(keyring.derive("receipt/" + binding)).encrypt(nonce, code.encode(), None)


def open_receipt(keyring: Keyring, binding: str, sealed: bytes) -> str | None:
    try:
        return AESGCM(keyring.derive("receipt/" + binding)).decrypt(sealed[:12], sealed[12:], None).decode()
    except (InvalidTag, ValueError):
        return None
