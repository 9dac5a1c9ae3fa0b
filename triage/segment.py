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
from jieba import finalseg

from triage import lexicon

# jieba 0.42's own patterns: blocks to segment (re_han_default) and, between them, the
# separators kept as tokens (re_skip_default); inside the HMM, Chinese runs and the letter or
# number runs between them (finalseg's re_han, re_skip).
_BLOCK = jieba.re_han_default
_SKIP = jieba.re_skip_default
_HMM_HAN = finalseg.re_han
_HMM_SKIP = finalseg.re_skip
# The HMM's tables (finalseg's B M E S states, here 0 1 2 3).
# Each character's four emission log-probabilities in one tuple (one look-up a character
# instead of four; a character the model lacks gets MIN_FLOAT for a state, as there).
_EMIT = {
    c: tuple(finalseg.emit_P[s].get(c, finalseg.MIN_FLOAT) for s in "BMES")
    for c in set().union(*(finalseg.emit_P[s] for s in "BMES"))
}
_UNSEEN = (finalseg.MIN_FLOAT,) * 4
_START = tuple(finalseg.start_P[s] for s in "BMES")
_TRANS = finalseg.trans_P


class _Tokenizer(jieba.Tokenizer):  # type: ignore[misc]
    """``jieba.Tokenizer`` with its inner loops written for CPython: the word graph
    (:meth:`get_DAG`) looks each prefix up once, and the best route (:meth:`calc`) takes a
    position's only candidate without building a generator for ``max``. :meth:`lcut` with
    jieba's defaults (accurate mode, HMM on) is one function: graph and route in one backward
    pass that keeps each candidate's frequency, the HMM's Viterbi over four fixed states with
    back-pointers, and no generators (on a 20-character title those layers cost as much as the
    segmentation itself). All compute exactly what jieba 0.42's do (the same float operations in
    the same order, ties broken the same way); the tests compare the two on real messages and on
    random text."""

    def lcut(
        self, sentence: str, cut_all: bool = False, HMM: bool = True, use_paddle: bool = False
    ) -> list[str]:
        if cut_all or not HMM or use_paddle or not isinstance(sentence, str) or finalseg.Force_Split_Words:
            return list(self.cut(sentence, cut_all, HMM, use_paddle))
        self.check_initialized()
        out: list[str] = []
        # re.split with a group alternates text between matches (even) and matches (odd), so a
        # piece's parity says what ``re_han.match(piece)`` tells jieba.
        for i, block in enumerate(_BLOCK.split(sentence)):
            if i & 1:
                self._cut_block(block, out)
            elif block:
                for j, piece in enumerate(_SKIP.split(block)):
                    if j & 1:
                        out.append(piece)
                    else:
                        out.extend(piece)
        return out

    def _cut_block(self, sentence: str, out: list[str]) -> None:
        """jieba's ``__cut_DAG`` (route by word frequency, runs of single characters that are no
        word through the HMM), appending to ``out``."""
        get = self.FREQ.get
        n = len(sentence)
        logtotal = log(self.total)
        score = [0.0] * (n + 1)
        end = [0] * (n + 1)
        for k in range(n - 1, -1, -1):
            # calc's max over (log(freq or 1) - logtotal + score, end): ends ascending, so a tie
            # keeps the later (larger) end, as comparing the tuples does.
            best_end = -1
            best = 0.0
            i = k
            frag = sentence[k]
            while i < n and (freq := get(frag)) is not None:
                if freq:
                    v = log(freq) - logtotal + score[i + 1]
                    if best_end < 0 or v >= best:
                        best, best_end = v, i
                i += 1
                frag = sentence[k : i + 1]
            if best_end < 0:  # no word starts here: the character alone, frequency taken as 1
                best, best_end = 0.0 - logtotal + score[k + 1], k
            score[k] = best
            end[k] = best_end
        x = 0
        single = -1  # where the current run of one-character steps began
        while x < n:
            y = end[x] + 1
            if y - x == 1:
                if single < 0:
                    single = x
            else:
                if single >= 0:
                    self._flush(sentence[single:x], out)
                    single = -1
                out.append(sentence[x:y])
            x = y
        if single >= 0:
            self._flush(sentence[single:], out)

    def _flush(self, run: str, out: list[str]) -> None:
        if len(run) == 1:
            out.append(run)
        elif self.FREQ.get(run):
            out.extend(run)
        else:
            _hmm_cut(run, out)

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


def _hmm_cut(text: str, out: list[str]) -> None:
    """``finalseg.cut``: Chinese runs through the HMM, letter and number runs kept whole."""
    for i, block in enumerate(_HMM_HAN.split(text)):
        if i & 1:
            _viterbi_cut(block, out)
        elif block:
            out.extend(x for x in _HMM_SKIP.split(block) if x)


def _viterbi_cut(text: str, out: list[str]) -> None:
    """finalseg's ``viterbi`` and ``__cut`` on one Chinese run. Each state's best predecessor is
    the larger of two (value, state letter) tuples, as there: on equal values the later letter
    of B < E < M < S wins."""
    emit = _EMIT.get
    t = _TRANS
    t_eb, t_sb = t["E"]["B"], t["S"]["B"]
    t_mm, t_bm = t["M"]["M"], t["B"]["M"]
    t_ss, t_es = t["S"]["S"], t["E"]["S"]
    t_be, t_me = t["B"]["E"], t["M"]["E"]
    eb, em, ee, es = emit(text[0], _UNSEEN)
    vb = _START[0] + eb
    vm = _START[1] + em
    ve = _START[2] + ee
    vs = _START[3] + es
    back: list[tuple[int, int, int, int]] = []
    for c in text[1:]:
        eb, em, ee, es = emit(c, _UNSEEN)
        a, b = ve + t_eb + eb, vs + t_sb + eb
        nb, pb = (a, 2) if a > b else (b, 3)
        a, b = vm + t_mm + em, vb + t_bm + em
        nm, pm = (a, 1) if a >= b else (b, 0)
        a, b = vs + t_ss + es, ve + t_es + es
        ns, ps = (a, 3) if a >= b else (b, 2)
        a, b = vb + t_be + ee, vm + t_me + ee
        ne, pe = (a, 0) if a > b else (b, 1)
        vb, vm, ve, vs = nb, nm, ne, ns
        back.append((pb, pm, pe, ps))
    state = 2 if ve > vs else 3
    states = [state]
    for step in reversed(back):
        state = step[state]
        states.append(state)
    states.reverse()
    begin = following = 0
    for i, state in enumerate(states):
        if state == 0:
            begin = i
        elif state == 2:
            out.append(text[begin : i + 1])
            following = i + 1
        elif state == 3:
            out.append(text[i])
            following = i + 1
    if following < len(text):
        out.append(text[following:])


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


def search_words(tokens: Iterable[str], *, all_pieces: bool = False) -> list[str]:
    """jieba's search mode (``cut_for_search``) from words already cut: before each word of more
    than two characters its two-character pieces that are words of the dictionary, before each of
    more than three its three-character ones. The full-text index reuses triage's segmentation
    of a report this way instead of cutting the text a second time. ``all_pieces`` adds the
    dictionary words of four characters or more inside longer words (after the word), for an
    index queried with a smaller dictionary's cut (jieba's own: 纪工委书记 → 纪工委 | 书记)."""
    freq = tokenizer().FREQ.get
    out: list[str] = []
    for w in tokens:
        n = len(w)
        if n > 2:
            out.extend(g for i in range(n - 1) if freq(g := w[i : i + 2]))
            if n > 3:
                out.extend(g for i in range(n - 2) if freq(g := w[i : i + 3]))
        out.append(w)
        if all_pieces and n > 4:
            out.extend(g for k in range(4, n) for i in range(n - k + 1) if freq(g := w[i : i + k]))
    return out
