"""``intake jurisdiction build``: write a jurisdiction file from the packaged division data
(:mod:`intake.jurisdiction_build`), and ``intake jurisdiction check`` to try one before a start.

Bad input (a malformed or unknown division code, a file that does not load) is a message on
stderr and exit status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from server.config import Settings

EXIT_BAD_INPUT = 2
LEVEL_WORDS = {"central": "中央", "province": "省级", "city": "市级", "county": "县级", "township": "乡镇级"}


def add_commands(sub: Any) -> None:
    group = sub.add_parser(
        "jurisdiction", help="the deployment's org tree (jurisdiction file)"
    ).add_subparsers(dest="jurisdiction_command", required=True)
    build = group.add_parser(
        "build",
        help="write a jurisdiction file for a province, city, county or township from the division data",
    )
    build.add_argument(
        "--division", required=True, help="division code: 2 (province), 4 (city), 6 (county) or 9 digits"
    )
    build.add_argument(
        "--down-to",
        choices=("township", "village"),
        default="township",
        help="township (default): commissions only; village: villages and communities as intake points too",
    )
    build.add_argument("--central", action="store_true", help="put 中央纪委国家监委 at the top of the chain")
    build.add_argument("--name", help="the deployment's name (default: the division's commission)")
    build.add_argument("--out", required=True, help="the file to write ('-' for stdout)")
    build.set_defaults(func=_build)
    check = group.add_parser(
        "check", help="load a jurisdiction file as the server would; exit 2 if it is refused"
    )
    check.add_argument("file", nargs="?", help="the file (default: the configured one or the bundled demo)")
    check.set_defaults(func=_check)


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from intake import jurisdiction
    from intake.jurisdiction_build import BuildError, build, dumps

    try:
        doc = build(args.division, down_to=args.down_to, central=args.central, name=args.name)
        jurisdiction.from_document(doc)  # what is written loads
    except (BuildError, jurisdiction.JurisdictionError) as exc:
        print(f"intake jurisdiction build：{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = dumps(doc)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, "utf-8")
    print(f"intake jurisdiction build：{_summary(doc['units'])}", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from intake import jurisdiction

    path = Path(args.file) if args.file else settings.jurisdiction_file
    try:
        found = jurisdiction.load(path)
    except jurisdiction.JurisdictionError as exc:
        print(f"intake jurisdiction check：{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    units = [{"level": u.level, "kind": u.kind} for u in found.units]
    print(f"{found.name}（受理单位 {found.receiving_unit}）：{_summary(units)}")
    return 0


def _summary(units: list[dict[str, Any]]) -> str:
    """共 1832 个单位：省级 1、市级 1、县级 9、乡镇级 172、村（社区）受理点 1649."""
    levels = Counter(u["level"] for u in units if u["kind"] != "intake_point")
    points = sum(1 for u in units if u["kind"] == "intake_point")
    parts = [f"{word} {levels[level]}" for level, word in LEVEL_WORDS.items() if levels[level]]
    if points:
        parts.append(f"村（社区）受理点 {points}")
    return f"共 {len(units)} 个单位：" + "、".join(parts)
