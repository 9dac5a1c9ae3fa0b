"""The ``intake`` command line (also ``python -m server``), part of the composition root: it hands
``channels.REGISTRY`` to the server (:func:`server.app.build_app`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from intake import logs
from intake.clock import china_time
from intake.domain import CHANNEL_LABELS, STATUS_LABELS
from intake.jurisdiction import JurisdictionError
from intake.staff import ROLES
from server.config import Settings
from storage.errors import DatabaseUnavailable

EXIT_USAGE = 2  # bad input or configuration: argparse's own code
EXIT_DATABASE_UNAVAILABLE = 3


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    if args.workers != 1:
        return _serve_workers(args, settings)

    import channels
    from intake import jurisdiction
    from server.app import build_app

    # A bad jurisdiction file is refused before the port is bound, with the unit at fault named.
    jurisdiction.load(settings.jurisdiction_file)
    logs.setup(settings.log_level, settings.data_dir)
    app = build_app(settings, channels.REGISTRY, freeze_gc=True)
    print(f"intake: serving on http://{args.host}:{args.port}/  (data: {settings.data_dir})", file=sys.stderr)
    web.run_app(
        app, host=args.host, port=args.port, access_log=None, print=None, reuse_port=args.reuse_port or None
    )
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    from intake import jurisdiction
    from server.workers import Supervisor

    if args.workers < 1:
        print("工作进程数至少为 1。", file=sys.stderr)
        return EXIT_USAGE
    if settings.database_url.startswith("sqlite"):
        print(
            "内置的 SQLite 数据库只能由一个进程使用：多个工作进程需要 PostgreSQL"
            "（设置 INTAKE_DATABASE_URL）。",
            file=sys.stderr,
        )
        return EXIT_USAGE
    jurisdiction.load(settings.jurisdiction_file)  # refused here once, not by every worker
    worker = [sys.executable, "-m", "server", "serve", "--host", args.host, "--port", str(args.port)]
    print(f"intake: {args.workers} 个工作进程，端口 {args.port}", file=sys.stderr)
    return Supervisor([*worker, "--reuse-port"], args.workers).run()


async def _with_db(settings: Settings, fn: Any, *, migrate: bool = True) -> Any:
    from storage import keys
    from storage.database import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(settings.database_url, keys.load_or_create(settings.data_dir), settings.data_dir)
    await db.start(migrate=migrate)
    try:
        return await fn(db)
    finally:
        await db.close()


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.database import upgrade
    from storage.db import make_engine

    async def run() -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = make_engine(settings.database_url, writer=True)
        try:
            await upgrade(engine, args.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database upgraded to {args.revision}")
    return 0


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    async def run(db: Any) -> tuple[bool, int, str]:
        result: tuple[bool, int, str] = await db.audit.verify()
        return result

    ok, count, detail = asyncio.run(_with_db(settings, run))
    print(json.dumps({"ok": ok, "events": count, "detail": detail}, ensure_ascii=False))
    return 0 if ok else 1


def _report_doc(r: Any) -> dict[str, Any]:
    doc = asdict(r)
    doc["id"] = str(r.id)
    doc["received_at"] = r.received_at.isoformat()
    doc["updated_at"] = r.updated_at.isoformat()
    doc["messages"] = [{**asdict(m), "at": m.at.isoformat()} for m in r.messages]
    return doc


def _reports_list(args: argparse.Namespace, settings: Settings) -> int:
    async def run(db: Any) -> list[Any]:
        found: list[Any] = await db.reports.recent(limit=args.limit, status=args.status, channel=args.channel)
        return found

    rows = asyncio.run(_with_db(settings, run))
    if args.json:
        print(json.dumps({"reports": [_report_doc(r) for r in rows]}, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("（没有举报）")
        return 0
    print("收到时间为北京时间。")
    for r in rows:
        channel = CHANNEL_LABELS.get(r.channel, r.channel)
        status = STATUS_LABELS.get(r.status, r.status)
        summary = (r.title or r.content).replace("\n", " ")[:40]
        print(
            f"{r.case_no}  {china_time(r.received_at)}  {channel}  {status}  {r.informant_alias}  {summary}"
        )
    return 0


def _confidence(value: Any) -> str:
    """高/中/低 with the number, as the console shows it."""
    from triage.explain import label as confidence_label  # triage loads its models: only when shown

    if not isinstance(value, int | float):
        return "（未定）"
    return f"{confidence_label(float(value))}（{float(value):.2f}）"


def _reports_show(args: argparse.Namespace, settings: Settings) -> int:
    async def run(db: Any) -> tuple[Any, list[Any]]:
        report = await db.reports.get(args.case_no)
        events = await db.reports.events(report.id) if report else []
        return report, events

    report, events = asyncio.run(_with_db(settings, run))
    if report is None:
        print(f"没有编号为 {args.case_no} 的案件。", file=sys.stderr)
        return 1
    doc = _report_doc(report)
    doc["events"] = [
        {
            "seq": e.seq,
            "kind": e.kind,
            "actor": e.actor,
            "at": e.at.isoformat(),
            "payload": json.loads(e.payload),
        }
        for e in events
    ]
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0
    labels = [
        ("案件编号", "case_no"),
        ("渠道", "channel"),
        ("状态", "status"),
        ("标题", "title"),
        ("被反映人", "accused_name"),
        ("单位", "accused_unit"),
        ("职务", "accused_position"),
        ("地点", "location_text"),
        ("区划代码", "location_code"),
        ("检举人", "informant_alias"),
        ("匿名", "anonymous"),
        ("接收单位", "receiving_unit"),
        ("附件数", "attachments"),
        ("收到时间（北京时间）", "received_at"),
    ]
    shown = {
        **doc,
        "channel": CHANNEL_LABELS.get(report.channel, report.channel),
        "status": STATUS_LABELS.get(report.status, report.status),
        "anonymous": "是" if report.anonymous else "否",
        "received_at": china_time(report.received_at),
    }
    for label, key in labels:
        if shown.get(key) not in (None, ""):
            print(f"{label}：{shown[key]}")
    t = report.triage
    if t:
        from triage.explain import LEVEL_NAMES, PRIORITY_NAMES, SCOPE_NAMES

        unit = (t.get("unit") or {}).get("name") or "（未定）"
        review = "，待人工分流" if t.get("needs_review") else ""
        print(
            f"分流：{t.get('category') or '（未定）'} · {SCOPE_NAMES.get(t.get('scope'), '（未定）')} · "
            f"{LEVEL_NAMES.get(t.get('level'), '（未定）')} · {unit} · "
            f"紧急程度 {PRIORITY_NAMES.get(t.get('priority'), '（未定）')} · "
            f"把握 {_confidence(t.get('confidence'))}{review}"
        )
        if t.get("duplicate_of"):
            print(f"疑似重复：{t['duplicate_of']}")
    else:
        print("分流：尚未完成")
    print("内容：")
    print(report.content)
    for m in report.messages:
        print(f"[{'补充' if m.direction == 'in' else '答复'} {china_time(m.at)}] {m.body}")
    from console.labels import EVENT_LABELS, actor_label  # the console's words for the trail

    print("留痕（北京时间）：")
    for e in events:
        print(f"  #{e.seq} {china_time(e.at)} {EVENT_LABELS.get(e.kind, e.kind)}（{actor_label(e.actor)}）")
    return 0


def _triage_service(db: Any, settings: Settings) -> Any:
    from intake import jurisdiction
    from intake.clock import SystemClock
    from intake.triage_service import TriageService

    doc = jurisdiction.load(settings.jurisdiction_file).document
    return TriageService(db, SystemClock(), doc, model_path=settings.triage_model)


def _reports_correct(args: argparse.Namespace, settings: Settings) -> int:
    from intake.errors import IntakeError

    changes = {
        name: value
        for name in ("category", "scope", "level", "unit", "priority")
        if (value := getattr(args, name)) is not None
    }

    async def run(db: Any) -> dict[str, Any]:
        service = _triage_service(db, settings)
        result: dict[str, Any] = await service.correct(args.case_no, args.actor, changes)
        return result

    try:
        doc = asyncio.run(_with_db(settings, run))
    except IntakeError as exc:
        print(f"intake reports correct: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    doc.pop("signature", None)
    print(json.dumps(doc, ensure_ascii=False, indent=1))
    return 0


def _reports_queue(args: argparse.Namespace, settings: Settings) -> int:
    async def run(db: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await _triage_service(db, settings).review_queue(args.limit)
        return found

    print(json.dumps({"needs_review": asyncio.run(_with_db(settings, run))}, ensure_ascii=False, indent=1))
    return 0


def _reports_corrections(args: argparse.Namespace, settings: Settings) -> int:
    import csv

    async def run(db: Any) -> list[Any]:
        found: list[Any] = await _triage_service(db, settings).corrections()
        return found

    rows = asyncio.run(_with_db(settings, run))
    out = csv.writer(sys.stdout)
    out.writerow(["case_no", "text", "field", "before", "after", "actor"])
    for c in rows:
        if args.field is None or c.field == args.field:
            out.writerow([c.case_no, c.text, c.field, c.before, c.after, c.actor])
    return 0


def _staff_add(args: argparse.Namespace, settings: Settings) -> int:
    """``intake staff add USERNAME --unit UNIT --role ROLE [--email ADDR] [--password-stdin] [--json]``."""
    import getpass

    from intake import jurisdiction
    from intake.clock import SystemClock
    from intake.errors import IntakeError
    from intake.staff import OrgTree, StaffService, provisioning_uri

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码：")
        if getpass.getpass("再次输入密码：") != password:
            print("intake staff add: 两次输入的密码不一致", file=sys.stderr)
            return 1
    units = jurisdiction.load(settings.jurisdiction_file).units

    async def run(db: Any) -> tuple[Any, str]:
        await db.units.sync(units)
        service = StaffService(db, SystemClock(), OrgTree(units), scrypt_n=2**settings.staff_scrypt_log_n)
        result: tuple[Any, str] = await service.add(
            args.username, args.unit, args.role, password, actor="cli", email=args.email
        )
        return result

    try:
        member, secret = asyncio.run(_with_db(settings, run))
    except IntakeError as exc:
        print(f"intake staff add: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    doc = {
        "username": member.username,
        "unit": member.unit,
        "role": member.role,
        "totp_secret": secret,
        "otpauth_uri": provisioning_uri(member.username, secret),
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(f"已创建 {member.username}（{member.unit}，{member.role}）")
        print(f"动态口令密钥（请立即录入验证器，此后不再显示）：{secret}")
        print(doc["otpauth_uri"])
    return 0


def _staff_list(args: argparse.Namespace, settings: Settings) -> int:
    async def run(db: Any) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = await db.staff.list_staff()
        return found

    for username, unit, role in asyncio.run(_with_db(settings, run)):
        print(f"{username}\t{unit}\t{role}")
    return 0


def _calendar_load(args: argparse.Namespace, settings: Settings) -> int:
    """Check a year of the State Council's holiday notice and install it for the deadline engine."""
    from pathlib import Path

    from intake.deadlines import parse_year
    from intake.errors import IntakeError

    try:
        doc = json.loads(Path(args.file).read_text("utf-8"))
        year = parse_year(doc)
    except (OSError, ValueError) as exc:
        print(f"intake calendar load: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    except IntakeError as exc:
        print(f"intake calendar load: {exc.message}", file=sys.stderr)
        return 1
    target = settings.data_dir / "calendar"
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written aside and renamed into place: a running server re-reads the folder (it looks before
    # refusing a date as a calendar gap) and must never read half a file.
    staged = target / f".{year.year}.json.tmp"
    staged.write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    staged.replace(target / f"{year.year}.json")
    print(f"calendar {year.year}: {len(year.holidays)} holidays, {len(year.workdays)} make-up working days")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from server import (
        data_commands,
        jurisdiction_commands,
        receipt_commands,
        stats_commands,
        triage_commands,
        vault_commands,
    )

    parser = argparse.ArgumentParser(
        prog="intake", description="信访举报受理系统 — petition and reporting intake"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--reuse-port", action="store_true", help="allow several workers on one port")
    serve.add_argument(
        "--workers", type=int, default=1, help="start N worker processes on the port (PostgreSQL only)"
    )
    serve.set_defaults(func=_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="run migrations to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_db_upgrade)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    audit.add_parser("verify", help="check the hash chain; exit 1 on a break").set_defaults(
        func=_audit_verify
    )

    reports = sub.add_parser("reports", help="staff view of reports (no identity)").add_subparsers(
        dest="reports_command", required=True
    )
    lst = reports.add_parser("list", help="newest reports first")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--status")
    lst.add_argument("--channel")
    lst.set_defaults(func=_reports_list)
    show = reports.add_parser("show", help="one report with its audit trail")
    show.add_argument("case_no")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_reports_show)
    fix = reports.add_parser("correct", help="override triage decisions (recorded in the audit trail)")
    fix.add_argument("case_no")
    fix.add_argument("--actor", required=True, help="who corrects (staff username)")
    fix.add_argument("--category")
    fix.add_argument("--scope", choices=("accusation", "appeal", "suggestion", "petition", "out_of_scope"))
    fix.add_argument("--level", choices=("central", "province", "city", "county", "township"))
    fix.add_argument("--unit", help="unit code in the jurisdiction, e.g. 430121102")
    fix.add_argument("--priority", choices=("urgent", "high", "normal"))
    fix.set_defaults(func=_reports_correct)
    queue = reports.add_parser("queue", help="the manual triage queue: reports triage was unsure about")
    queue.add_argument("--limit", type=int, default=200)
    queue.set_defaults(func=_reports_queue)
    corr = reports.add_parser("corrections", help="staff corrections as CSV (text, field, before, after)")
    corr.add_argument("--field", help="only this field, e.g. category, for retraining the classifier")
    corr.set_defaults(func=_reports_corrections)
    data_commands.add_report_commands(reports)

    staff = sub.add_parser("staff", help="staff accounts").add_subparsers(dest="staff_command", required=True)
    add = staff.add_parser("add", help="create a staff account (prints its TOTP secret once)")
    add.add_argument("username")
    add.add_argument("--unit", required=True, help="unit code, e.g. 430121")
    add.add_argument(
        "--role",
        required=True,
        choices=tuple(ROLES),
    )
    add.add_argument("--email", help="where urging alerts (催办) are mailed, when a mail server is set")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=_staff_add)
    staff.add_parser("list", help="every account: username, unit, role").set_defaults(func=_staff_list)
    cal = sub.add_parser("calendar", help="the official working-day calendar").add_subparsers(
        dest="calendar_command", required=True
    )
    load = cal.add_parser("load", help="install a newly published year (JSON: year, holidays, workdays)")
    load.add_argument("file")
    load.set_defaults(func=_calendar_load)

    triage_commands.add_commands(sub)
    vault_commands.add_commands(sub)
    data_commands.add_commands(sub)
    jurisdiction_commands.add_commands(sub)
    receipt_commands.add_commands(sub)
    stats_commands.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        result: int = args.func(args, settings)
    except JurisdictionError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailable:
        # An operator's answer, not a traceback (whose chain would quote the driver's error).
        print("intake: the database cannot be reached; try again when it is back", file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE
    return result
