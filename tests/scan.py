"""For the tests that prove no identity or handle is stored in plaintext anywhere: a plain-SQL dump
of a PostgreSQL test database (the ``file_logs`` fixture in ``tests/conftest.py`` puts the server's
logs in the data directory for the same scans)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Base


def pg_dump_program() -> str:
    """pg_dump, from PATH or Debian's PostgreSQL 15 folder; a missing one fails the test (a scan
    that silently skips the database would prove nothing)."""
    for candidate in (shutil.which("pg_dump"), "/usr/lib/postgresql/15/bin/pg_dump"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("pg_dump is not installed (Debian package postgresql-client)")


def pg_dump(database_url: str) -> bytes:
    """A plain-SQL dump of the whole database (libpq URL: without the asyncpg driver name)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(
        [pg_dump_program(), "--format=plain", "--no-owner", "--dbname", url],
        capture_output=True,
        timeout=300,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout


async def pg_dump_async(database_url: str) -> bytes:
    return await asyncio.to_thread(pg_dump, database_url)


def leaks(raw: bytes, secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` appear in ``raw``: as UTF-8, UTF-16 (SQLite may store either) or, for
    Chinese text, as the ``\\uXXXX`` escapes of JSON."""
    found = []
    for value in secrets:
        forms = [value.encode("utf-8"), value.encode("utf-16-le")]
        if not value.isascii():
            forms.append(value.encode("unicode_escape"))
        if any(form in raw for form in forms):
            found.append(value)
    return found


def leaking_files(data_dir: Path, secrets: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Every file under the data directory (database, WAL, keys, attachments, logs) that holds one."""
    wanted = list(secrets)
    out = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        found = leaks(path.read_bytes(), wanted)
        if found:
            out.append((str(path), found))
    return out


async def leaking_rows(conn: AsyncConnection, secrets: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Every row of every table of the schema that holds one, read back through the database."""
    wanted = list(secrets)
    out = []
    for table in Base.metadata.sorted_tables:
        for row in await conn.execute(sa.select(table)):
            raw = repr(tuple(row)).encode() + b"".join(v for v in row if isinstance(v, bytes))
            found = leaks(raw, wanted)
            if found:
                out.append((table.name, found))
    return out
