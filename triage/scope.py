"""Scope (受理范围): is this a 检举控告, a 申诉, a 批评建议, another 信访 demand, or not accepted?

Rules (research note §2.3, §4.1; S1 art 4 and art 13):

* ``appeal`` (申诉): an appeal word (申诉, 不服, 复查) about a disciplinary decision (处分, 留置…).
* ``out_of_scope`` (不予受理), three classes of S1 art 13:
  ``BSL-WSZ`` a violation named without substance (举报贪污受贿！ — no person, no number, short);
  ``BSL-SS`` a litigation, arbitration or reconsideration matter with no official's misconduct;
  ``BSL-QT`` another organ's remit (crimes for the police, consumer disputes).
* ``accusation`` (检举控告): misconduct words, or an official's title with a complaint word.
* ``suggestion`` (批评建议): a suggestion about 党风廉政建设 / 反腐败工作.
* ``petition`` (其他信访诉求): a demand on public services, or nothing better.

The advice for BSL-SS, BSL-QT and petitions depends on the channel (S1 art 13 ¶2): a letter is
forwarded (``forward``) to the competent organ; a visit, call or online report is answered by
telling the informant where to go (``inform``). A report without substance gets ``request_facts``
(or ``file`` for a letter, which cannot be asked back).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from triage.accused import Accused
from triage.keywords import Hit, KeywordSet, words
from triage.lexicon import (
    APPEAL_OBJECTS,
    APPEAL_VERBS,
    COMPLAINT_WORDS,
    DEMAND_WORDS,
    LITIGATION_TARGET,
    LITIGATION_WORDS,
    MISCONDUCT_WORDS,
    OTHER_ORGAN_WORDS,
    SERVICE_WORDS,
    SUGGESTION_TOPICS,
    SUGGESTION_VERBS,
)

SCOPES = ("accusation", "appeal", "suggestion", "petition", "out_of_scope")
_HAN_RUNS = re.compile("[\u4e00-\u9fff]+")
# A demand or grievance of the informant's own: then a 建议 word does not make it a suggestion.
_GRIEVANCE = re.compile(
    r"拖欠|欠薪|赔偿|退还|补偿款|讨要|维权|被打|被骗|不予办理|拒绝办理|不给办|我家|我的|本人的|请求解决|要求解决|帮忙解决|帮我"
)
# A unit that names no unit: 某单位, 某局, 有关部门, 相关机关 …
_PLACEHOLDER_UNIT = re.compile(
    r"(?:某+|有关|相关|一些|个别|部分|有的|某个)(?:单位|部门|机关|地方|地|方面|[局厅委办院所站部处科股])?"
)
_FACT_NUMBER = re.compile(r"\d|[一二三四五六七八九十百千万两]+(?:元|万|年|月|日|次|人|亩)")

# The keyword groups scope reads; the engine matches them in one pass together with priority's.
SIGNAL_WORDS: dict[str, Iterable[str]] = {
    "misconduct": MISCONDUCT_WORDS,
    "complaint": COMPLAINT_WORDS,
    "litigation": LITIGATION_WORDS,
    "other_organ": OTHER_ORGAN_WORDS,
    "service": SERVICE_WORDS,
    "appeal_verb": APPEAL_VERBS,
    "appeal_object": APPEAL_OBJECTS,
    "suggestion_verb": SUGGESTION_VERBS,
    "suggestion_topic": SUGGESTION_TOPICS,
    "demand": DEMAND_WORDS,
}
SIGNALS = KeywordSet(SIGNAL_WORDS)


class ScopeDecision(NamedTuple):
    """The scope decision (a named tuple: a frozen dataclass costs three times as much
    to build, once a report)."""

    scope: str
    rule: str
    words: tuple[str, ...]
    confidence: float
    advice: str | None = None
    redirect_to: str | None = None

    def evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"decision": "scope", "rule": self.rule, "words": list(self.words)}
        notes = []
        if self.advice:
            notes.append(f"advice={self.advice}")
        if self.redirect_to:
            notes.append(f"redirect_to={self.redirect_to}")
        if notes:
            doc["note"] = " ".join(notes)
        return doc


def _redirect_advice(channel: str | None) -> str:
    return "forward" if channel == "letter" else "inform"


class _Reading(NamedTuple):
    """What the scope rules read: the text, the channel, the signal hits and the officials."""

    text: str
    channel: str | None
    signals: Mapping[str, list[Hit]]
    officials: list[Accused]
    has_facts: bool

    def hits(self, group: str) -> list[Hit]:
        return self.signals.get(group, [])

    @property
    def redirect(self) -> str:
        return _redirect_advice(self.channel)


def _read(
    text: str, accused: Sequence[Accused], channel: str | None, signals: Mapping[str, list[Hit]]
) -> _Reading:
    officials = [a for a in accused if a.rank]
    # An official is a fact only when the text says who (a name, or a real unit): 「某某局长」 is not.
    identified = [a for a in officials if a.name or (a.unit and not _PLACEHOLDER_UNIT.fullmatch(a.unit))]
    has_facts = (
        bool(identified) or bool(_FACT_NUMBER.search(text)) or sum(map(len, _HAN_RUNS.findall(text))) >= 30
    )
    return _Reading(text, channel, signals, officials, has_facts)


def _appeal(r: _Reading) -> ScopeDecision | None:
    if r.hits("appeal_verb") and r.hits("appeal_object"):
        hit = words(r.hits("appeal_verb") + r.hits("appeal_object"))
        return ScopeDecision("appeal", "SS 申诉 (S1 art 4)", tuple(hit), 0.85)
    return None


def _without_substance(r: _Reading) -> ScopeDecision | None:
    misconduct = r.hits("misconduct")
    if misconduct and not r.has_facts:
        advice = "file" if r.channel == "letter" else "request_facts"
        return ScopeDecision(
            "out_of_scope", "BSL-WSZ 无实质内容 (S1 art 13(三))", tuple(words(misconduct)), 0.8, advice
        )
    return None


def _litigation(r: _Reading) -> ScopeDecision | None:
    litigation, misconduct = r.hits("litigation"), r.hits("misconduct")
    if litigation and not (misconduct and r.officials):
        return ScopeDecision(
            "out_of_scope",
            "BSL-SS 诉讼仲裁复议 (S1 art 13(一))",
            tuple(words(litigation)),
            0.8 if not misconduct else 0.65,
            r.redirect,
            LITIGATION_TARGET,
        )
    return None


def _misconduct(r: _Reading) -> ScopeDecision | None:
    misconduct = r.hits("misconduct")
    if misconduct:
        conf = 0.92 if r.officials else 0.75
        return ScopeDecision("accusation", "JJKG 检举控告 (S1 art 4)", tuple(words(misconduct)), conf)
    return None


def _other_organ(r: _Reading) -> ScopeDecision | None:
    other = r.hits("other_organ")
    if other and not r.officials:
        return ScopeDecision(
            "out_of_scope",
            "BSL-QT 其他机关职责 (S1 art 13(二))",
            tuple(words(other)),
            0.7,
            r.redirect,
            OTHER_ORGAN_WORDS[other[0].word],
        )
    return None


def _official_complaint(r: _Reading) -> ScopeDecision | None:
    if r.officials and r.hits("complaint"):
        return ScopeDecision("accusation", "JJKG 检举控告 (S1 art 4)", tuple(words(r.hits("complaint"))), 0.7)
    return None


def _party_suggestion(r: _Reading) -> ScopeDecision | None:
    if r.hits("suggestion_verb") and r.hits("suggestion_topic"):
        hit = words(r.hits("suggestion_verb") + r.hits("suggestion_topic"))
        return ScopeDecision("suggestion", "PPJY 批评建议", tuple(hit), 0.8)
    return None


def _public_proposal(r: _Reading) -> ScopeDecision | None:
    service, verbs = r.hits("service"), r.hits("suggestion_verb")
    if verbs and not r.officials and not _GRIEVANCE.search(r.text):
        # 建议意见类 (条例 arts 29–30): a proposal on public affairs with no demand of one's own is a
        # suggestion for the organ that can adopt it, not a 求决 petition.
        target = SERVICE_WORDS[service[0].word] if service else "有权处理的机关或信访部门"
        return ScopeDecision(
            "suggestion",
            "XF 建议意见类 (条例 art 30)",
            tuple(words(verbs + service)),
            0.7,
            r.redirect,
            target,
        )
    return None


def _service_demand(r: _Reading) -> ScopeDecision | None:
    service, demand = r.hits("service"), r.hits("demand")
    if service or demand:
        target = SERVICE_WORDS[service[0].word] if service else "有权处理的行政机关或信访部门"
        return ScopeDecision(
            "petition",
            "XF 申诉求决类 (条例 art 31)",
            tuple(words(service + demand)),
            0.75 if service else 0.6,
            r.redirect,
            target,
        )
    return None


def _remainder(r: _Reading) -> ScopeDecision:
    if r.officials:
        return ScopeDecision("accusation", "JJKG 检举控告 (S1 art 4)", (), 0.55)
    return ScopeDecision("petition", "XF 其他信访诉求", (), 0.45, r.redirect, "有权处理的机关或信访部门")


# The rules in the order they are tried; the first that decides wins, else :func:`_remainder`.
_RULES: tuple[Callable[[_Reading], ScopeDecision | None], ...] = (
    _appeal,
    _without_substance,
    _litigation,
    _misconduct,
    _other_organ,
    _official_complaint,
    _party_suggestion,
    _public_proposal,
    _service_demand,
)


def decide(
    text: str,
    accused: Sequence[Accused],
    channel: str | None,
    signals: Mapping[str, list[Hit]] | None = None,
) -> ScopeDecision:
    """The scope of normalized ``text`` given the accused already found in it.

    ``signals`` are the hits of :data:`SIGNAL_WORDS` in ``text`` when the caller already has them
    (``KeywordSet.groups``); otherwise they are matched here."""
    reading = _read(text, accused, channel, SIGNALS.groups(text) if signals is None else signals)
    for rule in _RULES:
        decision = rule(reading)
        if decision is not None:
            return decision
    return _remainder(reading)
