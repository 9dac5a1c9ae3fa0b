"""Word segmentation: one shared ``jieba.Tokenizer`` with the triage user dictionary.

jieba's stock dictionary splits exactly the words triage cares about: ``张某某`` becomes
``张 / 某某`` (pseudonymized names), ``村支书`` and ``纪工委书记`` come apart, and the jurisdiction's
township and village names are unknown to it. The tokenizer here is a private instance (not
``jieba.dt``, which other code may configure) loaded once, lazily, under a lock; the words of
:mod:`triage.lexicon` and of each jurisdiction's places are added to it. Segmentation itself is
read-only and may run in several worker threads at once. It is CPU-bound: callers on an event
loop run triage in a worker thread (``asyncio.to_thread``), never on the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from math import log

import jieba

from triage import lexicon


class _Tokenizer(jieba.Tokenizer):  # type: ignore[misc]
    """``jieba.Tokenizer`` with its two inner loops written for CPython: the word graph
    (:meth:`get_DAG`) looks each prefix up once, and the best route (:meth:`calc`) takes a
    position's only candidate without building a generator for ``max``. Both compute exactly
    what jieba 0.42's do (the same float operations in the same order, ties broken the same way);
    the tests compare the two on real messages."""

    def get_DAG(self, sentence: str) -> dict[int, list[int]]:
        self.check_initialized()
        get = self.FREQ.get
        dag: dict[int, list[int]] = {}
        n = len(sentence)
        for k in range(n):
            ends = []
            i = k
            frag = sentence[k]
            while i < n and (freq := get(frag)) is not None:
                if freq:
                    ends.append(i)
                i += 1
                frag = sentence[k : i + 1]
            dag[k] = ends or [k]
        return dag

    def calc(self, sentence: str, dag: dict[int, list[int]], route: dict[int, tuple[float, int]]) -> None:
        get = self.FREQ.get
        n = len(sentence)
        route[n] = (0, 0)
        logtotal = log(self.total)
        for idx in range(n - 1, -1, -1):
            ends = dag[idx]
            if len(ends) == 1:
                x = ends[0]
                route[idx] = (log(get(sentence[idx : x + 1]) or 1) - logtotal + route[x + 1][0], x)
            else:
                route[idx] = max(
                    (log(get(sentence[idx : x + 1]) or 1) - logtotal + route[x + 1][0], x) for x in ends
                )


_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_added: set[str] = set()


def tokenizer() -> jieba.Tokenizer:
    """The shared tokenizer, initialized (dictionary loaded, user words added) on first use."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = _Tokenizer()
                tok.initialize()
                _add(tok, user_words())
                _tokenizer = tok
    return _tokenizer


def user_words() -> list[str]:
    """Words the tokenizer must keep whole: titles and pseudonymized names."""
    words = [t.word for t in lexicon.TITLES if len(t.word) > 1]
    for surname in (*lexicon.SURNAMES, *lexicon.COMPOUND_SURNAMES):
        words.extend((f"{surname}某某", f"{surname}某"))
    return words


def _add(tok: jieba.Tokenizer, words: Iterable[str]) -> None:
    for word in words:
        if word and word not in _added:
            # A frequency above every split keeps the word whole; jieba computes it from its model.
            tok.add_word(word, tok.suggest_freq(word, False))
            _added.add(word)


def add_words(words: Iterable[str]) -> None:
    """Teach the tokenizer more words (a jurisdiction's places); idempotent and thread-safe."""
    tok = tokenizer()
    fresh = [w for w in words if w not in _added]
    if fresh:
        with _lock:
            _add(tok, fresh)


def cut(text: str) -> list[str]:
    """Segment normalized text (HMM on, as ``jieba.lcut``'s default)."""
    words: list[str] = tokenizer().lcut(text)
    return words
