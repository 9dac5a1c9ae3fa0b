"""A trainable text classifier for a deployment's own category taxonomy.

Features: jieba words (unigrams by default, from the same segmentation triage already did) and
character 1–3-grams of the normalized text, each block TF-IDF weighted with sublinear tf and
L2-normalized, the character block weighted 1.4. The model is a linear SVM (one-vs-rest,
balanced class weights), trained with scikit-learn; its scores become probabilities by softmax
with a temperature fitted on out-of-fold scores (calibration), which is what triage reports as
the category's confidence.

Training needs scikit-learn; prediction needs only numpy: :meth:`Model.save` writes the
vocabularies, IDF weights and coefficients to one ``.npz`` file (no pickle), and
:meth:`Model.load` reads it back with ``allow_pickle=False``. :func:`evaluate` gives accuracy,
macro-F1 and per-class precision/recall/F1; :func:`cross_validate` the same over grouped,
stratified k folds: identical texts merged and near-duplicates grouped first (:func:`cv_data`), so
that no text, and no near copy of one, is in train and test at once.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise, repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from triage import segment
from triage.normalize import normalize

FORMAT = "triage-classifier/1"
# The SVM's regularization: chosen by grouped 5-fold CV on the 2020 泰迪杯 messages (docs/triage.md).
DEFAULT_C = 1.0
_PUNCT = frozenset("，。！？、；：“”‘’（）《》【】…—,.!?;:()[]<>\"' \t\n-~·")

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureConfig:
    """Which features the model reads. The defaults won grouped 5-fold CV on the 2020 泰迪杯
    messages (docs/triage.md): word unigrams, character 1–3-grams weighted 1.4 against them
    (word bigrams, 4-grams, min_df 2 and other weights scored lower)."""

    word_ngrams: int = 1
    char_min: int = 1
    char_max: int = 3
    char_weight: float = 1.4

    def to_dict(self) -> dict[str, Any]:
        return {
            "word_ngrams": self.word_ngrams,
            "char_min": self.char_min,
            "char_max": self.char_max,
            "char_weight": self.char_weight,
        }


def word_features(tokens: Sequence[str], config: FeatureConfig) -> list[str]:
    words = [t.lower() for t in tokens if t.strip() and t not in _PUNCT]
    out = list(words)
    if config.word_ngrams >= 2:
        out.extend(f"{a} {b}" for a, b in pairwise(words))
    return out


def char_features(text: str, config: FeatureConfig) -> list[str]:
    s = text.replace(" ", "").lower()
    out: list[str] = []
    for n in range(config.char_min, config.char_max + 1):
        out.extend(s[i : i + n] for i in range(len(s) - n + 1))
    return out


def _tfidf_vector(
    feats: Iterable[str], vocab: dict[str, int], idf: FloatArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Indices and values of the L2-normalized sublinear TF-IDF vector (as scikit-learn's
    ``TfidfVectorizer(sublinear_tf=True)``). Counting, vocabulary lookups and arithmetic run in
    C (``Counter``, ``map``, numpy): this is the category model's whole cost per report."""
    counts = Counter(feats)
    n = len(counts)
    idx = np.fromiter(map(vocab.get, counts, repeat(-1, n)), dtype=np.int64, count=n)
    tf = np.fromiter(counts.values(), dtype=np.float64, count=n)
    known = idx >= 0
    idx, tf = idx[known], tf[known]
    vals = (1.0 + np.log(tf)) * idf[idx]
    norm = float(np.sqrt(vals @ vals))
    if norm > 0.0:
        vals /= norm
    return idx, vals


class ModelError(ValueError):
    """A model file that cannot be used: missing, corrupt, foreign or of another format version."""


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass
class Model:
    """A trained classifier; immutable in use and safe to share between threads."""

    labels: list[str]
    word_vocab: dict[str, int]
    char_vocab: dict[str, int]
    word_idf: FloatArray
    char_idf: FloatArray
    coef: FloatArray  # (n_labels, n_word + n_char)
    intercept: FloatArray
    temperature: float
    config: FeatureConfig
    meta: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def version(self) -> str:
        """``<name>-<digest of the coefficients>``; computed once (hashing a large model's
        coefficients costs tens of milliseconds, and triage names the version on every report)."""
        digest = hashlib.sha256(self.coef.tobytes()).hexdigest()[:10]
        return f"{self.meta.get('name', 'clf')}-{digest}"

    def scores(self, tokens: Sequence[str], text: str) -> npt.NDArray[np.float64]:
        wi, wv = _tfidf_vector(word_features(tokens, self.config), self.word_vocab, self.word_idf)
        ci, cv = _tfidf_vector(char_features(text, self.config), self.char_vocab, self.char_idf)
        idx = np.concatenate([wi, ci + len(self.word_vocab)])
        vals = np.concatenate([wv, cv * self.config.char_weight])
        result: npt.NDArray[np.float64] = self.coef[:, idx].astype(np.float64) @ vals + self.intercept
        return result

    def deciding_words(self, tokens: Sequence[str], label: str, k: int = 3) -> list[str]:
        """The ``k`` words of the text that pushed most towards ``label`` (for explanations)."""
        if label not in self.labels:
            return []
        feats = [f for f in word_features(tokens, self.config) if " " not in f and len(f) >= 2]
        wi, wv = _tfidf_vector(feats, self.word_vocab, self.word_idf)
        if not len(wi):
            return []
        push = self.coef[self.labels.index(label), wi].astype(np.float64) * wv
        by_index = {i: w for w in feats if (i := self.word_vocab.get(w)) is not None}
        order = np.argsort(-push)[:k]
        return [by_index[int(wi[j])] for j in order if push[j] > 0 and int(wi[j]) in by_index]

    def predict_tokens(self, tokens: Sequence[str], text: str) -> Prediction:
        """Predict from an already normalized and segmented text (the triage path)."""
        s = self.scores(tokens, text)
        p = _softmax(s / self.temperature)
        best = int(np.argmax(p))
        probs = {lab: round(float(v), 4) for lab, v in zip(self.labels, p, strict=True)}
        return Prediction(self.labels[best], float(p[best]), probs)

    def predict(self, text: str) -> Prediction:
        norm = normalize(text)
        return self.predict_tokens(segment.cut(norm), norm)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        meta = {
            **self.meta,
            "format": FORMAT,
            "labels": self.labels,
            "temperature": self.temperature,
            "features": self.config.to_dict(),
        }
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
            word_vocab=_pack(self.word_vocab),
            char_vocab=_pack(self.char_vocab),
            word_idf=self.word_idf,
            char_idf=self.char_idf,
            coef=self.coef,
            intercept=self.intercept,
        )
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a model written by :meth:`save`. Anything else — a missing, truncated or corrupt
        file, another program's ``.npz``, a model of another format version, arrays whose shapes
        disagree — raises :class:`ModelError` saying so (the caller then runs rules only)."""
        try:
            model = cls._load(Path(path))
        except ModelError:
            raise
        except FileNotFoundError as exc:
            raise ModelError(f"{path}: 模型文件不存在") from exc
        except Exception as exc:  # zipfile, numpy, JSON and key errors of a damaged file
            raise ModelError(f"{path}: 模型文件已损坏或不是分流模型（{type(exc).__name__}）") from exc
        n_features = len(model.word_vocab) + len(model.char_vocab)
        if (
            model.coef.shape != (len(model.labels), n_features)
            or model.intercept.shape != (len(model.labels),)
            or model.word_idf.shape != (len(model.word_vocab),)
            or model.char_idf.shape != (len(model.char_vocab),)
            or len(model.labels) < 2
            or not math.isfinite(model.temperature)
            or model.temperature <= 0
        ):
            raise ModelError(f"{path}: 模型文件内容不一致（各部分大小不符），不能使用")
        return model

    @classmethod
    def _load(cls, path: Path) -> Model:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise ModelError(f"{path}: 不是分流模型文件")
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                found = meta.get("format") if isinstance(meta, dict) else None
                raise ModelError(
                    f"{path}: 不是本版本的分流模型（文件格式 {found!r}，需要 {FORMAT!r}），"
                    "请用 intake triage train 重新训练"
                )
            return cls(
                labels=list(meta["labels"]),
                word_vocab=_unpack(z["word_vocab"]),
                char_vocab=_unpack(z["char_vocab"]),
                word_idf=z["word_idf"].astype(np.float32),
                char_idf=z["char_idf"].astype(np.float32),
                coef=z["coef"].astype(np.float32),
                intercept=z["intercept"].astype(np.float32),
                temperature=float(meta["temperature"]),
                config=FeatureConfig(**meta["features"]),
                meta={k: v for k, v in meta.items() if k not in ("labels", "temperature", "features")},
            )


def _pack(vocab: dict[str, int]) -> npt.NDArray[np.uint8]:
    words = sorted(vocab, key=vocab.__getitem__)
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def _unpack(raw: npt.NDArray[np.uint8]) -> dict[str, int]:
    text = bytes(raw).decode("utf-8")
    return {w: i for i, w in enumerate(text.split("\n"))} if text else {}


def _softmax(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


# -- training ------------------------------------------------------------------------------------


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


def _fit(
    prep: _Prepared,
    labels: Sequence[str],
    config: FeatureConfig,
    c: float,
    min_df: int,
    seed: int = 0,
) -> tuple[Any, Any, Any, list[str]]:
    """Fit vectorizers and the SVM; returns (word vectorizer, char vectorizer, svm, labels)."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    wv = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, dtype=np.float32)
    cv = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, dtype=np.float32)
    x = sp.hstack([wv.fit_transform(prep.words), config.char_weight * cv.fit_transform(prep.chars)]).tocsr()
    svm = LinearSVC(C=c, class_weight="balanced", random_state=seed)
    svm.fit(x, list(labels))
    return wv, cv, svm, [str(lab) for lab in svm.classes_]


def _transform(wv: Any, cv: Any, prep: _Prepared, config: FeatureConfig) -> Any:
    import scipy.sparse as sp

    return sp.hstack([wv.transform(prep.words), config.char_weight * cv.transform(prep.chars)]).tocsr()


def _fit_temperature(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.int64]) -> float:
    """The softmax temperature minimizing log loss of out-of-fold scores (golden-section search)."""

    def loss(t: float) -> float:
        p = _softmax(scores / t)
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
) -> Model:
    wv, cv, svm, classes = _fit(prep, labels, config, c, min_df, seed)
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
            fwv, fcv, fsvm, fclasses = _fit(sub, [labels[i] for i in tr], config, c, min_df, seed)
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
        meta={"name": name, "n_train": len(labels), "C": c, "min_df": min_df, "classes": dict(counts)},
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
) -> Model:
    """Train a model on raw texts (normalized and segmented here) and their labels."""
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
    )


# -- evaluation ----------------------------------------------------------------------------------


def scores_from(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support."""
    labels = sorted(set(truth) | set(predicted))
    per_class: dict[str, dict[str, float]] = {}
    for lab in labels:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == lab and p == lab)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != lab and p == lab)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == lab and p != lab)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[lab] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
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
        wv, cv, svm, _ = _fit(_subset(prep, tr), [truth[i] for i in tr], config, c, min_df, seed)
        pred = svm.predict(_transform(wv, cv, _subset(prep, te), config))
        for i, p in zip(te, pred, strict=True):
            predicted[i] = str(p)
        fold_f1.append(scores_from([truth[i] for i in te], [str(p) for p in pred])["macro_f1"])
        if progress:
            progress(f"fold {k}/{folds}: macro_f1={fold_f1[-1]}")
    result = scores_from(truth, predicted)
    result["folds"] = fold_f1
    result["params"] = {"C": c, "min_df": min_df, "seed": seed, **config.to_dict()}
    result["leakage"] = {
        "input_rows": data.n_input,
        "unique_texts": len(data.texts),
        "groups": data.n_groups,
        "grouped_texts": len(data.texts) - data.n_groups,
        "method": "exact normalized duplicates merged; caller groups, char-3-gram Jaccard ≥ 0.7 and "
        "containment ≥ 0.9 linked; StratifiedGroupKFold",
    }
    return result
