"""Issue 19 experiment: fastText supervised against, and ensembled with, the category SVM.

    .venv/bin/pip install fasttext-wheel   # not a product dependency; for this experiment only
    .venv/bin/python bench/triage_fasttext_cv.py [--data ../shared/data/taidi2020] [--loss ova]
        [--minn 1] [--maxn 3] [--word-ngrams 2] [--dim 100] [--epoch 25] [--lr 0.5]

The folds are exactly those of ``bench/triage_cv.py``: :func:`triage.training.cv_data` (exact
duplicates merged, message ids and near-duplicates grouped), then ``StratifiedGroupKFold(5,
shuffle=True, random_state=0)``. Inside every outer fold, the SVM (the product's recipe,
:func:`triage.training._fit`) and fastText (jieba words as the product segments them, one thread,
seed 0) are trained on the training part and scored on the test part; both are also trained on
three grouped inner folds of the training part, and only those inner out-of-fold scores choose
the SVM's softmax temperature and the ensemble weight ``w`` (``w · p_svm + (1 − w) · p_fasttext``,
and the same on log-probabilities). The test folds choose nothing.

fastText 0.9.2's list ``predict`` returns wrong probabilities under numpy 2 (every entry of a row
equal), so texts are predicted one at a time through the binding. The messages are read from
``../shared/data`` and never copied into the repository; training files go to a temporary folder.
The last line is ``macro_f1=<fastText alone> ensemble_macro_f1=<the better mix>``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = next(
    (p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()), ROOT.parent
)
DEFAULT_DATA = SHARED / "data" / "taidi2020"
WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the taidi2020 folder")
    parser.add_argument("--loss", default="ova", choices=["softmax", "ova"])
    parser.add_argument("--minn", type=int, default=1)
    parser.add_argument("--maxn", type=int, default=3)
    parser.add_argument("--word-ngrams", type=int, default=2)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--epoch", type=int, default=25)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args()
    if not (args.data / "titles_labeled.csv").exists():
        print(f"{args.data}: the taidi2020 data is not there; nothing to measure", file=sys.stderr)
        return 2
    try:
        fasttext = importlib.import_module("fasttext")
    except ImportError:
        print("fasttext is not installed: .venv/bin/pip install fasttext-wheel", file=sys.stderr)
        return 2

    from sklearn.model_selection import StratifiedGroupKFold

    from server.triage_commands import taidi2020_corpus
    from triage import segment
    from triage.classifier import FeatureConfig, char_features, softmax, word_features
    from triage.normalize import normalize
    from triage.training import _fit, _fit_temperature, _Prepared, _subset, _transform, cv_data, scores_from

    texts, labels, groups = taidi2020_corpus(args.data)
    data = cv_data(texts, labels, groups)
    config = FeatureConfig()
    norms = [normalize(t) for t in data.texts]
    words = [word_features(segment.cut(n), config) for n in norms]
    prep = _Prepared(words, [char_features(n, config) for n in norms])
    names = sorted(set(data.labels))
    y = np.array([names.index(lab) for lab in data.labels])
    group_ids = np.array(data.groups)
    lines = [" ".join(w) for w in words]
    ft_params: dict[str, Any] = {
        "lr": args.lr,
        "dim": args.dim,
        "epoch": args.epoch,
        "wordNgrams": args.word_ngrams,
        "minn": args.minn,
        "maxn": args.maxn,
        "loss": args.loss,
        "minCount": 1,
        "bucket": 1_000_000,
        "thread": 1,
        "seed": 0,
        "verbose": 0,
    }

    def macro(idx: np.ndarray, pred: np.ndarray) -> float:
        return float(scores_from([names[i] for i in y[idx]], [names[i] for i in pred])["macro_f1"])

    def svm_scores(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        wv, cv, svm, classes = _fit(_subset(prep, tr), [data.labels[i] for i in tr], config, 1.0, 1, 0)
        assert classes == names
        return np.asarray(svm.decision_function(_transform(wv, cv, _subset(prep, te), config)))

    def ft_probs(tr: np.ndarray, te: np.ndarray, folder: str) -> np.ndarray:
        path = os.path.join(folder, "train.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(f"__label__{y[i]} {lines[i]}\n" for i in tr)
        model = fasttext.train_supervised(input=path, **ft_params)
        out = np.zeros((len(te), len(names)))
        for row, i in enumerate(te):
            for p, lab in model.f.predict(lines[i] + "\n", -1, 0.0, "strict"):
                out[row, int(lab.removeprefix("__label__"))] = p
        return out

    def mix(svm: np.ndarray, ft: np.ndarray, t: float, w: float, mode: str) -> np.ndarray:
        ps = softmax(svm / t)
        if mode == "prob":
            return np.asarray(w * ps + (1 - w) * ft)
        return np.asarray(w * np.log(ps + 1e-9) + (1 - w) * np.log(ft + 1e-9))

    outer = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    oof_ft = np.zeros(len(y), dtype=int)
    oof_mix = {"prob": np.zeros(len(y), dtype=int), "log": np.zeros(len(y), dtype=int)}
    fold_ft: list[float] = []
    fold_mix: dict[str, list[float]] = {"prob": [], "log": []}
    chosen: dict[str, list[float]] = {"prob": [], "log": []}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for k, (tr, te) in enumerate(outer.split(np.zeros(len(y)), y, group_ids), 1):
            s_test, f_test = svm_scores(tr, te), ft_probs(tr, te, folder)
            s_in, f_in = np.zeros((len(y), len(names))), np.zeros((len(y), len(names)))
            inner = StratifiedGroupKFold(3, shuffle=True, random_state=0)
            for a, b in inner.split(np.zeros(len(tr)), y[tr], group_ids[tr]):
                s_in[tr[b]] = svm_scores(tr[a], tr[b])
                f_in[tr[b]] = ft_probs(tr[a], tr[b], folder)
            t = _fit_temperature(s_in[tr], y[tr])
            oof_ft[te] = f_test.argmax(1)
            fold_ft.append(macro(te, oof_ft[te]))
            for mode in ("prob", "log"):
                inner_f1 = [macro(tr, mix(s_in[tr], f_in[tr], t, float(w), mode).argmax(1)) for w in WEIGHTS]
                w = float(WEIGHTS[int(np.argmax(inner_f1))])
                oof_mix[mode][te] = mix(s_test, f_test, t, w, mode).argmax(1)
                fold_mix[mode].append(macro(te, oof_mix[mode][te]))
                chosen[mode].append(w)
            print(
                f"fold {k}/5: fasttext {fold_ft[-1]}, prob mix {fold_mix['prob'][-1]} "
                f"(w={chosen['prob'][-1]}), log mix {fold_mix['log'][-1]} (w={chosen['log'][-1]}), "
                f"{time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    everything = np.arange(len(y))
    print(f"fastText {ft_params}")
    print(f"fastText alone: macro_f1={macro(everything, oof_ft)} folds {fold_ft}")
    best = 0.0
    for mode in ("prob", "log"):
        f1 = macro(everything, oof_mix[mode])
        best = max(best, f1)
        print(f"SVM + fastText ({mode}, w by inner CV {chosen[mode]}): macro_f1={f1} folds {fold_mix[mode]}")
    print(f"macro_f1={macro(everything, oof_ft)} ensemble_macro_f1={best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
