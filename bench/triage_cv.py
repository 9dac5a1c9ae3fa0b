"""Cross-validated macro-F1 of the triage category classifier on the 2020 泰迪杯 messages.

    .venv/bin/python bench/triage_cv.py [--data ../shared/data/taidi2020] [--folds 5] [--json]

The corpus is ``server.triage_commands.taidi2020_corpus``: the first-level labels (一级分类),
title + detail as one text where a record pairs them, every other labeled title or detail on its
own, with the message id as a leakage group. :func:`triage.cross_validate` then merges exact
duplicates (after normalization), links near-duplicates (character-3-gram Jaccard ≥ 0.7, or one
text ≥ 90 % inside another), and splits with ``StratifiedGroupKFold`` so that no group is on both
sides of a fold; the vectorizers and the SVM are refitted inside every fold.

The messages are read from ``../shared/data`` and never copied into the repository. It prints
per-fold progress on stderr, a per-class table, and a last line ``macro_f1=<out-of-fold macro-F1>``.
It is single-threaded and takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = next(
    (p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()), ROOT.parent
)
DEFAULT_DATA = SHARED / "data" / "taidi2020"


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal where Chinese characters take two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the taidi2020 folder")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nb-weight",
        type=float,
        default=None,
        help="the naive-Bayes-weighted SVM's share (default: the product's; 0: the plain SVM)",
    )
    parser.add_argument("--json", action="store_true", help="print the full result as JSON too")
    args = parser.parse_args()
    if not (args.data / "titles_labeled.csv").exists():
        print(f"{args.data}: the taidi2020 data is not there; nothing to measure", file=sys.stderr)
        return 2

    import triage
    from server.triage_commands import taidi2020_corpus

    texts, labels, groups = taidi2020_corpus(args.data)
    t0 = time.perf_counter()
    result = triage.cross_validate(
        texts,
        labels,
        folds=args.folds,
        groups=groups,
        seed=args.seed,
        nb_weight=triage.NB_WEIGHT if args.nb_weight is None else args.nb_weight,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    leak = result["leakage"]
    print(
        f"taidi2020: {leak['input_rows']} labeled texts → {leak['unique_texts']} unique in "
        f"{leak['groups']} leakage groups; {args.folds}-fold grouped stratified CV in {elapsed:.0f} s"
    )
    print(f"params: {json.dumps(result['params'], ensure_ascii=False)}")
    print(f"{_pad('class', 16)} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for label, m in sorted(result["per_class"].items()):
        scores = f"{m['precision']:>9.4f} {m['recall']:>7.4f} {m['f1']:>7.4f} {m['support']:>8}"
        print(f"{_pad(label, 16)} {scores}")
    print(f"folds: {result['folds']}")
    print(f"accuracy={result['accuracy']}")
    print(f"macro_f1={result['macro_f1']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
