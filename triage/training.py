"""Training and evaluating the category classifier (:mod:`triage.classifier` predicts).

:func:`train` fits the TF-IDF vocabularies and a linear SVM with scikit-learn and calibrates the
softmax temperature on out-of-fold scores. :func:`evaluate` gives accuracy, macro-F1 and per-class
precision/recall/F1; :func:`cross_validate` the same over grouped, stratified k folds: identical
texts merged and near-duplicates grouped first (:func:`cv_data`), so that no text, and no near copy
of one, is in train and test at once.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from triage import segment
from triage.classifier import DEFAULT_C, FeatureConfig, Model, char_features, softmax, word_features
from triage.normalize import normalize


@dataclass(frozen=True)
class _Prepared:
    words: list[list[str]]
    chars: list[list[str]]


def _prepare(texts: Sequence[str], config: FeatureConfig) -> _Prepared:
    words, chars = [], []
    for text in texts:
        norm = normalize(text)
        words.append(word_features(segment.cut(norm), config))
        chars.append(char_features(norm, config))
    return _Prepared(words, chars)


def _identity(x: list[str]) -> list[str]:
    return x


# The naive-Bayes-weighted SVM (NBSVM, Wang & Manning 2012) mixed in with the plain SVM: for each
# class an SVM on the features scaled by their log-count ratio (class against the rest, on
# binarized features, smoothed by NB_ALPHA), its scores and the plain SVM's each divided by their
# spread on the training texts and mixed NB_WEIGHT : 1 - NB_WEIGHT. Both are linear in the same
# features, so the mix is one weight matrix: the model file and prediction are as before. Chosen
# by grouped 5-fold CV on the 2020 泰迪杯 messages (docs/triage.md).
NB_WEIGHT = 0.7
NB_ALPHA = 0.25


@dataclass(frozen=True)
class _Linear:
    """A fitted linear classifier (scikit-learn's attribute names): scores ``x @ coef_.T + intercept_``."""

    classes_: npt.NDArray[Any]
    coef_: npt.NDArray[np.float64]
    intercept_: npt.NDArray[np.float64]

    def decision_function(self, x: Any) -> npt.NDArray[np.float64]:
        return np.asarray(x @ self.coef_.T) + self.intercept_

    def predict(self, x: Any) -> npt.NDArray[Any]:
        best: npt.NDArray[Any] = self.classes_[self.decision_function(x).argmax(axis=1)]
        return best


def _nb_mixed(svm: Any, x: Any, labels: Sequence[str], c: float, nb_weight: float, seed: int) -> _Linear:
    """The plain SVM ``svm`` (fitted on ``x``) mixed with a naive-Bayes-weighted SVM per class."""
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    y = np.asarray(labels)
    present = x.copy()
    present.data[:] = 1.0  # TF-IDF values are positive: the features a text has
    nb_coef, nb_intercept = [], []
    for label in svm.classes_:
        mine = y == label
        p = NB_ALPHA + np.asarray(present[mine].sum(axis=0), dtype=np.float64).ravel()
        q = NB_ALPHA + np.asarray(present[~mine].sum(axis=0), dtype=np.float64).ravel()
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        one = LinearSVC(C=c, class_weight="balanced", random_state=seed)
        with warnings.catch_warnings():
            # liblinear stops at its 1,000 iterations on some of the scaled problems; that fit is
            # what the cross-validation measured (docs/triage.md), and the message would only
            # reach the staff running `intake triage train`, in English.
            warnings.simplefilter("ignore", ConvergenceWarning)
            one.fit(x @ sp.diags(ratio.astype(np.float32)), mine.astype(np.int64))
        nb_coef.append(one.coef_[0] * ratio)
        nb_intercept.append(one.intercept_[0])
    nb = _Linear(svm.classes_, np.array(nb_coef), np.array(nb_intercept))
    plain = _Linear(svm.classes_, np.asarray(svm.coef_, np.float64), np.asarray(svm.intercept_, np.float64))
    a = (1 - nb_weight) / float(plain.decision_function(x).std() or 1.0)
    b = nb_weight / float(nb.decision_function(x).std() or 1.0)
    return _Linear(svm.classes_, a * plain.coef_ + b * nb.coef_, a * plain.intercept_ + b * nb.intercept_)


def _fit(
    prep: _Prepared,
    labels: Sequence[str],
    config: FeatureConfig,
    c: float,
    min_df: int,
    seed: int = 0,
    nb_weight: float = NB_WEIGHT,
) -> tuple[Any, Any, Any, list[str]]:
    """Fit vectorizers and the classifier; returns (word vectorizer, char vectorizer, classifier,
    labels). With three labels or more and ``nb_weight`` > 0 the classifier is the plain SVM
    mixed with the naive-Bayes-weighted one (:func:`_nb_mixed`)."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    wv = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, dtype=np.float32)
    cv = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, dtype=np.float32)
    x = sp.hstack([wv.fit_transform(prep.words), config.char_weight * cv.fit_transform(prep.chars)]).tocsr()
    svm: Any = LinearSVC(C=c, class_weight="balanced", random_state=seed)
    svm.fit(x, list(labels))
    if nb_weight > 0 and len(svm.classes_) > 2:
        svm = _nb_mixed(svm, x, labels, c, nb_weight, seed)
    return wv, cv, svm, [str(lab) for lab in svm.classes_]


def _transform(wv: Any, cv: Any, prep: _Prepared, config: FeatureConfig) -> Any:
    import scipy.sparse as sp

    return sp.hstack([wv.transform(prep.words), config.char_weight * cv.transform(prep.chars)]).tocsr()


def _fit_temperature(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.int64]) -> float:
    """The softmax temperature minimizing log loss of out-of-fold scores (golden-section search)."""

    def loss(t: float) -> float:
        p = softmax(scores / t)
        return float(-np.mean(np.log(p[np.arange(len(truth)), truth] + 1e-12)))

    lo, hi = 0.02, 5.0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    return round((lo + hi) / 2, 4)


def _subset(prep: _Prepared, idx: Iterable[int]) -> _Prepared:
    ids = list(idx)
    return _Prepared([prep.words[i] for i in ids], [prep.chars[i] for i in ids])


def _train_prepared(
    prep: _Prepared,
    labels: Sequence[str],
    *,
    config: FeatureConfig,
    c: float,
    min_df: int,
    calibration_folds: int,
    name: str,
    seed: int,
    nb_weight: float = NB_WEIGHT,
) -> Model:
    wv, cv, svm, classes = _fit(prep, labels, config, c, min_df, seed, nb_weight)
    temperature = 1.0
    counts = Counter(labels)
    folds = min(calibration_folds, min(counts.values())) if counts else 0
    if folds >= 2 and len(classes) > 1:
        from sklearn.model_selection import StratifiedKFold

        oof = np.zeros((len(labels), len(classes)))
        truth = np.array([classes.index(lab) for lab in labels])
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            np.zeros(len(labels)), truth
        ):
            sub = _subset(prep, tr)
            fwv, fcv, fsvm, fclasses = _fit(sub, [labels[i] for i in tr], config, c, min_df, seed, nb_weight)
            dec = fsvm.decision_function(_transform(fwv, fcv, _subset(prep, te), config))
            dec = dec if dec.ndim == 2 else np.stack([-dec, dec], axis=1)
            for j, lab in enumerate(fclasses):
                oof[te, classes.index(lab)] = dec[:, j]
        temperature = _fit_temperature(oof, truth)
    coef = np.asarray(svm.coef_, dtype=np.float32)
    intercept = np.asarray(svm.intercept_, dtype=np.float32)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row for the second class
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
    return Model(
        labels=classes,
        word_vocab={str(k): int(v) for k, v in wv.vocabulary_.items()},
        char_vocab={str(k): int(v) for k, v in cv.vocabulary_.items()},
        word_idf=np.asarray(wv.idf_, dtype=np.float32),
        char_idf=np.asarray(cv.idf_, dtype=np.float32),
        coef=coef,
        intercept=intercept,
        temperature=temperature,
        config=config,
        meta={
            "name": name,
            "n_train": len(labels),
            "C": c,
            "min_df": min_df,
            "nb_weight": nb_weight if len(classes) > 2 else 0.0,
            "classes": dict(counts),
        },
    )


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    config: FeatureConfig | None = None,
    c: float = DEFAULT_C,
    min_df: int = 1,
    calibration_folds: int = 3,
    name: str = "clf",
    seed: int = 0,
    nb_weight: float = NB_WEIGHT,
) -> Model:
    """Train a model on raw texts (normalized and segmented here) and their labels
    (``nb_weight``: the naive-Bayes-weighted SVM's share, :data:`NB_WEIGHT`; 0 for the plain SVM)."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    if len(set(labels)) < 2:
        raise ValueError("training needs at least two labels")
    config = config or FeatureConfig()
    prep = _prepare(texts, config)
    return _train_prepared(
        prep,
        list(labels),
        config=config,
        c=c,
        min_df=min_df,
        calibration_folds=calibration_folds,
        name=name,
        seed=seed,
        nb_weight=nb_weight,
    )


# -- evaluation ----------------------------------------------------------------------------------


def _class_scores(truth: Sequence[str], predicted: Sequence[str], lab: str) -> dict[str, float]:
    """Precision, recall, F1 and support of one class."""
    pairs = list(zip(truth, predicted, strict=True))
    tp = sum(1 for t, p in pairs if t == lab and p == lab)
    fp = sum(1 for t, p in pairs if t != lab and p == lab)
    fn = sum(1 for t, p in pairs if t == lab and p != lab)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "support": tp + fn}


def scores_from(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support."""
    labels = sorted(set(truth) | set(predicted))
    per_class = {lab: _class_scores(truth, predicted, lab) for lab in labels}
    in_truth = [lab for lab in labels if per_class[lab]["support"] > 0]
    macro = sum(per_class[lab]["f1"] for lab in in_truth) / len(in_truth) if in_truth else 0.0
    n = len(truth)
    acc = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p) / n if n else 0.0
    return {"accuracy": round(acc, 4), "macro_f1": round(macro, 4), "per_class": per_class, "n": n}


def evaluate(model: Model, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Score ``model`` on labeled texts: ``{"accuracy", "macro_f1", "per_class", "n"}``."""
    predicted = [model.predict(t).label for t in texts]
    return scores_from(list(labels), predicted)


def deduplicate(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """One copy of each normalized text, with its most frequent label."""
    by_text: dict[str, Counter[str]] = {}
    first: dict[str, str] = {}
    for text, label in zip(texts, labels, strict=True):
        key = normalize(text)
        by_text.setdefault(key, Counter())[label] += 1
        first.setdefault(key, text)
    return [first[k] for k in by_text], [c.most_common(1)[0][0] for c in by_text.values()]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_duplicate_groups(
    texts: Sequence[str],
    *,
    jaccard: float = 0.7,
    containment: float = 0.9,
    min_shingles: int = 8,
    block: int = 2000,
) -> list[int]:
    """A group id per text: texts linked by near-duplication share one (connected components).

    Two normalized texts are linked when their character-3-gram sets have Jaccard similarity ≥
    ``jaccard`` (the same message re-posted with small edits), or when one set is at least
    ``containment`` inside the other and the smaller has ≥ ``min_shingles`` 3-grams (a message's
    title against its title + detail, a detail quoted inside a longer one). Exact computation with
    sparse products in blocks: fine for tens of thousands of texts (training-time only).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    n = len(texts)
    uf = _UnionFind(n)
    if n < 2:
        return list(range(n))
    vec = CountVectorizer(analyzer="char", ngram_range=(3, 3), binary=True, lowercase=False, dtype=np.float32)
    try:
        x = vec.fit_transform([normalize(t) for t in texts]).tocsr()
    except ValueError:  # no text has three characters
        return list(range(n))
    size = np.asarray(x.sum(axis=1)).ravel()
    xt = x.T.tocsc()
    for start in range(0, n, block):
        inter = (x[start : start + block] @ xt).tocoo()
        rows, cols, common = inter.row + start, inter.col, inter.data
        upper = rows < cols
        rows, cols, common = rows[upper], cols[upper], common[upper]
        smaller = np.minimum(size[rows], size[cols])
        union = size[rows] + size[cols] - common
        linked = (common >= jaccard * union) | ((common >= containment * smaller) & (smaller >= min_shingles))
        for a, b in zip(rows[linked].tolist(), cols[linked].tolist(), strict=True):
            uf.union(a, b)
    return [uf.find(i) for i in range(n)]


@dataclass(frozen=True)
class CVData:
    """What cross-validation splits: unique texts, their labels and leakage groups."""

    texts: list[str]
    labels: list[str]
    groups: list[int]
    n_input: int

    @property
    def n_groups(self) -> int:
        return len(set(self.groups))


def cv_data(texts: Sequence[str], labels: Sequence[str], groups: Sequence[str] | None = None) -> CVData:
    """Deduplicate and group for leakage-free folds.

    Identical normalized texts become one item (majority label). Items are then grouped — by the
    caller's ``groups`` (e.g. a message id shared by its title and detail rows), by identity, and
    by :func:`near_duplicate_groups` — and a group never straddles train and test.
    """
    if len(texts) != len(labels) or (groups is not None and len(groups) != len(texts)):
        raise ValueError("texts, labels (and groups) differ in length")
    keys = [normalize(t) for t in texts]
    first: dict[str, int] = {}
    votes: dict[str, Counter[str]] = {}
    for i, (key, label) in enumerate(zip(keys, labels, strict=True)):
        first.setdefault(key, i)
        votes.setdefault(key, Counter())[label] += 1
    unique = list(first)
    position = {key: k for k, key in enumerate(unique)}
    uf = _UnionFind(len(unique))
    if groups is not None:
        seen: dict[str, int] = {}
        for key, group in zip(keys, groups, strict=True):
            if group:
                uf.union(position[key], seen.setdefault(group, position[key]))
    for a, root in enumerate(near_duplicate_groups(unique)):
        uf.union(a, root)
    return CVData(
        texts=[texts[first[k]] for k in unique],
        labels=[votes[k].most_common(1)[0][0] for k in unique],
        groups=[uf.find(k) for k in range(len(unique))],
        n_input=len(texts),
    )


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = 5,
    groups: Sequence[str] | None = None,
    config: FeatureConfig | None = None,
    c: float = DEFAULT_C,
    min_df: int = 1,
    seed: int = 0,
    nb_weight: float = NB_WEIGHT,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Grouped, stratified k-fold scores of the training recipe (vectorizers refitted per fold).

    No leakage between folds: see :func:`cv_data` (exact duplicates merged; caller groups and
    near-duplicates kept on one side). Returns :func:`scores_from`'s keys over the out-of-fold
    predictions plus ``folds`` (per-fold macro-F1), ``params`` and ``leakage`` (what was merged).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    config = config or FeatureConfig()
    data = cv_data(texts, labels, groups)
    prep = _prepare(data.texts, config)
    truth = data.labels
    predicted: list[str] = [""] * len(truth)
    fold_f1 = []
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(splitter.split(np.zeros(len(truth)), truth, data.groups), 1):
        wv, cv, svm, _ = _fit(_subset(prep, tr), [truth[i] for i in tr], config, c, min_df, seed, nb_weight)
        pred = svm.predict(_transform(wv, cv, _subset(prep, te), config))
        for i, p in zip(te, pred, strict=True):
            predicted[i] = str(p)
        fold_f1.append(scores_from([truth[i] for i in te], [str(p) for p in pred])["macro_f1"])
        if progress:
            progress(f"fold {k}/{folds}: macro_f1={fold_f1[-1]}")
    result = scores_from(truth, predicted)
    result["folds"] = fold_f1
    result["params"] = {"C": c, "min_df": min_df, "seed": seed, "nb_weight": nb_weight, **config.to_dict()}
    result["leakage"] = {
        "input_rows": data.n_input,
        "unique_texts": len(data.texts),
        "groups": data.n_groups,
        "grouped_texts": len(data.texts) - data.n_groups,
        "method": "exact normalized duplicates merged; caller groups, char-3-gram Jaccard ≥ 0.7 and "
        "containment ≥ 0.9 linked; StratifiedGroupKFold",
    }
    return result
