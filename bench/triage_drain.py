"""Triage on every core (issue 21): how fast the ``triage`` jobs of a burst drain, end to end,
against the triage engine's own rate on the same texts, measured in the same run.

1. **Engine.** ``triage.triage`` in this process on the texts (title + detail of taidi2020 citizen
   messages when ``../shared`` is there, else synthetic), one after another, with a duplicate
   index and the explanations, as the triage child runs them: reports/s (wall clock; the machine
   should be quiet).
2. **Drain**, for each ``--settings`` pair of triage processes × job turns at once (default
   ``1x1`` — before issue 21 —, ``1x2`` and ``<cores>x2``, the product's default): a fresh data
   directory and database (SQLite unless ``--postgres``), the services as the server opens them, a
   warm-up burst (the triage processes started), then ``--reports`` reports filed through the
   pipeline (32 at once) and the job worker run as the server runs it until every report is
   triaged: triaged reports/s, with every result stored (triage, search words, the events, the
   workflow's step after triage).

Prints ``engine=`` and, per setting, ``drain[…]=`` and ``drain_ratio[…]=`` (drain ÷ engine); last,
``drain_ratio=`` for the last setting.

    .venv/bin/python bench/triage_drain.py [--reports 2000] [--settings 1x1,2x2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


async def untriaged(services: object) -> int:
    import sqlalchemy as sa

    async with services.db.read_engine.connect() as conn:  # type: ignore[attr-defined]
        n = (await conn.execute(sa.text("SELECT count(*) FROM reports WHERE triage IS NULL"))).scalar()
    return int(n or 0)


async def drain(services: object, turns: int) -> None:
    """The job worker as the server runs it (``run_forever`` with ``turns`` turns at once) until
    every report is triaged."""
    worker = services.worker  # type: ignore[attr-defined]
    task = asyncio.create_task(worker.run_forever(turns))
    try:
        while await untriaged(services):  # noqa: ASYNC110 (the database is polled)
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def drain_rate(texts: list[str], processes: int, turns: int, url: str | None) -> float:
    os.environ["INTAKE_TRIAGE_PROCESSES"] = str(processes)
    with tempfile.TemporaryDirectory() as tmp:
        services = await open_services(settings_for(Path(tmp), url, per_hour="100000"))
        try:
            await file(services, texts[:64])  # warm-up: every triage process started
            await drain(services, turns)
            await file(services, texts)
            started = time.perf_counter()
            await drain(services, turns)
            return len(texts) / (time.perf_counter() - started)
        finally:
            await services.triage.close()
            await services.db.close()


async def main_async(args: argparse.Namespace) -> None:
    texts, source = realistic_texts(args.reports)
    print(f"{len(texts)} texts: {source}; {cores()} cores")
    engine = engine_rate(texts)
    print(f"engine={engine:.0f} reports/s (one process, one report after another)")
    ratios = {}
    for processes, turns in args.settings:
        async with fresh_database(args.postgres) as url:
            rate = await drain_rate(texts, processes, turns, url)
        ratios[(processes, turns)] = rate / engine
        print(
            f"drain[processes={processes},turns={turns}]={rate:.0f} reports/s  "
            f"drain_ratio[processes={processes},turns={turns}]={rate / engine:.2f}"
        )
    print(f"drain_ratio={ratios[args.settings[-1]]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument(
        "--settings",
        type=lambda s: [tuple(int(x) for x in pair.split("x")) for pair in s.split(",")],
        default=[(1, 1), (1, 2), (max(2, cores()), 2)],
        help="triage processes x job turns, comma-separated; the last is the product's default "
        "(default 1x1,1x2,<cores>x2)",
    )
    parser.add_argument("--postgres", default=None)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
