"""Key material: key-encryption keys (KEKs), where they live, and the keys derived from them.

**KEKs** are versioned 256-bit keys. They only ever wrap data keys (one fresh data key per vault
entry and per attachment file); the newest version wraps new data keys, and ``intake vault rotate``
re-wraps every data key under a new version (see :mod:`storage.vault_store`). Where KEKs live is a
:class:`KeyProvider`:

- :class:`LocalKeyProvider` from the **key file** ``<data dir>/keys/master.key`` (the embedded
  default: created 0600 in a 0700 folder on first start; rotation adds versions to it by an atomic,
  fsynced rewrite), or from **``INTAKE_MASTER_KEY``** (read-only: base64 of 32 bytes, or
  ``1:<b64>,2:<b64>`` for several versions);
- an **external KMS/HSM**: implement :class:`KeyProvider` (``wrap``/``unwrap`` run inside the
  device, the KEK bytes never reach this process) and pass it as ``Keyring(provider=..., prks=...)``.
  The purpose keys below still need local derivation roots (``prks``), kept in a secret store.

**Purpose keys** (query-code hashing, blind indexes, pseudonyms, receipts, form tokens) are derived
with HKDF from a root that never changes: the first KEK of the deployment. Its HKDF-extract outputs
(the PRKs) are written into the key file the first time the file is rewritten, so retiring that KEK
does not change query-code hashes or blind indexes, and a retired KEK leaves no trace in the file.

**Profiles**: ``aes`` (default: AES-256-GCM, HMAC-SHA256) and ``gm`` (国密: SM4-GCM, HMAC-SM3 and
HKDF-SM3), chosen by ``INTAKE_CRYPTO_PROFILE``. The profile is recorded per vault entry, so a
deployment that switches can still open what it sealed before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from storage.ciphers import (
    INDEX_ALGORITHMS,
    NONCE_BYTES,
    PROFILE_NAMES,
    PROFILES,
    TAG_BYTES,
    aead_decrypt,
    aead_encrypt,
    check_profile,
    data_key_size,
    extract_prk,
    hkdf_hash,
    hmac_digest,
)
from storage.errors import KeyError_, ReadOnlyKeysError
from storage.key_file import (
    KEY_FILE_NAME,
    create_key_file,
    file_lock,
    file_stamp,
    key_doc,
    keys_of,
    new_key_b64,
    parse_env_keys,
    prks_of,
    read_key_doc,
    write_key_doc,
)

RELOAD_SECONDS = 1.0  # how often a key-file provider looks for versions added by another process

# The cipher profiles, the key file's format and the key errors have their own modules
# (storage.ciphers, storage.key_file, storage.errors); their names stay importable from here.
__all__ = [
    "INDEX_ALGORITHMS",
    "KEY_FILE_NAME",
    "NONCE_BYTES",
    "PROFILES",
    "PROFILE_NAMES",
    "RELOAD_SECONDS",
    "TAG_BYTES",
    "KeyError_",
    "KeyProvider",
    "Keyring",
    "LocalKeyProvider",
    "ReadOnlyKeysError",
    "aead_decrypt",
    "aead_encrypt",
    "check_profile",
    "data_key_size",
    "env_value",
    "extract_prk",
    "hmac_digest",
    "load_or_create",
    "new_key_b64",
    "open_receipt",
    "parse_env_keys",
    "read_key_file",
    "seal_receipt",
]


# --- where KEKs live -------------------------------------------------------------------------------


class KeyProvider(Protocol):
    """The seam for key-encryption keys. The vault never sees a KEK through it, only wrapped keys.

    An external KMS/HSM implements this by calling the device: ``wrap`` is its encrypt operation on
    the 16- or 32-byte data key with ``aad`` as the encryption context, ``unwrap`` its decrypt; the
    ``profile`` names the algorithm family the deployment must use (``gm``: SM4 in the device).
    """

    name: str
    writable: bool

    def versions(self) -> list[int]:
        """Every version that can still unwrap, ascending; the last is the current one."""
        ...

    def current_version(self) -> int: ...

    def wrap(self, version: int, data_key: bytes, aad: bytes, profile: str) -> bytes: ...

    def unwrap(self, version: int, wrapped: bytes, aad: bytes, profile: str) -> bytes:
        """Raises ``InvalidTag`` (or ``ValueError``) when ``wrapped`` or ``aad`` was altered."""
        ...

    def fingerprint(self, version: int) -> str:
        """A public check value naming the key (never enough to recover it)."""
        ...

    def add_version(self) -> int:
        """Create a new current version (raises :class:`ReadOnlyKeysError` if it cannot)."""
        ...

    def remove_versions(self, versions: Collection[int]) -> None: ...


class LocalKeyProvider:
    """KEKs held by this process: from the key file (``path`` set, writable) or the environment.

    A provider on a key file notices versions added by another process (``intake vault rotate``
    while servers run): it re-reads the file when it changed, at most once per ``RELOAD_SECONDS``,
    and at once when asked for a version it does not have.
    """

    def __init__(self, keks: Mapping[int, bytes], path: Path | None = None) -> None:
        if not keks:
            raise KeyError_("a keyring needs at least one key-encryption key")
        self._keks = dict(keks)
        self._path = path
        self._lock = threading.Lock()
        self._stamp = file_stamp(path) if path else None
        self._checked = time.monotonic()
        self.name = "key-file" if path else "environment"
        self.writable = path is not None

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def keks(self) -> dict[int, bytes]:
        self._refresh()
        return self._keks

    def versions(self) -> list[int]:
        return sorted(self.keks)

    def current_version(self) -> int:
        return max(self.keks)

    def kek(self, version: int) -> bytes:
        key = self.keks.get(version)
        if key is None:
            self._refresh(force=True)
            key = self._keks.get(version)
        if key is None:
            raise KeyError_(f"key-encryption key version {version} is not in the keyring")
        return key

    def wrap(self, version: int, data_key: bytes, aad: bytes, profile: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + aead_encrypt(profile, self._wrapping_key(version, profile), nonce, data_key, aad)

    def unwrap(self, version: int, wrapped: bytes, aad: bytes, profile: str) -> bytes:
        key = self._wrapping_key(version, profile)
        return aead_decrypt(profile, key, wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)

    def _wrapping_key(self, version: int, profile: str) -> bytes:
        kek = self.kek(version)
        if profile == "aes":
            return kek
        # SM4 takes 128-bit keys: a KEK-specific SM4 key by HKDF-SM3, so no SHA-2 is involved.
        return HKDFExpand(hashes.SM3(), 16, b"xinfang-intake/kek-sm4").derive(extract_prk("gm", kek))

    def fingerprint(self, version: int) -> str:
        return hmac.new(self.kek(version), b"xinfang-intake/key-check", hashlib.sha256).hexdigest()[:16]

    def add_version(self) -> int:
        path = self._require_file()
        with file_lock(path):
            doc = read_key_doc(path)
            keks = keys_of(doc, path)
            new = max(keks) + 1
            keks[new] = secrets.token_bytes(32)
            write_key_doc(path, key_doc(keks, prks_of(doc, keks)))
        self._refresh(force=True)
        return new

    def remove_versions(self, versions: Collection[int]) -> None:
        path = self._require_file()
        with file_lock(path):
            doc = read_key_doc(path)
            keks = keys_of(doc, path)
            prks = prks_of(doc, keks)  # computed before the root version may go
            if max(keks) in versions:
                raise KeyError_("the current key-encryption key cannot be retired")
            for v in versions:
                keks.pop(v, None)
            write_key_doc(path, key_doc(keks, prks))
        self._refresh(force=True)

    def _require_file(self) -> Path:
        if self._path is None:
            raise ReadOnlyKeysError(
                "the key-encryption keys come from INTAKE_MASTER_KEY: add or remove versions there "
                "(see docs/vault.md)"
            )
        return self._path

    def _refresh(self, *, force: bool = False) -> None:
        if self._path is None or (not force and time.monotonic() - self._checked < RELOAD_SECONDS):
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = file_stamp(self._path)
            if stamp == self._stamp:
                return
            keks = keys_of(read_key_doc(self._path), self._path)
            self._keks, self._stamp = keks, stamp


# --- the keyring: KEKs plus derived purpose keys ---------------------------------------------------


class Keyring:
    """A :class:`KeyProvider`, the derivation roots of the purpose keys, and the crypto profile.

    ``Keyring(keks={1: key}, root=key)`` builds a local keyring, as before; ``provider=`` plugs in
    another provider, ``prks=`` gives the derivation roots directly (``{"aes": …, "gm": …}``).
    """

    def __init__(
        self,
        keks: Mapping[int, bytes] | None = None,
        root: bytes | None = None,
        *,
        provider: KeyProvider | None = None,
        prks: Mapping[str, bytes] | None = None,
        profile: str = "aes",
    ) -> None:
        if provider is None:
            if not keks:
                raise KeyError_("a keyring needs key-encryption keys or a provider")
            provider = LocalKeyProvider(keks)
        self.provider: KeyProvider = provider
        self.profile = check_profile(profile)
        if prks is None:
            if root is None:
                if not keks:
                    raise KeyError_("a keyring needs a derivation root (root= or prks=)")
                root = keks[min(keks)]
            prks = {p: extract_prk(p, root) for p in PROFILES}
        self._prks = dict(prks)
        self._cache: dict[tuple[str, str], bytes] = {}

    @property
    def keks(self) -> dict[int, bytes]:
        """The KEK bytes of a local provider (empty for an external one)."""
        return self.provider.keks if isinstance(self.provider, LocalKeyProvider) else {}

    @property
    def current_version(self) -> int:
        return self.provider.current_version()

    def kek(self, version: int) -> bytes:
        """Raw KEK bytes, for code that wraps by itself (attachment files). Local providers only."""
        if not isinstance(self.provider, LocalKeyProvider):
            raise KeyError_("the key-encryption keys are held by an external provider")
        return self.provider.kek(version)

    def wrap_data_key(self, data_key: bytes, aad: bytes, profile: str) -> tuple[int, bytes]:
        version = self.provider.current_version()
        return version, self.provider.wrap(version, data_key, aad, profile)

    def unwrap_data_key(self, version: int, wrapped: bytes, aad: bytes, profile: str) -> bytes:
        return self.provider.unwrap(version, wrapped, aad, profile)

    def derive(self, purpose: str) -> bytes:
        """A 32-byte purpose key: HKDF-SHA256 from the deployment's root (stable across rotation)."""
        return self.derive_for("aes", purpose)

    def derive_for(self, profile: str, purpose: str) -> bytes:
        """A purpose key under a profile: HKDF-SHA256 (``aes``) or HKDF-SM3 (``gm``). Not cached:
        some purposes are per request (receipts)."""
        info = b"xinfang-intake/" + purpose.encode()
        return HKDFExpand(hkdf_hash(check_profile(profile)), 32, info).derive(self._prks[profile])

    def _purpose(self, profile: str, purpose: str) -> bytes:
        # Cached: only for the fixed purposes behind mac/mac_for/aead, so the cache stays small.
        key = self._cache.get((profile, purpose))
        if key is None:
            key = self._cache[(profile, purpose)] = self.derive_for(profile, purpose)
        return key

    def mac(self, purpose: str, data: bytes) -> str:
        """A keyed hash (HMAC-SHA256, hex) under the purpose key: for query codes and tokens."""
        return hmac.digest(self._purpose("aes", purpose), data, "sha256").hex()

    def mac_for(self, profile: str, purpose: str, data: bytes) -> str:
        """A keyed hash under a profile (HMAC-SHA256 or HMAC-SM3, hex): for blind indexes."""
        return hmac_digest(profile, self._purpose(check_profile(profile), purpose), data).hex()

    def hasher(self, profile: str, purpose: str) -> Callable[[bytes], str]:
        """:meth:`mac_for` with the purpose key looked up once: for hashing many candidates."""
        key = self._purpose(check_profile(profile), purpose)
        if profile == "aes":
            # The keyed inner and outer states computed once, copied per value (a third faster).
            keyed = hmac.new(key, digestmod=hashlib.sha256)

            def sha256(data: bytes) -> str:
                h = keyed.copy()
                h.update(data)
                return h.hexdigest()

            return sha256
        keyed_sm3 = crypto_hmac.HMAC(key, hashes.SM3())

        def sm3(data: bytes) -> str:
            h = keyed_sm3.copy()
            h.update(data)
            return h.finalize().hex()

        return sm3

    def aead(self, purpose: str) -> AESGCM:
        return AESGCM(self._purpose("aes", purpose))

    def export_prks(self) -> dict[str, bytes]:
        """The derivation roots (for an operator moving a deployment to an external provider)."""
        return dict(self._prks)


# --- loading ---------------------------------------------------------------------------------------


def load_or_create(
    data_dir: Path, *, env: Mapping[str, str] | None = None, profile: str | None = None
) -> Keyring:
    """Read the keyring from ``INTAKE_MASTER_KEY`` or the data directory, creating it on first run.

    The profile for new entries comes from ``profile`` or ``INTAKE_CRYPTO_PROFILE`` (default ``aes``).
    """
    env = os.environ if env is None else env
    profile = check_profile(profile or env.get("INTAKE_CRYPTO_PROFILE") or "aes")
    raw_env = env.get("INTAKE_MASTER_KEY")
    if raw_env:
        keks, prks = parse_env_keys(raw_env)
        return Keyring(keks=keks, provider=LocalKeyProvider(keks), prks=prks, profile=profile)
    path = data_dir / "keys" / KEY_FILE_NAME
    if not path.exists():
        create_key_file(path)
    return read_key_file(path, profile=profile)


def read_key_file(path: Path, *, profile: str = "aes") -> Keyring:
    doc = read_key_doc(path)
    keks = keys_of(doc, path)
    return Keyring(keks=keks, provider=LocalKeyProvider(keks, path), prks=prks_of(doc, keks), profile=profile)


def env_value(keyring: Keyring, versions: Collection[int] | None = None) -> str:
    """The ``INTAKE_MASTER_KEY`` value for this keyring's versions (or only ``versions``) and its
    derivation roots (operator tooling: retiring versions of an environment-held keyring)."""
    parts = [
        f"{v}:{base64.b64encode(k).decode()}"
        for v, k in sorted(keyring.keks.items())
        if versions is None or v in versions
    ]
    parts += [f"prk-{p}:{base64.b64encode(k).decode()}" for p, k in sorted(keyring.export_prks().items())]
    return ",".join(parts)


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
