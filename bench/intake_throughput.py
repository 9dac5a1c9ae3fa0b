"""Intake throughput: the real server against the database's own per-row commit rate.

For each database (SQLite always; PostgreSQL when ``INTAKE_BENCH_DATABASE_URL`` or
``INTAKE_TEST_DATABASE_URL`` is set, or ``--database`` asks for it):

1. start ``python -m server serve`` as a subprocess on a loopback port with a fresh
   ``INTAKE_DATA_DIR`` (and, for PostgreSQL, a fresh database dropped afterwards), default settings
   otherwise: log level INFO, every durability setting as shipped;
2. from *this* process (so the load generator never shares the server's event loop) run
   ``--concurrency`` keep-alive clients that ``POST /api/v1/reports`` a warm-up and then
   ``--requests`` reports, each with a ~300-character Chinese body, the accused's name, unit and
   position, the reporter's identity (so sealing runs) and a unique ``Idempotency-Key``; only 201s
   with a case number count, latency is measured per request from send to the full response. The
   clients are a minimal HTTP/1.1 client on asyncio streams (``--client raw``, ~0.07 ms of CPU a
   request) or aiohttp's (``--client aiohttp``, ~0.13 ms): on two cores, what the load generator
   spends is taken from the server. The CPU of both sides is printed;
3. stop the server and check that the ``reports`` table holds exactly as many rows as 201s came back;
4. the baseline: bare SQLAlchemy (async, the same driver) inserting the same rows one
   transaction per row (``async with engine.begin(): insert``, in a loop: what a naive handler
   does) into a table shaped like ``reports`` in the same database, with the same durability
   (SQLite WAL + ``synchronous=FULL`` as ``storage.db`` sets; PostgreSQL defaults).

5. the floor: ``bench/echo_server.py`` — aiohttp's own JSON echo with the server's settings (no
   access log), answering the same bodies from the same client at the same concurrency with a
   201 and a case number: the server CPU a request costs before any intake work.

Output: one block per database and a ratio line per database (``ratio[sqlite]=…``), the echo's
block, ``cpu_ratio[<db>]=<server CPU per report ÷ echo CPU per request>`` per database and
``cpu_ratio=`` (the highest), then, last, exactly ``ratio=<intake reports/s ÷ baseline rows/s>``
with two decimals — when more than one database ran, the *lowest* of the per-database ratios
(the conservative figure).
The run is bounded: a fixed number of requests, a wall-clock limit (``--max-seconds``), loopback
only, and the server is always stopped. Exit status 1 when a count check failed.

    .venv/bin/python bench/intake_throughput.py --requests 5000 --concurrency 32 --database sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from storage import models  # noqa: E402  (the path above makes the script runnable from anywhere)

# --- realistic synthetic reports -------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "建国志强海军秀英丽华伟明晓东国庆德胜红梅春生永刚桂兰玉珍小平文斌卫东金凤家豪子涵"
TOWNS = [
    "黄兴镇",
    "榔梨街道",
    "星沙街道",
    "春华镇",
    "金井镇",
    "果园镇",
    "北山镇",
    "高桥镇",
    "路口镇",
    "开慧镇",
]
UNITS = ["镇人民政府", "镇党委", "国土所", "财政所", "村民委员会", "社区居委会", "农业综合服务中心", "派出所"]
POSITIONS = ["副镇长", "党委委员", "所长", "村党支部书记", "村委会主任", "会计", "站长", "副所长"]
SENTENCES = [
    "{town}{unit}{position}{accused}在{year}年土地征收补偿工作中，虚报被征收户数和青苗面积，套取补偿款。",
    "据我了解，{accused}利用职务便利，将集体资金借给亲属经营的公司使用，至今未归还，村民意见很大。",
    "{accused}在审批危房改造补助时，向申请人索要好处费，每户两千元到五千元不等，不给钱就拖着不办。",
    "去年冬天村里修路的工程，{accused}没有经过村民代表大会就直接交给他的亲戚承包，工程质量很差。",
    "多名村民反映低保名额分配不公开，{accused}把名额给了自己的亲属和关系户，真正困难的家庭没有享受到。",
    "{accused}经常在工作日中午饮酒，还多次用公车接送家人，单位其他同志敢怒不敢言。",
    "我们曾经向镇里口头反映过，但一直没有回音，希望上级纪委能够调查核实，给群众一个交代。",
    "相关的收据复印件和转账记录我保存着，如果需要可以提供，但希望对我的身份严格保密，以免遭到打击报复。",
    "{year}年{month}月，{accused}以办理宅基地审批为由，收取多户村民费用，没有开具任何正规票据。",
    "村务公开栏已经一年多没有更新，集体经济收入和支出情况群众无从知晓，账目明显有问题。",
]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))


def make_report(rng: random.Random, i: int) -> dict[str, Any]:
    """One API body: ~300 characters of content, accused fields and a reporter's identity."""
    accused, town = _name(rng), rng.choice(TOWNS)
    unit, position = rng.choice(UNITS), rng.choice(POSITIONS)
    fill = {
        "town": town,
        "unit": unit,
        "position": position,
        "accused": accused,
        "year": rng.choice((2024, 2025, 2026)),
        "month": rng.randint(1, 12),
    }
    parts = [SENTENCES[0].format(**fill)]
    others = SENTENCES[1:]
    rng.shuffle(others)
    for sentence in others:
        if sum(map(len, parts)) >= 290:
            break
        parts.append(sentence.format(**fill))
    return {
        "title": f"反映{town}{position}{accused}的问题（{i}）",
        "content": "".join(parts),
        "category": rng.choice(["廉洁纪律", "群众纪律", "工作纪律", "生活纪律"]),
        "accused": {"name": accused, "unit": town + unit, "position": position},
        "location": {"division_code": "430121102", "text": town},
        "reporter": {
            "name": _name(rng),
            "id_number": f"430121{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            f"{rng.randint(0, 9999):04d}",
            "phone": f"139{rng.randint(0, 99_999_999):08d}",
            "address": f"长沙县{town}{rng.randint(1, 30)}组{rng.randint(1, 200)}号",
        },
    }


# --- the server under test -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def wait_ready(server: Server, deadline: float) -> None:
    """Poll /healthz until it answers 200, the process dies, or the deadline passes."""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"server exited with {server.proc.returncode}; see {server.log}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(server.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server not ready in time; see {server.log}")


SERVER_SETTINGS: dict[str, str] = {}  # --set KEY=VALUE: settings the server gets on top of the defaults


def spawn_server(data_dir: Path, log_path: Path, database_url: str | None, prefix: list[str]) -> Server:
    """``python -m server serve`` on a free loopback port, with only our INTAKE_* settings."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update({"INTAKE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    if database_url:
        env["INTAKE_DATABASE_URL"] = database_url
    env.update(SERVER_SETTINGS)
    cmd = [*prefix, sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    return Server(proc, port, log_path)


@contextlib.asynccontextmanager
async def running_server(
    data_dir: Path, log_path: Path, database_url: str | None, prefix: list[str], deadline: float
) -> AsyncIterator[Server]:
    server = spawn_server(data_dir, log_path, database_url, prefix)
    try:
        await wait_ready(server, deadline)
        yield server
    finally:
        stop(server.proc)


def log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # aiohttp shuts down gracefully on SIGINT
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- load ------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    acknowledged: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def count_error(self, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1


async def load(
    base: str, bodies: list[bytes], concurrency: int, deadline: float, key_prefix: str, client: str = "raw"
) -> LoadResult:
    """POST every body once, ``concurrency`` at a time; record 201s and per-request latency."""
    if client == "aiohttp":
        return await load_aiohttp(base, bodies, concurrency, deadline, key_prefix)
    return await load_raw(base, bodies, concurrency, deadline, key_prefix)


async def load_aiohttp(
    base: str, bodies: list[bytes], concurrency: int, deadline: float, key_prefix: str
) -> LoadResult:
    """The load through aiohttp's client: a full HTTP client, about as heavy per request as the
    server's own request handling, so on two cores it takes CPU the server would otherwise have."""
    result = LoadResult()
    next_index = iter(range(len(bodies)))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    url = base + "/api/v1/reports"

    async def client(session: aiohttp.ClientSession) -> None:
        for i in next_index:
            if time.monotonic() > deadline:
                result.count_error("deadline")
                return
            headers = {"Content-Type": "application/json", "Idempotency-Key": f"{key_prefix}-{i}"}
            started = time.perf_counter()
            try:
                async with session.post(url, data=bodies[i], headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.count_error(type(exc).__name__)
                continue
            if status == 201:
                result.acknowledged += 1
                result.latencies.append(time.perf_counter() - started)
            else:
                result.count_error(str(status))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


def raw_request(host: str, port: int, body: bytes, key: str) -> bytes:
    """One complete HTTP/1.1 request, built before the clock starts."""
    head = (
        f"POST /api/v1/reports HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response (``Content-Length`` framing, as the server answers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    if status == 201 and b'"case_no"' not in body:
        raise ValueError("a 201 without a case number")
    return status, body


async def load_raw(
    base: str, bodies: list[bytes], concurrency: int, deadline: float, key_prefix: str
) -> LoadResult:
    """The same load from a minimal keep-alive HTTP/1.1 client on asyncio streams: requests are
    built in advance, a response is read by its ``Content-Length`` and checked for its status and
    case number. Its CPU per request is a fraction of aiohttp's, so on a two-core machine the
    server is measured rather than the load generator (what wrk would do, without a C tool)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    requests = [raw_request(host, int(port), body, f"{key_prefix}-{i}") for i, body in enumerate(bodies)]
    result = LoadResult()
    next_index = iter(range(len(bodies)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in next_index:
                if time.monotonic() > deadline:
                    result.count_error("deadline")
                    return
                started = time.perf_counter()
                try:
                    writer.write(requests[i])
                    status, _ = await asyncio.wait_for(read_response(reader), 30)
                except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                    result.count_error(type(exc).__name__)
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                if status == 201:
                    result.acknowledged += 1
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.count_error(str(status))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def writer_stats(base: str) -> tuple[int, int, int]:
    """(commits, operations) of the server's group-commit writer and the SQL statements it has
    sent, from /metrics."""
    async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as resp:
        text = await resp.text()
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("intake_writer_commits", "intake_writer_operations", "intake_sql_statements"):
            found[name] = int(float(value))
    return (
        found.get("intake_writer_commits", 0),
        found.get("intake_writer_operations", 0),
        found.get("intake_sql_statements", 0),
    )


class StallProbe:
    """Measures how late a 5 ms sleep wakes up in a thread of this process while the load runs:
    on a shared or overcommitted host the whole machine pauses now and then, and those pauses
    land in the server's p99 as well. Reported beside the latencies so they can be told apart."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-probe", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            time.sleep(0.005)
            self.lateness.append(time.perf_counter() - started - 0.005)

    def __enter__(self) -> StallProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        over = sum(1 for x in self.lateness if x > 0.050)
        worst = max(self.lateness, default=0.0) * 1000
        p99 = percentile(self.lateness, 0.99) * 1000
        return (
            f"host: a 5 ms sleep woke up late by p99 {p99:.1f} ms, max {worst:.0f} ms, {over} times > 50 ms"
        )


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of a process and its threads (Linux ``/proc``); zeros elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the baseline: bare SQLAlchemy, one transaction per row ----------------------------------


def baseline_table(metadata: sa.MetaData) -> sa.Table:
    """A table with the columns, uniques and indexes of ``reports`` (no foreign keys)."""
    reports = cast(sa.Table, models.Report.__table__)
    columns = [
        sa.Column(
            c.name,
            c.type,
            primary_key=c.primary_key,
            nullable=c.nullable,
            unique=c.unique,
            index=c.index or bool(c.foreign_keys),  # the foreign-key columns are indexed in reports
        )
        for c in reports.columns
    ]
    return sa.Table(
        "bench_baseline_reports", metadata, *columns, sa.UniqueConstraint("channel", "external_id")
    )


def baseline_rows(bodies: list[dict[str, Any]], key_prefix: str) -> Iterator[dict[str, Any]]:
    now = datetime.now(UTC)
    for i, doc in enumerate(bodies):
        yield {
            "id": uuid.uuid4(),
            "case_no": f"{now.year}-430121-{i + 1:06d}",
            "query_hash": secrets.token_hex(32),
            "channel": "app",
            "external_id": f"{key_prefix}-{i}",
            "request_fingerprint": secrets.token_hex(32),
            "receipt_sealed": secrets.token_bytes(44),
            "title": doc["title"],
            "content": doc["content"],
            "category": doc["category"],
            "accused_name": doc["accused"]["name"],
            "accused_unit": doc["accused"]["unit"],
            "accused_position": doc["accused"]["position"],
            "location_code": doc["location"]["division_code"],
            "location_text": doc["location"]["text"],
            "anonymous": False,
            "informant_alias": "检举人" + secrets.token_hex(2).upper(),
            "receiving_unit": "430121",
            "handling_unit": None,
            "status": "received",
            "received_at": now,
            "updated_at": now,
        }


def bare_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # what storage.db sets: a commit is on disk
            cur.close()

    return engine


async def run_baseline(url: str, bodies: list[dict[str, Any]], deadline: float) -> tuple[int, float]:
    """Insert-and-commit one row per transaction in a loop. Returns (rows, seconds)."""
    engine = bare_engine(url)
    metadata = sa.MetaData()
    table = baseline_table(metadata)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: table.drop(c, checkfirst=True))
            await conn.run_sync(metadata.create_all)
        rows = list(baseline_rows(bodies, "baseline"))
        insert = sa.insert(table)
        n = 0
        started = time.perf_counter()
        for row in rows:
            async with engine.begin() as conn:
                await conn.execute(insert, row)
            n += 1
            if time.monotonic() > deadline:
                break
        seconds = time.perf_counter() - started
        async with engine.begin() as conn:
            stored = (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            await conn.run_sync(lambda c: table.drop(c))
        if stored != n:
            raise RuntimeError(f"baseline wrote {n} rows but the table holds {stored}")
        return n, seconds
    finally:
        await engine.dispose()


async def count_reports(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            n: int = (await conn.execute(sa.text("SELECT count(*) FROM reports"))).scalar_one()
            return n
    finally:
        await engine.dispose()


# --- one database ----------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    baseline_rps: float
    ok: bool
    cpu_ms: float = 0.0  # the server's CPU per report

    def cpu_ratio(self, echo_ms: float) -> float:
        return self.cpu_ms / echo_ms if echo_ms else 0.0

    @property
    def ratio(self) -> float:
        return self.rps / self.baseline_rps if self.baseline_rps else 0.0


@contextlib.asynccontextmanager
async def fresh_pg_database(admin_url: str) -> AsyncIterator[str]:
    admin = create_async_engine(asyncpg_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"intake_bench_{uuid.uuid4().hex[:10]}"
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield (
            sa.engine.make_url(asyncpg_url(admin_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with contextlib.suppress(Exception):
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def asyncpg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


async def bench_database(
    name: str, args: argparse.Namespace, docs: list[dict[str, Any]], pg_admin: str | None
) -> Outcome:
    deadline = time.monotonic() + args.max_seconds
    warm_docs, docs = docs[: args.warmup], docs[args.warmup :]
    warm = [json.dumps(d, ensure_ascii=False).encode() for d in warm_docs]
    bodies = [json.dumps(d, ensure_ascii=False).encode() for d in docs]
    prefix = shlex.split(args.server_prefix) if args.server_prefix else []
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        log_path = Path(tmp) / "server.log"
        async with contextlib.AsyncExitStack() as stack:
            if name == "postgresql":
                assert pg_admin is not None
                db_url = await stack.enter_async_context(fresh_pg_database(pg_admin))
            else:
                db_url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
            run_id = uuid.uuid4().hex[:8]
            async with running_server(
                data_dir, log_path, db_url if name == "postgresql" else None, prefix, deadline
            ) as server:
                warm_result = await load(
                    server.base, warm, args.concurrency, deadline, f"warm-{run_id}", args.client
                )
                before = await writer_stats(server.base)
                cpu_before = cpu_seconds(server.proc.pid)
                client_before = time.process_time()
                with StallProbe() as probe:
                    result = await load(
                        server.base, bodies, args.concurrency, deadline, f"bench-{run_id}", args.client
                    )
                client_cpu = time.process_time() - client_before
                cpu_after = cpu_seconds(server.proc.pid)
                server_user, server_sys = (a - b for a, b in zip(cpu_after, cpu_before, strict=True))
                after = await writer_stats(server.base)
            acknowledged = warm_result.acknowledged + result.acknowledged
            stored = await count_reports(db_url)
            # The baseline has a time budget of its own, so a slow load phase cannot starve it.
            base_rows, base_seconds = await run_baseline(db_url, docs, time.monotonic() + args.max_seconds)
            if args.keep_log:
                print(log_tail(log_path), file=sys.stderr)

    rps = result.acknowledged / result.seconds if result.seconds else 0.0
    baseline_rps = base_rows / base_seconds if base_seconds else 0.0
    errors = {
        k: warm_result.errors.get(k, 0) + result.errors.get(k, 0)
        for k in {*warm_result.errors, *result.errors}
    }
    ok = stored == acknowledged and not errors and result.acknowledged == len(bodies)
    outcome = Outcome(
        name,
        rps,
        percentile(result.latencies, 0.50) * 1000,
        percentile(result.latencies, 0.99) * 1000,
        baseline_rps,
        ok,
        (server_user + server_sys) * 1000 / max(1, result.acknowledged),
    )
    print(
        f"[{name}] intake: {result.acknowledged} reports acknowledged (201) in {result.seconds:.2f} s "
        f"at concurrency {args.concurrency}, after {warm_result.acknowledged} warm-up"
    )
    print(f"[{name}] intake: {rps:.0f} reports/s, p50 {outcome.p50_ms:.1f} ms, p99 {outcome.p99_ms:.1f} ms")
    commits, operations = after[0] - before[0], after[1] - before[1]
    statements = after[2] - before[2]
    print(
        f"[{name}] SQL: {statements / max(1, result.acknowledged):.1f} statements per report "
        "(everything the server sent meanwhile: filing, the triage jobs, the roll-up refresher, /metrics)"
    )
    print(
        f"[{name}] writer: {commits} commits for {operations} operations "
        f"({operations / max(1, commits):.1f} per commit); server CPU "
        f"{(server_user + server_sys) * 1000 / max(1, result.acknowledged):.2f} ms per report "
        f"({server_user * 1000 / max(1, result.acknowledged):.2f} user, "
        f"{server_sys * 1000 / max(1, result.acknowledged):.2f} system); load generator "
        f"({args.client}) CPU {client_cpu * 1000 / max(1, len(bodies)):.2f} ms per request"
    )
    print(f"[{name}] {probe.summary()}")
    print(
        f"[{name}] rows in reports: {stored}, acknowledged: {acknowledged} "
        f"({'match' if stored == acknowledged else 'MISMATCH'}); errors: {errors or 'none'}"
    )
    print(
        f"[{name}] baseline: bare SQLAlchemy async, insert + commit per row in a loop: "
        f"{base_rows} rows in {base_seconds:.2f} s = {baseline_rps:.0f} rows/s"
    )
    print(f"ratio[{name}]={outcome.ratio:.2f}")
    sys.stdout.flush()
    return outcome


# --- the echo floor --------------------------------------------------------------------------


@dataclass
class Echo:
    cpu_ms: float  # the echo server's CPU per request
    rps: float
    p99_ms: float
    ok: bool


def spawn_echo(log_path: Path) -> Server:
    port = free_port()
    cmd = [sys.executable, str(REPO / "bench" / "echo_server.py"), "--port", str(port)]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
    return Server(proc, port, log_path)


async def bench_echo(args: argparse.Namespace, docs: list[dict[str, Any]]) -> Echo:
    """The same bodies, client and concurrency against ``bench/echo_server.py`` (aiohttp parsing
    the JSON and answering 201, with the intake server's settings): the framework's own cost."""
    deadline = time.monotonic() + args.max_seconds
    warm_docs, docs = docs[: args.warmup], docs[args.warmup :]
    warm = [json.dumps(d, ensure_ascii=False).encode() for d in warm_docs]
    bodies = [json.dumps(d, ensure_ascii=False).encode() for d in docs]
    with tempfile.TemporaryDirectory(prefix="intake-bench-echo-") as tmp:
        server = spawn_echo(Path(tmp) / "echo.log")
        proc = server.proc
        try:
            await wait_ready(server, deadline)
            await load(server.base, warm, args.concurrency, deadline, "echo-warm", args.client)
            before = cpu_seconds(proc.pid)
            result = await load(server.base, bodies, args.concurrency, deadline, "echo", args.client)
            after = cpu_seconds(proc.pid)
        finally:
            stop(proc)
    cpu = sum(a - b for a, b in zip(after, before, strict=True))
    echo = Echo(
        cpu * 1000 / max(1, result.acknowledged),
        result.acknowledged / result.seconds if result.seconds else 0.0,
        percentile(result.latencies, 0.99) * 1000,
        result.acknowledged == len(bodies) and not result.errors,
    )
    print(
        f"[echo] aiohttp JSON echo (bench/echo_server.py): {result.acknowledged} requests, "
        f"{echo.rps:.0f} requests/s, p99 {echo.p99_ms:.1f} ms, server CPU {echo.cpu_ms:.3f} ms per request"
    )
    return echo


async def main_async(args: argparse.Namespace) -> int:
    pg_admin = os.environ.get("INTAKE_BENCH_DATABASE_URL") or os.environ.get("INTAKE_TEST_DATABASE_URL")
    if args.database == "all":
        names = ["sqlite", "postgresql"] if pg_admin else ["sqlite"]
    else:
        names = [args.database]
    if "postgresql" in names and not pg_admin:
        print("set INTAKE_BENCH_DATABASE_URL (or INTAKE_TEST_DATABASE_URL) for PostgreSQL", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    docs = [make_report(rng, i) for i in range(args.warmup + args.requests)]
    chars = sum(len(d["content"]) for d in docs) / len(docs)
    print(
        f"{args.requests} requests (+{args.warmup} warm-up), concurrency {args.concurrency}, "
        f"content {chars:.0f} characters on average, databases: {', '.join(names)}"
    )
    outcomes = [await bench_database(name, args, docs, pg_admin) for name in names]
    echo = await bench_echo(args, docs)
    for o in outcomes:
        print(f"cpu_ratio[{o.name}]={o.cpu_ratio(echo.cpu_ms):.2f}")
    worst = min(outcomes, key=lambda o: o.ratio)
    costliest = max(outcomes, key=lambda o: o.cpu_ratio(echo.cpu_ms))
    if len(outcomes) > 1:
        print(
            f"overall ratio = the lowest per-database ratio ({worst.name}); "
            f"cpu_ratio = the highest ({costliest.name})"
        )
    print(f"cpu_ratio={costliest.cpu_ratio(echo.cpu_ms):.2f}")
    print(f"ratio={worst.ratio:.2f}")
    return 0 if all(o.ok for o in outcomes) and echo.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=5000, help="measured requests (default 5000)")
    p.add_argument("--warmup", type=int, default=500, help="requests before measuring (default 500)")
    p.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument(
        "--database",
        choices=["all", "sqlite", "postgresql"],
        default="all",
        help="all = SQLite, plus PostgreSQL when its URL is set (default)",
    )
    p.add_argument(
        "--max-seconds", type=float, default=300, help="wall-clock limit of each phase (load, baseline)"
    )
    p.add_argument("--seed", type=int, default=20261122)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="INTAKE_KEY=VALUE",
        help="a server setting on top of the defaults (repeatable), e.g. INTAKE_TRIAGE_PROCESSES=1",
    )
    p.add_argument(
        "--server-prefix",
        default="",
        help="command to wrap the server in, e.g. 'py-spy record -o prof.svg --' for profiling",
    )
    p.add_argument(
        "--client",
        choices=["raw", "aiohttp"],
        default="raw",
        help="load generator: a minimal keep-alive HTTP/1.1 client (default) or aiohttp's client",
    )
    p.add_argument("--keep-log", action="store_true", help="print the tail of the server's log")
    return p


def main() -> int:
    args = build_parser().parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        raise SystemExit("--requests and --concurrency must be positive")
    for setting in args.set:
        key, sep, value = setting.partition("=")
        if not sep or not key.startswith("INTAKE_"):
            raise SystemExit(f"--set takes INTAKE_KEY=VALUE, not {setting!r}")
        SERVER_SETTINGS[key] = value
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
