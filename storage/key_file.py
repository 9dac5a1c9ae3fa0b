"""The key file (``<data dir>/keys/master.key``) and ``INTAKE_MASTER_KEY``: their format, and
reading and writing them safely (created 0600 in a 0700 folder, rewritten atomically and fsynced,
one rotation at a time under a lock file). Format 1 holds the KEK versions; format 2 adds the
derivation roots (PRKs), so a retired first version leaves the purpose keys unchanged."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from storage.ciphers import PROFILES, extract_prk
from storage.errors import KeyError_

KEY_FILE_NAME = "master.key"


def create_key_file(path: Path) -> None:
    """A first key file with one fresh KEK (version 1), unless another process just wrote one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {"format": 1, "keys": {"1": base64.b64encode(secrets.token_bytes(32)).decode()}}
    # O_EXCL: two processes starting at once cannot both write a different key.
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
            fh.flush()
            os.fsync(fh.fileno())


def parse_env_keys(text: str) -> tuple[dict[int, bytes], dict[str, bytes] | None]:
    """``INTAKE_MASTER_KEY``: one base64 key (version 1), or ``1:<b64>,2:<b64>`` with optional
    ``prk-aes:<b64>,prk-gm:<b64>`` (the derivation roots, once version 1 is retired)."""
    text = text.strip()
    if ":" not in text:
        return {1: decode_key(text)}, None
    keks: dict[int, bytes] = {}
    prks: dict[str, bytes] = {}
    for part in text.split(","):
        label, _, value = part.strip().partition(":")
        if label.startswith("prk-") and label[4:] in PROFILES:
            prks[label[4:]] = decode_key(value)
        elif label.isdigit():
            keks[int(label)] = decode_key(value)
        else:
            raise KeyError_("INTAKE_MASTER_KEY: expected <version>:<base64> items")
    if not keks:
        raise KeyError_("INTAKE_MASTER_KEY holds no keys")
    if prks and set(prks) != set(PROFILES):
        raise KeyError_("INTAKE_MASTER_KEY: give both prk-aes and prk-gm, or neither")
    return keks, prks or None


def read_key_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        raise KeyError_(f"cannot read key file {path}: {type(exc).__name__}") from None
    return doc


def keys_of(doc: Mapping[str, Any], path: Path) -> dict[int, bytes]:
    try:
        keks = {int(v): decode_key(k) for v, k in doc["keys"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyError_(f"cannot read key file {path}: {type(exc).__name__}") from None
    if not keks:
        raise KeyError_(f"key file {path} holds no keys")
    return keks


def prks_of(doc: Mapping[str, Any], keks: Mapping[int, bytes]) -> dict[str, bytes]:
    stored = doc.get("prk")
    if isinstance(stored, dict) and set(stored) == set(PROFILES):
        return {p: decode_key(v) for p, v in stored.items()}
    # Format 1: the first version is the root; it is in the file, since nothing was retired yet.
    root = keks[min(keks)]
    return {p: extract_prk(p, root) for p in PROFILES}


def key_doc(keks: Mapping[int, bytes], prks: Mapping[str, bytes]) -> dict[str, Any]:
    return {
        "format": 2,
        "keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(keks.items())},
        "prk": {p: base64.b64encode(k).decode() for p, k in sorted(prks.items())},
    }


def write_key_doc(path: Path, doc: Mapping[str, Any]) -> None:
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
def file_lock(path: Path) -> Iterator[None]:
    """Two rotations at once would each add "version N+1": the second waits for the first."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def decode_key(text: str) -> bytes:
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
