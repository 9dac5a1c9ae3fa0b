"""Encrypted attachment files under ``<data dir>/blobs``.

Each file gets a fresh data key (AES-256-GCM), wrapped by the current key-encryption key; the
original file name and type are sealed inside with the bytes, bound to the attachment id. A file
is written to a temporary name, fsynced and renamed before the report's transaction commits, so a
receipt never points to a missing file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.keys import Keyring
from storage.records import StoredBlob
from storage.vault import VaultIntegrityError

MAGIC = b"XFB1"


@dataclass(frozen=True)
class BlobContent:
    filename: str
    content_type: str
    data: bytes


class BlobStore:
    def __init__(self, root: Path, keyring: Keyring) -> None:
        self._root = root
        self._keyring = keyring

    def _path(self, blob_id: uuid.UUID) -> Path:
        return self._root / blob_id.hex[:2] / f"{blob_id.hex}.bin"

    def put(self, filename: str, content_type: str, data: bytes) -> StoredBlob:
        blob_id = uuid.uuid4()
        header = json.dumps({"filename": filename, "content_type": content_type}, ensure_ascii=False).encode()
        plaintext = struct.pack(">I", len(header)) + header + data
        data_key = AESGCM.generate_key(bit_length=256)
        nonce, wrap_nonce = secrets.token_bytes(12), secrets.token_bytes(12)
        version = self._keyring.current_version
        wrapped = AESGCM(self._keyring.kek(version)).encrypt(
            wrap_nonce, data_key, b"blob-kek|" + blob_id.bytes
        )
        body = AESGCM(data_key).encrypt(nonce, plaintext, b"blob|" + blob_id.bytes)
        path = self._path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + struct.pack(">I", version) + wrap_nonce + wrapped + nonce + body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return StoredBlob(blob_id, content_type, len(data), str(path.relative_to(self._root)))

    def get(self, blob_id: uuid.UUID) -> BlobContent:
        raw = self._path(blob_id).read_bytes()
        try:
            if raw[:4] != MAGIC:
                raise ValueError("not a blob file")
            (version,) = struct.unpack(">I", raw[4:8])
            wrap_nonce, wrapped = raw[8:20], raw[20:68]
            nonce, body = raw[68:80], raw[80:]
            data_key = AESGCM(self._keyring.kek(version)).decrypt(
                wrap_nonce, wrapped, b"blob-kek|" + blob_id.bytes
            )
            plaintext = AESGCM(data_key).decrypt(nonce, body, b"blob|" + blob_id.bytes)
        except (InvalidTag, ValueError, struct.error) as exc:
            raise VaultIntegrityError(f"attachment {blob_id} failed authentication") from exc
        (hlen,) = struct.unpack(">I", plaintext[:4])
        header = json.loads(plaintext[4 : 4 + hlen])
        return BlobContent(header["filename"], header["content_type"], plaintext[4 + hlen :])

    def discard(self, blobs: list[StoredBlob]) -> None:
        """Remove files whose report never committed."""
        for blob in blobs:
            with contextlib.suppress(FileNotFoundError):
                self._path(blob.id).unlink()
