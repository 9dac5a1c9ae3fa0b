"""Import speed: an office's 10,000-row register (XLSX, 100 bad rows) through ``intake reports
import``'s service, against baselines measured in the same run on the same machine.

1. **Reading alone**: openpyxl's read-only iteration over the same workbook (the floor: no import
   can be faster than reading its file).
2. **Ordinary filing** (the baseline of the ratio): the same good rows filed as ordinary reports
   through :meth:`Pipeline.accept` (64 in flight, sharing the group-commit writer's commits) and
   then triaged in batches of 200, as the server's job worker would, in a fresh database.
3. **The import** in a fresh database: read, check, file (identity sealed, history kept, one
   transaction per row with its import key) and triage, with the triage overlapping the filing.
4. **The re-run** of the same file: everything already in, nothing added.

    .venv/bin/python bench/import_speed.py [--rows 10000] [--bad 100] [--postgres URL]

``--postgres`` (or ``INTAKE_TEST_DATABASE_URL``) also runs 2-4 on a fresh PostgreSQL database,
dropped afterwards. The last line is ``ratio=<import rows/s ÷ ordinary filing rows/s>`` (SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from intake.interchange.importer import ImportService
from intake.interchange.mapping import DEFAULT
from intake.interchange.readers import open_rows
from intake.interchange.records import ImportRecord, from_cells
from server.app import open_services
from server.config import Settings
from tests.interchange.registers import write_xlsx


def settings_for(data_dir: Path, url: str | None, per_hour: str = "30") -> Settings:
    env = {
        "INTAKE_DATA_DIR": str(data_dir),
        "INTAKE_LOG_LEVEL": "WARNING",
        "INTAKE_REPORTS_PER_INFORMANT_PER_HOUR": per_hour,
    }
    if url:
        env["INTAKE_DATABASE_URL"] = url
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return Settings.from_env()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str | None) -> AsyncIterator[str | None]:
    if admin_url is None:
        yield None
        return
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = admin_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False))
    finally:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


def read_only(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    _, rows, _ = open_rows(path, "xlsx", frozenset(DEFAULT.columns))
    n = sum(1 for _ in rows)
    return n, time.perf_counter() - started


async def ordinary_filing(path: Path, data_dir: Path, url: str | None) -> tuple[int, float, float]:
    """The same good rows as ordinary reports (no import key, no history), then triaged."""
    from intake.domain import Submission

    # One informant may appear many times over the years: no per-informant limit here either.
    services = await open_services(settings_for(data_dir, url, per_hour="100000000"))
    try:
        _, rows, _ = open_rows(path, "xlsx", frozenset(DEFAULT.columns))
        now = services.clock.now()
        divisions = frozenset(services.pipeline.jurisdiction.divisions())
        records = [
            r
            for r in (
                from_cells(row.number, row.cells, DEFAULT, divisions=divisions, now=now) for row in rows
            )
            if isinstance(r, ImportRecord)
        ]
        started = time.perf_counter()
        slots = asyncio.Semaphore(64)
        case_nos: list[str] = []

        async def one(r: ImportRecord) -> None:
            async with slots:
                receipt = await services.pipeline.accept(
                    Submission(
                        channel=r.channel,
                        content=r.content,
                        accused=r.accused,
                        reporter=r.reporter,
                        anonymous=r.reporter.is_empty(),
                    )
                )
                case_nos.append(receipt.case_no)

        await asyncio.gather(*(one(r) for r in records))
        filed = time.perf_counter() - started
        for i in range(0, len(case_nos), 200):
            await services.triage.triage_reports(case_nos[i : i + 200])
        return len(records), time.perf_counter() - started, filed
    finally:
        await services.triage.close()
        await services.db.close()


async def import_twice(path: Path, data_dir: Path, url: str | None) -> tuple[Any, Any]:
    services = await open_services(settings_for(data_dir, url))
    try:
        svc = ImportService(services.db, services.pipeline, services.triage, services.clock)
        first = await svc.run(path, actor="bench")
        second = await svc.run(path, actor="bench")
        return first, second
    finally:
        await services.triage.close()
        await services.db.close()


async def run_on(label: str, path: Path, rows: int, url: str | None, work: Path) -> float:
    async with fresh_database(url) as db_url:
        n, seconds, filed = await ordinary_filing(path, work / f"{label}-base", db_url)
    base = n / seconds
    print(
        f"{label}: ordinary filing + triage of the {n} good rows: {seconds:.1f} s, {base:.0f} rows/s "
        f"(filing alone {filed:.1f} s, {n / filed:.0f} rows/s)"
    )
    async with fresh_database(url) as db_url:
        first, second = await import_twice(path, work / f"{label}-import", db_url)
    rate = first.rows / first.seconds
    print(
        f"{label}: import: {first.rows} rows in {first.seconds:.1f} s, {rate:.0f} rows/s "
        f"({first.imported} imported, {len(first.errors)} bad rows listed, {first.triaged} triaged, "
        f"{first.duplicates} near-duplicates found); ratio to ordinary filing {rate / base:.2f}; "
        f"all rows filed after {first.filing_seconds:.1f} s "
        f"({first.rows / first.filing_seconds:.0f} rows/s), the rest of the time the triage finishing"
    )
    print(
        f"{label}: re-run: {second.rows} rows in {second.seconds:.1f} s, "
        f"{second.rows / second.seconds:.0f} rows/s, {second.imported} added, {second.skipped} already in"
    )
    return rate / base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("INTAKE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        path = work / "register.xlsx"
        write_xlsx(path, args.rows, bad=args.bad, seed=22)
        n, seconds = read_only(path)
        print(f"reading alone (openpyxl read-only): {n} rows in {seconds:.2f} s, {n / seconds:.0f} rows/s")
        ratio = asyncio.run(run_on("sqlite", path, args.rows, None, work))
        if args.postgres:
            asyncio.run(run_on("postgresql", path, args.rows, args.postgres, work))
        print(f"ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
