"""Discipline categories (问题类别) from configurable keyword rules.

The packaged rules (``triage/data/categories.json``) follow the research note's recommended level
1: the six disciplines of 《纪律处分条例》 (2023, chapters 6–11) and the 职务违法/职务犯罪 groups of
实施条例 arts 26–31. A deployment passes its own :class:`CategoryRules` (same JSON shape:
``{"version", "default", "rules": [{"category", "keywords": [...]}]}``). The category with the most
keyword characters matched wins (longer words are more specific); ties go to the earlier rule.

A deployment's own taxonomy (e.g. 城乡建设 / 环境保护 …) is learned instead by
:mod:`triage.classifier`; when a model is given its label becomes the report's category and the
discipline category stays in the evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, NamedTuple

from triage.keywords import Hit, KeywordSet, words


class CategoryDecision(NamedTuple):
    """The discipline category decision (a named tuple: a frozen dataclass costs three times as much
    to build, once a report)."""

    category: str
    words: tuple[str, ...]
    confidence: float

    def evidence(self, version: str) -> dict[str, Any]:
        return {"decision": "category", "rule": f"keywords {version}", "words": list(self.words)}


class CategoryRules:
    """Keyword rules → one category; immutable, thread-safe."""

    def __init__(self, rules: Sequence[tuple[str, Sequence[str]]], *, default: str, version: str) -> None:
        self.version = version
        self.default = default
        self.order = {name: i for i, (name, _) in enumerate(rules)}
        self.keywords: dict[str, tuple[str, ...]] = {name: tuple(kws) for name, kws in rules}
        self._set = KeywordSet(self.keywords)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CategoryRules:
        rules = [(str(r["category"]), [str(k) for k in r["keywords"]]) for r in doc["rules"]]
        return cls(rules, default=str(doc.get("default", "其他")), version=str(doc.get("version", "custom")))

    @classmethod
    def packaged(cls) -> CategoryRules:
        text = resources.files("triage").joinpath("data/categories.json").read_text("utf-8")
        return cls.from_dict(json.loads(text))

    def decide(self, text: str) -> CategoryDecision:
        return self.decide_hits(self._set.groups(text))

    def decide_hits(self, groups: Mapping[str, Sequence[Hit]]) -> CategoryDecision:
        """:meth:`decide` from the hits of :attr:`keywords` by category, matched by the caller (the
        engine matches them in one pass with the other rules' keywords)."""
        if not groups:
            return CategoryDecision(self.default, (), 0.3)
        scored = sorted(
            ((sum(len(h.word) for h in hits), -self.order[name], name) for name, hits in groups.items()),
            reverse=True,
        )
        best = scored[0][2]
        hits = groups[best]
        margin = scored[0][0] - (scored[1][0] if len(scored) > 1 else 0)
        confidence = min(0.95, 0.55 + 0.1 * len(hits) + 0.05 * margin)
        return CategoryDecision(best, tuple(words(hits)), round(confidence, 3))
