"""``intake stats report``: the periodic report upward (向上报送) of a unit's subtree for a month,
quarter or year that has ended, as PDF or XLSX (by the extension of ``--out``).

The command reads as the unit's supervisor would (the unit and everything below it, sealed cases
hidden as from that unit), with the same suppression as the console; making the report is an
audit event (``stats_report_made``) by ``staff:cli-report``. Bad input — an unknown unit, a
malformed period, a period not yet ended, another extension — exits 2 with a Chinese message.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from server.config import Settings

EXIT_BAD_INPUT = 2
FORMATS = {".pdf": "pdf", ".xlsx": "xlsx"}
ACTOR = "cli-report"


def add_commands(subparsers: Any) -> None:
    """Add ``stats`` and its sub-command to the ``intake`` parser's sub-parsers."""
    stats = subparsers.add_parser("stats", help="statistics").add_subparsers(
        dest="stats_command", required=True
    )
    report = stats.add_parser(
        "report", help="the periodic report of a unit (PDF or XLSX by --out's extension)"
    )
    report.add_argument("--unit", required=True, help="the unit's code")
    report.add_argument("--period", required=True, help="2026-09, 2026Q3 or 2026")
    report.add_argument("--out", required=True, help="the file to write: .pdf or .xlsx")
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from console.stats_export import Labels
    from console.stats_report_files import render_pdf, render_xlsx
    from intake.errors import IntakeError
    from intake.staff import StaffMember
    from intake.stats import StatsService
    from intake.stats_measures import MeasuresService, parse_period
    from intake.stats_report import ReportService
    from server.app import open_services

    out = Path(args.out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        print("intake stats report：输出文件的扩展名应为 .pdf 或 .xlsx。", file=sys.stderr)
        return EXIT_BAD_INPUT

    async def run() -> bytes:
        services = await open_services(settings)
        try:
            assert services.staff is not None
            stats = StatsService(
                services.db, services.clock, services.staff, min_cell=settings.stats_min_cell
            )
            measures = MeasuresService(services.db, services.staff, stats)
            reports = ReportService(services.db, services.clock, services.staff, stats, measures)
            period = parse_period(args.period)
            reports.check_unit(args.unit)
            report = await reports.make(StaffMember(ACTOR, args.unit, "supervisor"), args.unit, period)
            labels = Labels(services.staff.tree, services.pipeline.jurisdiction)
            if fmt == "pdf":
                return render_pdf(report, labels)
            return render_xlsx(report, labels).read()
        finally:
            await services.triage.close()
            await services.db.close()

    try:
        body = asyncio.run(run())
    except IntakeError as exc:
        print(f"intake stats report：{exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out.write_bytes(body)
    print(f"已生成报表：{out}（{len(body)} 字节）")
    return 0
