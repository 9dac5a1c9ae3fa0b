"""``intake vault …`` end to end on a data directory: custodians, a reveal, rotation with its
progress bar, retiring the old key, shredding (SQLite and PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.vault_commands import add_commands
from tests.vault.conftest import IDENTITY, SteppingClock, make_file_report, open_database


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _seed(settings: Settings, n: int) -> list[str]:
    async def seed() -> list[str]:
        db = await open_database(settings.database_url, settings.data_dir)
        try:
            clock = SteppingClock(datetime.now(UTC) - timedelta(days=1))
            file = make_file_report(db, clock)
            cases = [(await file(identity=IDENTITY, handles={"ip": "203.0.113.9"})).case_no for _ in range(n)]
            db.blobs.put("证据.txt", "text/plain", b"attachment bytes")
            return cases
        finally:
            await db.close()

    return asyncio.run(seed())


def _audit_ok(settings: Settings) -> bool:
    async def verify() -> bool:
        db = await open_database(settings.database_url, settings.data_dir)
        try:
            ok, _, _ = await db.audit.verify()
            return ok
        finally:
            await db.close()

    return asyncio.run(verify())


def test_vault_commands(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "cli-data"
    settings = Settings.from_env({"INTAKE_DATA_DIR": str(data), "INTAKE_DATABASE_URL": db_url})
    cases = _seed(settings, 3)
    parser = _parser()

    def run(*argv: str) -> tuple[int, Any, str]:
        args = parser.parse_args(["vault", *argv])
        code = args.func(args, settings)
        out, err = capsys.readouterr()
        return code, json.loads(out) if out.strip() else None, err

    assert run("custodian", "add", "alice")[0] == 0
    assert run("custodian", "add", "bob", "--actor", "cli:admin")[1] == {"custodian": "bob", "added": True}
    assert [c["name"] for c in run("custodian", "list")[1]["custodians"]] == ["alice", "bob"]

    code, req, _ = run("request", cases[1], "--actor", "alice", "--reason", "核查是否诬告")
    assert code == 0 and req["status"] == "pending"
    code, _, err = run("approve", req["id"], "--actor", "alice")
    assert code == 1 and "self_approval" in err
    assert run("approve", req["id"], "--actor", "bob")[1]["status"] == "approved"
    code, revealed, _ = run("open", req["id"], "--actor", "alice")
    assert code == 0 and revealed["entries"]["identity"] == IDENTITY and revealed["case_no"] == cases[1]
    assert run("open", req["id"], "--actor", "alice")[0] == 1

    code, rotated, err = run("rotate", "--batch-size", "2")
    assert code == 0
    assert (rotated["version"], rotated["new_key"], rotated["entries"], rotated["attachments"]) == (
        2,
        True,
        6,
        1,
    )
    assert "re-wrapping [" in err and "100%" in err
    status = run("status")[1]
    assert status["current_version"] == 2 and status["key_check"] == "ok"
    assert [(v["version"], v["entries"]) for v in status["versions"]] == [(1, 0), (2, 6)]

    code, retired, _ = run("rotate", "--retire-old")
    assert code == 0 and retired == {"retired": [1]}
    assert sorted(json.loads((data / "keys" / "master.key").read_text())["keys"]) == ["2"]

    code, shredded, _ = run("shred", "--older-than", "0")
    assert code == 0 and shredded == {"shredded_entries": 6, "reports": 3}
    code, req2, _ = run("request", cases[0], "--actor", "alice", "--reason", "再次核查")
    assert code == 1 and req2 is None
    assert len(run("requests")[1]["requests"]) == 1
    assert _audit_ok(settings)
