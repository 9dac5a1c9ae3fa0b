"""Jurisdiction scale: a whole province's tree against one county's, measured in the same run.

    .venv/bin/python bench/jurisdiction_scale.py [--province 43] [--county 430121] [--reports 200]

Both trees are built by the builder (``intake jurisdiction build --down-to village``): 湖南 (43:
14 cities, ~130 counties, ~2,000 townships, ~29,500 villages as intake points) and 长沙县
(430121: 18 townships, 225 villages), each written to a file. Each file is then measured in a
fresh interpreter (so that neither profits from the other's warm caches), after triage's fixed
start-up (jieba, gazetteer, OpenCC, rules: ``base``), which does not depend on the tree:

* ``load``: what the server does with the file at start — ``intake.jurisdiction.load`` (parse
  and check: cycles, parents, levels, kinds; parents-first order), triage's
  ``Jurisdiction.from_dict`` of the same document and ``triage.warm_up`` of it (the look-up tables
  and the tokenizer's township names). Target: < 2 s for the province.
* ``route``: routing alone per report (``Router.route`` on reports already read), and the whole
  of ``triage.triage`` per report; the province's minus the county's is the routing time the
  tree adds. Target: < 0.5 ms. Also the per-report cost of a report filed at a lower unit
  (``receiving_unit``: a view of the tree, cached).
* ``memory``: what the two jurisdiction objects and the parsed document hold (tracemalloc,
  after a collection), and the file's size.
* ``sync``: the units table filled on a first start (SQLite, fresh) and checked on the next one.

Wall and CPU times are both printed: the machine may be shared; CPU time is the fairer figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXTS = [
    "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款。",
    "举报宁乡市住建局局长李某某收受开发商贿赂，违规审批项目。",
    "长沙市住建局副局长王某某违规插手工程招投标，收受好处费。",
    "举报长沙县黄兴镇党委书记孙某某收受贿赂。",
    "反映长沙县江背镇财政所工作人员刘某某在发放惠农补贴时吃拿卡要。",
    "举报岳阳市平江县三阳乡党委书记钱某某违规吃喝。",
    "举报衡阳市教育局局长吴某某收受红包，违规提拔亲属。",
    "举报湘西州凤凰县某村村委会主任（非党员）挪用扶贫资金。",
    "株洲市醴陵市某镇镇长违规发放补贴。",
    "举报湖南省副省长某某收受巨额贿赂。",
    "我们小区物业乱收费，希望有关部门管一管。",
    "反映村里修路款去向不明，村干部拒不公开账目。",
]


def _cpu_wall() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> dict[str, float]:
    cpu, wall = _cpu_wall()
    return {"cpu_s": round(cpu - start[0], 4), "wall_s": round(wall - start[1], 4)}


def child(path: Path, reports: int) -> dict[str, Any]:
    """Measure one jurisdiction file in this (fresh) interpreter."""
    import triage
    from intake import jurisdiction as intake_jurisdiction
    from triage import gazetteer, routing
    from triage.engine import _read

    out: dict[str, Any] = {"file_bytes": path.stat().st_size}
    t = _cpu_wall()
    triage.warm_up()
    out["base"] = _since(t)

    t = _cpu_wall()
    found = intake_jurisdiction.load(path)
    out["intake_load"] = _since(t)
    t = _cpu_wall()
    j = triage.Jurisdiction.from_dict(found.document)
    triage.warm_up(j)
    out["triage_load"] = _since(t)
    out["load"] = {k: round(out["intake_load"][k] + out["triage_load"][k], 4) for k in ("cpu_s", "wall_s")}
    out["units"] = len(found.units)
    out["intake_points"] = sum(1 for u in found.units if u.kind == "intake_point")

    g = gazetteer.default()
    readings = [_read(text, j, g) for text in TEXTS]
    rounds = max(1, reports * 20 // len(TEXTS))

    def route_all() -> None:
        for r in readings:
            routing.Router(j, g).route(r.people, r.places, scope="accusation", channel="web")

    route_all()
    best = min(_timed(route_all, rounds) for _ in range(3))
    out["route_ms"] = round(best * 1000 / (rounds * len(TEXTS)), 5)

    def triage_all() -> None:
        for text in TEXTS:
            triage.triage(text, jurisdiction=j)

    triage_all()
    rounds = max(1, reports // len(TEXTS))
    out["triage_ms"] = round(
        min(_timed(triage_all, rounds) for _ in range(3)) * 1000 / (rounds * len(TEXTS)), 4
    )

    lower = [u.code for u in found.units if u.level == "township"][:50]

    def lower_all() -> None:
        for code in lower:
            j.received_at(code)

    lower_all()
    out["received_at_us"] = round(_timed(lower_all, 200) * 1e6 / (200 * len(lower)), 3)

    # Memory: the parsed document and both jurisdiction objects, as the server holds them (only
    # what is allocated after tracemalloc starts is counted: the objects above do not add to it).
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held_intake = intake_jurisdiction.load(path)
    held_triage = triage.Jurisdiction.from_dict(held_intake.document)
    held_triage.index()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    out["memory_mb"] = round((after - before) / 1e6, 3)
    assert held_triage.receiving_unit and held_intake.units  # still alive while measured

    out["sync"] = asyncio.run(_sync(held_intake.units))
    return out


def _timed(fn: Any, rounds: int) -> float:
    start = time.process_time()
    for _ in range(rounds):
        fn()
    return time.process_time() - start


async def _sync(units: Any) -> dict[str, float]:
    from storage import keys
    from storage.database import Database
    from storage.db import default_sqlite_url

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db = Database(default_sqlite_url(data), keys.load_or_create(data), data)
        await db.start()
        try:
            t = time.perf_counter()
            await db.units.sync(units)
            first = time.perf_counter() - t
            t = time.perf_counter()
            await db.units.sync(units)
            again = time.perf_counter() - t
        finally:
            await db.close()
    return {"first_start_s": round(first, 3), "next_start_s": round(again, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--province", default="43")
    ap.add_argument("--county", default="430121")
    ap.add_argument("--reports", type=int, default=240)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.reports)))
        return

    from intake.jurisdiction_build import build, divisions, dumps

    t = _cpu_wall()
    divisions()
    print(f"division table read: {_since(t)}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, code in (("county", args.county), ("province", args.province)):
            t = _cpu_wall()
            doc = build(code, down_to="village")
            path = Path(tmp) / f"{code}.json"
            path.write_text(dumps(doc), "utf-8")
            built = _since(t)
            run = subprocess.run(
                [sys.executable, __file__, "--child", str(path), "--reports", str(args.reports)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[label] = json.loads(run.stdout.strip().splitlines()[-1])
            results[label]["build"] = built
            print(f"{label} {code}: {json.dumps(results[label], ensure_ascii=False)}")

    c, p = results["county"], results["province"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}×" if b else "—"

    rows = [
        (
            "units (intake points)",
            f"{c['units']} ({c['intake_points']})",
            f"{p['units']} ({p['intake_points']})",
            ratio(p["units"], c["units"]),
        ),
        (
            "file size (MB)",
            f"{c['file_bytes'] / 1e6:.2f}",
            f"{p['file_bytes'] / 1e6:.2f}",
            ratio(p["file_bytes"], c["file_bytes"]),
        ),
        (
            "build (s, cpu)",
            f"{c['build']['cpu_s']:.3f}",
            f"{p['build']['cpu_s']:.3f}",
            ratio(p["build"]["cpu_s"], c["build"]["cpu_s"]),
        ),
        (
            "triage base start-up (s, cpu)",
            f"{c['base']['cpu_s']:.2f}",
            f"{p['base']['cpu_s']:.2f}",
            "(no tree)",
        ),
        (
            "load at start (s, cpu)",
            f"{c['load']['cpu_s']:.3f}",
            f"{p['load']['cpu_s']:.3f}",
            ratio(p["load"]["cpu_s"], c["load"]["cpu_s"]),
        ),
        (
            "load at start (s, wall)",
            f"{c['load']['wall_s']:.3f}",
            f"{p['load']['wall_s']:.3f}",
            ratio(p["load"]["wall_s"], c["load"]["wall_s"]),
        ),
        (
            "  of which intake check",
            f"{c['intake_load']['cpu_s']:.3f}",
            f"{p['intake_load']['cpu_s']:.3f}",
            ratio(p["intake_load"]["cpu_s"], c["intake_load"]["cpu_s"]),
        ),
        (
            "  of which triage from_dict + warm_up",
            f"{c['triage_load']['cpu_s']:.3f}",
            f"{p['triage_load']['cpu_s']:.3f}",
            ratio(p["triage_load"]["cpu_s"], c["triage_load"]["cpu_s"]),
        ),
        (
            "routing per report (ms, cpu)",
            f"{c['route_ms']:.4f}",
            f"{p['route_ms']:.4f}",
            ratio(p["route_ms"], c["route_ms"]),
        ),
        (
            "whole triage per report (ms, cpu)",
            f"{c['triage_ms']:.3f}",
            f"{p['triage_ms']:.3f}",
            ratio(p["triage_ms"], c["triage_ms"]),
        ),
        (
            "filed at a lower unit (µs)",
            f"{c['received_at_us']:.2f}",
            f"{p['received_at_us']:.2f}",
            ratio(p["received_at_us"], c["received_at_us"]),
        ),
        (
            "memory for the tree (MB)",
            f"{c['memory_mb']:.2f}",
            f"{p['memory_mb']:.2f}",
            ratio(p["memory_mb"], c["memory_mb"]),
        ),
        (
            "units table, first start (s)",
            f"{c['sync']['first_start_s']:.3f}",
            f"{p['sync']['first_start_s']:.3f}",
            ratio(p["sync"]["first_start_s"], c["sync"]["first_start_s"]),
        ),
        (
            "units table, next start (s)",
            f"{c['sync']['next_start_s']:.3f}",
            f"{p['sync']['next_start_s']:.3f}",
            ratio(p["sync"]["next_start_s"], c["sync"]["next_start_s"]),
        ),
    ]
    print()
    print(f"| | county {args.county} | province {args.province} | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    added = p["route_ms"] - c["route_ms"]
    print()
    print(
        f"load={p['load']['wall_s']:.3f}s (target < 2 s)  routing_added={added:.4f}ms (target < 0.5 ms)  "
        f"memory={p['memory_mb']:.1f}MB"
    )


if __name__ == "__main__":
    main()
