"""Three workers on one PostgreSQL database behind a round-robin front (issue 21): the query-code
budget is one budget across them, every report is triaged exactly once whichever worker filed it,
and ``kill -9`` of one worker in the middle of a burst loses no acknowledged report (the clients
retry what was in flight, with the same Idempotency-Key, through the front).

The workers are real ``python -m server serve`` processes sharing the data directory (the key and
the attachments) and the database; the front is a small TCP proxy that gives each new connection
to the next worker in turn and skips a worker that refuses the connection (as nginx's
``proxy_next_upstream`` does). Each request is its own connection, so consecutive requests reach
different workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.test_durability import (
    REPO,
    ServerProcess,
    free_port,
    intake_cli,
    report_body,
    rows,
    scalar,
    server_env,
    start_server,
    stop_server,
    wait_ready,
)


class RoundRobin:
    """A TCP front: each new connection goes to the next worker in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.served: Counter[int] = Counter()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in self.ports:
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that worker is down: the next one
            self.served[port] += 1
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            return
        writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._pipes.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.asynccontextmanager
async def three_workers(
    pg_url: str, data_dir: Path, tmp_path: Path, **settings: str
) -> AsyncIterator[tuple[list[ServerProcess], RoundRobin, str]]:
    # A short lease: the jobs the killed worker held are taken over within seconds, not minutes.
    env = server_env(data_dir, pg_url, INTAKE_LOG_LEVEL="WARNING", INTAKE_JOB_LEASE_SECONDS="30", **settings)
    workers = [start_server(env, tmp_path / f"worker{i}.log") for i in range(3)]
    front = RoundRobin([w.port for w in workers])
    try:
        await asyncio.gather(*(wait_ready(w) for w in workers))
        yield workers, front, await front.start()
    finally:
        await front.close()
        for worker in workers:
            stop_server(worker)


def one_request_per_connection() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(force_close=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def test_the_query_code_budget_is_one_budget_across_workers(
    pg_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with (
        three_workers(pg_url, data_dir, tmp_path, INTAKE_STATUS_ATTEMPTS_PER_MINUTE="6") as (
            _workers,
            front,
            base,
        ),
        one_request_per_connection() as session,
    ):
        statuses = []
        for _ in range(18):
            async with session.post(
                base + "/api/v1/status", json={"query_code": "ABCD-EFGH-JKLM-NPQR"}
            ) as resp:
                statuses.append(resp.status)
        # Every worker answered a third of the lookups, and the budget of six was spent once in
        # all: counted per worker, all eighteen would have been let through.
        assert sorted(front.served.values()) == [6, 6, 6]
        assert Counter(statuses) == {404: 6, 429: 12}


async def file_through(base: str, keys: list[str], clients: int) -> dict[str, str]:
    """File one report per key through the front; a request that fails (its worker died) is sent
    again with the same key. Returns key → case number."""
    filed: dict[str, str] = {}
    pending = iter(keys)

    async def client(session: aiohttp.ClientSession) -> None:
        for key in pending:
            number = int(key.rsplit("-", 1)[1])
            for _attempt in range(10):
                try:
                    async with session.post(
                        base + "/api/v1/reports", json=report_body(number), headers={"Idempotency-Key": key}
                    ) as resp:
                        assert resp.status in (200, 201), (key, resp.status, await resp.text())
                        case_no = (await resp.json())["case_no"]
                        assert filed.setdefault(key, case_no) == case_no
                        break
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"{key} was never acknowledged")

    async with one_request_per_connection() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return filed


async def test_jobs_run_once_and_a_killed_worker_loses_no_acknowledged_report(
    pg_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with three_workers(pg_url, data_dir, tmp_path) as (workers, front, base):
        first = await file_through(base, [f"mw-{i}" for i in range(30)], clients=6)
        assert len(set(first.values())) == 30 and len(front.served) == 3

        # kill -9 the second worker while the clients are filing the next burst.
        victim = workers[1]
        burst = asyncio.create_task(file_through(base, [f"mw-{i}" for i in range(30, 150)], clients=8))
        while front.served[victim.port] < 25:  # noqa: ASYNC110 (a counter of the proxy, polled)
            await asyncio.sleep(0.01)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=30)
        second = await burst
        assert victim.proc.returncode == -signal.SIGKILL

        acknowledged = {**first, **second}
        assert len(acknowledged) == 150 and len(set(acknowledged.values())) == 150
        stored = await rows(pg_url, "SELECT external_id, case_no FROM reports")
        assert dict(stored) == acknowledged  # nothing lost, nothing filed twice

        # Every report is triaged exactly once, by whichever of the living workers claimed it. A job
        # the killed worker held is taken over when its claim lapses (30 s here); if the victim had
        # already committed that report's triage, the job is finished without triaging it again.
        unfinished = "SELECT count(*) FROM jobs WHERE kind = 'triage' AND status <> 'done'"
        for _ in range(1200):
            untriaged = await scalar(pg_url, "SELECT count(*) FROM reports WHERE triage IS NULL")
            if untriaged == 0 and await scalar(pg_url, unfinished) == 0:
                break
            await asyncio.sleep(0.1)
        triaged = await rows(
            pg_url, "SELECT report_id, count(*) FROM report_events WHERE kind = 'triaged' GROUP BY report_id"
        )
        assert len(triaged) == 150 and {n for _, n in triaged} == {1}
        assert await scalar(pg_url, unfinished) == 0


@pytest.mark.parametrize("workers", ["2"])
def test_serve_refuses_several_workers_on_sqlite(workers: str, data_dir: Path) -> None:
    done = intake_cli(server_env(data_dir, None), "serve", "--workers", workers)
    assert done.returncode == 2
    assert "PostgreSQL" in done.stderr and "Traceback" not in done.stderr


def _server_children(pid: int) -> set[int]:
    """The live ``serve`` processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(ppid) == pid and state != "Z" and b"serve" in cmdline:
            found.add(int(entry.name))
    return found


def start_supervisor(env: dict[str, str], tmp_path: Path) -> ServerProcess:
    """``intake serve --workers 2`` on a free port."""
    port = free_port()
    log = tmp_path / "supervisor.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return ServerProcess(proc, port, log)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds worker processes through Linux /proc")
async def test_serve_workers_starts_them_on_one_port_and_restarts_a_dead_one(
    pg_url: str, data_dir: Path, tmp_path: Path
) -> None:
    supervisor = start_supervisor(server_env(data_dir, pg_url, INTAKE_LOG_LEVEL="WARNING"), tmp_path)
    proc = supervisor.proc
    try:
        await wait_ready(supervisor)
        for _ in range(600):
            if len(_server_children(proc.pid)) == 2:
                break
            await asyncio.sleep(0.1)
        workers = _server_children(proc.pid)
        assert len(workers) == 2, supervisor.output()
        async with one_request_per_connection() as session:
            for _ in range(6):  # both workers bound the port: every connection is answered
                async with session.get(supervisor.base + "/healthz") as resp:
                    assert resp.status == 200
        dead = min(workers)
        os.kill(dead, signal.SIGKILL)
        for _ in range(600):
            now = _server_children(proc.pid)
            if len(now) == 2 and dead not in now:
                break
            await asyncio.sleep(0.1)
        assert len(now) == 2 and dead not in now, supervisor.output()
        assert (
            "第 1 个工作进程已退出" in supervisor.output() or "第 2 个工作进程已退出" in supervisor.output()
        )
        await wait_ready(supervisor)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, supervisor.output()
    assert not _server_children(proc.pid)
