"""Triage speed: reports/s, cold start, and triage time relative to bare jieba segmentation.

    .venv/bin/python bench/triage_speed.py [--n 3000] [--model FILE] [--stored 1000000]

Texts: citizen messages from ``../shared/data/taidi2020`` (title + detail) when that folder is
present, else synthetic petition-style reports. In the same run it times ``jieba.lcut`` (the
global tokenizer, HMM on) over the same texts. Both loops are timed in CPU time of this process
(``time.process_time``) as well as wall time, because the ratio should not depend on what else
the machine runs; each loop runs twice and the faster run counts. Triage here is the full path a
pipeline runs: normalization, segmentation, places, accused, scope, category (the model when
given), routing, priority, the duplicate query and adding the report's signature to the index.

Cold start is measured in a fresh interpreter: import, load everything (jieba dictionary,
gazetteer, OpenCC, rules, the model if given) and triage one report.

The duplicate index is then filled with ``--stored`` synthetic reports (random word sequences
over a 20,000-word vocabulary, signed with the same MinHash) and queried.

Short texts (the messages' titles, about 20 characters) are timed the same way against
``jieba.lcut`` on those titles: ``ratio_short`` (target ≤ 2.5), where the per-report overhead shows.
Triage includes the officers' explanations (``explain=True``, as the server runs it).

The last line is ``ratio=<triage time / segmentation time>`` on the long texts (target ≤ 2.0).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# ``../shared`` beside the repository (a git worktree one level deeper finds it one level up).
SHARED = next(
    (p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()), ROOT.parent
)
TAIDI = SHARED / "data" / "taidi2020"
JURISDICTION = ROOT / "intake" / "data" / "demo_jurisdiction.json"

COLD_START = """
import json, time, sys
t0 = time.perf_counter(); c0 = time.process_time()
import triage
j = triage.Jurisdiction.from_dict(json.load(open(sys.argv[1], encoding="utf-8")))
model = triage.Model.load(sys.argv[2]) if len(sys.argv) > 2 else None
triage.warm_up(j)
triage.triage("举报长沙县黄兴镇金凤村党支部书记张某某优亲厚友。", jurisdiction=j, model=model)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def realistic_texts(n: int) -> tuple[list[str], str]:
    path = TAIDI / "messages_unlabeled.csv"
    if path.exists():
        texts: list[str] = []
        for name in ("messages_unlabeled.csv", "messages_with_replies.csv"):
            with (TAIDI / name).open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    detail = re.sub(r"\s+", "", row["留言详情"])
                    texts.append(f"{row['留言主题'].strip()}。{detail}")
        return texts[:n], f"taidi2020 citizen messages ({TAIDI})"
    return synthetic_texts(n), "synthetic petition-style reports"


def short_texts(n: int) -> tuple[list[str], str]:
    """Short reports: the messages' titles (about 20 characters), where triage's per-report
    overhead, not segmentation, would dominate."""
    path = TAIDI / "messages_unlabeled.csv"
    if path.exists():
        with path.open(encoding="utf-8", newline="") as fh:
            titles = [row["留言主题"].strip() for row in csv.DictReader(fh)]
        return [t for t in titles if t][:n], f"taidi2020 message titles ({TAIDI})"
    return [t[:20] for t in synthetic_texts(n)], "synthetic petition-style reports, first 20 characters"


def synthetic_texts(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    places = [
        "长沙县黄兴镇金凤村",
        "长沙县星沙街道",
        "湖南省长沙市",
        "岳阳县新墙镇",
        "长沙县江背镇",
        "浏阳市",
    ]
    who = ["党支部书记", "村委会主任", "镇长", "教育局局长", "财政所所长", "副县长", "工作人员"]
    what = [
        "在低保评定中优亲厚友，把名额给了自己的亲戚",
        "挪用扶贫资金{n}万元用于个人消费",
        "收受工程老板红包{n}万元，违规插手工程招标",
        "对群众反映的问题推诿扯皮，一直不作为",
        "大操大办儿子婚礼，借机收受礼金",
        "公车私用，经常开公车接送孩子上学",
    ]
    extra = [
        "群众意见很大，希望上级纪委调查核实。",
        "我已多次反映，至今未处理。",
        "请求依法查处，还老百姓一个公道。",
        "相关照片和转账记录可以提供。",
    ]
    out = []
    for _ in range(n):
        body = rnd.choice(what).format(n=rnd.randint(2, 90))
        text = f"举报{rnd.choice(places)}{rnd.choice(who)}{rnd.choice('张李王赵刘陈')}某某{body}。"
        out.append(text + "".join(rnd.sample(extra, k=rnd.randint(1, 3))) * rnd.randint(1, 3))
    return out


def timed(fn: Callable[[], object], repeat: int = 2) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of the faster of ``repeat`` runs."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        best = min(best, (time.process_time() - c0, time.perf_counter() - w0))
    return best


def cold_start(model: str | None) -> dict[str, float]:
    args = [sys.executable, "-c", COLD_START, str(JURISDICTION)] + ([model] if model else [])
    proc = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    doc: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def bench_index(stored: int, probes: Sequence[str]) -> dict[str, float]:
    import numpy as np

    import triage
    from triage import duplicates

    rnd = np.random.default_rng(11)
    index = triage.DuplicateIndex()
    batch = 5_000
    t0 = time.perf_counter()
    for start in range(0, stored, batch):
        size = min(batch, stored - start)
        # Each synthetic report: 60–200 word 3-shingles over a 20,000-word vocabulary.
        lengths = rnd.integers(60, 200, size=size)
        words = rnd.integers(0, 20_000, size=int(lengths.sum()), dtype=np.uint64)
        shingle = (
            words * np.uint64(0x9E3779B1) ^ np.roll(words, 1) * np.uint64(0x85EBCA77) ^ np.roll(words, 2)
        )
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        sigs = duplicates.signatures_of_hash_sets(shingle & np.uint64(0xFFFFFFFF), offsets)
        index.add_signatures([f"S{start + i}" for i in range(size)], sigs)
    build = time.perf_counter() - t0
    sigs_probe = [triage.DuplicateIndex.signature(t) for t in probes]
    index.add_signature("REAL-0", sigs_probe[0])
    t0 = time.process_time()
    found = [index.query_signature(s) for s in sigs_probe]
    query = (time.process_time() - t0) / len(sigs_probe)
    t0 = time.process_time()
    for i, s in enumerate(sigs_probe[:1000]):
        index.add_signature(f"REAL-{i + 1}", s)
    add = (time.process_time() - t0) / min(1000, len(sigs_probe))
    false_hits = sum(1 for f in found[1:] if f is not None and f.startswith("S"))
    return {
        "stored": len(index),
        "build_s": build,
        "query_us": query * 1e6,
        "add_us": add * 1e6,
        "bytes_per_report": index.nbytes() / len(index),
        "self_found": float(found[0] == "REAL-0"),
        "false_hits": float(false_hits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000, help="reports to triage")
    parser.add_argument("--model", help="a model file from `intake triage train`")
    parser.add_argument("--stored", type=int, default=1_000_000, help="reports in the duplicate index")
    parser.add_argument(
        "--no-explain", action="store_true", help="skip the officers' explanations (to see their cost)"
    )
    args = parser.parse_args()

    cold = cold_start(args.model)
    print(
        f"cold start (fresh process, import → first result): {cold['wall']:.2f} s wall, "
        f"{cold['cpu']:.2f} s CPU"
    )

    import jieba

    import triage

    texts, source = realistic_texts(args.n)
    chars = sum(len(t) for t in texts)
    print(f"texts: {len(texts)} from {source}, {chars / len(texts):.0f} characters on average")
    jurisdiction = triage.Jurisdiction.from_dict(json.loads(JURISDICTION.read_text("utf-8")))
    model = triage.Model.load(args.model) if args.model else None
    triage.warm_up(jurisdiction)
    jieba.setLogLevel(60)
    jieba.initialize()
    index = triage.DuplicateIndex()
    explain = not args.no_explain

    def run_triage() -> None:
        for i, text in enumerate(texts):
            r = triage.triage(
                text, channel="web", jurisdiction=jurisdiction, model=model, duplicates=index, explain=explain
            )
            index.add_signature(f"B{i}", r.signature)

    def run_jieba() -> None:
        for text in texts:
            jieba.lcut(text)

    tri_cpu, tri_wall = timed(run_triage)
    seg_cpu, seg_wall = timed(run_jieba)

    short, short_source = short_texts(args.n)
    short_index = triage.DuplicateIndex()

    def run_triage_short() -> None:
        for i, text in enumerate(short):
            r = triage.triage(
                text,
                channel="web",
                jurisdiction=jurisdiction,
                model=model,
                duplicates=short_index,
                explain=explain,
            )
            short_index.add_signature(f"S{i}", r.signature)

    def run_jieba_short() -> None:
        for text in short:
            jieba.lcut(text)

    seg_short_cpu, _ = timed(run_jieba_short, repeat=3)
    tri_short_cpu, _ = timed(run_triage_short, repeat=3)
    seg_short_cpu = min(seg_short_cpu, timed(run_jieba_short, repeat=2)[0])
    print(
        f"triage: {len(texts) / tri_cpu:.0f} reports/s CPU ({tri_cpu * 1e3 / len(texts):.2f} ms each), "
        f"{len(texts) / tri_wall:.0f} reports/s wall; model: {model.version if model else 'rules only'}"
    )
    print(f"jieba.lcut: {len(texts) / seg_cpu:.0f} texts/s CPU ({seg_cpu * 1e3 / len(texts):.2f} ms each)")
    if args.stored:
        stats = bench_index(args.stored, texts)
        print(
            f"duplicate index: {stats['stored']:.0f} stored, built in {stats['build_s']:.1f} s, "
            f"query {stats['query_us']:.0f} µs CPU, add {stats['add_us']:.0f} µs CPU, "
            f"{stats['bytes_per_report']:.0f} B/report (arrays), self found: {bool(stats['self_found'])}, "
            f"false hits on synthetic: {stats['false_hits']:.0f}"
        )
    print(
        f"short texts: {len(short)} from {short_source}, {sum(map(len, short)) / len(short):.0f} characters "
        f"on average; triage {tri_short_cpu * 1e3 / len(short):.3f} ms each, jieba.lcut "
        f"{seg_short_cpu * 1e3 / len(short):.3f} ms each (CPU)"
    )
    print(f"wall-clock ratio={tri_wall / seg_wall:.2f} (noisy on a shared machine)")
    print(f"ratio_short={tri_short_cpu / seg_short_cpu:.2f} (target ≤ 2.5)")
    print(f"ratio={tri_cpu / seg_cpu:.2f}")


if __name__ == "__main__":
    main()
