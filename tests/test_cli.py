"""The operator command line: ``intake db upgrade``, ``reports list|show``, ``audit verify``.

Most calls run :func:`server.cli.main` in-process (on a worker thread: it runs its own event loop);
two run the installed ``intake`` script as a real process, to prove the entry point and that the
exit status reaches the shell.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from server.app import build_app
from server.cli import main
from server.config import Settings
from storage.db import make_engine

REPORTER = {"name": "甄宝琮", "phone": "13912345678", "id_number": "430121199001011237"}


def intake_process(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``intake`` script next to this interpreter (``python -m server`` when there is none)."""
    script = Path(sys.executable).with_name("intake")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "server"]
    env = {**os.environ, "INTAKE_DATA_DIR": str(data_dir), "INTAKE_LOG_LEVEL": "WARNING"}
    env.pop("INTAKE_DATABASE_URL", None)
    env.pop("INTAKE_MASTER_KEY", None)
    return subprocess.run(
        [*cmd, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class Cli:
    """``intake …`` in this process, against one data directory (and database)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._monkeypatch = monkeypatch

    def use(self, data_dir: Path, database_url: str | None = None) -> None:
        self._monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))
        self._monkeypatch.setenv("INTAKE_LOG_LEVEL", "WARNING")
        self._monkeypatch.delenv("INTAKE_MASTER_KEY", raising=False)
        if database_url:
            self._monkeypatch.setenv("INTAKE_DATABASE_URL", database_url)
        else:
            self._monkeypatch.delenv("INTAKE_DATABASE_URL", raising=False)

    async def __call__(self, *args: str) -> tuple[int, str]:
        self._capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        return code, self._capsys.readouterr().out


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


async def _file_two(aiohttp_client: Any, settings: Settings) -> list[str]:
    """Two reports through the pipeline (the app API), with the informant's identity."""
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    numbers = []
    for text in ("镇长张某某收受礼金。", "村会计李某挪用低保金。"):
        resp = await client.post(
            "/api/v1/reports",
            json={"content": text, "accused": {"name": "张某某", "position": "镇长"}, "reporter": REPORTER},
        )
        assert resp.status == 201, await resp.text()
        numbers.append((await resp.json())["case_no"])
    await client.close()
    return numbers


def test_db_upgrade_on_a_fresh_directory_as_a_process(tmp_path: Path) -> None:
    done = intake_process(tmp_path / "fresh", "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "upgraded" in done.stdout
    with sqlite3.connect(tmp_path / "fresh" / "intake.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"reports", "report_events", "vault_entries", "jobs", "alembic_version"} <= tables


async def test_db_upgrade_on_both_databases(cli: Cli, db_url: str, tmp_path: Path) -> None:
    cli.use(tmp_path / "data", db_url)
    for _ in range(2):  # the second run finds the schema at head and changes nothing
        code, out = await cli("db", "upgrade")
        assert code == 0 and "upgraded to head" in out
    engine = make_engine(db_url, writer=False)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {"reports", "report_events", "vault_entries", "jobs", "units"} <= tables
    code, out = await cli("audit", "verify")  # an empty chain is a valid chain
    assert code == 0 and json.loads(out) == {"ok": True, "events": 0, "detail": "ok"}


async def test_reports_list_and_show_never_show_identity(
    cli: Cli, aiohttp_client: Any, settings: Settings
) -> None:
    numbers = await _file_two(aiohttp_client, settings)
    cli.use(settings.data_dir)
    code, listed = await cli("reports", "list", "--json")
    assert code == 0
    doc = json.loads(listed)
    assert [r["case_no"] for r in doc["reports"]] == numbers[::-1]
    assert {r["channel"] for r in doc["reports"]} == {"app"}
    code, shown = await cli("reports", "show", numbers[0], "--json")
    assert code == 0
    report = json.loads(shown)
    assert report["case_no"] == numbers[0]
    assert report["content"] == "镇长张某某收受礼金。" and report["accused_name"] == "张某某"
    assert report["informant_alias"].startswith("检举人") and report["anonymous"] is False
    assert [e["kind"] for e in report["events"]][:1] == ["received"]
    _, text = await cli("reports", "show", numbers[0])
    assert "镇长张某某收受礼金。" in text and numbers[0] in text
    _, table = await cli("reports", "list")
    _, filtered = await cli("reports", "list", "--json", "--channel", "web")
    assert json.loads(filtered) == {"reports": []}
    for output in (listed, shown, text, table):
        for secret in REPORTER.values():
            assert secret not in output
    code, _ = await cli("reports", "show", "2026-430121-999999")
    assert code == 1


async def test_audit_verify_exit_codes(cli: Cli, aiohttp_client: Any, settings: Settings) -> None:
    await _file_two(aiohttp_client, settings)
    cli.use(settings.data_dir)
    code, out = await cli("audit", "verify")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["events"] >= 2 and doc["detail"] == "ok"
    with sqlite3.connect(settings.data_dir / "intake.db") as conn:
        conn.execute("UPDATE report_events SET actor = 'someone' WHERE seq = 1")
    code, out = await cli("audit", "verify")
    assert code == 1 and json.loads(out) == {"ok": False, "events": 0, "detail": "event 1 was altered"}
    # The same break seen by the installed script: the status reaches the shell.
    done = await asyncio.to_thread(intake_process, settings.data_dir, "audit", "verify")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["detail"] == "event 1 was altered"
