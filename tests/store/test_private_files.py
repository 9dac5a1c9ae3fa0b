"""What storage writes to disk is readable by its owner only, whatever the process umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake import jurisdiction
from storage import keys
from storage.database import Database
from tests.conftest import COUNTY_JURISDICTION


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files world-readable unless created otherwise
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
async def test_sqlite_files_keys_and_blobs_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    keyring = keys.load_or_create(data)
    db = Database(f"sqlite+aiosqlite:///{data / 'intake.db'}", keyring, data)
    await db.start()
    try:
        await db.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
        stored = db.blobs.put("证据.txt", "text/plain", b"evidence")
        files = {p.name: _mode(p) for p in data.rglob("*") if p.is_file()}
    finally:
        await db.close()
    assert {"intake.db", "intake.db-wal", "intake.db-shm", keys.KEY_FILE_NAME} <= set(files)
    assert Path(stored.blob_path).name in files
    assert {name: mode for name, mode in files.items() if mode & 0o077} == {}
