"""Shared fixtures: a fresh data directory per test, SQLite by default, real PostgreSQL when
``INTAKE_TEST_DATABASE_URL`` is set (CI sets it and ``INTAKE_REQUIRE_POSTGRES=1``, which turns a
missing server into a failure instead of a skip); ../shared's files by :func:`shared_path`."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

import channels
from intake import logs
from server.app import build_app, services_of
from server.config import Settings
from storage.database import alembic_config, upgrade

PG_URL = os.environ.get("INTAKE_TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("INTAKE_REQUIRE_POSTGRES") == "1"
# The project's shared folder beside the checkout (../shared: research notes, data). CI has it and
# sets INTAKE_REQUIRE_SHARED=1, which turns a missing folder or file into a failure, not a skip.
SHARED = Path(__file__).resolve().parents[2] / "shared"
REQUIRE_SHARED = os.environ.get("INTAKE_REQUIRE_SHARED") == "1"
# 长沙县 alone (receiving unit 430121, its 18 townships, 长沙市 and 湖南省 above), the demo before
# issue 16 made the embedded default the whole of 长沙市. The tests written for one county run on
# it; a test of the default passes INTAKE_JURISDICTION_FILE="" (tests/jurisdiction).
COUNTY_JURISDICTION = Path(__file__).resolve().parent / "fixtures" / "jurisdiction" / "changsha_county.json"


def shared_path(relative: str) -> Path:
    """``../shared/<relative>``, or skip the test when it is absent; under INTAKE_REQUIRE_SHARED=1
    an absent path fails instead."""
    path = SHARED / relative
    if path.exists():
        return path
    if REQUIRE_SHARED:
        pytest.fail(f"INTAKE_REQUIRE_SHARED=1 but ../shared/{relative} is missing ({SHARED})")
    pytest.skip(f"../shared/{relative} not present")


def _pg_admin_url() -> str:
    url = (
        PG_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        if PG_URL.startswith("postgresql://")
        else PG_URL
    )
    return url


async def _pg_available() -> bool:
    if not PG_URL:
        return False
    engine = create_async_engine(_pg_admin_url())
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


# A test's database starts as a copy of one migrated per test process (a file copy on SQLite,
# ``CREATE DATABASE … TEMPLATE`` on PostgreSQL) instead of running the whole migration chain again:
# 0.3 s on SQLite and 0.9 s on PostgreSQL per test otherwise. The server still runs its upgrade at
# start (a no-op on a current schema); tests of the chain itself ask for empty databases
# (``empty_db_url``).
_TEMPLATES: dict[str, str] = {}


def _sqlite_template() -> Path:
    """A SQLite file at the head of the migration chain, made once per test process."""
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="intake-template-"))
        path = folder / "intake.db"
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            cfg = alembic_config(f"sqlite:///{path}")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        engine.dispose()
        _TEMPLATES["sqlite"] = str(path)
    return Path(_TEMPLATES["sqlite"])


def migrated_sqlite_file(path: Path) -> None:
    """Put a migrated SQLite database at ``path`` (readable by its owner only, as the server's)."""
    if path.exists():
        return
    shutil.copyfile(_sqlite_template(), path)
    path.chmod(0o600)


async def _pg_template(admin: Any) -> str:
    """The name of a PostgreSQL database at the head of the chain, made once per test process."""
    if "postgresql" not in _TEMPLATES:
        name = f"intake_tpl_{uuid.uuid4().hex[:12]}"
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = create_async_engine(
            sa.engine.make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
        )
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        _TEMPLATES["postgresql"] = name
        atexit.register(_drop_pg_template, name)
    return _TEMPLATES["postgresql"]


def _drop_pg_template(name: str) -> None:
    async def drop() -> None:
        admin = create_async_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()

    with contextlib.suppress(Exception):
        asyncio.run(drop())


@contextlib.asynccontextmanager
async def fresh_pg_database(*, migrated: bool = True) -> AsyncIterator[str]:
    """A fresh PostgreSQL database (at the head of the migration chain unless ``migrated`` is
    false: then empty), dropped afterwards (skip or fail when there is no server)."""
    if not await _pg_available():
        if REQUIRE_PG:
            pytest.fail(
                "INTAKE_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at INTAKE_TEST_DATABASE_URL"
            )
        pytest.skip("PostgreSQL not configured (set INTAKE_TEST_DATABASE_URL)")
    admin = create_async_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"intake_t_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{await _pg_template(admin)}"' if migrated else ""
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"{template}'))
    base = sa.engine.make_url(_pg_admin_url())
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Run a test on both databases: SQLite in the test's data directory, and PostgreSQL; both at
    the head of the migration chain."""
    if request.param == "sqlite":
        (tmp_path / "data").mkdir(exist_ok=True)
        migrated_sqlite_file(tmp_path / "data" / "intake.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'intake.db'}"
    else:
        async with fresh_pg_database() as url:
            yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """As :func:`db_url`, but empty: for the tests of the migration chain itself."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        async with fresh_pg_database(migrated=False) as url:
            yield url


@pytest.fixture(params=["memory", "postgresql"])
async def shared_limits(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Where budgets are counted: None (this process's memory, the SQLite default) or the
    database's :class:`storage.shared_limits.SharedLimits` (PostgreSQL, several workers)."""
    if request.param == "memory":
        yield None
        return
    from storage import keys
    from storage.database import Database

    async with fresh_pg_database() as url:
        db = Database(url, keys.load_or_create(tmp_path / "keys"), tmp_path / "data")
        try:
            yield db.shared_limits
        finally:
            await db.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The test's data directory, holding a migrated SQLite database (the embedded default's file)."""
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    migrated_sqlite_file(d / "intake.db")
    return d


@pytest.fixture
def make_settings(data_dir: Path) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        base = {
            "INTAKE_DATA_DIR": str(data_dir),
            "INTAKE_LOG_LEVEL": "WARNING",
            "INTAKE_JURISDICTION_FILE": str(COUNTY_JURISDICTION),
            # Staff passwords hashed at the lowest allowed scrypt cost (the default is 32 times
            # the work: ~0.1 s a hash, and the suite hashes thousands).
            "INTAKE_STAFF_SCRYPT_LOG_N": "10",
            # Each statistics read exact (tests file a report and look at once); the keeping of
            # reads is tested on its own (tests/stats/test_recent_reads.py).
            "INTAKE_STATS_CACHE_SECONDS": "0",
        }
        base.update(env)
        return Settings.from_env(base)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:  # type: ignore[type-arg]
    """The whole server (every channel in the registry) on the embedded SQLite default."""
    app = build_app(settings, channels.REGISTRY, run_worker=False)
    return await aiohttp_client(app)


@pytest.fixture
def services() -> Callable[[TestClient], Any]:  # type: ignore[type-arg]
    return lambda c: services_of(c.app)


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests talk to loopback only; the platform APIs are local fakes."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def file_logs(data_dir: Path) -> Iterator[None]:
    """The server's JSON logs at DEBUG, in ``<data dir>/logs/intake.log``, for the scan to read."""
    logs.setup("DEBUG", data_dir)
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_intake", False):
            root.removeHandler(handler)
            handler.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The hostile corpus's cases per channel (``tests/test_hostile_corpus.py``), when it ran."""
    from tests.hostile import summary

    summary(terminalreporter)
