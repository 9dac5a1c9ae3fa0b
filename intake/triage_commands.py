"""``intake triage …``: triage a text, train and evaluate a category model (CLI glue for triage).

Forms (one ``triage`` sub-command; its first word picks the action)::

    intake triage [TEXT] [--model FILE] [--channel C]          # stdin when no TEXT; prints JSON
    intake triage train CSV --text-column C --label-column L [--out FILE]
    intake triage eval CSV --text-column C --label-column L [--model FILE | --cv K]
    intake triage taidi2020 DIR --out CSV                      # build the combined training CSV

The jurisdiction is the deployment's (``INTAKE_JURISDICTION_FILE``) or the bundled demo; it is read
here and handed to :mod:`triage` as plain data, since triage imports nothing of ours.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import triage
from intake.config import Settings
from triage.engine import CHANNELS

USAGE = """\
intake triage [TEXT] [--model FILE] [--channel C] [--jurisdiction FILE]
       intake triage train CSV --text-column C --label-column L [--out FILE]
       intake triage eval CSV --text-column C --label-column L [--model FILE | --cv K]
       intake triage taidi2020 DIR --out CSV"""
DEFAULT_MODEL_OUT = "triage-model.npz"


def add_commands(subparsers: Any) -> None:
    """Register ``triage`` on the ``intake`` command line's sub-parsers."""
    p = subparsers.add_parser(
        "triage",
        help="triage a report (JSON); train or evaluate a category model",
        usage=USAGE,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("words", nargs="*", help="TEXT, or train CSV / eval CSV / taidi2020 DIR")
    p.add_argument("--model", help="a model file written by `intake triage train`")
    p.add_argument("--channel", choices=CHANNELS, help="the report's channel tag")
    p.add_argument("--jurisdiction", type=Path, help="jurisdiction file (default: the configured one)")
    p.add_argument("--text-column", help="CSV column with the text")
    p.add_argument("--label-column", help="CSV column with the label")
    p.add_argument("--out", help=f"where train writes the model (default {DEFAULT_MODEL_OUT})")
    p.add_argument("--cv", type=int, help="eval: k-fold cross-validation of the training recipe instead")
    p.add_argument("--c", type=float, default=0.5, help="train/eval: SVM regularization C")
    p.set_defaults(func=run)


def load_jurisdiction(path: Path | None) -> triage.Jurisdiction:
    """The deployment's jurisdiction file (or the bundled demo) as triage's plain data."""
    if path is None:
        text = resources.files("intake").joinpath("data/demo_jurisdiction.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return triage.Jurisdiction.from_dict(json.loads(text))


def read_labeled_csv(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {text_column, label_column} - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: no column {', '.join(sorted(missing))} (has {reader.fieldnames})")
        for row in reader:
            text, label = (row[text_column] or "").strip(), (row[label_column] or "").strip()
            if text and label:
                texts.append(text)
                labels.append(label)
    if not texts:
        raise SystemExit(f"{path}: no labeled rows")
    return texts, labels


def taidi2020_corpus(root: Path) -> tuple[list[str], list[str]]:
    """The 2020 泰迪杯 labeled messages as (text, label): a title and its detail joined where the
    full records (附件 sample, 3, 4) pair them, every other title and detail on its own."""

    def squash(s: str) -> str:
        return re.sub(r"\s+", "", s)

    with (root / "titles_labeled.csv").open(encoding="utf-8", newline="") as fh:
        titles = [(r["title"].strip(), r["label"]) for r in csv.DictReader(fh)]
    with (root / "details_labeled.csv").open(encoding="utf-8", newline="") as fh:
        details = [(r["detail_nospace"], r["label"]) for r in csv.DictReader(fh)]
    title_label = dict(titles)
    detail_label = dict(details)
    pairs: list[tuple[str, str]] = []
    for name in ("sample_full_records.csv", "messages_unlabeled.csv", "messages_with_replies.csv"):
        path = root / name
        if path.exists():
            with path.open(encoding="utf-8", newline="") as fh:
                pairs.extend((r["留言主题"].strip(), squash(r["留言详情"])) for r in csv.DictReader(fh))
    used_titles: set[str] = set()
    used_details: set[str] = set()
    texts: list[str] = []
    labels: list[str] = []
    for title, detail in pairs:
        if title in used_titles or detail in used_details:
            continue
        if title in title_label and detail_label.get(detail) == title_label[title]:
            used_titles.add(title)
            used_details.add(detail)
            texts.append(f"{title}。{detail}")
            labels.append(title_label[title])
    for title, label in titles:
        if title not in used_titles:
            texts.append(title)
            labels.append(label)
    for detail, label in details:
        if detail not in used_details:
            texts.append(detail)
            labels.append(label)
    return texts, labels


def _print(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=1))


def _columns(args: argparse.Namespace) -> tuple[str, str]:
    if not (args.text_column and args.label_column):
        raise SystemExit("give --text-column and --label-column")
    return args.text_column, args.label_column


def _train(args: argparse.Namespace, csv_path: Path) -> int:
    texts, labels = read_labeled_csv(csv_path, *_columns(args))
    model = triage.train(texts, labels, c=args.c, name=csv_path.stem)
    out = Path(args.out or DEFAULT_MODEL_OUT)
    model.save(out)
    _print({"model": str(out), "version": model.version, "n": len(texts), "labels": model.labels})
    return 0


def _eval(args: argparse.Namespace, csv_path: Path) -> int:
    texts, labels = read_labeled_csv(csv_path, *_columns(args))
    if args.cv:

        def progress(msg: str) -> None:
            print(msg, file=sys.stderr)

        _print(triage.cross_validate(texts, labels, folds=args.cv, c=args.c, progress=progress))
        return 0
    if not args.model:
        raise SystemExit("give --model FILE (or --cv K to cross-validate the training recipe)")
    _print(triage.evaluate(triage.Model.load(args.model), texts, labels))
    return 0


def _taidi2020(args: argparse.Namespace, root: Path) -> int:
    if not args.out:
        raise SystemExit("give --out CSV (outside the repository: the messages must not be committed)")
    texts, labels = taidi2020_corpus(root)
    with Path(args.out).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))
    print(f"wrote {len(texts)} labeled texts to {args.out}", file=sys.stderr)
    return 0


def _triage_text(args: argparse.Namespace, settings: Settings, words: Sequence[str]) -> int:
    text = " ".join(words) if words else sys.stdin.read()
    if not text.strip():
        raise SystemExit("no text (give TEXT or pipe it on stdin)")
    jurisdiction = load_jurisdiction(args.jurisdiction or settings.jurisdiction_file)
    model = triage.Model.load(args.model) if args.model else None
    result = triage.triage(text, channel=args.channel, jurisdiction=jurisdiction, model=model)
    _print(result.to_json())
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    words: list[str] = list(args.words)
    action = words[0] if words else ""
    if action in ("train", "eval", "taidi2020"):
        if len(words) != 2:
            raise SystemExit(f"usage: {USAGE}")
        path = Path(words[1])
        if not path.exists():
            raise SystemExit(f"{path}: not found")
        if action == "train":
            return _train(args, path)
        if action == "eval":
            return _eval(args, path)
        return _taidi2020(args, path)
    return _triage_text(args, settings, words)
