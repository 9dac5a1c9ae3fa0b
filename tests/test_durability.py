"""Nothing acknowledged is lost: ``kill -9`` the real server in the middle of a load, restart it on
the same data, and every receipt that came back still works; retries of the requests that were in
flight give exactly one case each; the audit chain verifies.

The server runs as a real process (``python -m server serve``), on SQLite in the test's data
directory and on PostgreSQL when ``INTAKE_TEST_DATABASE_URL`` is set (the ``db_url`` fixture).
The helpers at the top are also used by ``test_no_plaintext_identity.py`` and ``test_db_outage.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parent.parent
READY_SECONDS = 120  # a cold start imports jieba, SQLAlchemy and Alembic; CI machines are slow


# --- the server as a process -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a server: ours only (no INTAKE_* from the caller), SQLite unless a
    PostgreSQL URL is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env["INTAKE_DATA_DIR"] = str(data_dir)
    if database_url is not None and not database_url.startswith("sqlite"):
        env["INTAKE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def start_server(env: Mapping[str, str], log: Path) -> ServerProcess:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return ServerProcess(proc, port, log)


async def wait_ready(server: ServerProcess) -> None:
    """Poll /healthz until it answers 200; fail if the process exits or the bound runs out."""
    deadline = time.monotonic() + READY_SECONDS
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise AssertionError(f"server exited with {server.proc.returncode}:\n{server.output()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                timeout = aiohttp.ClientTimeout(total=5)
                async with session.get(server.base + "/healthz", timeout=timeout) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)  # the poll interval; readiness is decided by /healthz
    raise AssertionError(f"server not ready within {READY_SECONDS} s:\n{server.output()}")


def stop_server(server: ServerProcess) -> None:
    """Graceful stop (SIGINT, as Ctrl-C), SIGKILL if it does not go."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)
        try:
            server.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def running_server(env: Mapping[str, str], log: Path) -> AsyncIterator[ServerProcess]:
    server = start_server(env, log)
    try:
        await wait_ready(server)
        yield server
    finally:
        stop_server(server)


def intake_cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def sqlalchemy_url(db_url: str, data_dir: Path) -> str:
    return db_url if not db_url.startswith("sqlite") else f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"


async def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


async def rows(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(sa.text(sql)))
    finally:
        await engine.dispose()


# --- the load ----------------------------------------------------------------------------------

FACTS = (
    "反映黄兴镇国土所工作人员在土地征收补偿中虚报青苗面积、套取补偿款的问题。"
    "据了解，相关款项经由其亲属账户转出，涉及多户村民，金额较大，群众意见强烈。"
    "村务公开栏长期没有更新，集体经济收支情况无从知晓。"
    "恳请上级纪委调查核实，依规依纪处理，并对反映人的身份严格保密。"
)


def report_body(i: int) -> dict[str, Any]:
    """A realistic report (~300 characters) with the reporter's identity, so sealing runs."""
    return {
        "title": f"反映黄兴镇国土所问题（第{i}件）",
        "content": f"第{i}件：" + FACTS * 2,
        "category": "廉洁纪律",
        "accused": {"name": "某某某", "unit": "黄兴镇国土所", "position": "所长"},
        "location": {"division_code": "430121102", "text": "黄兴镇"},
        "reporter": {
            "name": "测试人",
            "id_number": f"43012119900101{i % 10000:04d}",
            "phone": f"139{i:08d}",
            "address": "长沙县黄兴镇",
        },
    }


@dataclass
class LoadOutcome:
    acknowledged: dict[str, tuple[str, str]]  # Idempotency-Key -> (case_no, query_code)
    in_flight_at_kill: set[str]
    unexpected: list[str]


async def load_then_kill(
    server: ServerProcess, *, total: int, clients: int, kill_after: int, key_prefix: str
) -> LoadOutcome:
    """``clients`` concurrent clients file ``total`` reports; after ``kill_after`` receipts the
    server gets SIGKILL while the other clients' requests are in flight."""
    out = LoadOutcome({}, set(), [])
    in_flight: set[str] = set()
    killed = False
    numbers = iter(range(total))
    timeout = aiohttp.ClientTimeout(total=120)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal killed
        for i in numbers:
            if killed:
                return
            key = f"{key_prefix}-{i}"
            in_flight.add(key)
            try:
                async with session.post(
                    server.base + "/api/v1/reports", json=report_body(i), headers={"Idempotency-Key": key}
                ) as resp:
                    if resp.status == 201:
                        doc = await resp.json()
                        out.acknowledged[key] = (doc["case_no"], doc["query_code"])
                    else:
                        out.unexpected.append(f"{key}: {resp.status} {await resp.text()}")
            except (TimeoutError, aiohttp.ClientError):
                if not killed:
                    raise
            finally:
                in_flight.discard(key)
            if not killed and len(out.acknowledged) >= kill_after:
                out.in_flight_at_kill = set(in_flight)
                server.proc.send_signal(signal.SIGKILL)
                killed = True

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    server.proc.wait(timeout=30)
    return out


# --- the test ----------------------------------------------------------------------------------


async def test_acknowledged_reports_survive_kill_9(db_url: str, data_dir: Path, tmp_path: Path) -> None:
    env = server_env(
        data_dir,
        db_url,
        INTAKE_LOG_LEVEL="WARNING",
        # Every receipt is checked from one address below; the per-client limit is not under test.
        INTAKE_STATUS_ATTEMPTS_PER_MINUTE="100000",
    )
    log = tmp_path / "server.log"
    first = start_server(env, log)
    try:
        await wait_ready(first)
        outcome = await load_then_kill(first, total=300, clients=8, kill_after=150, key_prefix="durable")
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
            first.proc.wait(timeout=30)
    assert first.proc.returncode == -signal.SIGKILL, first.output()
    assert not outcome.unexpected, outcome.unexpected
    assert len(outcome.acknowledged) >= 150
    assert outcome.in_flight_at_kill, "the kill should land while requests are in flight"
    case_numbers = [case_no for case_no, _ in outcome.acknowledged.values()]
    assert len(set(case_numbers)) == len(case_numbers)

    async with running_server(env, log) as server, aiohttp.ClientSession() as session:
        # Every acknowledged receipt still works, with its own case number.
        for key, (case_no, code) in sorted(outcome.acknowledged.items()):
            async with session.post(server.base + "/api/v1/status", json={"query_code": code}) as resp:
                assert resp.status == 200, (key, resp.status, await resp.text())
                assert (await resp.json())["case_no"] == case_no, key

        # A retry of each request that was in flight yields one case: filed now (201) if the kill
        # beat the commit, or the earlier one replayed (200) if only the answer was lost.
        number = {f"durable-{i}": i for i in range(300)}
        for key in sorted(outcome.in_flight_at_kill):
            body, headers = report_body(number[key]), {"Idempotency-Key": key}
            async with session.post(server.base + "/api/v1/reports", json=body, headers=headers) as resp:
                assert resp.status in (200, 201), (key, resp.status, await resp.text())
                first_try = await resp.json()
            async with session.post(server.base + "/api/v1/reports", json=body, headers=headers) as resp:
                assert resp.status == 200, (key, resp.status)
                again = await resp.json()
            assert again["case_no"] == first_try["case_no"]
            assert again["query_code"] == first_try["query_code"] is not None
            if key in outcome.acknowledged:  # answered just before the kill took effect
                assert first_try["case_no"] == outcome.acknowledged[key][0]
            async with session.post(
                server.base + "/api/v1/status", json={"query_code": first_try["query_code"]}
            ) as resp:
                assert resp.status == 200
                assert (await resp.json())["case_no"] == first_try["case_no"]

    url = sqlalchemy_url(db_url, data_dir)
    for key in outcome.in_flight_at_kill:
        n = await scalar(url, "SELECT count(*) FROM reports WHERE external_id = :key", key=key)
        assert n == 1, key
    # Nothing lost and nothing extra: one row per acknowledged or retried request.
    stored = await scalar(url, "SELECT count(*) FROM reports")
    assert stored == len(set(outcome.acknowledged) | outcome.in_flight_at_kill)

    verified = intake_cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    result = json.loads(verified.stdout.strip().splitlines()[-1])
    assert result["ok"] is True
    assert result["events"] >= stored


def _live_children(pid: int) -> dict[int, str]:
    """The running (not zombie) child processes of ``pid`` and their command lines (Linux /proc)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds child processes through Linux /proc")
async def test_the_triage_process_ends_with_a_killed_server(tmp_path: Path) -> None:
    """``kill -9`` leaves the server no chance to stop its triage child: the child notices on its
    own and exits, instead of living on with its models after every crash."""
    server = start_server(server_env(tmp_path / "data", None, INTAKE_LOG_LEVEL="WARNING"), tmp_path / "log")
    try:
        await wait_ready(server)
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.base + "/api/v1/reports", json=report_body(1)) as resp,
        ):
            assert resp.status == 201, await resp.text()
        deadline = time.monotonic() + READY_SECONDS
        children: dict[int, str] = {}
        while time.monotonic() < deadline:  # the triage job starts the child on first use
            children = _live_children(server.proc.pid)
            if any("multiprocessing.spawn" in cmd for cmd in children.values()):
                break
            await asyncio.sleep(0.1)
        assert any("multiprocessing.spawn" in cmd for cmd in children.values()), (children, server.output())
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_running(pid) for pid in children):  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # polling another process's state: there is no event to wait on
        assert not [cmd for pid, cmd in children.items() if _running(pid)]
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=30)
