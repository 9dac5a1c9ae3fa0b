"""Triage on every core (issue 21): how fast the ``triage`` jobs of a burst drain, end to end,
against the triage engine's own rate on the same texts, measured in the same run.

1. **Engine.** ``triage.triage`` in this process on the texts (title + detail of taidi2020 citizen
   messages when ``../shared`` is there, else synthetic), one after another, with a duplicate
   index and the explanations, as the triage child runs them: reports/s (wall clock; the machine
   should be quiet).
2. **Drain**, for each ``--processes`` value (default ``1,<cores>``): a fresh data directory and
   database (SQLite unless ``--postgres``), the services as the server opens them, a warm-up burst
   (the triage processes started), then ``--reports`` reports filed through the pipeline (32 at
   once) and the job worker's turns run until no triage job is left: triaged reports/s, from the
   first turn to the last, with every result stored (triage, search words, the events).

Prints ``engine=`` and, per setting, ``drain[<processes>]=`` and ``drain_ratio[<processes>]=``
(drain ÷ engine); last, ``drain_ratio=`` for the most processes.

    .venv/bin/python bench/triage_drain.py [--reports 2000] [--processes 1,2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.import_speed import fresh_database, settings_for
from bench.triage_speed import realistic_texts
from intake.domain import Submission
from server.app import open_services
from server.config import cores


def engine_rate(texts: list[str]) -> float:
    import triage
    from intake import jurisdiction

    j = triage.Jurisdiction.from_dict(jurisdiction.load(None).document)
    index = triage.DuplicateIndex()
    triage.warm_up(j)
    for text in texts[:50]:
        triage.triage(text, channel="web", jurisdiction=j)
    started = time.perf_counter()
    for i, text in enumerate(texts):
        result = triage.triage(text, channel="web", jurisdiction=j, duplicates=index, real_name=False)
        index.add_signature(f"c{i}", result.signature)
    return len(texts) / (time.perf_counter() - started)


async def file(services: object, texts: list[str]) -> None:
    pipeline = services.pipeline  # type: ignore[attr-defined]
    sem = asyncio.Semaphore(32)

    async def one(text: str) -> None:
        title, _, content = text.partition("\n")
        async with sem:
            await pipeline.accept(
                Submission(channel="web", title=title[:100] or None, content=content or title)
            )

    await asyncio.gather(*(one(t) for t in texts))


async def drain(services: object) -> int:
    worker = services.worker  # type: ignore[attr-defined]
    ran = 0
    while n := await worker.run_once():
        ran += n
    return ran


async def drain_rate(texts: list[str], processes: int, url: str | None) -> float:
    os.environ["INTAKE_TRIAGE_PROCESSES"] = str(processes)
    with tempfile.TemporaryDirectory() as tmp:
        services = await open_services(settings_for(Path(tmp), url, per_hour="100000"))
        try:
            await file(services, texts[:64])  # warm-up: every triage process started
            await drain(services)
            await file(services, texts)
            started = time.perf_counter()
            ran = await drain(services)
            elapsed = time.perf_counter() - started
            async with services.db.read_engine.connect() as conn:
                import sqlalchemy as sa

                left = (
                    await conn.execute(sa.text("SELECT count(*) FROM reports WHERE triage IS NULL"))
                ).scalar()
            assert left == 0, f"{left} reports not triaged"
            return ran / elapsed
        finally:
            await services.triage.close()
            await services.db.close()


async def main_async(args: argparse.Namespace) -> None:
    texts, source = realistic_texts(args.reports)
    print(f"{len(texts)} texts: {source}; {cores()} cores")
    engine = engine_rate(texts)
    print(f"engine={engine:.0f} reports/s (one process, one report after another)")
    ratios = {}
    for processes in args.processes:
        async with fresh_database(args.postgres) as url:
            rate = await drain_rate(texts, processes, url)
        ratios[processes] = rate / engine
        print(f"drain[{processes}]={rate:.0f} reports/s  drain_ratio[{processes}]={rate / engine:.2f}")
    print(f"drain_ratio={ratios[max(ratios)]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument(
        "--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, max(2, cores())]
    )
    parser.add_argument("--postgres", default=None)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
