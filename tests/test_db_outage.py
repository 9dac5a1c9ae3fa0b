"""A PostgreSQL outage under load, against the real server (``python -m server serve``) on a
throwaway cluster of the test's own (``tests.pg_cluster``): 503 with ``Retry-After`` while the
database is down (never 500), ``/healthz`` saying so, the outage logged once rather than per
request and with no trace of a request, recovery without a restart, nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.pg_cluster import Cluster, throwaway_cluster
from tests.test_durability import ServerProcess, report_body, rows, running_server, server_env

OUTAGE_BOUND = 180  # seconds


@dataclass
class Answer:
    key: str
    phase: str  # "up", "stopping", "down", "starting", "back": where the database was at the answer
    status: int
    retry_after: str | None
    body: dict[str, Any]


class OutageLoad:
    """Clients filing reports without pause while the test moves the database through its phases;
    ``reached(phase, status, n)`` waits for ``n`` answers of a status in a phase, not for a time.
    Any answer but 201 or 503 (a 500), or no answer, stops the load and fails the wait."""

    def __init__(self, server: ServerProcess, clients: int) -> None:
        self.server = server
        self.clients = clients
        self.phase = "up"
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self._numbers = iter(range(10**6))
        self._done = False
        self._changed = asyncio.Event()

    async def reached(self, phase: str, status: int, n: int) -> list[Answer]:
        while True:
            found = [a for a in self.answers if a.phase == phase and a.status == status]
            if self.failures:
                raise AssertionError(self.failures[:5])
            if len(found) >= n:
                return found
            self._changed.clear()
            await self._changed.wait()

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.clients)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(self._client(session) for _ in range(self.clients)))

    def stop(self) -> None:
        self._done = True

    async def _client(self, session: aiohttp.ClientSession) -> None:
        for i in self._numbers:
            if self._done or self.failures:
                return
            key = f"outage-{i}"
            url, headers = self.server.base + "/api/v1/reports", {"Idempotency-Key": key}
            try:
                async with session.post(url, json=report_body(i), headers=headers) as resp:
                    body = await resp.json(content_type=None)
                    answer = Answer(key, self.phase, resp.status, resp.headers.get("Retry-After"), body)
                    self.answers.append(answer)
                    if resp.status not in (201, 503):
                        self.failures.append(f"{key} ({self.phase}): {resp.status} {body}")
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.failures.append(f"{key}: {type(exc).__name__}")
            self._changed.set()


async def _retry(server: ServerProcess, keys: list[str], clients: int = 4) -> dict[str, int]:
    """File each report again with its own key; the statuses by key."""
    statuses: dict[str, int] = {}
    pending = iter(keys)

    async def client(session: aiohttp.ClientSession) -> None:
        for key in pending:
            body = report_body(int(key.removeprefix("outage-")))
            headers = {"Idempotency-Key": key}
            async with session.post(server.base + "/api/v1/reports", json=body, headers=headers) as resp:
                statuses[key] = resp.status

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return statuses


async def _health(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(server.base + "/healthz") as resp:
        return resp.status, await resp.json()


async def _through_an_outage(server: ServerProcess, cluster: Cluster, load: OutageLoad) -> float:
    """Up, stopped under load, down, started again, back: returns the seconds from PostgreSQL
    accepting connections again to the server's next receipt."""
    await load.reached("up", 201, 40)
    load.phase = "stopping"
    await asyncio.to_thread(cluster.stop)  # the load goes on: requests in flight meet the crash
    load.phase = "down"
    await load.reached("down", 503, 40)
    assert await _health(server) == (503, {"status": "unavailable", "database": "down"})
    load.phase = "starting"
    await asyncio.to_thread(cluster.start)
    load.phase = "back"
    await load.reached("back", 201, 40)


@pytest.mark.postgres
async def test_a_postgresql_outage_answers_503_and_loses_nothing(data_dir: Path, tmp_path: Path) -> None:
    """PostgreSQL stops (``-m immediate``, as a crash) under a load of filings and comes back: the
    server answers 503 with ``Retry-After`` meanwhile, never 500; ``/healthz`` says the database
    is down; the log has a line for the outage, not one per request, and no trace of a request;
    the server files again by itself; every receipt it gave is in the database, and each refused
    request, retried with its key, gives one report."""
    with throwaway_cluster() as cluster:
        env = server_env(data_dir, cluster.url, INTAKE_LOG_LEVEL="INFO")
        log = tmp_path / "server.log"
        async with running_server(env, log) as server:
            load = OutageLoad(server, clients=4)
            running = asyncio.create_task(load.run())
            try:
                async with asyncio.timeout(OUTAGE_BOUND):  # against a hang only: each step waits on events
                    await _through_an_outage(server, cluster, load)
            finally:
                load.stop()
                await running
            assert not load.failures, load.failures
            assert (await _health(server))[0] == 200

            statuses = {a.status for a in load.answers}
            assert statuses == {201, 503}, statuses
            refused = [a for a in load.answers if a.status == 503]
            assert all(a.retry_after and int(a.retry_after) > 0 for a in refused)
            assert {a.body["error"]["code"] for a in refused} == {"service_unavailable"}
            assert "down" not in {a.phase for a in load.answers if a.status == 201}

            # A refused request, retried with its key: filed now (201), or found (200) when its
            # commit went through before the connection was cut.
            retried = await _retry(server, [a.key for a in refused])
            assert set(retried.values()) <= {200, 201}, retried

        stored = dict(await rows(cluster.url, "SELECT external_id, case_no FROM reports"))
    receipts = {a.key: a.body["case_no"] for a in load.answers if a.status == 201}
    assert {key: stored.get(key) for key in receipts} == receipts  # every receipt, its own case
    assert set(stored) == set(receipts) | {a.key for a in refused}  # nothing extra

    text = log.read_text(encoding="utf-8", errors="replace")
    text += (data_dir / "logs" / "intake.log").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    outage = [r for r in records if r["msg"] in ("database unavailable", "database still unavailable")]
    assert 1 <= len(outage) <= 6, outage  # stderr and the file: one line each per interval
    assert any(r["msg"] == "database available again" for r in records)
    assert not [r for r in records if r["level"] in ("error", "critical")], text[-3000:]
    assert not [r for r in records if r["logger"] == "intake.jobs"]  # the worker waited quietly
    for needle in ("Traceback", "[SQL", "parameters", "测试人", "43012119900101", "长沙县黄兴镇"):
        assert needle not in text, needle
