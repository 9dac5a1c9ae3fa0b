"""A migrated database with the demo jurisdiction's units, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from intake import jurisdiction
from storage import keys
from storage.database import Database
from storage.records import NewReport
from tests.conftest import COUNTY_JURISDICTION


@pytest.fixture
async def database(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(db_url, keys.load_or_create(tmp_path / "keys"), tmp_path / "data")
    await db.start()
    await db.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def new_report() -> Callable[..., NewReport]:
    def make(**overrides: Any) -> NewReport:
        at = overrides.pop("received_at", datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "channel": "app",
            "external_id": None,
            "request_fingerprint": None,
            "query_hash": uuid.uuid4().hex + uuid.uuid4().hex,
            "receipt_sealed": None,
            "receiving_unit": "430121",
            "handling_unit": None,
            "title": None,
            "content": "测试",
            "category": None,
            "accused_name": None,
            "accused_unit": None,
            "accused_position": None,
            "location_code": None,
            "location_text": None,
            "anonymous": True,
            "informant_alias": "检举人TEST",
            "received_at": at,
            "case_year": at.year,
        }
        values.update(overrides)
        return NewReport(**values)

    return make
