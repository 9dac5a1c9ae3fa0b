"""The storage facade: open the database, migrate it, and reach the named repositories."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.blobs import BlobStore
from storage.clue_store import ClueStore
from storage.conversations import ConversationStore
from storage.db import GroupCommitWriter
from storage.engines import make_engine, normalise_url
from storage.errors import OutageLog
from storage.export_store import ExportStore
from storage.feedback_store import FeedbackStore
from storage.keys import Keyring
from storage.reception_store import ReceptionStore
from storage.repositories import AuditRepository, JobRepository, ReportRepository, UnitRepository
from storage.search import SearchIndex
from storage.shared_limits import SharedLimits
from storage.staff_store import StaffStore
from storage.stats_measures import StatsMeasuresStore
from storage.stats_store import StatsStore
from storage.urging_store import UrgingStore
from storage.workflow_store import WorkflowStore

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 74_31_2026  # advisory lock id: two workers starting at once migrate one at a time


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url))
    return cfg


def create_private_sqlite_file(url: str) -> None:
    """Create a new SQLite database file readable by its owner only (0600).

    SQLite creates its files with the process umask, usually world-readable, and gives the ``-wal``
    and ``-shm`` files the mode of the database file: creating the empty file first covers all
    three. An existing file is left as it is; a missing folder is left for SQLite to report.
    """
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run Alembic to ``revision`` over an engine (used at start-up and by ``intake db upgrade``)."""
    create_private_sqlite_file(str(engine.url))

    def _upgrade(sync_conn: Any) -> None:
        if sync_conn.dialect.name == "postgresql":
            sync_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


class Database:
    """Engines, the group-commit writer, the blob store and the repositories of one database."""

    def __init__(self, url: str, keyring: Keyring, data_dir: Path) -> None:
        self.url = normalise_url(url)
        self.keyring = keyring
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        create_private_sqlite_file(self.url)
        # One outage log for all the engines of this database: one line per outage, not per engine.
        self.outage = OutageLog()
        self.write_engine = make_engine(self.url, writer=True, outage=self.outage)
        self.read_engine = (
            make_engine(self.url, writer=False, outage=self.outage)
            if self.dialect == "sqlite"
            else self.write_engine
        )
        self.writer = GroupCommitWriter(self.write_engine, outage=self.outage)
        self.blobs = BlobStore(data_dir / "blobs", keyring)
        self.reports = ReportRepository(self)
        self.units = UnitRepository(self)
        self.jobs = JobRepository(self)
        self.audit = AuditRepository(self)
        self.conversations = ConversationStore(self)
        self.workflow = WorkflowStore(self)
        self.staff = StaffStore(self)
        self.search = SearchIndex(self)
        self.stats = StatsStore(self)
        self.stats_measures = StatsMeasuresStore(self)
        self.reception = ReceptionStore(self)
        self.exports = ExportStore(self)
        self.feedback = FeedbackStore(self)
        self.clues = ClueStore(self)
        self.urging = UrgingStore(self)
        # Several processes may share a PostgreSQL database: their limits are counted here. One
        # process owns an SQLite file, and counts them in memory (None).
        self.shared_limits = SharedLimits(self) if self.dialect == "postgresql" else None

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await upgrade(self.write_engine)
        await self.writer.start()

    async def ping(self) -> None:
        """One round trip to the database (raises ``DatabaseUnavailable`` when it is out of reach)."""
        async with self.read_engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.writer.close()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
