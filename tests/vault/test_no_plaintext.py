"""After filing, rotating, revealing, notifying and shredding, no identity or handle is anywhere in
plaintext: not in any file of the data directory, not in any table, not in a PostgreSQL dump."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from intake.vault_service import DeliveryHandles, VaultService
from storage.database import Database
from storage.key_rotation import rotate
from storage.models import Base
from tests.scan import pg_dump
from tests.vault.conftest import IDENTITY, FileReport, SteppingClock

SECRETS = [*IDENTITY.values(), "203.0.113.77", "oSecretOpenId42", "13700001111"]


def _leaks(raw: bytes) -> list[str]:
    found = []
    for value in SECRETS:
        for encoding in ("utf-8", "utf-16-le"):
            if value.encode(encoding) in raw:
                found.append(value)
        if value.encode("unicode_escape") in raw and not value.isascii():
            found.append(value)  # JSON with \\u escapes
    return found


async def test_no_identity_in_plaintext_anywhere(
    db_url: str,
    database: Database,
    service: VaultService,
    file_report: FileReport,
    clock: SteppingClock,
    data_dir: Path,
) -> None:
    named = await file_report(
        identity=IDENTITY, handles={"ip": "203.0.113.77", "openid": "oSecretOpenId42"}, channel="wechat"
    )
    await file_report(handles={"ip": "203.0.113.77", "phone": "13700001111"}, channel="sms")
    database.blobs.put(
        "甄宝琮的身份证.jpg", "image/jpeg", b"\xff\xd8\xff" + IDENTITY["id_number"].encode() * 3
    )
    req = await service.request(named.case_no, "identity", "alice", "核查")
    await service.approve(req.id, "bob")
    assert (await service.open(req.id, "alice")).entries["identity"] == IDENTITY
    assert await DeliveryHandles(database, clock).handle_for_delivery(named.report_id) == (
        "wechat",
        "oSecretOpenId42",
    )
    await rotate(database, blob_root=data_dir / "blobs", actor="cli:root", now=clock.now())
    clock.advance(days=1)
    await file_report(identity={"name": "新的检举人"})
    await service.shred(timedelta(hours=1), "cli:root")

    # Every table, every column.
    async with database.read_engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                dump = repr(tuple(row)).encode() + b"".join(v for v in row if isinstance(v, bytes))
                assert not _leaks(dump), (table.name, _leaks(dump))
    await database.close()

    assert _leaking_files(data_dir) == []
    if db_url.startswith("postgresql"):
        dump = pg_dump(db_url)
        assert b"vault_entries" in dump
        assert not _leaks(dump)


def _leaking_files(data_dir: Path) -> list[tuple[str, list[str]]]:
    """Every file in the data directory: database, WAL, key file, attachments, logs."""
    return [
        (str(p), _leaks(p.read_bytes()))
        for p in data_dir.rglob("*")
        if p.is_file() and _leaks(p.read_bytes())
    ]
