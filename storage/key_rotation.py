"""Key rotation of the vault (``intake vault rotate``) and the retirement of old key versions.

Rotation, step by step (every step can be interrupted; running it again continues):

1. if every data key (vault entries and attachment files) is already wrapped under the current KEK
   version, the provider makes a new version (the key file is rewritten atomically);
2. vault entries not on the current version are re-wrapped in batches, one writer transaction per
   batch (unwrap under the old version, wrap under the new one, in memory; ciphertexts untouched);
3. attachment files not on the current version get a new header: the new header and the unchanged
   encrypted body go to a temporary file, fsynced and renamed over the old one;
4. a last pass catches entries sealed meanwhile by servers that had not yet seen the new version;
   then ``vault_keys.rotated_at`` is set and a ``vault_key_rotated`` audit event written.

Old versions stay in the key file until :func:`retire_old_keys` finds that nothing uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from storage.keys import KeyError_, ReadOnlyKeysError
from storage.vault import BLOB_HEADER_BYTES, VaultIntegrityError, blob_header_version, rewrap_blob_header
from storage.vault_keys import RotationResult, VaultStoreError
from storage.vault_store import VaultStore

if TYPE_CHECKING:
    from storage.database import Database
    from storage.keys import Keyring

log = logging.getLogger("storage.vault")

Progress = Callable[[int, int], None]  # (done, total), for the command line


def scan_blobs(blob_root: Path) -> Iterator[tuple[uuid.UUID, Path, int | None]]:
    """(blob id, path, KEK version or None when unreadable) of every attachment file."""
    if not blob_root.is_dir():
        return
    for path in sorted(blob_root.glob("*/*.bin")):
        try:
            blob_id = uuid.UUID(hex=path.stem)
        except ValueError:
            continue
        try:
            with path.open("rb") as fh:
                version: int | None = blob_header_version(fh.read(BLOB_HEADER_BYTES))
        except (OSError, VaultIntegrityError):
            version = None
        yield blob_id, path, version


def rewrap_blob_file(keyring: Keyring, path: Path, blob_id: uuid.UUID, version: int) -> bool:
    """Give one attachment file a header wrapped under ``version``: the new header and the
    unchanged encrypted body go to a private temporary file, fsynced, then renamed over the old
    one (readers see the old file or the new, never half of each). False if already there."""
    tmp = path.with_name(path.stem + ".rewrap")
    with path.open("rb") as src:
        header = src.read(BLOB_HEADER_BYTES)
        if blob_header_version(header) == version:
            return False
        new_header = rewrap_blob_header(keyring, blob_id, header, version)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as dst:
                dst.write(new_header)
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
    if not path.exists():  # discarded meanwhile (its report never committed): do not bring it back
        tmp.unlink()
        return False
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def _blob_pass(keyring: Keyring, blob_root: Path, version: int) -> tuple[int, list[uuid.UUID]]:
    done, failed = 0, []
    for blob_id, path, found in scan_blobs(blob_root):
        if found == version:
            continue
        try:
            done += rewrap_blob_file(keyring, path, blob_id, version)
        except (OSError, VaultIntegrityError, KeyError_):
            log.error("attachment could not be re-wrapped", extra={"blob_id": str(blob_id)})
            failed.append(blob_id)
    return done, failed


async def rotate(
    db: Database,
    *,
    blob_root: Path,
    actor: str,
    now: datetime,
    batch_size: int = 1000,
    progress: Progress | None = None,
    new_key: bool = True,
) -> RotationResult:
    """Re-wrap every data key under the current KEK version, first making a new version when
    everything already is (see the module docstring). Safe to interrupt and run again.
    ``new_key=False`` only finishes a pending rotation."""
    started = time.monotonic()
    store = VaultStore(db)
    provider = db.keyring.provider
    await store.sync_key_versions(actor, now)
    version = provider.current_version()
    pending = await store.count_not_on(version)
    stale_blobs = await asyncio.to_thread(lambda: sum(1 for _, _, v in scan_blobs(blob_root) if v != version))
    created = False
    if pending == 0 and stale_blobs == 0:
        if not new_key:
            return RotationResult(version, False, 0, 0, [], [], time.monotonic() - started)
        if not provider.writable:
            raise ReadOnlyKeysError(
                f"every data key is already under version {version}, and the keys come from "
                "INTAKE_MASTER_KEY: add a new version there first (see docs/vault.md)"
            )
        version = await asyncio.to_thread(provider.add_version)
        created = True
        await store.record_key_created(version, actor, now)
        pending = await store.count_not_on(version)
        stale_blobs = await asyncio.to_thread(lambda: sum(1 for _ in scan_blobs(blob_root)))
    total = pending + stale_blobs
    done = 0
    failed_entries: list[uuid.UUID] = []
    if progress:
        progress(0, total)
    # Passes until one finds nothing: the last catches entries sealed under the old version by
    # servers that had not noticed the new one yet (they re-read the key file within a second).
    for _ in range(3):
        after: uuid.UUID | None = None
        rewrapped_this_pass = 0
        while True:
            n, after, failed = await store.rewrap_batch(version, after=after, limit=batch_size)
            failed_entries.extend(f for f in failed if f not in failed_entries)
            done += n
            rewrapped_this_pass += n
            if progress and n:
                progress(min(done, total), total)
            if after is None:
                break
        if rewrapped_this_pass == 0:
            break
    entries_done = done
    blobs_done, failed_blobs = await asyncio.to_thread(_blob_pass, db.keyring, blob_root, version)
    done += blobs_done
    if progress:
        progress(total, total)
    result = RotationResult(
        version, created, entries_done, blobs_done, failed_entries, failed_blobs, time.monotonic() - started
    )
    await store.finish_rotation(result, actor, now)
    return result


async def retire_old_keys(db: Database, *, blob_root: Path, actor: str, now: datetime) -> list[int]:
    """Remove the KEK versions older than the current one from the provider, once no vault entry
    and no attachment file uses them. Returns the retired versions (empty: nothing to retire)."""
    provider = db.keyring.provider
    store = VaultStore(db)
    await store.sync_key_versions(actor, now)
    current = provider.current_version()
    older = [v for v in provider.versions() if v < current]
    if not older:
        return []
    in_use = {v: n for v, n in (await store.entry_versions()).items() if v in older}
    blob_use: dict[int, int] = {}
    for _, _, v in await asyncio.to_thread(lambda: list(scan_blobs(blob_root))):
        if v is not None and v in older:
            blob_use[v] = blob_use.get(v, 0) + 1
    if in_use or blob_use:
        detail = ", ".join(
            f"version {v}: {in_use.get(v, 0)} entries, {blob_use.get(v, 0)} attachments"
            for v in sorted(set(in_use) | set(blob_use))
        )
        raise VaultStoreError(f"old keys still in use ({detail}): run `intake vault rotate` again first")
    await asyncio.to_thread(provider.remove_versions, older)
    await store.mark_retired(older, actor, now)
    return older
