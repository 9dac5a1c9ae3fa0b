"""Multi-pattern keyword matching (Aho-Corasick) shared by the rule-based steps.

A :class:`KeywordSet` maps words to named groups (``misconduct``, ``urgent:self_harm`` …) and
finds every occurrence in one pass over the text. Sets are immutable once built and safe to share
between threads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import ahocorasick


class Hit(NamedTuple):
    """A word found: a named tuple, not a frozen dataclass, because a report makes several and
    the dataclass costs three times as much to build."""

    start: int
    end: int
    word: str
    group: str


class KeywordSet:
    """Words in named groups; a word may belong to several groups."""

    def __init__(self, groups: Mapping[str, Iterable[str]]) -> None:
        by_word: dict[str, list[str]] = {}
        for group, words in groups.items():
            for word in words:
                if word:
                    by_word.setdefault(word, []).append(group)
        self._automaton: Any = ahocorasick.Automaton()
        for word, names in by_word.items():
            self._automaton.add_word(word, (word, tuple(names)))
        self._empty = not by_word
        if not self._empty:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[Hit]:
        """Every occurrence of every word, in text order (overlaps included)."""
        if self._empty:
            return []
        hits: list[Hit] = []
        for end, (word, names) in self._automaton.iter(text):
            start = end + 1 - len(word)
            hits.extend(Hit(start, end + 1, word, name) for name in names)
        return hits

    def groups(self, text: str) -> dict[str, list[Hit]]:
        """The hits of :meth:`find`, by group, keeping only the longest of overlapping words
        within a group (反映 inside 多次反映 counts once)."""
        out: dict[str, list[Hit]] = {}
        for hit in self.find(text):
            out.setdefault(hit.group, []).append(hit)
        for name, hits in out.items():
            if len(hits) == 1:  # most groups of a short report: nothing overlaps
                continue
            hits.sort(key=lambda h: (h.start - h.end, h.start))
            kept: list[Hit] = []
            for h in hits:
                if all(h.end <= k.start or h.start >= k.end for k in kept):
                    kept.append(h)
            kept.sort(key=lambda h: h.start)
            out[name] = kept
        return out


def words(hits: Iterable[Hit]) -> list[str]:
    """Distinct words of some hits, in order of first appearance."""
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.word, None)
    return list(seen)
