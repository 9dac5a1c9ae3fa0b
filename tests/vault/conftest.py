"""A migrated database with the demo units, a settable clock, and a helper that files reports with
sealed identities and handles, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake import jurisdiction
from intake.vault_service import VaultPolicy, VaultService
from storage import keys, vault
from storage.database import Database
from storage.records import NewReport
from tests.conftest import COUNTY_JURISDICTION

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

IDENTITY = {
    "name": "甄宝琮",
    "id_number": "43012119800101123X",
    "phone": "13912345678",
    "address": "长沙县星沙街道",
}


class SteppingClock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass(frozen=True)
class Filed:
    report_id: uuid.UUID
    case_no: str


FileReport = Callable[..., Awaitable[Filed]]


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


async def open_database(url: str, data_dir: Path, **key_options: Any) -> Database:
    db = Database(url, keys.load_or_create(data_dir, env={}, **key_options), data_dir)
    await db.start()
    await db.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
    return db


@pytest.fixture
async def database(db_url: str, data_dir: Path) -> AsyncIterator[Database]:
    db = await open_database(db_url, data_dir)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def file_report(database: Database, clock: SteppingClock) -> FileReport:
    return make_file_report(database, clock)


def make_file_report(database: Database, clock: SteppingClock) -> FileReport:
    """File reports with sealed identities and handles through the real accept path."""

    async def file(
        *,
        identity: dict[str, Any] | None = None,
        handles: dict[str, str] | None = None,
        channel: str = "app",
        db: Database | None = None,
        received_at: datetime | None = None,
    ) -> Filed:
        db = db or database
        report_id = uuid.uuid4()
        sealed = []
        if identity:
            sealed.append(vault.seal(db.keyring, report_id, "identity", identity))
        if handles:
            sealed.append(vault.seal(db.keyring, report_id, "handle", handles))
        at = received_at or clock.now()
        result = await db.reports.accept(
            NewReport(
                id=report_id,
                channel=channel,
                external_id=None,
                request_fingerprint=None,
                query_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                receipt_sealed=None,
                receiving_unit="430121",
                handling_unit=None,
                title=None,
                content="反映某镇干部违规收受礼金",
                category=None,
                accused_name="王某",
                accused_unit=None,
                accused_position=None,
                location_code=None,
                location_text=None,
                anonymous=identity is None,
                informant_alias="检举人TEST",
                received_at=at,
                case_year=at.year,
                sealed=sealed,
            )
        )
        return Filed(report_id, result.case_no)

    return file


@pytest.fixture
async def service(database: Database, clock: SteppingClock) -> VaultService:
    svc = VaultService(database, clock, VaultPolicy(approvals=1, window=timedelta(hours=24)))
    for name in ("alice", "bob", "carol"):
        await svc.add_custodian(name, "cli:root")
    return svc
