"""A trainable text classifier for a deployment's own category taxonomy.

Features: jieba words (unigrams by default, from the same segmentation triage already did) and
character 1–3-grams of the normalized text, each block TF-IDF weighted with sublinear tf and
L2-normalized, the character block weighted 1.4. The model is a linear SVM (one-vs-rest,
balanced class weights), trained with scikit-learn; its scores become probabilities by softmax
with a temperature fitted on out-of-fold scores (calibration), which is what triage reports as
the category's confidence.

This module is prediction, which needs only numpy: :meth:`Model.save` writes the vocabularies,
IDF weights and coefficients to one ``.npz`` file (no pickle), and :meth:`Model.load` reads it back
with ``allow_pickle=False``. Training, evaluation and cross-validation, which need scikit-learn,
are in :mod:`triage.training`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
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
        p = softmax(s / self.temperature)
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


def softmax(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out
