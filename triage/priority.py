"""Priority: ``urgent`` · ``high`` · ``normal``.

Urgent: threats, retaliation against the informant (打击报复 — 监察法 2024 art 73), danger to life
or safety, group incidents, self-harm. High: a real-name report (实名, from the channel or the
text), a large sum (≥ 100,000 元 by default), a repeat (多次反映, or a near-duplicate of an earlier
case). Everything else is normal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from triage.keywords import Hit, KeywordSet, words
from triage.lexicon import LARGE_SUM_YUAN, REAL_NAME_WORDS, REPEAT_WORDS, URGENT_WORDS

_GROUPS: dict[str, list[str]] = {}
for _word, _kind in URGENT_WORDS.items():
    _GROUPS.setdefault(f"urgent:{_kind}", []).append(_word)
_GROUPS["real_name"] = list(REAL_NAME_WORDS)
_GROUPS["repeat"] = list(REPEAT_WORDS)
# The keyword groups priority reads; the engine matches them in one pass together with scope's.
SIGNAL_WORDS: dict[str, list[str]] = _GROUPS
SIGNALS = KeywordSet(_GROUPS)

_CN_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_VAGUE = {"几": 2, "数": 2, "上": 1, "好几": 3}
_AMOUNT = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|[零一二两三四五六七八九十百千几数上好]+)\s*"
    r"(?:(?P<mult>亿|万|千)\s*(?P<unit>元|块|人民币)?|(?P<unit2>元|块|人民币))"
)


def _cn_number(text: str) -> float | None:
    if text in _VAGUE:
        return float(_VAGUE[text])
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        elif ch in ("几", "数", "上", "好"):
            current = max(current, 1)
        else:
            return None
    return float(total + current)


# Every sum :data:`_AMOUNT` reads has one of these: most reports (a title without a sum) skip it.
_MONEY = re.compile("[元万亿千块]|人民币")


def amounts(text: str) -> list[float]:
    """Sums of money in yuan written in ``text`` (50万元, 1.2亿, 300000元, 几十万)."""
    out: list[float] = []
    if _MONEY.search(text) is None:
        return out
    for m in _AMOUNT.finditer(text):
        mult, unit = m.group("mult"), m.group("unit") or m.group("unit2")
        raw = m.group("num")
        value = float(raw) if raw[0].isdigit() else _cn_number(raw)
        if value is None:
            continue
        factor = {"亿": 1e8, "万": 1e4, "千": 1e3, None: 1.0}[mult]
        if mult and not unit and not text.startswith(("元", "块"), m.end()):
            # 50万 alone: money only when the sentence talks about money.
            window = text[max(0, m.start() - 12) : m.end() + 6]
            if not any(w in window for w in ("元", "钱", "款", "资金", "金额", "贪", "受贿", "挪用", "补贴")):
                continue
        out.append(value * factor)
    return out


class PriorityDecision(NamedTuple):
    """The priority decision (a named tuple: a frozen dataclass costs three times as much
    to build, once a report)."""

    priority: str
    reasons: tuple[str, ...]
    words: tuple[str, ...]

    def evidence(self) -> dict[str, Any]:
        return {
            "decision": "priority",
            "rule": " ".join(self.reasons) or "default",
            "words": list(self.words),
        }


def decide(
    text: str,
    *,
    real_name: bool | None = None,
    duplicate: bool = False,
    large_sum: float = LARGE_SUM_YUAN,
    signals: Mapping[str, list[Hit]] | None = None,
) -> PriorityDecision:
    """The priority of normalized ``text``; ``real_name`` comes from the channel when it knows.
    ``signals``: the hits of :data:`SIGNAL_WORDS` when the caller already matched them."""
    g = SIGNALS.groups(text) if signals is None else signals
    urgent = [(name.split(":", 1)[1], hits) for name, hits in g.items() if name.startswith("urgent:")]
    if urgent:
        reasons = tuple(sorted(kind for kind, _ in urgent))
        return PriorityDecision("urgent", reasons, tuple(words(h for _, hits in urgent for h in hits)))
    reasons_high: list[str] = []
    found: list[str] = []
    if real_name or g.get("real_name"):
        reasons_high.append("real_name")
        found.extend(words(g.get("real_name", [])))
    sums = [a for a in amounts(text) if a >= large_sum]
    if sums:
        reasons_high.append("large_sum")
        found.append(f"{max(sums):,.0f}元")
    if duplicate or g.get("repeat"):
        reasons_high.append("repeat")
        found.extend(words(g.get("repeat", [])))
    if reasons_high:
        return PriorityDecision("high", tuple(reasons_high), tuple(found))
    return PriorityDecision("normal", (), ())
