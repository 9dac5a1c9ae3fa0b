"""``intake triage …``: triage a text, train and evaluate a category model (CLI glue for triage).

Forms (one ``triage`` sub-command; its first word picks the action)::

    intake triage [TEXT] [--model FILE] [--channel C] [--explain]  # stdin when no TEXT; JSON
    intake triage train CSV [CSV…] [--text-column C --label-column L] [--out FILE] [--seed N]
    intake triage eval CSV --text-column C --label-column L --model FILE
    intake triage cv CSV --text-column C --label-column L [--group-column G] [--folds K]
    intake triage taidi2020 DIR --out CSV                      # build the combined training CSV

``--explain`` prints every decision in plain Chinese (as officers see it in the console) instead
of the JSON. ``train`` reads labeled CSVs and ``intake reports corrections`` exports (recognized by
their header; each case's last category correction is its label) in one go, with a seed: the same
data and seed give the same model. A model file that cannot be used (corrupt, foreign, of another
format version) is refused with the reason and the rules-only category takes over.

``cv`` cross-validates the training recipe (grouped, stratified k folds; exact and near
duplicates never straddle a fold: see ``triage.training.cv_data``). ``eval --cv K`` is the
same. ``bench/triage_cv.py`` runs it on the 2020 泰迪杯 messages in ``../shared/data``.

The jurisdiction is the deployment's (``INTAKE_JURISDICTION_FILE``) or the bundled demo; it is read
here and handed to :mod:`triage` as plain data, since triage imports nothing of ours.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import triage
import triage.classifier
from server.config import Settings
from triage import explain
from triage.engine import CHANNELS

USAGE = """\
intake triage [TEXT] [--model FILE] [--channel C] [--jurisdiction FILE] [--explain]
       intake triage train CSV [CSV…] [--text-column C --label-column L] [--out FILE] [--seed N]
       intake triage eval CSV --text-column C --label-column L --model FILE
       intake triage cv CSV --text-column C --label-column L [--group-column G] [--folds K]
       intake triage taidi2020 DIR --out CSV"""
ACTIONS = ("train", "eval", "cv", "taidi2020")
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
    p.add_argument("words", nargs="*", help="TEXT, or train CSV / eval CSV / cv CSV / taidi2020 DIR")
    p.add_argument("--model", help="a model file written by `intake triage train`")
    p.add_argument("--channel", choices=CHANNELS, help="the report's channel tag")
    p.add_argument("--jurisdiction", type=Path, help="jurisdiction file (default: the configured one)")
    p.add_argument("--text-column", help="CSV column with the text")
    p.add_argument("--label-column", help="CSV column with the label")
    p.add_argument("--out", help=f"where train writes the model (default {DEFAULT_MODEL_OUT})")
    p.add_argument("--group-column", help="cv: CSV column of leakage groups (rows of one message)")
    p.add_argument("--folds", type=int, default=5, help="cv: number of folds (default 5)")
    p.add_argument("--cv", type=int, help="eval: k-fold cross-validation of the training recipe instead")
    p.add_argument(
        "--seed", type=int, default=0, help="train/cv: random seed (same data + seed → same model)"
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="TEXT: print every decision explained in plain Chinese instead of the JSON",
    )
    p.add_argument(
        "--c",
        type=float,
        default=triage.DEFAULT_C,
        help=f"train/cv: SVM regularization C ({triage.DEFAULT_C})",
    )
    p.add_argument(
        "--nb-weight",
        type=float,
        default=triage.NB_WEIGHT,
        help=f"train/cv: the naive-Bayes-weighted SVM's share ({triage.NB_WEIGHT}; 0: the plain SVM)",
    )
    p.add_argument(
        "--min-df",
        type=int,
        default=1,
        help="train/cv: drop features seen in fewer texts (2 makes a smaller, faster model)",
    )
    p.set_defaults(func=run)


def load_jurisdiction(path: Path | None) -> triage.Jurisdiction:
    """The deployment's jurisdiction file (or the bundled demo) as triage's plain data."""
    if path is None:
        text = resources.files("intake").joinpath("data/demo_jurisdiction.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return triage.Jurisdiction.from_dict(json.loads(text))


def read_labeled_csv(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    texts, labels, _ = read_grouped_csv(path, text_column, label_column, None)
    return texts, labels


def read_grouped_csv(
    path: Path, text_column: str, label_column: str, group_column: str | None
) -> tuple[list[str], list[str], list[str] | None]:
    """Rows with both a text and a label: (texts, labels, groups or None)."""
    texts, labels, groups = [], [], []
    wanted = {text_column, label_column} | ({group_column} if group_column else set())
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = wanted - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: no column {', '.join(sorted(missing))} (has {reader.fieldnames})")
        for row in reader:
            text, label = (row[text_column] or "").strip(), (row[label_column] or "").strip()
            if text and label:
                texts.append(text)
                labels.append(label)
                groups.append((row[group_column] or "").strip() if group_column else "")
    if not texts:
        raise SystemExit(f"{path}: no labeled rows")
    return texts, labels, groups if group_column else None


def taidi2020_corpus(root: Path) -> tuple[list[str], list[str], list[str]]:
    """The 2020 泰迪杯 labeled messages as (texts, labels, groups), the text being title + detail.

    A message's title and detail are joined (``title。detail``) where a full record pairs them:
    the labeled sample records (一级分类), and the 附件3/4 records whose title and detail carry the
    same label in the title and detail tables. Every other labeled title or detail is a text of
    its own. ``groups`` holds the message id (``m<留言编号>``) for every text that came from a
    known message, so that a title and its detail are never on both sides of a fold; "" else.
    """

    def squash(s: str) -> str:
        return re.sub(r"\s+", "", s)

    def rows(name: str) -> list[dict[str, str]]:
        path = root / name
        if not path.exists():
            return []
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    titles = [(r["title"].strip(), r["label"]) for r in rows("titles_labeled.csv")]
    details = [(r["detail_nospace"], r["label"]) for r in rows("details_labeled.csv")]
    title_label, detail_label = dict(titles), dict(details)
    texts: list[str] = []
    labels: list[str] = []
    groups: list[str] = []
    used_titles: set[str] = set()
    used_details: set[str] = set()
    message_of: dict[str, str] = {}  # a title or detail → the message it belongs to
    for r in rows("sample_full_records.csv"):
        title, detail, label = r["留言主题"].strip(), squash(r["留言详情"]), r["一级分类"].strip()
        if title and detail and label and title not in used_titles and detail not in used_details:
            used_titles.add(title)
            used_details.add(detail)
            texts.append(f"{title}。{detail}")
            labels.append(label)
            groups.append(f"m{r['留言编号']}")
    for r in rows("messages_unlabeled.csv") + rows("messages_with_replies.csv"):
        title, detail, msg = r["留言主题"].strip(), squash(r["留言详情"]), f"m{r['留言编号']}"
        message_of.setdefault(title, msg)
        message_of.setdefault(detail, msg)
        if title in used_titles or detail in used_details:
            continue
        if title in title_label and detail_label.get(detail) == title_label[title]:
            used_titles.add(title)
            used_details.add(detail)
            texts.append(f"{title}。{detail}")
            labels.append(title_label[title])
            groups.append(msg)
    for text, label, used in [(t, lab, used_titles) for t, lab in titles] + [
        (d, lab, used_details) for d, lab in details
    ]:
        if text not in used:
            texts.append(text)
            labels.append(label)
            groups.append(message_of.get(text, ""))
    return texts, labels, groups


def _print(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=1))


def _columns(args: argparse.Namespace) -> tuple[str, str]:
    if not (args.text_column and args.label_column):
        raise SystemExit("give --text-column and --label-column")
    return args.text_column, args.label_column


CORRECTION_COLUMNS = ("case_no", "text", "field", "before", "after")


def read_corrections_csv(path: Path) -> tuple[list[str], list[str]]:
    """``intake reports corrections`` output as training data: each case's text with its last
    category correction as the label (a case corrected twice counts once, as finally decided)."""
    last: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            text, after = (row["text"] or "").strip(), (row["after"] or "").strip()
            if row["field"] == "category" and text and after and after != (row["before"] or "").strip():
                last.pop(row["case_no"], None)
                last[row["case_no"]] = (text, after)
    return [t for t, _ in last.values()], [lab for _, lab in last.values()]


def _is_corrections(path: Path) -> bool:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    return all(c in header for c in CORRECTION_COLUMNS)


def read_training(paths: Sequence[Path], args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Texts and labels from labeled CSVs (``--text-column``/``--label-column``, default ``text``
    and ``label``) and corrections exports (recognized by their header), in the order given."""
    texts: list[str] = []
    labels: list[str] = []
    for path in paths:
        if _is_corrections(path):
            t, lab = read_corrections_csv(path)
        else:
            t, lab = read_labeled_csv(path, args.text_column or "text", args.label_column or "label")
        texts += t
        labels += lab
    if not texts:
        raise SystemExit("no labeled rows to train on")
    return texts, labels


def _train(args: argparse.Namespace, csv_paths: Sequence[Path]) -> int:
    texts, labels = read_training(csv_paths, args)
    t0 = time.perf_counter()
    model = triage.train(
        texts,
        labels,
        c=args.c,
        min_df=args.min_df,
        name=csv_paths[0].stem,
        seed=args.seed,
        nb_weight=args.nb_weight,
    )
    seconds = time.perf_counter() - t0
    out = Path(args.out or DEFAULT_MODEL_OUT)
    model.save(out)
    _print(
        {
            "model": str(out),
            "version": model.version,
            "format": triage.classifier.FORMAT,
            "seed": args.seed,
            "n": len(texts),
            "labels": model.labels,
            "bytes": out.stat().st_size,
            "train_seconds": round(seconds, 1),
        }
    )
    return 0


def load_model(path: str | None) -> triage.Model | None:
    """The model at ``path``; a file that cannot be used is refused with the reason on stderr
    and the rules-only category takes over."""
    if not path:
        return None
    try:
        return triage.Model.load(path)
    except triage.ModelError as exc:
        print(f"不使用该模型：{exc}。改用规则判断类别。", file=sys.stderr)
        return None


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr)


def _cv(args: argparse.Namespace, csv_path: Path, folds: int) -> int:
    texts, labels, groups = read_grouped_csv(csv_path, *_columns(args), args.group_column)
    if folds < 2:
        raise SystemExit("cross-validation needs at least 2 folds")
    result = triage.cross_validate(
        texts,
        labels,
        folds=folds,
        groups=groups,
        c=args.c,
        min_df=args.min_df,
        seed=args.seed,
        nb_weight=args.nb_weight,
        progress=_progress,
    )
    _print(result)
    return 0


def _eval(args: argparse.Namespace, csv_path: Path) -> int:
    if args.cv:
        return _cv(args, csv_path, args.cv)
    texts, labels = read_training([csv_path], args)
    if not args.model:
        raise SystemExit("give --model FILE (or use `intake triage cv` to cross-validate the recipe)")
    try:
        model = triage.Model.load(args.model)
    except triage.ModelError as exc:
        raise SystemExit(f"不能评估：{exc}") from None
    _print(triage.evaluate(model, texts, labels))
    return 0


def _taidi2020(args: argparse.Namespace, root: Path) -> int:
    if not args.out:
        raise SystemExit("give --out CSV (outside the repository: the messages must not be committed)")
    texts, labels, groups = taidi2020_corpus(root)
    with Path(args.out).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "group"])
        writer.writerows(zip(texts, labels, groups, strict=True))
    print(f"wrote {len(texts)} labeled texts to {args.out}", file=sys.stderr)
    return 0


def _triage_text(args: argparse.Namespace, settings: Settings, words: Sequence[str]) -> int:
    text = " ".join(words) if words else sys.stdin.read()
    jurisdiction = load_jurisdiction(args.jurisdiction or settings.jurisdiction_file)
    model = load_model(args.model)
    # Any text gets a result, an empty one too (low confidence: the manual queue).
    result = triage.triage(text, channel=args.channel, jurisdiction=jurisdiction, model=model)
    if args.explain:
        print(explain.render(result.explanations))
        return 0
    _print(result.to_json())
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    words: list[str] = list(args.words)
    action = words[0] if words else ""
    if action in ACTIONS:
        if len(words) != 2 and not (action == "train" and len(words) > 2):
            raise SystemExit(f"usage: {USAGE}")
        for name in words[1:]:
            if not Path(name).exists():
                raise SystemExit(f"{name}: not found")
        path = Path(words[1])
        if action == "train":
            return _train(args, [Path(w) for w in words[1:]])
        if action == "eval":
            return _eval(args, path)
        if action == "cv":
            return _cv(args, path, args.folds)
        return _taidi2020(args, path)
    return _triage_text(args, settings, words)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m server.triage_commands …``: the same commands without the rest of the command line."""
    parser = argparse.ArgumentParser(prog="intake")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["triage", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args, Settings.from_env())
    return result


if __name__ == "__main__":
    raise SystemExit(main())
