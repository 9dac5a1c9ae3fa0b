"""Alembic environment: one migration chain for SQLite and PostgreSQL.

Used two ways: programmatically (``storage.database.upgrade`` passes a live connection in
``config.attributes``), or from the command line with ``alembic.ini``, where the URL comes from
``INTAKE_DATABASE_URL`` or the default SQLite file under ``INTAKE_DATA_DIR``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import context

from storage.db import default_sqlite_url, make_engine, normalise_url
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    env = os.environ.get("INTAKE_DATABASE_URL")
    if env:
        return normalise_url(env)
    data_dir = Path(os.environ.get("INTAKE_DATA_DIR", "var"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return default_sqlite_url(data_dir)


def do_run_migrations(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copy-and-move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(_url(), writer=True)
    async with engine.connect() as conn:
        await conn.run_sync(do_run_migrations)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (conn := config.attributes.get("connection")) is not None:
    do_run_migrations(conn)
else:
    asyncio.run(run_async_migrations())
