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

import jieba

from triage import lexicon

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
                tok = jieba.Tokenizer()
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
