"""Statistics at scale on PostgreSQL (issue 18): the table and the alerts over N stored reports
(default 1,000,000) read from the roll-up (``stats_counts``, migration 0023), each against a plain
``SELECT count(*) … GROUP BY`` over the same rows in the same run, and what keeping the roll-up
costs the intake.

1. **Intake cost.** On the fresh database, ``--intake`` reports (default 2,000) filed through
   the pipeline (``pipeline.accept``, 32 at once, as the server does) in rounds with the roll-up's
   triggers enabled and disabled in turn: reports/s each way.
2. **Fill.** N reports made in SQL (``generate_series``, fixed seed) over the 365 days up to
   today, stored in the order of their receipt as an intake stores them (their case states,
   documents and blind indexes too): channels, categories, scope, level, priority and status
   skewed as an office's are; the receiving unit among the jurisdiction's non-village units
   (skewed to the city and counties);
   a place among its divisions; 70 % anonymous; an accused for 80 % (names from a skewed pool of
   30,000, so thousands are named three times in 90 days); a case state for 45 % (a third of them
   transferred to another unit, 0.2 % sealed and sent up); a search document with five keywords
   for 95 % (a skewed vocabulary of 5,000 words); blind indexes for the real-name ones. The
   triggers are off while filling; the roll-up is then made by the migration's backfill
   statement, timed.
3. **Queries** (warm: two rounds first), as a city supervisor (1,831 units in scope; the
   province above is the tree's root) unless said: by channel over 30 days; by category and
   month over a year; by place over a quarter as a county supervisor; the alerts for a day
   and for a week (spikes, hot words, accused, repeat informants). Each is printed with its
   p50/p99 and, measured in the same rounds, a plain ``SELECT count(*) … GROUP BY`` over the
   same rows (the reports table, its received_at index, no scope) and the scoped ``GROUP BY``
   the store falls back to (what it did before the roll-up).

    .venv/bin/python bench/stats_scale.py [--rows 1000000] [--repeat 30] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bench.import_speed import fresh_database, settings_for
from intake.clock import CHINA
from intake.domain import Accused, Reporter, Submission
from intake.staff import StaffMember
from intake.stats import StatsService
from intake.stats_measures import MeasuresService, make_period
from server.app import open_services
from storage.stats_store import StatsFilter

CATEGORIES = [
    "低保",
    "工程建设",
    "征地拆迁",
    "作风问题",
    "扶贫",
    "教育",
    "医疗",
    "土地",
    "环保",
    "社保",
    "村务",
    "其他",
]
CHANNELS = ["web", "app", "wechat", "weibo", "phone", "sms", "telegram", "letter", "visit", "video"]
STATUSES = ["received", "accepted", "assigned", "transferred", "replied", "closed"]
TRIGGERS = [
    *(
        f"stats_{t}_{e}"
        for t in (
            "reports",
            "case_states",
            "search_documents",
            "vault_blind_indexes",
            "case_transfers",
            "case_deadlines",
            "case_feedback",
        )
        for e in ("insert", "update", "delete")
    ),
    "stats_report_events_accept",
]


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms, p99 {p99 * 1000:7.1f} ms"


async def triggers(conn: Any, on: bool) -> None:
    for name in TRIGGERS:
        table = name.split("_", 1)[1].rsplit("_", 1)[0]
        await conn.execute(sa.text(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {name}"))


def sample_submission(counter: int) -> Submission:
    """The ``counter``-th report of an intake round: channels and categories in turn, a third
    real-name with a phone (so sealing and the blind indexes run), the rest anonymous."""
    return Submission(
        channel=CHANNELS[counter % 10],
        content=f"反映某村干部在低保评定中优亲厚友，第{counter}件，请调查处理。" * 3,
        category=CATEGORIES[counter % 12],
        accused=Accused(f"干部{counter % 500}", "某镇人民政府", "干部"),
        reporter=Reporter("李四", None, f"139{counter:08d}", None) if counter % 3 == 0 else Reporter(),
        anonymous=counter % 3 != 0,
    )


async def intake_cost(services: Any, total: int) -> None:
    """Reports/s through the pipeline with the roll-up's triggers on and off, rounds alternated."""
    rounds = 4
    per_round = max(1, total // rounds)
    rates: dict[bool, list[float]] = {True: [], False: []}
    counter = 0

    async def one() -> None:
        nonlocal counter
        counter += 1
        await services.pipeline.accept(sample_submission(counter))

    async def batch(n: int) -> float:
        started = time.perf_counter()
        sem = asyncio.Semaphore(32)

        async def guarded() -> None:
            async with sem:
                await one()

        await asyncio.gather(*(guarded() for _ in range(n)))
        return n / (time.perf_counter() - started)

    await batch(200)  # warm-up
    await services.db.stats.refresh(limit=10**9)
    folding: list[float] = []
    for i in range(rounds * 2):
        on = i % 2 == 0
        async with services.db.write_engine.begin() as conn:
            await triggers(conn, on)
        rates[on].append(await batch(per_round))
        if on:  # what the background refresh then spends on them
            started = time.perf_counter()
            await services.db.stats.refresh(limit=10**9)
            folding.append((time.perf_counter() - started) / per_round)
    async with services.db.write_engine.begin() as conn:
        await triggers(conn, True)
    with_, without = statistics.median(rates[True]), statistics.median(rates[False])
    fold = statistics.median(folding) * 1000
    print(
        f"intake through the pipeline ({per_round} reports × {rounds} rounds each way, 32 at once): "
        f"with the roll-up's triggers {with_:.0f} reports/s, without {without:.0f} reports/s "
        f"({(1 / with_ - 1 / without) * 1000:.2f} ms more per report); the refresh then folds them "
        f"in at {fold:.2f} ms per report (in the background, off the request path)"
    )


RANGE = "WHERE received_at >= :a AND received_at < :b"
MONTH = "to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
# A year of reports; a case is closed with a chance that grows with its age (all but 3 % of those
# older than 90 days, as an office that works through its cases), the others in one of the open
# states: a third of a year's cases still open, as the first fills had, is no office's backlog.
FILL = """
INSERT INTO reports (id, case_no, query_hash, channel, content, category, accused_name, accused_unit,
  location_code, anonymous, informant_alias, receiving_unit, status, scope, level, priority, triage,
  received_at, updated_at)
SELECT gen_random_uuid(), 'B-' || g, md5(g::text) || md5((g + 1)::text),
  (CAST(:channels AS text[]))[1 + floor(power(random(), 1.6) * 10)::int],
  '基准测试的举报内容。',
  CASE WHEN random() < 0.85 THEN (CAST(:categories AS text[]))[1 + floor(power(random(), 1.5) * 12)::int] END,
  CASE WHEN random() < 0.8 THEN '干部' || floor(power(random(), 2.5) * 30000)::int END,
  '单位' || floor(random() * 200)::int,
  (CAST(:divisions AS text[]))[1 + floor(random() * :n_div)::int],
  random() < 0.7, 'A' || g,
  (CAST(:units AS text[]))[1 + floor(power(random(), 2.2) * :n_units)::int],
  CASE WHEN random() < least(0.97, extract(epoch FROM now() - ts) / (90 * 86400))
    THEN 'closed' ELSE (CAST(:statuses AS text[]))[1 + floor(random() * 5)::int] END,
  (ARRAY['accusation','appeal','suggestion','petition','out_of_scope'])
    [1 + floor(power(random(), 2) * 5)::int],
  (ARRAY['township','county','city','province'])[1 + floor(power(random(), 2) * 4)::int],
  (ARRAY['normal','high','urgent'])[1 + floor(power(random(), 3) * 3)::int],
  {triage},
  ts, ts
FROM (SELECT g, now() - (random() * 365) * interval '1 day' AS ts FROM generate_series(1, :n) g) s
ORDER BY ts
"""

CASE_STATES = """
INSERT INTO case_states (report_id, owner_unit, handler, sealed, merged_into, review_stage, updated_at)
SELECT id,
  CASE WHEN random() < 0.33 THEN (CAST(:units AS text[]))[1 + floor(random() * :n_units)::int]
       ELSE receiving_unit END,
  NULL, false, NULL, 0, updated_at
FROM reports WHERE case_no LIKE 'B-%' AND random() < 0.45 ORDER BY received_at
"""

SEALED = """
UPDATE case_states SET sealed = true, owner_unit = :top
WHERE report_id IN (SELECT report_id FROM case_states TABLESAMPLE BERNOULLI (0.45))
"""

DOCS = """
INSERT INTO search_documents (report_id, tokens, keywords, indexed_at)
SELECT id, array_to_string(w, ' '), array_to_json(w[1:5])::text, received_at
FROM (
  SELECT r.id, r.received_at, ARRAY(
    SELECT DISTINCT (CAST(:vocabulary AS text[]))[1 + floor(power(random(), 2.5) * :n_vocab)::int
      + 0 * length(r.case_no)]
    FROM generate_series(1, :words)) AS w
  FROM reports r WHERE r.case_no LIKE 'B-%' AND random() < 0.95
) s ORDER BY received_at
"""
# The stored triage result of the filled reports (bench/scale.py passes a fuller one).
BARE_TRIAGE = """'{"sealed": false}'::json"""

BLIND = """
INSERT INTO vault_blind_indexes (report_id, kind, alg, mac, created_at)
SELECT id, 'phone', 'hmac-sha256', md5('p' || floor(power(random(), 3) * 200000)::int), received_at
FROM reports WHERE case_no LIKE 'B-%' AND NOT anonymous ORDER BY received_at
"""

# What the measures count (migration 0025): the first 受理 of every case past received (within
# 20 days, skewed short), 办结 of the closed ones 5 to 85 days after receipt, a 60-day handling
# deadline for every case (met when closed: late after 60 days), a transfer for each case owned
# by another unit, a rating for 60 % of the closed ones, 5 % of the reports duplicates.
ACCEPTED = """
INSERT INTO report_events (seq, report_id, kind, actor, at, payload, prev_hash, hash)
SELECT :base - row_number() OVER (), r.id, 'accept', 'staff:bench',
  least(now(), r.received_at + power(random(), 2) * 20 * interval '1 day'), '{}', '',
  md5('e' || r.id::text) || md5('f' || r.id::text)
FROM reports r JOIN case_states cs ON cs.report_id = r.id
WHERE r.case_no LIKE 'B-%' AND r.status <> 'received'
"""
CONCLUDED = """
UPDATE case_states cs SET concluded_at = least(now(), r.received_at + (5 + random() * 80) * interval '1 day')
FROM reports r WHERE r.id = cs.report_id AND r.case_no LIKE 'B-%' AND r.status = 'closed'
"""
DEADLINES = """
INSERT INTO case_deadlines (report_id, rule, unit_code, start_on, due_on, extensions, status, created_at,
  closed_at)
SELECT r.id, 'handle', cs.owner_unit, (r.received_at AT TIME ZONE 'Asia/Shanghai')::date,
  (r.received_at AT TIME ZONE 'Asia/Shanghai')::date + 60, 0,
  CASE WHEN cs.concluded_at IS NOT NULL THEN 'met' ELSE 'open' END, r.received_at, cs.concluded_at
FROM reports r JOIN case_states cs ON cs.report_id = r.id WHERE r.case_no LIKE 'B-%'
"""
TRANSFERS = """
INSERT INTO case_transfers (report_id, kind, from_unit, to_unit, sealed, actor, at)
SELECT r.id, 'downward', r.receiving_unit, cs.owner_unit, false, 'staff:bench', r.received_at
FROM reports r JOIN case_states cs ON cs.report_id = r.id
WHERE r.case_no LIKE 'B-%' AND cs.owner_unit <> r.receiving_unit
"""
RATINGS = """
INSERT INTO case_feedback (report_id, reply_at, rating, channel, at)
SELECT cs.report_id, cs.concluded_at,
  (ARRAY['satisfied','basically_satisfied','dissatisfied'])[1 + floor(random() * 3)::int], 'web',
  cs.concluded_at
FROM case_states cs JOIN reports r ON r.id = cs.report_id
WHERE r.case_no LIKE 'B-%' AND cs.concluded_at IS NOT NULL AND random() < 0.6
"""
DUPLICATES = "UPDATE reports SET duplicate_of = 'B-1' WHERE case_no LIKE 'B-%' AND random() < 0.05"


async def fill(
    services: Any,
    rows: int,
    *,
    vocabulary: list[str] | None = None,
    words: int = 5,
    triage: str = BARE_TRIAGE,
) -> None:
    """``vocabulary``: the words of the search documents, most frequent first (default 词0…词4999),
    ``words`` drawn for each; ``triage``: the SQL expression of each report's stored triage result
    (``g`` is the report's number)."""
    db = services.db
    vocabulary = vocabulary or [f"词{i}" for i in range(5000)]
    units_tree = services.staff.tree
    async with db.read_engine.connect() as conn:
        found = (await conn.execute(sa.text("SELECT code, level FROM units"))).all()
    levels = {"city": 0, "county": 1, "township": 2}
    units = [c for c, lvl in sorted(found, key=lambda r: (levels.get(r[1], 9), r[0])) if lvl in levels]
    divisions = list(services.pipeline.jurisdiction.divisions())
    top = units[0]
    params = {
        "channels": CHANNELS,
        "categories": CATEGORIES,
        "statuses": STATUSES,
        "divisions": divisions,
        "n_div": len(divisions),
        "units": units,
        "n_units": len(units),
        "n": rows,
    }
    print(
        f"filling {rows} reports: {len(units)} receiving units (of {len(found)}, villages left out), "
        f"{len(divisions)} places; the top receiving unit {units_tree.name(top)}"
    )
    started = time.perf_counter()
    async with db.write_engine.begin() as conn:
        await triggers(conn, False)
        await conn.execute(sa.text("SELECT setseed(0.42)"))
        await conn.execute(sa.text(FILL.replace("{triage}", triage)), params)
        await conn.execute(sa.text(CASE_STATES), params)
        await conn.execute(sa.text(SEALED), {"top": top})
        await conn.execute(
            sa.text(DOCS), {"vocabulary": vocabulary, "n_vocab": len(vocabulary), "words": words}
        )
        await conn.execute(sa.text(BLIND))
        # Below the audit chain's numbers (negative), which the server goes on with.
        base = (await conn.execute(sa.text("SELECT least(0, min(seq)) FROM report_events"))).scalar()
        await conn.execute(sa.text(ACCEPTED), {"base": base})
        for statement in (CONCLUDED, DEADLINES, TRANSFERS, RATINGS, DUPLICATES):
            await conn.execute(sa.text(statement))
    print(
        "  reports, case states, search documents, blind indexes, accept events, deadlines, transfers, "
        f"ratings: {time.perf_counter() - started:.0f} s"
    )
    async with db.write_engine.begin() as conn:
        await triggers(conn, True)
        # As migration 0023's backfill: every report pending; then the refresh folds them in.
        await conn.execute(
            sa.text(
                "INSERT INTO stats_pending (report_id, seq) SELECT id, 0 FROM reports ON CONFLICT DO NOTHING"
            )
        )
    started = time.perf_counter()
    folded = await db.stats.refresh(limit=10 * rows, batch=50_000)
    backfill = time.perf_counter() - started
    engine = db.write_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for table in (
            "reports",
            "case_states",
            "search_documents",
            "vault_blind_indexes",
            "stats_counts",
            "stats_pending",
            "stats_counted",
            "report_events",
            "case_deadlines",
            "case_transfers",
            "case_feedback",
        ):
            await conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        counted = (await conn.execute(sa.text("SELECT count(*) FROM stats_counts"))).scalar()
        size = (await conn.execute(sa.text("SELECT pg_total_relation_size('stats_counts')"))).scalar()
        reports_size = (await conn.execute(sa.text("SELECT pg_total_relation_size('reports')"))).scalar()
    print(
        f"  roll-up backfill (the refresh, {folded:,} reports in batches of 50,000): {backfill:.0f} s, "
        f"{counted:,} rows, {size / 2**20:.0f} MiB "
        f"(reports: {reports_size / 2**20:.0f} MiB)"
    )


async def timed(fn: Callable[[], Awaitable[Any]], rounds: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for i in range(rounds + 2):  # two warm-up rounds
        t0 = time.perf_counter()
        result = await fn()
        if i >= 2:
            samples.append(time.perf_counter() - t0)
    return samples, result


def window(member_scope: Any, first: date, last: date) -> StatsFilter:
    return StatsFilter(
        member_scope.units,
        member_scope.hide_sealed_received_by,
        datetime.combine(first, datetime.min.time(), CHINA),
        datetime.combine(last + timedelta(days=1), datetime.min.time(), CHINA),
    )


async def queries(services: Any, repeat: int, baseline_repeat: int, only: str | None = None) -> None:
    db = services.db
    stats = StatsService(db, services.clock, services.staff)
    async with db.read_engine.connect() as conn:
        top, county = (
            await conn.execute(
                sa.text(
                    "SELECT (SELECT code FROM units WHERE level = 'city' ORDER BY code LIMIT 1), "
                    "(SELECT code FROM units WHERE level = 'county' ORDER BY code LIMIT 1)"
                )
            )
        ).one()
    city_sup = (
        await services.staff.member("bench_city")
        or (await services.staff.add("bench_city", top, "supervisor", "correct horse battery"))[0]
    )
    county_sup = (
        await services.staff.member("bench_county")
        or (await services.staff.add("bench_county", county, "supervisor", "correct horse battery"))[0]
    )
    today = services.clock.now().astimezone(CHINA).date()
    quarter_end = date(today.year, ((today.month - 1) // 3) * 3 + 1, 1) - timedelta(days=1)
    quarter_start = date(quarter_end.year, quarter_end.month - 2, 1)
    n_city, n_county = len(stats.units_in_sight(city_sup)), len(stats.units_in_sight(county_sup))
    print(f"scopes: city {n_city} units, county {n_county}")

    async def plain(sql: str, a: date, b: date, **extra: Any) -> Any:
        f = window(services.staff.scope(city_sup), a, b)
        async with db.read_engine.connect() as conn:
            return (await conn.execute(sa.text(sql), {"a": f.start, "b": f.end, **extra})).all()

    def scoped(member: StaffMember, by: list[str], a: date, b: date) -> Callable[[], Awaitable[Any]]:
        f = window(services.staff.scope(member), a, b)
        return lambda: db.stats._counts_live(f, by)

    county_units = list(stats.units_in_sight(county_sup))
    cases: list[
        tuple[
            str,
            Callable[[], Awaitable[Any]],
            Callable[[], Awaitable[Any]],
            Callable[[], Awaitable[Any]] | None,
        ]
    ] = [
        (
            "by channel, 30 days",
            lambda: stats.table(
                city_sup, ("channel",), start=today - timedelta(days=29), end=today, record=None
            ),
            lambda: plain(
                f"SELECT channel, count(*) FROM reports {RANGE} GROUP BY channel",
                today - timedelta(days=29),
                today,
            ),
            scoped(city_sup, ["channel"], today - timedelta(days=29), today),
        ),
        (
            "by category × month, a year",
            lambda: stats.table(
                city_sup, ("category", "month"), start=today - timedelta(days=364), end=today, record=None
            ),
            lambda: plain(
                f"SELECT category, {MONTH}, count(*) FROM reports {RANGE} GROUP BY 1, 2",
                today - timedelta(days=364),
                today,
            ),
            scoped(city_sup, ["category", "month"], today - timedelta(days=364), today),
        ),
        (
            f"by place, a county ({len(county_units)} units), the quarter {quarter_start}…{quarter_end}",
            lambda: stats.table(county_sup, ("place",), start=quarter_start, end=quarter_end, record=None),
            lambda: plain(
                f"SELECT location_code, count(*) FROM reports {RANGE} AND receiving_unit = ANY(:units) "
                "GROUP BY location_code",
                quarter_start,
                quarter_end,
                units=county_units,
            ),
            scoped(county_sup, ["place"], quarter_start, quarter_end),
        ),
        (
            "alerts, a day (spikes over 28 days before)",
            lambda: stats.alerts(city_sup, on=today, period="day"),
            lambda: plain(
                f"SELECT location_code, category, count(*) FROM reports {RANGE} GROUP BY 1, 2",
                today - timedelta(days=28),
                today,
            ),
            scoped(city_sup, ["place", "category", "day"], today - timedelta(days=28), today),
        ),
        (
            "alerts, a week (spikes over 12 weeks before)",
            lambda: stats.alerts(city_sup, on=today, period="week"),
            lambda: plain(
                f"SELECT location_code, category, count(*) FROM reports {RANGE} GROUP BY 1, 2",
                today - timedelta(days=90),
                today,
            ),
            scoped(city_sup, ["place", "category", "day"], today - timedelta(days=90), today),
        ),
    ]
    measures = MeasuresService(db, services.staff, stats)
    quarter = make_period("quarter", quarter_start.year, (quarter_start.month - 1) // 3 + 1)
    this_year = make_period("year", today.year)
    accept_times = (
        "SELECT count(*), avg(extract(epoch FROM e.at - r.received_at)), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY e.at - r.received_at) "
        "FROM reports r JOIN report_events e ON e.report_id = r.id AND e.kind = 'accept' "
        "WHERE r.received_at >= :a AND r.received_at < :b"
    )
    for label, p in (("the quarter", quarter), ("the year", this_year)):
        cases.append(
            (
                f"measures, {label} {p.label} (with 环比 and 同比)",
                lambda p=p: measures.measures(city_sup, p, record=None),
                lambda p=p: plain(accept_times, p.start, p.end),
                None,
            )
        )
    f = window(services.staff.scope(city_sup), today - timedelta(days=364), today)
    same = dict(await db.stats.counts(f, ["category", "month"])) == dict(
        await db.stats._counts_live(f, ["category", "month"])
    )
    print(f"roll-up by category × month over the year equals the scoped GROUP BY: {same}")
    for name, rolled, bare, live in cases:
        if only and only not in name:
            continue
        t_rolled, result = await timed(rolled, repeat)
        t_bare, _ = await timed(bare, baseline_repeat)
        t_live = (await timed(live, baseline_repeat))[0] if live else None
        if hasattr(result, "rows"):
            what = f"{len(result.rows)} rows"
        elif hasattr(result, "measures"):
            shown = {m.name: m.value for m in result.measures}
            what = ", ".join(f"{k} {v}" for k, v in shown.items())
        else:
            kinds: dict[str, int] = {}
            for a in result:
                kinds[a.kind] = kinds.get(a.kind, 0) + 1
            what = ", ".join(f"{k} {n}" for k, n in kinds.items()) + (
                f"; more {result.more}" if result.more else ""
            )
        print(f"{name} ({what}):")
        print(f"  roll-up (StatsService)        {ms(t_rolled)}   [{len(t_rolled)} runs]")
        print(f"  plain SELECT (no scope)        {ms(t_bare)}   [{len(t_bare)} runs]")
        if t_live:
            print(f"  scoped GROUP BY (fallback)    {ms(t_live)}   [{len(t_live)} runs]")


async def run(
    rows: int,
    url: str,
    repeat: int,
    baseline_repeat: int,
    intake: int,
    reuse: bool = False,
    only: str | None = None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = await open_services(settings_for(Path(tmp), url, per_hour="100000"))
        try:
            if intake and not reuse:
                await intake_cost(services, intake)
            if not reuse:
                await fill(services, rows)
            await queries(services, repeat, baseline_repeat, only)
            if intake:
                print(f"again, over the {rows} reports:")
                await intake_cost(services, intake)
        finally:
            await services.triage.close()
            await services.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--baseline-repeat", type=int, default=5)
    parser.add_argument("--intake", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("INTAKE_TEST_DATABASE_URL"))
    parser.add_argument("--only", help="only the queries whose name has this (e.g. alerts)")
    parser.add_argument("--reuse", help="the URL of a database an earlier run filled: queries only")
    parser.add_argument("--keep", help="fill a new database of this name and keep it (for --reuse)")
    args = parser.parse_args()
    if args.reuse:
        asyncio.run(
            run(
                args.rows,
                args.reuse,
                args.repeat,
                args.baseline_repeat,
                args.intake,
                reuse=True,
                only=args.only,
            )
        )
        return
    if not args.postgres:
        sys.exit("needs --postgres URL (or INTAKE_TEST_DATABASE_URL)")

    async def go() -> None:
        if args.keep:
            admin = args.postgres.replace("postgresql://", "postgresql+asyncpg://", 1)
            engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                await conn.execute(sa.text(f'CREATE DATABASE "{args.keep}"'))
            await engine.dispose()
            url = sa.engine.make_url(admin).set(database=args.keep).render_as_string(hide_password=False)
            await run(args.rows, url, args.repeat, args.baseline_repeat, args.intake)
            print(f"kept: --reuse {url}")
            return
        async with fresh_database(args.postgres) as url:
            assert url is not None
            await run(args.rows, url, args.repeat, args.baseline_repeat, args.intake)

    asyncio.run(go())


if __name__ == "__main__":
    main()
