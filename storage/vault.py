"""The identity vault's cryptography: envelope encryption, re-wrapping, blind indexes, pseudonyms.

**Envelope.** Each entry gets a fresh data key; the plaintext is sealed with AES-256-GCM (or SM4-GCM
under the ``gm`` profile) under it, with the entry id, report id and kind as associated data (a
ciphertext moved to another row fails to open). The data key is wrapped by the key provider under
the current key-encryption key version, bound to the entry id and the profile.

**Entry format.** The ``nonce`` column carries a small header, so no schema change was needed to
record the profile per entry:

- format 1 (entries sealed before the profiles existed): ``nonce`` is the bare 12-byte nonce;
  AES-256-GCM; data AAD ``vault/v1|id|report|kind``; wrap AAD ``kek/v1|id``;
- format 2: ``nonce`` = ``0x02 | profile byte (1 aes, 2 gm) | 12-byte nonce``; data AAD
  ``vault/v2|profile|id|report|kind``; wrap AAD ``kek/v2|profile|id``.

A 12-byte column is format 1, a 14-byte column format 2: the length decides, never the contents.

**Re-wrapping** (:func:`rewrap`) unwraps a data key under its old KEK version and wraps it under the
new one, in memory; the ciphertext is not touched and nothing is decrypted to disk. Attachment
files carry their wrapped key in a fixed 68-byte header (:func:`rewrap_blob_header`).

**Blind indexes** are keyed HMACs of normalised identifiers (:func:`blind_index`): phone numbers in
E.164, ID numbers in upper case with the 15-digit form converted, channel handles per kind. They let
the system recognise the same informant without decrypting anything. IP addresses are never
indexed: linking anonymous reports by address would be the tracing that art. 29 forbids.

Nothing here decrypts for a person: the reveal workflow (custodians, approvals, audit) sits on top
(:mod:`intake.vault_service`).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import struct
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag

from storage.ciphers import (
    INDEX_ALGORITHMS,
    NONCE_BYTES,
    PROFILE_NAMES,
    PROFILES,
    aead_decrypt,
    aead_encrypt,
    data_key_size,
)
from storage.errors import KeyError_
from storage.identifiers import (
    INDEX_KINDS,
    KIND_ALIASES,
    canonical_kind,
    id_number_checksum_ok,
    normalize,
    normalize_email,
    normalize_handle,
    normalize_id_number,
    normalize_phone,
)
from storage.keys import Keyring

log = logging.getLogger("storage.vault")

# Normalising identifiers is storage.identifiers; its names stay importable from here.
__all__ = [
    "BLOB_HEADER_BYTES",
    "BLOB_MAGIC",
    "FORMAT_V2",
    "INDEX_KINDS",
    "KIND_ALIASES",
    "BlindIndex",
    "ProofFile",
    "RedactionTerm",
    "SealedEntry",
    "SealedSubmission",
    "VaultIntegrityError",
    "VaultShreddedError",
    "blind_index",
    "blind_index_variants",
    "blind_indexes",
    "blob_header_version",
    "canonical_kind",
    "entry_profile",
    "id_number_checksum_ok",
    "normalize",
    "normalize_email",
    "normalize_handle",
    "normalize_id_number",
    "normalize_phone",
    "pack_redaction_terms",
    "pseudonym",
    "redaction_term_hasher",
    "redaction_terms",
    "rewrap",
    "rewrap_blob_header",
    "seal",
    "seal_submission",
    "unpack_redaction_terms",
    "unseal",
]

FORMAT_V2 = 2


class VaultIntegrityError(Exception):
    """A sealed entry failed authentication: wrong key, swapped or truncated ciphertext."""


class VaultShreddedError(Exception):
    """The entry's data key was destroyed at the end of its retention period: it cannot be opened."""


@dataclass(frozen=True)
class SealedEntry:
    id: uuid.UUID
    report_id: uuid.UUID
    kind: str
    kek_version: int
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def profile(self) -> str:
        return entry_profile(self.nonce)


def entry_profile(nonce_column: bytes) -> str:
    """The profile an entry was sealed under, read from its ``nonce`` column."""
    return _header(nonce_column)[1]


def _header(nonce_column: bytes) -> tuple[int, str, bytes]:
    """(format, profile, nonce) of an entry."""
    if len(nonce_column) == NONCE_BYTES:
        return 1, "aes", nonce_column
    if len(nonce_column) == NONCE_BYTES + 2 and nonce_column[0] == FORMAT_V2:
        profile = PROFILE_NAMES.get(nonce_column[1])
        if profile is not None:
            return FORMAT_V2, profile, nonce_column[2:]
    raise VaultIntegrityError("unknown vault entry format")


def _data_aad(fmt: int, profile: str, entry_id: uuid.UUID, report_id: uuid.UUID, kind: str) -> bytes:
    if fmt == 1:
        return b"vault/v1|" + entry_id.bytes + report_id.bytes + kind.encode()
    return b"vault/v2|" + bytes([PROFILES[profile]]) + entry_id.bytes + report_id.bytes + kind.encode()


def _wrap_aad(fmt: int, profile: str, entry_id: uuid.UUID) -> bytes:
    if fmt == 1:
        return b"kek/v1|" + entry_id.bytes
    return b"kek/v2|" + bytes([PROFILES[profile]]) + entry_id.bytes


def seal(
    keyring: Keyring, report_id: uuid.UUID, kind: str, value: dict[str, Any], *, profile: str | None = None
) -> SealedEntry:
    """Seal ``value`` (JSON) for one report under the keyring's profile (or ``profile``)."""
    profile = profile or keyring.profile
    entry_id = uuid.uuid4()
    data_key = secrets.token_bytes(data_key_size(profile))
    nonce = secrets.token_bytes(NONCE_BYTES)
    plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    aad = _data_aad(FORMAT_V2, profile, entry_id, report_id, kind)
    ciphertext = aead_encrypt(profile, data_key, nonce, plaintext, aad)
    version, wrapped = keyring.wrap_data_key(data_key, _wrap_aad(FORMAT_V2, profile, entry_id), profile)
    header = bytes([FORMAT_V2, PROFILES[profile]])
    return SealedEntry(entry_id, report_id, kind, version, wrapped, header + nonce, ciphertext)


def unseal(keyring: Keyring, entry: SealedEntry) -> dict[str, Any]:
    """Decrypt an entry. Callers above storage reach this only through the audited reveal workflow.

    Any failure (wrong or missing key, swapped, truncated or altered data) raises
    :class:`VaultIntegrityError` and is logged with the entry id only, never with data.
    """
    try:
        fmt, profile, nonce = _header(entry.nonce)
        data_key = keyring.unwrap_data_key(
            entry.kek_version, entry.wrapped_key, _wrap_aad(fmt, profile, entry.id), profile
        )
        plaintext = aead_decrypt(
            profile,
            data_key,
            nonce,
            entry.ciphertext,
            _data_aad(fmt, profile, entry.id, entry.report_id, entry.kind),
        )
        value: dict[str, Any] = json.loads(plaintext)
    except (InvalidTag, ValueError, KeyError_, VaultIntegrityError) as exc:
        log.error(
            "vault entry failed authentication",
            extra={"entry_id": str(entry.id), "report_id": str(entry.report_id), "error": type(exc).__name__},
        )
        raise VaultIntegrityError(f"vault entry {entry.id} failed authentication") from exc
    return value


def rewrap(
    keyring: Keyring,
    entry_id: uuid.UUID,
    nonce_column: bytes,
    wrapped_key: bytes,
    old_version: int,
    new_version: int,
) -> bytes:
    """The entry's data key re-wrapped from ``old_version`` to ``new_version`` (in memory only)."""
    try:
        fmt, profile, _ = _header(nonce_column)
        aad = _wrap_aad(fmt, profile, entry_id)
        data_key = keyring.provider.unwrap(old_version, wrapped_key, aad, profile)
    except (InvalidTag, ValueError, KeyError_, VaultIntegrityError) as exc:
        log.error(
            "vault entry key failed to unwrap", extra={"entry_id": str(entry_id), "error": type(exc).__name__}
        )
        raise VaultIntegrityError(f"vault entry {entry_id} failed authentication") from exc
    return keyring.provider.wrap(new_version, data_key, aad, profile)


# --- attachment files ------------------------------------------------------------------------------

BLOB_MAGIC = b"XFB1"
# MAGIC (4) | KEK version (4, big-endian) | wrapped data key: nonce (12) + key (32) + tag (16)
BLOB_HEADER_BYTES = 68


def blob_header_version(header: bytes) -> int:
    if len(header) < BLOB_HEADER_BYTES or header[:4] != BLOB_MAGIC:
        raise VaultIntegrityError("not an attachment file")
    version: int = struct.unpack(">I", header[4:8])[0]
    return version


def rewrap_blob_header(keyring: Keyring, blob_id: uuid.UUID, header: bytes, new_version: int) -> bytes:
    """A new 68-byte header for an attachment file whose data key is re-wrapped to ``new_version``
    (the layout and associated data of :mod:`storage.blobs`; the encrypted body is not touched)."""
    old_version = blob_header_version(header)
    aad = b"blob-kek|" + blob_id.bytes
    try:
        data_key = keyring.provider.unwrap(old_version, header[8:BLOB_HEADER_BYTES], aad, "aes")
    except (InvalidTag, ValueError, KeyError_) as exc:
        log.error(
            "attachment key failed to unwrap", extra={"blob_id": str(blob_id), "error": type(exc).__name__}
        )
        raise VaultIntegrityError(f"attachment {blob_id} failed authentication") from exc
    wrapped = keyring.provider.wrap(new_version, data_key, aad, "aes")
    if len(wrapped) != BLOB_HEADER_BYTES - 8:
        raise VaultIntegrityError("the key provider's wrapped keys do not fit the attachment header")
    return BLOB_MAGIC + struct.pack(">I", new_version) + wrapped


# --- blind indexes and pseudonyms ------------------------------------------------------------------


@dataclass(frozen=True)
class BlindIndex:
    """A keyed hash of one normalised identifier: ``kind``, the ``alg`` (per profile) and the hex MAC."""

    kind: str
    alg: str
    mac: str


def blind_index(keyring: Keyring, kind: str, value: str, *, profile: str | None = None) -> BlindIndex | None:
    """The blind index of an identifier under the keyring's profile, or None if not indexable."""
    canonical = canonical_kind(kind)
    normal = normalize(kind, value)
    if canonical is None or normal is None:
        return None
    profile = profile or keyring.profile
    mac = keyring.mac_for(profile, "blind-index/" + canonical, normal.encode())
    return BlindIndex(canonical, INDEX_ALGORITHMS[profile], mac)


def blind_index_variants(keyring: Keyring, kind: str, value: str) -> list[BlindIndex]:
    """The identifier's index under every profile: a lookup matches entries made before a switch."""
    found = [blind_index(keyring, kind, value, profile=p) for p in PROFILES]
    return [i for i in found if i is not None]


def blind_indexes(keyring: Keyring, identifiers: Iterable[tuple[str, str]]) -> list[BlindIndex]:
    """Indexes of ``(kind, value)`` pairs, deduplicated, strongest kind first; unindexable ones dropped."""
    seen: dict[tuple[str, str], BlindIndex] = {}
    for kind, value in identifiers:
        idx = blind_index(keyring, kind, value)
        if idx is not None:
            seen.setdefault((idx.kind, idx.mac), idx)
    return sorted(seen.values(), key=lambda i: INDEX_KINDS.index(i.kind))


def pseudonym(keyring: Keyring, indexes: Sequence[BlindIndex], report_id: uuid.UUID) -> str:
    """检举人XXXX: stable per informant (from the blind index of their strongest identifier), or per
    report when they gave none. Four hex digits: a label for people, not a key; two informants may
    share one, and repeat-reporter checks compare the full indexes instead."""
    if indexes:
        strongest = min(indexes, key=lambda i: INDEX_KINDS.index(i.kind))
        material = f"informant|{strongest.kind}|{strongest.alg}|{strongest.mac}".encode()
    else:
        material = report_id.bytes  # the per-report alias the pipeline always used
    return "检举人" + keyring.mac_for(keyring.profile, "alias", material)[:4].upper()


# --- redaction terms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedactionTerm:
    """A keyed hash of one identity value the informant gave (their name, phone, ID number, an
    address part), in its matching form, with its ``kind`` and ``length``: what follow-ups are
    redacted by without decrypting the vault. Keyed *per report* (the report id is hashed in), so
    equal values in two reports give unrelated MACs: unlike blind indexes, terms link nothing."""

    kind: str
    length: int
    alg: str
    mac: str


_ALG_PROFILES = {alg: profile for profile, alg in INDEX_ALGORITHMS.items()}


def redaction_term_hasher(keyring: Keyring, alg: str, report_id: uuid.UUID) -> Callable[[str, str], str]:
    """``(kind, value) -> MAC`` of one report's redaction terms under ``alg``'s profile."""
    digest = keyring.hasher(_ALG_PROFILES[alg], "redaction-term")
    prefix = report_id.bytes
    # 64 bits: a follow-up compares a few thousand candidates with a dozen terms at most, and a
    # false match would only hide a few more characters.
    return lambda kind, value: digest(prefix + kind.encode() + b"|" + value.encode())[:16]


def redaction_terms(
    keyring: Keyring, report_id: uuid.UUID, terms: Iterable[tuple[str, str]]
) -> list[RedactionTerm]:
    """The stored form of ``(kind, value)`` terms under the keyring's profile, deduplicated."""
    alg = INDEX_ALGORITHMS[keyring.profile]
    mac = redaction_term_hasher(keyring, alg, report_id)
    found = {(kind, value): RedactionTerm(kind, len(value), alg, mac(kind, value)) for kind, value in terms}
    return list(found.values())


@dataclass(frozen=True)
class ProofFile:
    """A file that proves the informant's identity (an ID-card photo …): sealed whole, never stored
    as an attachment."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class SealedSubmission:
    """What the accept transaction stores of a submission's identity: the vault entries, the blind
    indexes (strongest first) and the per-report redaction terms."""

    entries: list[SealedEntry]
    indexes: list[BlindIndex]
    redaction_terms: list[RedactionTerm]


def seal_submission(
    keyring: Keyring,
    report_id: uuid.UUID,
    *,
    identity: dict[str, Any] | None,
    handles: dict[str, str],
    proofs: Sequence[ProofFile],
    in_text: list[dict[str, str]],
    identifiers: Iterable[tuple[str, str]],
    given: Iterable[tuple[str, str]],
) -> SealedSubmission:
    """Seal everything of a submission that identifies the informant, in one call: the identity
    fields (None: anonymous), the channel handles, each proof file, what the redaction found in the
    text; and the blind indexes of ``identifiers`` and the redaction terms of the ``given`` values.
    Proof files make this CPU-bound (base64 and AEAD over whole files): call it off the loop then."""
    entries = []
    if identity is not None:
        entries.append(seal(keyring, report_id, "identity", identity))
    if handles:
        entries.append(seal(keyring, report_id, "handle", handles))
    for f in proofs:
        value = {
            "filename": f.filename,
            "content_type": f.content_type,
            "size": len(f.data),
            "data": base64.b64encode(f.data).decode(),
        }
        entries.append(seal(keyring, report_id, "identity_file", value))
    if in_text:
        entries.append(seal(keyring, report_id, "in_text", {"found": in_text}))
    return SealedSubmission(
        entries, blind_indexes(keyring, identifiers), redaction_terms(keyring, report_id, given)
    )


def pack_redaction_terms(terms: Sequence[RedactionTerm]) -> str | None:
    """``alg;kind:length:mac,…`` for the ``reports.redaction_terms`` column (None: no terms)."""
    if not terms:
        return None
    return terms[0].alg + ";" + ",".join(f"{t.kind}:{t.length}:{t.mac}" for t in terms)


def unpack_redaction_terms(packed: str | None) -> list[RedactionTerm]:
    if not packed:
        return []
    alg, _, body = packed.partition(";")
    out = []
    for item in body.split(","):
        kind, length, mac = item.split(":")
        out.append(RedactionTerm(kind, int(length), alg, mac))
    return out
