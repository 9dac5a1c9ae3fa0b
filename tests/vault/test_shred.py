"""Crypto-shredding: the data keys of old entries are destroyed; the reports stay; opening fails
with a clear error; the blind indexes of those reports go too."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import cast

import pytest
import sqlalchemy as sa

from intake.vault_service import DeliveryHandles, VaultGone, VaultService
from storage import models
from storage.database import Database
from storage.db import Batch
from storage.vault import blind_index
from storage.vault_store import VaultStore, insert_blind_indexes_txn
from tests.vault.conftest import IDENTITY, FileReport, SteppingClock

V = cast(sa.Table, models.VaultEntry.__table__)
E = cast(sa.Table, models.ReportEvent.__table__)


async def test_shredding_destroys_old_keys_only(
    database: Database, service: VaultService, file_report: FileReport, clock: SteppingClock
) -> None:
    old = await file_report(identity=IDENTITY, handles={"phone": "13912345678"}, channel="sms")
    idx = blind_index(database.keyring, "phone", "13912345678")
    assert idx is not None

    async def index_txn(batch: Batch) -> dict[object, int]:
        return await insert_blind_indexes_txn(batch, [(old.report_id, clock.now(), [idx])])

    await database.writer.run(index_txn)
    clock.advance(days=400)
    new = await file_report(identity={"name": "新来的"})
    pending = await service.request(old.case_no, "identity", "alice", "核查")
    await service.approve(pending.id, "bob")

    result = await service.shred(timedelta(days=365), "cli:root")
    assert (result.entries, result.reports) == (2, 1)
    async with database.read_engine.connect() as conn:
        rows = {r.report_id: r for r in await conn.execute(sa.select(V).where(V.c.kind == "identity"))}
        events = (await conn.execute(sa.select(E.c.kind, E.c.payload).order_by(E.c.seq))).all()
    assert rows[old.report_id].wrapped_key is None and rows[old.report_id].shredded_at is not None
    assert rows[new.report_id].wrapped_key is not None
    assert await database.reports.get(old.case_no) is not None  # the report itself stays
    assert await VaultStore(database).indexes_of(old.report_id) == []
    shredded = [json.loads(p) for k, p in events if k == "vault_shredded"]
    assert shredded == [{"kinds": ["handle", "identity"], "created_before": "2026-12-28T02:00:00+00:00"}]

    # An approval granted before the shredding opens nothing, and says why.
    with pytest.raises(VaultGone) as raised:
        await service.open(pending.id, "alice")
    assert raised.value.code == "identity_shredded" and raised.value.status == 410
    with pytest.raises(VaultGone):
        await service.request(old.case_no, "identity", "alice", "核查")
    assert await DeliveryHandles(database, clock).handle_for_delivery(old.report_id) is None
    # Running again finds nothing more; the new report is untouched until its own time comes.
    assert (await service.shred(timedelta(days=365), "cli:root")).entries == 0
    ok, _, detail = await database.audit.verify()
    assert ok, detail
