"""A million reports (issue 21): the staff console, the duplicate index and the intake over N
stored reports on PostgreSQL (default 1,000,000), each against its target, in one run.

1. **Fill** (once; ``--keep NAME`` keeps the database for ``--reuse URL``): bench/stats_scale.py's
   ``fill`` (reports over the multi-level tree with case states, accept events, deadlines,
   transfers, ratings, blind indexes, then the statistics roll-up's backfill), with what this
   bench needs besides: a stored triage result for every report with a random MinHash signature
   of the right length (64 uint32, base64, as ``_child_triage`` stores it), the manual triage
   queue a few hundred reports of the last days long (as a working office keeps it), and search
   documents of 30 words drawn from a realistic vocabulary (the petition words first, then
   jieba's dictionary by frequency), so the searches below are for words reports have.
2. **Console over HTTP** (the real application, ``server.app.build_app`` on a loopback port,
   the console logged in through its form with a TOTP code), as a city supervisor (the city and
   everything below it) and as a county handler (its own unit): the queue, the case list, case
   pages (a different case of the member's scope each time), full-text search (several
   realistic queries in turn), the deadline board and the statistics page. p50/p99 of each,
   ``--repeat`` requests after two warm-up ones. Targets: p99 < 200 ms, search p99 < 300 ms.
3. **The duplicate index's start** (``TriageService._executor``: the index process spawned, the
   stored signatures read and loaded into it): wall time and the child's resident memory (from
   /proc), over the N stored signatures and over an empty database in the same run.
4. **Intake** through the pipeline (``pipeline.accept``, 32 at once, as bench/stats_scale.py's
   ``intake_cost``), on the filled database and on an empty one, rounds alternated: reports/s.
   Target: at N stored within 10 % of the empty database's rate.

    nice -n 10 .venv/bin/python bench/scale.py --postgres URL [--rows 1000000] [--keep NAME]
    nice -n 10 .venv/bin/python bench/scale.py --postgres URL --reuse URL_OF_THE_KEPT_DATABASE
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

import channels
from bench.import_speed import fresh_database, settings_for
from bench.stats_scale import fill, sample_submission
from intake.staff import totp_now
from server.app import build_app, open_services, services_of

PASSWORD = "correct horse battery"  # noqa: S105 (the bench's own staff accounts)
PAGE_TARGET, SEARCH_TARGET, INTAKE_TARGET = 0.200, 0.300, 0.10
# Words of petitions, most frequent first: the head of the search documents' vocabulary.
PETITION_WORDS = (  # noqa: SIM905 (a paragraph of words reads better)
    "问题 反映 举报 群众 村民 干部 情况 要求 领导 工作 处理 资金 书记 村委会 政府 补贴 低保 调查 "
    "村干部 土地 拆迁 补偿 工程 项目 扶贫 违规 贪污 挪用 截留 侵占 镇政府 支部 主任 街道 社区 房屋 "
    "征地 款项 发放 名额 亲属 优亲厚友 吃拿卡要 公款 吃喝 工资 拖欠 农民工 医保 社保 学校 医院 "
    "环境 污染 养殖 道路 修建 质量 验收 合同 承包 集体 账目 公开 选举 贿选 赌博 宴请 违建 审批"
).split()
SEARCHES = ("低保 名额", "拆迁 补偿", "扶贫资金 挪用", "村干部 贪污", "工程 质量", "优亲厚友")
# Stored with every filled report: as _child_triage stores a result (the signature 64 uint32,
# base64); a few hundred of the last three days wait for a person (the manual triage queue).
SIGNATURE = " || ".join(f"md5(g::text || '.{k}')" for k in range(16))
TRIAGE = f"""json_build_object(
  'sealed', false, 'confidence', round(random()::numeric, 2), 'evidence', json_build_array('优亲厚友'),
  'needs_review', ts > now() - interval '3 days' AND random() < 0.1,
  'signature', replace(encode(decode({SIGNATURE}, 'hex'), 'base64'), E'\\n', ''))"""
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def vocabulary(size: int = 5000) -> list[str]:
    """The petition words, then jieba's dictionary by frequency (words of two or more Han
    characters): the search documents' words, most frequent first."""
    import jieba

    words = list(PETITION_WORDS)
    seen = set(words)
    path = Path(jieba.__file__).parent / "dict.txt"
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word, freq, *_ = line.split(" ")
        if len(word) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in word) and word not in seen:
            entries.append((int(freq), word))
    entries.sort(reverse=True)
    words += [w for _, w in entries[: size - len(words)]]
    return words


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def page_line(name: str, samples: list[float], target: float, note: str = "") -> bool:
    p50, p99 = statistics.median(samples), quantile(samples, 0.99)
    ok = p99 < target
    print(
        f"  {name:<34} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
        f"target p99 < {target * 1000:.0f} ms: {verdict(ok)}{note}"
    )
    return ok


# --- the fill ---------------------------------------------------------------------------------------


async def make_database(admin: str, name: str) -> str:
    admin = admin.replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return str(sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False))


def data_dir_for(url: str) -> Path:
    """The data directory (the keyring) that goes with a kept database."""
    name = sa.engine.make_url(url).database
    path = Path(tempfile.gettempdir()) / f"intake-scale-{name}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


async def fill_database(url: str, rows: int) -> None:
    services = await open_services(settings_for(data_dir_for(url), url, per_hour="100000"))
    try:
        await fill(services, rows, vocabulary=vocabulary(), words=30, triage=TRIAGE)
        started = time.perf_counter()
        done = await services.db.search.catch_up(services.clock.now(), batch=1000, limit=10 * rows)
        print(
            f"  search documents of the other reports (the search's catch-up): {done:,} in "
            f"{time.perf_counter() - started:.0f} s"
        )
    finally:
        await services.triage.close()
        await services.db.close()


# --- the console over HTTP ----------------------------------------------------------------------------


class Console:
    """A logged-in console session against the running application."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base, self.session = base, session

    @classmethod
    async def login(cls, base: str, username: str, secret: str) -> Console:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.get(f"{base}/console/login") as resp:
            found = CSRF.search(await resp.text())
            assert found, "no anti-forgery field on the login page"
        form = {
            "csrf": found.group(1),
            "username": username,
            "password": PASSWORD,
            "totp": totp_now(secret, datetime.now(UTC)),
        }
        async with session.post(f"{base}/console/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
        return cls(base, session)

    async def get(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        async with self.session.get(self.base + path, headers={"Accept": "text/html"}) as resp:
            await resp.read()
            return resp.status, time.perf_counter() - started


async def timed_pages(
    console: Console, paths: Callable[[int], str], repeat: int
) -> tuple[list[float], dict[int, int]]:
    samples: list[float] = []
    statuses: dict[int, int] = {}
    for i in range(repeat + 2):
        status, took = await console.get(paths(i))
        statuses[status] = statuses.get(status, 0) + 1
        if i >= 2:
            samples.append(took)
    return samples, statuses


async def cases_in_sight(services: Any, units: tuple[str, ...], n: int) -> list[str]:
    """``n`` cases owned by the member's units, across the year (random)."""
    async with services.db.read_engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT r.case_no FROM reports r LEFT JOIN case_states cs ON cs.report_id = r.id "
                "WHERE coalesce(cs.owner_unit, r.receiving_unit) = ANY(:units) "
                "AND NOT coalesce(cs.sealed, false) "
                "ORDER BY random() LIMIT :n"
            ),
            {"units": list(units), "n": n},
        )
        return [r[0] for r in rows]


async def console_pages(url: str, repeat: int) -> bool:
    settings = settings_for(data_dir_for(url), url, per_hour="100000")
    # As `intake serve` runs it: start-up objects frozen out of the garbage collector.
    app = build_app(settings, channels.REGISTRY, run_worker=False, freeze_gc=True)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    services = services_of(app)
    # What the server's background refresh folds in every few seconds (this app runs no worker):
    # the reports an earlier run's intake and the search's catch-up left pending in the roll-up.
    started = time.perf_counter()
    folded = await services.db.stats.refresh(limit=10**9, batch=50_000)
    print(
        f"the roll-up's refresh first: {folded:,} pending reports folded in "
        f"{time.perf_counter() - started:.0f} s"
    )
    all_met = True
    try:
        async with services.db.read_engine.connect() as conn:
            city, county = (
                await conn.execute(
                    sa.text(
                        "SELECT (SELECT code FROM units WHERE level = 'city' ORDER BY code LIMIT 1), "
                        "(SELECT code FROM units WHERE level = 'county' ORDER BY code LIMIT 1)"
                    )
                )
            ).one()
        tag = secrets.token_hex(3)
        for label, unit, role in (
            ("city supervisor", city, "supervisor"),
            ("county handler", county, "handler"),
        ):
            member, secret = await services.staff.add(f"scale_{role}_{tag}", unit, role, PASSWORD)
            scope = services.staff.scope(member)
            console = await Console.login(base, member.username, secret)
            sample = await cases_in_sight(services, scope.units, repeat + 2)
            print(
                f"as a {label} ({services.staff.tree.name(unit)}, {len(scope.units)} units in scope, "
                f"{repeat} requests each after 2 warm-up ones):"
            )
            try:
                pages: list[tuple[str, Callable[[int], str], float]] = [
                    ("queue /console/queue", lambda i: "/console/queue", PAGE_TARGET),
                    ("cases /console/cases", lambda i: "/console/cases", PAGE_TARGET),
                    (
                        "case page /console/cases/{case_no}",
                        lambda i, s=sample: f"/console/cases/{s[i % len(s)]}",  # type: ignore[misc]
                        PAGE_TARGET,
                    ),
                    (
                        "search /console/search?q=…",
                        lambda i: f"/console/search?q={SEARCHES[i % len(SEARCHES)]}",
                        SEARCH_TARGET,
                    ),
                    ("deadlines /console/deadlines", lambda i: "/console/deadlines", PAGE_TARGET),
                    ("statistics /console/stats", lambda i: "/console/stats", PAGE_TARGET),
                ]
                for name, path, target in pages:
                    if "case_no" in name and not sample:
                        print(f"  {name:<34} no case in scope")
                        continue
                    samples, statuses = await timed_pages(console, path, repeat)
                    note = "" if set(statuses) == {200} else f"  (statuses {statuses})"
                    all_met &= page_line(name, samples, target, note)
                    if name.startswith("search"):
                        for q in SEARCHES:
                            each, _ = await timed_pages(console, lambda i, q=q: f"/console/search?q={q}", 5)
                            print(
                                f"      q={q:<14} p50 {statistics.median(each) * 1000:7.1f} ms "
                                f"max {max(each) * 1000:7.1f} ms"
                            )
            finally:
                await console.session.close()
    finally:
        await runner.cleanup()
    return all_met


# --- the duplicate index and the intake ------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def index_start(services: Any) -> tuple[int, float, float, float, float]:
    """(signatures stored, seconds to read them, seconds for the whole start, the child's RSS in
    MiB, the server's own RSS growth while reading them a chunk at a time in MiB): what
    ``TriageService._executor`` does when the first triage job comes."""
    before = rss_mib(os.getpid())
    started = time.perf_counter()
    n, held = 0, 0.0
    async for case_nos, _ in services.db.reports.triage_signatures():
        n += len(case_nos)
        held = max(held, rss_mib(os.getpid()) - before)
    read = time.perf_counter() - started
    started = time.perf_counter()
    pool = await services.triage._executor()
    took = time.perf_counter() - started
    pid = next(iter(pool._processes))
    return n, read, took, rss_mib(pid), held


async def intake_rates(empty: Any, full: Any, total: int) -> tuple[float, float]:
    """Reports/s through the pipeline, 32 at once, rounds alternated between the databases."""
    counter = 0

    async def one(services: Any) -> None:
        nonlocal counter
        counter += 1
        await services.pipeline.accept(sample_submission(counter))

    async def batch(services: Any, n: int) -> float:
        sem = asyncio.Semaphore(32)

        async def guarded() -> None:
            async with sem:
                await one(services)

        started = time.perf_counter()
        await asyncio.gather(*(guarded() for _ in range(n)))
        return n / (time.perf_counter() - started)

    rounds = 4
    per_round = max(1, total // rounds)
    for services in (empty, full):
        await batch(services, 200)  # warm-up
    rates: dict[int, list[float]] = {0: [], 1: []}
    for i in range(rounds * 2):
        which = i % 2 if i // 2 % 2 == 0 else 1 - i % 2  # ABBA: neither side always goes first
        rates[which].append(await batch((empty, full)[which], per_round))
    return statistics.median(rates[0]), statistics.median(rates[1])


async def index_and_intake(url: str, admin: str, intake: int) -> bool:
    async with fresh_database(admin) as empty_url:
        assert empty_url is not None
        empty = await open_services(settings_for(data_dir_for(empty_url), empty_url, per_hour="100000"))
        full = await open_services(settings_for(data_dir_for(url), url, per_hour="100000"))
        try:
            print("the duplicate index's start (TriageService._executor: spawn, read, load):")
            for label, services in (("empty database", empty), ("filled database", full)):
                n, read, took, rss, held = await index_start(services)
                print(
                    f"  {label:<16} {n:>9,} signatures: start {took:6.1f} s "
                    f"(reading them alone {read:5.1f} s, the server's RSS +{held:.0f} MiB while reading), "
                    f"the index process's RSS {rss:6.0f} MiB (no target)"
                )
            await empty.triage.close()
            await full.triage.close()
            e, f = await intake_rates(empty, full, intake)
            ok = f >= (1 - INTAKE_TARGET) * e
            print(
                f"intake through the pipeline (32 at once, {intake // 4} reports × 4 rounds each, "
                f"alternated): empty database {e:.0f} reports/s, filled {f:.0f} reports/s "
                f"({(f / e - 1) * 100:+.1f} %); target within 10 % of empty: {verdict(ok)}"
            )
            return ok
        finally:
            for services in (empty, full):
                await services.triage.close()
                await services.db.close()


async def run(url: str, admin: str, rows: int | None, repeat: int, intake: int) -> None:
    if rows is not None:
        print(f"filling {url.rsplit('/', 1)[-1]}:")
        await fill_database(url, rows)
    async with create_async_engine(url).connect() as conn:
        stored = (await conn.execute(sa.text("SELECT count(*) FROM reports"))).scalar()
    print(f"{stored:,} reports stored")
    met = await console_pages(url, repeat)
    met &= await index_and_intake(url, admin, intake)
    print("all targets met" if met else "some targets MISSED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--intake", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("INTAKE_TEST_DATABASE_URL"), help="admin URL")
    parser.add_argument("--reuse", help="the URL of a database an earlier run filled (--keep)")
    parser.add_argument("--keep", help="fill a new database of this name and keep it (for --reuse)")
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("needs --postgres URL (or INTAKE_TEST_DATABASE_URL): the empty database's server")
    admin = args.postgres.replace("postgresql://", "postgresql+asyncpg://", 1)

    async def go() -> None:
        if args.reuse:
            await run(args.reuse, admin, None, args.repeat, args.intake)
        elif args.keep:
            url = await make_database(admin, args.keep)
            await run(url, admin, args.rows, args.repeat, args.intake)
            print(f"kept: --reuse {url}")
        else:
            async with fresh_database(admin) as url:
                assert url is not None
                await run(url, admin, args.rows, args.repeat, args.intake)

    asyncio.run(go())


if __name__ == "__main__":
    main()
