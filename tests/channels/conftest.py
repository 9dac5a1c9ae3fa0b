"""The whole server with the platform channels against their local fakes, on both databases
(``p``, ``h``) or on SQLite only for behaviour that does not depend on the database (``sp``, ``sh``).
A test module may override one with a fixture of its own name (the contract test does)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from tests.fakes.server import Platforms, start_platforms
from tests.fakes.twilio import Hotline, start_hotline


def _sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"


@pytest.fixture
async def p(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> Platforms:
    return await start_platforms(aiohttp_client, aiohttp_server, make_settings, db_url)


@pytest.fixture
async def sp(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Path
) -> Platforms:
    return await start_platforms(aiohttp_client, aiohttp_server, make_settings, _sqlite_url(data_dir))


@pytest.fixture
async def h(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> Hotline:
    return await start_hotline(aiohttp_client, aiohttp_server, make_settings, db_url)


@pytest.fixture
async def sh(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Path
) -> Hotline:
    return await start_hotline(aiohttp_client, aiohttp_server, make_settings, _sqlite_url(data_dir))
