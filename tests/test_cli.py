"""The operator command line, run as a real process against a data directory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import channels
from intake.app import build_app
from intake.config import Settings


def intake(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTAKE_DATA_DIR": str(data_dir), "INTAKE_LOG_LEVEL": "WARNING"}
    env.pop("INTAKE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "intake", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _file_two(aiohttp_client: Any, settings: Settings) -> list[str]:
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    numbers = []
    for text in ("镇长张某某收受礼金。", "村会计李某挪用低保金。"):
        resp = await client.post(
            "/api/v1/reports",
            json={
                "content": text,
                "accused": {"name": "张某某", "position": "镇长"},
                "reporter": {"name": "甄宝琮", "phone": "13912345678", "id_number": "430121199001011237"},
            },
        )
        numbers.append((await resp.json())["case_no"])
    await client.close()
    return numbers


async def test_db_upgrade_on_a_fresh_directory(tmp_path: Path) -> None:
    done = intake(tmp_path / "fresh", "db", "upgrade")
    assert done.returncode == 0, done.stderr
    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "fresh" / "intake.db").execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"reports", "report_events", "vault_entries", "jobs", "alembic_version"} <= tables


async def test_reports_list_and_show_never_show_identity(aiohttp_client: Any, settings: Settings) -> None:
    numbers = await _file_two(aiohttp_client, settings)
    listed = intake(settings.data_dir, "reports", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert [r["case_no"] for r in doc["reports"]] == numbers[::-1]
    shown = intake(settings.data_dir, "reports", "show", numbers[0], "--json")
    report = json.loads(shown.stdout)
    assert report["content"] == "镇长张某某收受礼金。" and report["accused_name"] == "张某某"
    assert report["informant_alias"].startswith("检举人")
    assert [e["kind"] for e in report["events"]] == ["received"]
    text = intake(settings.data_dir, "reports", "show", numbers[0])
    assert "镇长张某某收受礼金。" in text.stdout
    for output in (
        listed.stdout,
        shown.stdout,
        text.stdout,
        intake(settings.data_dir, "reports", "list").stdout,
    ):
        for secret in ("甄宝琮", "13912345678", "430121199001011237"):
            assert secret not in output
    missing = intake(settings.data_dir, "reports", "show", "2026-430121-999999")
    assert missing.returncode == 1


async def test_audit_verify_exit_codes(aiohttp_client: Any, settings: Settings) -> None:
    await _file_two(aiohttp_client, settings)
    good = intake(settings.data_dir, "audit", "verify")
    assert good.returncode == 0 and json.loads(good.stdout) == {"ok": True, "events": 2, "detail": "ok"}
    with sqlite3.connect(settings.data_dir / "intake.db") as conn:
        conn.execute("UPDATE report_events SET actor = 'someone' WHERE seq = 1")
    bad = intake(settings.data_dir, "audit", "verify")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["detail"] == "event 1 was altered"
