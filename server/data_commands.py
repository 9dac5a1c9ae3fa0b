"""Commands for data in and out: ``intake reports import``, ``intake reports export`` and
``intake letters ocr``. Their output is for office staff, in Chinese; it never shows an identity
value (bad rows are named by row and column only)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from intake.errors import IntakeError
from server.config import Settings

EXIT_BAD_INPUT = 2
MAX_LISTED_ERRORS = 1000


def add_report_commands(reports: Any) -> None:
    """``import`` and ``export`` under ``intake reports``."""
    imp = reports.add_parser("import", help="import historical cases (CSV, XLSX, JSON Lines)")
    imp.add_argument("file", help="the file to import (.csv, .xlsx or .jsonl)")
    imp.add_argument("--mapping", help="a JSON column mapping (docs/data.md); default: 信访登记表 headings")
    imp.add_argument("--actor", default="cli", help="who imports (recorded in the audit trail)")
    imp.add_argument("--quiet", action="store_true", help="no progress line")
    imp.set_defaults(func=_reports_import)
    exp = reports.add_parser("export", help="export cases (never identity) as CSV, XLSX or JSON Lines")
    exp.add_argument("--format", required=True, choices=("csv", "xlsx", "jsonl"))
    exp.add_argument("--unit", help="only cases owned by this unit and the units below it")
    exp.add_argument("--status", help="only cases in this status (received, registered, …, closed)")
    exp.add_argument("--out", required=True, help="the file to write ('-' for stdout)")
    exp.add_argument("--actor", default="cli", help="who exports (recorded in the audit trail)")
    exp.set_defaults(func=_reports_export)


def add_commands(sub: Any) -> None:
    """``intake letters ocr FILE``."""
    letters = sub.add_parser("letters", help="letters (来信)").add_subparsers(
        dest="letters_command", required=True
    )
    ocr = letters.add_parser("ocr", help="print the proposed text of a scanned letter (image or PDF)")
    ocr.add_argument("file")
    ocr.set_defaults(func=_letters_ocr)


def _fail(command: str, exc: IntakeError) -> int:
    print(f"intake {command}：{exc.message}", file=sys.stderr)
    return EXIT_BAD_INPUT


class _ProgressLine:
    """One line on the terminal, rewritten in place (a line every few seconds when not a tty)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last = 0.0
        self.shown = False

    def __call__(self, p: Any) -> None:
        import time

        now = time.monotonic()
        if not self.tty and now - self.last < 5:
            return
        self.last = now
        share = f"{min(100, 100 * p.seen // p.total)}% " if p.total else ""
        line = (
            f"已读 {share}{p.seen} 行 · 导入 {p.imported} · 已存在 {p.skipped} · 有误 {p.bad} · "
            f"已分流 {p.triaged} · {p.rate:.0f} 行/秒"
        )
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _reports_import(args: argparse.Namespace, settings: Settings) -> int:
    from intake.interchange.importer import ImportService
    from intake.interchange.mapping import load_mapping
    from intake.interchange.readers import detect_format
    from server.app import open_services

    path = Path(args.file)
    try:
        detect_format(path)
        mapping = load_mapping(Path(args.mapping)) if args.mapping else None
    except IntakeError as exc:
        return _fail("reports import", exc)
    if not path.is_file():
        print("intake reports import：找不到导入文件。", file=sys.stderr)
        return EXIT_BAD_INPUT
    line = _ProgressLine(sys.stderr)

    async def run() -> Any:
        services = await open_services(settings)
        try:
            workflow = services.workflow
            service = ImportService(
                services.db,
                services.pipeline,
                services.triage,
                services.clock,
                after_triage=workflow.after_triage if workflow else None,
            )
            return await service.run(path, mapping, actor=args.actor, progress=None if args.quiet else line)
        finally:
            await services.triage.close()
            await services.db.close()

    try:
        summary = asyncio.run(run())
    except IntakeError as exc:
        line.done()
        return _fail("reports import", exc)
    line.done()
    out = sys.stdout
    print(
        f"导入完成：共 {summary.rows} 行，新导入 {summary.imported} 件，此前已导入 {summary.skipped} 件，"
        f"有误 {len(summary.errors)} 行；已分流 {summary.triaged} 件，其中疑似重复 {summary.duplicates} 件；"
        f"用时 {summary.seconds:.1f} 秒（{summary.rows_per_second:.0f} 行/秒）。",
        file=out,
    )
    if summary.unmapped:
        print(f"未导入的列（映射中没有对应字段）：{'、'.join(summary.unmapped)}", file=out)
    if summary.errors:
        print("有误的行（其余各行已导入）：", file=out)
        for e in summary.errors[:MAX_LISTED_ERRORS]:
            print(f"  {e.line()}", file=out)
        if len(summary.errors) > MAX_LISTED_ERRORS:
            print(f"  ……另有 {len(summary.errors) - MAX_LISTED_ERRORS} 行有误，未列出。", file=out)
    return 0


def _reports_export(args: argparse.Namespace, settings: Settings) -> int:
    from intake import jurisdiction
    from intake.clock import SystemClock
    from intake.domain import STATUS_LABELS
    from intake.interchange.exporter import ExportService
    from intake.staff import OrgTree
    from storage import keys
    from storage.database import Database

    if args.status is not None and args.status not in STATUS_LABELS:
        print(f"intake reports export：状态只能是 {'、'.join(STATUS_LABELS)}。", file=sys.stderr)
        return EXIT_BAD_INPUT
    found = jurisdiction.load(settings.jurisdiction_file)
    tree = OrgTree(found.units)
    units: list[str] | None = None
    hidden: list[str] = []
    if args.unit:
        if args.unit not in tree.units:
            print("intake reports export：辖区内没有这个单位。", file=sys.stderr)
            return EXIT_BAD_INPUT
        units = [args.unit, *tree.descendants(args.unit)]
        # A sealed case about a commission's head is hidden from that commission and those below.
        hidden = [args.unit, *tree.ancestors(args.unit)]
    names = {u.code: u.name for u in found.units}

    async def run(out: Any) -> int:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(settings.database_url, keys.load_or_create(settings.data_dir), settings.data_dir)
        await db.start()
        try:
            service = ExportService(db, SystemClock(), names)
            return await service.export(
                args.format,
                out,
                actor=f"cli:{args.actor}"[:64],
                units=units,
                hide_sealed_received_by=hidden,
                status=args.status,
            )
        finally:
            await db.close()

    try:
        if args.out == "-":
            count = asyncio.run(run(sys.stdout.buffer))
        else:
            target = Path(args.out)
            # Written aside and renamed into place: a failed export leaves no half file behind.
            fd, staged = tempfile.mkstemp(dir=target.parent or Path("."), prefix=".export-")
            try:
                with os.fdopen(fd, "wb") as f:
                    count = asyncio.run(run(f))
                os.chmod(staged, 0o600)
                os.replace(staged, target)
            except BaseException:
                Path(staged).unlink(missing_ok=True)
                raise
    except IntakeError as exc:
        return _fail("reports export", exc)
    except OSError:
        print("intake reports export：无法写入输出文件。", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"已导出 {count} 件案件（不含信访人身份信息）。", file=sys.stderr)
    return 0


def _letters_ocr(args: argparse.Namespace, settings: Settings) -> int:
    from intake import ocr

    try:
        data = Path(args.file).read_bytes()
    except OSError:
        print("intake letters ocr：无法读取扫描件。", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = ocr.recognise(data)
    except IntakeError as exc:
        return _fail("letters ocr", exc)
    sys.stdout.write(result.text + "\n")
    return 0
