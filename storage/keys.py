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
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

KEY_FILE_NAME = "master.key"
PROFILES: dict[str, int] = {"aes": 1, "gm": 2}  # the byte recorded in each sealed entry
PROFILE_NAMES = {code: name for name, code in PROFILES.items()}
INDEX_ALGORITHMS = {"aes": "hmac-sha256", "gm": "hmac-sm3"}
NONCE_BYTES = 12
TAG_BYTES = 16
RELOAD_SECONDS = 1.0  # how often a key-file provider looks for versions added by another process


class KeyError_(Exception):
    """The key file is missing, unreadable or malformed, or a key version is not available."""


class ReadOnlyKeysError(KeyError_):
    """The provider cannot add or remove key versions (``INTAKE_MASTER_KEY``, an external KMS)."""


# --- the two cipher profiles -----------------------------------------------------------------------


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


def _hash(profile: str) -> hashes.HashAlgorithm:
    return hashes.SHA256() if profile == "aes" else hashes.SM3()


def extract_prk(profile: str, root: bytes) -> bytes:
    """HKDF-Extract with no salt (RFC 5869 §2.2: a salt of zeros), as ``HKDF(salt=None)`` does."""
    return hmac_digest(profile, b"\0" * 32, root)


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
        self._stamp = _stamp(path) if path else None
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
        with _file_lock(path):
            doc = _read_doc(path)
            keks = _keys_of(doc, path)
            new = max(keks) + 1
            keks[new] = secrets.token_bytes(32)
            _write_doc(path, _doc(keks, _prks_of(doc, keks)))
        self._refresh(force=True)
        return new

    def remove_versions(self, versions: Collection[int]) -> None:
        path = self._require_file()
        with _file_lock(path):
            doc = _read_doc(path)
            keks = _keys_of(doc, path)
            prks = _prks_of(doc, keks)  # computed before the root version may go
            if max(keks) in versions:
                raise KeyError_("the current key-encryption key cannot be retired")
            for v in versions:
                keks.pop(v, None)
            _write_doc(path, _doc(keks, prks))
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
            stamp = _stamp(self._path)
            if stamp == self._stamp:
                return
            keks = _keys_of(_read_doc(self._path), self._path)
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
        return HKDFExpand(_hash(check_profile(profile)), 32, info).derive(self._prks[profile])

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
    return read_key_file(path, profile=profile)


def read_key_file(path: Path, *, profile: str = "aes") -> Keyring:
    doc = _read_doc(path)
    keks = _keys_of(doc, path)
    return Keyring(
        keks=keks, provider=LocalKeyProvider(keks, path), prks=_prks_of(doc, keks), profile=profile
    )


def parse_env_keys(text: str) -> tuple[dict[int, bytes], dict[str, bytes] | None]:
    """``INTAKE_MASTER_KEY``: one base64 key (version 1), or ``1:<b64>,2:<b64>`` with optional
    ``prk-aes:<b64>,prk-gm:<b64>`` (the derivation roots, once version 1 is retired)."""
    text = text.strip()
    if ":" not in text:
        return {1: _b64(text)}, None
    keks: dict[int, bytes] = {}
    prks: dict[str, bytes] = {}
    for part in text.split(","):
        label, _, value = part.strip().partition(":")
        if label.startswith("prk-") and label[4:] in PROFILES:
            prks[label[4:]] = _b64(value)
        elif label.isdigit():
            keks[int(label)] = _b64(value)
        else:
            raise KeyError_("INTAKE_MASTER_KEY: expected <version>:<base64> items")
    if not keks:
        raise KeyError_("INTAKE_MASTER_KEY holds no keys")
    if prks and set(prks) != set(PROFILES):
        raise KeyError_("INTAKE_MASTER_KEY: give both prk-aes and prk-gm, or neither")
    return keks, prks or None


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


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        raise KeyError_(f"cannot read key file {path}: {type(exc).__name__}") from None
    return doc


def _keys_of(doc: Mapping[str, Any], path: Path) -> dict[int, bytes]:
    try:
        keks = {int(v): _b64(k) for v, k in doc["keys"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyError_(f"cannot read key file {path}: {type(exc).__name__}") from None
    if not keks:
        raise KeyError_(f"key file {path} holds no keys")
    return keks


def _prks_of(doc: Mapping[str, Any], keks: Mapping[int, bytes]) -> dict[str, bytes]:
    stored = doc.get("prk")
    if isinstance(stored, dict) and set(stored) == set(PROFILES):
        return {p: _b64(v) for p, v in stored.items()}
    # Format 1: the first version is the root; it is in the file, since nothing was retired yet.
    root = keks[min(keks)]
    return {p: extract_prk(p, root) for p in PROFILES}


def _doc(keks: Mapping[int, bytes], prks: Mapping[str, bytes]) -> dict[str, Any]:
    return {
        "format": 2,
        "keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(keks.items())},
        "prk": {p: base64.b64encode(k).decode() for p, k in sorted(prks.items())},
    }


def _write_doc(path: Path, doc: Mapping[str, Any]) -> None:
    """Replace the key file atomically: a private temporary file, fsynced, renamed, folder fsynced."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Two rotations at once would each add "version N+1": the second waits for the first."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _b64(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyError_("a key is not valid base64") from None
    if len(raw) != 32:
        raise KeyError_("a master key must be 32 bytes")
    return raw


def new_key_b64() -> str:
    """A fresh 256-bit key, base64 (for ``INTAKE_MASTER_KEY`` deployments)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


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
