"""Statistics speed on PostgreSQL: ``StatsService.table`` (by category and place, a county
supervisor's scope, 30 days, with suppression) and ``StatsService.alerts`` over N stored reports,
against a plain ``SELECT count(*) … GROUP BY`` over the same rows in the same run.

The reports are one filed through the pipeline (so the units exist) and N - 1 copies made in SQL
(``generate_series``): spread over a year, 10 channels' worth of values, 8 categories, the
jurisdiction's divisions. No triage and no search index (hot words then have nothing to read).

    .venv/bin/python bench/stats_speed.py [--rows 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from bench.import_speed import fresh_database, settings_for
from intake.clock import CHINA
from intake.domain import Submission
from intake.stats import StatsService
from server.app import open_services

CATEGORIES = ["低保", "工程建设", "征地拆迁", "作风问题", "扶贫", "教育", "医疗", "土地"]
CHANNELS = ["web", "app", "wechat", "weibo", "phone", "sms", "letter", "visit"]


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


async def run(rows: int, url: str, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = await open_services(settings_for(Path(tmp), url))
        try:
            receipt = await services.pipeline.accept(
                Submission(channel="web", content="基准测试的举报内容。")
            )
            unit = services.pipeline.jurisdiction.receiving_unit
            divisions = list(services.pipeline.jurisdiction.divisions())[:40]
            started = time.perf_counter()
            async with services.db.write_engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO reports (id, case_no, query_hash, channel, content, category, "
                        "location_code, anonymous, informant_alias, receiving_unit, status, received_at, "
                        "updated_at) SELECT gen_random_uuid(), 'B-' || g, "
                        "md5(g::text) || md5((g + 1)::text), "
                        "(CAST(:channels AS text[]))[1 + g % 8], content, "
                        "(CAST(:categories AS text[]))[1 + (g * 7) % 8], "
                        "(CAST(:divisions AS text[]))[1 + (g * 13) % :n_div], g % 5 <> 0, informant_alias, "
                        "receiving_unit, status, "
                        "received_at - (g % 365) * interval '1 day' - (g % 1440) * interval '1 minute', "
                        "updated_at FROM reports, generate_series(1, :n) g WHERE case_no = :case_no"
                    ),
                    {
                        "channels": CHANNELS,
                        "categories": CATEGORIES,
                        "divisions": divisions,
                        "n_div": len(divisions),
                        "n": rows - 1,
                        "case_no": receipt.case_no,
                    },
                )
                await conn.execute(sa.text("ANALYZE reports"))
            print(f"{rows} reports stored in {time.perf_counter() - started:.1f} s")
            member, _ = await services.staff.add("bench_sup", unit, "supervisor", "correct horse battery")
            stats = StatsService(services.db, services.clock, services.staff)
            today = services.clock.now().astimezone(CHINA).date()
            start = today - timedelta(days=29)
            plain_sql = sa.text(
                "SELECT category, location_code, count(*) FROM reports WHERE received_at >= :a "
                "AND received_at < :b GROUP BY category, location_code"
            )
            f = stats.filter(member, stats.units_in_sight(member), start, today)
            timings: dict[str, list[float]] = {"table": [], "plain": [], "alerts": [], "year": []}
            for i in range(repeat + 2):  # two warm-up rounds
                t0 = time.perf_counter()
                table = await stats.table(member, ("category", "place"), start=start, end=today)
                t1 = time.perf_counter()
                async with services.db.read_engine.connect() as conn:
                    plain = (await conn.execute(plain_sql, {"a": f.start, "b": f.end})).all()
                t2 = time.perf_counter()
                await stats.alerts(member, on=today)
                t3 = time.perf_counter()
                await stats.table(member, ("month", "channel"), start=today - timedelta(days=364), end=today)
                t4 = time.perf_counter()
                if i >= 2:
                    timings["table"].append(t1 - t0)
                    timings["plain"].append(t2 - t1)
                    timings["alerts"].append(t3 - t2)
                    timings["year"].append(t4 - t3)
            print(f"stats by category,place, 30 days ({len(table.rows)} rows): {ms(timings['table'])}")
            print(f"plain SELECT count(*) GROUP BY, same rows ({len(plain)} groups): {ms(timings['plain'])}")
            print(f"stats by month,channel, a year: {ms(timings['year'])}")
            print(f"alerts (spikes over 29 days, accused and repeat over 90): {ms(timings['alerts'])}")
        finally:
            await services.triage.close()
            await services.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", default=os.environ.get("INTAKE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("needs --postgres URL (or INTAKE_TEST_DATABASE_URL)")

    async def go() -> None:
        async with fresh_database(args.postgres) as url:
            assert url is not None
            await run(args.rows, url, args.repeat)

    asyncio.run(go())


if __name__ == "__main__":
    main()
