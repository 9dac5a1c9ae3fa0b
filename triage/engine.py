"""The triage pipeline: normalize → segment → places → accused → scope → category → routing →
priority → duplicates, and the result with its evidence.

:func:`triage` is pure and synchronous: CPU-bound work (segmentation dominates) with no I/O once
the data is loaded. Callers on an event loop run it in a worker thread::

    result = await asyncio.to_thread(triage.triage, text, channel="web", jurisdiction=j)

Loading (jieba's dictionary, the gazetteer, OpenCC) happens once per process on first use or in
:func:`warm_up`; both are thread-safe.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from triage import accused as accused_mod
from triage import explain as explain_mod
from triage import gazetteer, priority, routing, scope, segment
from triage.accused import Accused
from triage.category import CategoryRules
from triage.classifier import Model
from triage.duplicates import DuplicateIndex, signature
from triage.gazetteer import PlaceMatch
from triage.jurisdiction import Jurisdiction, national
from triage.keywords import Hit, KeywordSet
from triage.lexicon import FORMER_WORDS, HANDOVER_WORDS
from triage.normalize import normalize_and_report
from triage.routing import UnitRef

RULES_VERSION = "triage-rules/1.0"
# Below this overall confidence a report goes to the manual triage queue (人工分办): the result's
# ``needs_review`` is True and its last evidence entry says ``"rule": MANUAL_QUEUE``.
REVIEW_THRESHOLD = 0.6
MANUAL_QUEUE = "manual triage queue"
CHANNELS = ("web", "app", "wechat", "weibo", "phone", "sms", "telegram", "letter", "visit", "video")
JSON_KEYS = (
    "category", "scope", "level", "unit", "places", "accused",
    "priority", "confidence", "evidence", "duplicate_of", "model",
)  # fmt: skip
# Scope's, priority's and routing's keyword groups, matched in one pass (group names are disjoint).
_NOTE_WORDS = {"handover": HANDOVER_WORDS, "former": FORMER_WORDS}
assert not (set(scope.SIGNAL_WORDS) & set(priority.SIGNAL_WORDS)) and not (
    set(scope.SIGNAL_WORDS) | set(priority.SIGNAL_WORDS)
) & set(_NOTE_WORDS)
_SIGNALS = KeywordSet({**scope.SIGNAL_WORDS, **priority.SIGNAL_WORDS, **_NOTE_WORDS})
# The packaged category rules' keywords join that pass, their groups named with this prefix.
_CATEGORY = "category:"


@dataclass(frozen=True)
class TriageResult:
    """What triage decided. :meth:`to_json` has exactly DESIGN.md's keys; the attributes after
    ``model`` are for the pipeline (sealing, transfer, advice, manual queue, the signature to
    store for duplicate detection)."""

    category: str
    scope: str
    level: str
    unit: UnitRef
    places: tuple[PlaceMatch, ...]
    accused: tuple[Accused, ...]
    priority: str
    confidence: float
    evidence: tuple[dict[str, Any], ...]
    duplicate_of: str | None
    model: str
    sealed: bool = False
    transfer: str | None = None
    # The handling unit is outside the deployment's tree: {name, division, level, deadline,
    # working_days, basis}, the forwarding to do (R12) and its deadline rule (intake.deadlines).
    forward_to: dict[str, Any] | None = None
    advice: str | None = None
    redirect_to: str | None = None
    needs_review: bool = False
    signature: bytes = field(default=b"", repr=False)
    # Every decision in plain Chinese for officers, with the deciding words' offsets in the text
    # as given (triage.explain); outside the DESIGN JSON, stored beside it by the service.
    explanations: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    # The normalized text's words as triage segmented it, for callers that need the words too
    # (the full-text index: :func:`triage.search_words`) instead of segmenting the text again.
    tokens: tuple[str, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "scope": self.scope,
            "level": self.level,
            "unit": self.unit.to_json(),
            "places": [p.to_json() for p in self.places],
            "accused": [a.to_json() for a in self.accused],
            "priority": self.priority,
            "confidence": self.confidence,
            "evidence": list(self.evidence),
            "duplicate_of": self.duplicate_of,
            "model": self.model,
        }


def _result(**fields: Any) -> TriageResult:
    """A :class:`TriageResult` from every one of its fields, written straight into the instance:
    the frozen dataclass's ``__init__`` sets its 20 fields one ``object.__setattr__`` at a time,
    3 µs of a short report's triage (a test checks that every field is given)."""
    result: TriageResult = object.__new__(TriageResult)
    result.__dict__.update(fields)
    return result


_lock = threading.Lock()
_rules: CategoryRules | None = None
_signals_and_categories: KeywordSet | None = None
_prepared: set[str] = set()
# The county tuples (a tree's ``county_codes``) whose townships the tokenizer knows, by id; each is
# kept, so its id stays its own: a province's tree is not walked county by county every report.
_prepared_trees: dict[int, tuple[str, ...]] = {}
_default_jurisdiction: Jurisdiction | None = None


def _category_rules() -> CategoryRules:
    global _rules, _signals_and_categories
    if _rules is None:
        with _lock:
            if _rules is None:
                rules = CategoryRules.packaged()
                groups = {f"{_CATEGORY}{name}": kws for name, kws in rules.keywords.items()}
                _signals_and_categories = KeywordSet(
                    {**scope.SIGNAL_WORDS, **priority.SIGNAL_WORDS, **_NOTE_WORDS, **groups}
                )
                _rules = rules
    return _rules


def _match_keywords(
    norm: str, rules: CategoryRules
) -> tuple[dict[str, list[Hit]], dict[str, list[Hit]] | None]:
    """The signal words' hits by group, and the category rules' hits by category when they are the
    packaged rules (one pass over the text for both; a caller's own rules match on their own)."""
    if rules is not _rules or _signals_and_categories is None:
        return _SIGNALS.groups(norm), None
    groups = _signals_and_categories.groups(norm)
    categories = {name[len(_CATEGORY) :]: hits for name, hits in groups.items() if name.startswith(_CATEGORY)}
    return groups, categories


def _jurisdiction(j: Jurisdiction | None) -> Jurisdiction:
    global _default_jurisdiction
    if j is not None:
        return j
    if _default_jurisdiction is None:
        _default_jurisdiction = national()
    return _default_jurisdiction


def _prepare(j: Jurisdiction) -> None:
    """Teach the tokenizer the jurisdiction's own place names: the townships of every county in
    its tree, or of the receiving unit's county (once per county; a tree once checked is not
    walked again)."""
    tree = j.county_codes
    if tree and _prepared_trees.get(id(tree)) is tree:
        return
    code = j.division_code
    counties = tree or ((code[:6],) if len(code) >= 6 else ())
    fresh = [c for c in counties if c not in _prepared]
    if not fresh and not tree:
        return
    if fresh:
        g = gazetteer.default()
        words: list[str] = []
        for county in fresh:
            if g.get(county):
                words.extend(g.children_names(county))
        segment.add_words(words)
    with _lock:
        _prepared.update(fresh)
        if tree:
            _prepared_trees[id(tree)] = tree


def words(text: str) -> list[str]:
    """``text`` normalized and segmented as triage does it (the words of :attr:`TriageResult.tokens`
    for a text that is not triaged, e.g. a report's other fields for the full-text index)."""
    return segment.cut(normalize_and_report(text)[0])


def warm_up(jurisdiction: Jurisdiction | None = None) -> None:
    """Load everything now (server start-up) instead of on the first report."""
    from triage.normalize import warm_up as warm_normalize

    warm_normalize()
    segment.tokenizer()
    gazetteer.default()
    _category_rules()
    j = _jurisdiction(jurisdiction)
    j.index()
    _prepare(j)


def _combine(scope_conf: float, route_conf: float, category_conf: float) -> float:
    """Overall confidence: the weaker of scope and routing decides most; the category a little."""
    return round(0.8 * min(scope_conf, route_conf) + 0.2 * category_conf, 3)


class _Reading(NamedTuple):
    """The report as read before any decision: normalized text, tokens, places and accused."""

    norm: str
    converted: bool
    tokens: list[str]
    places: list[PlaceMatch]
    place_notes: list[str]
    people: list[Accused]


class _Category(NamedTuple):
    """The category decision, the words behind it, its evidence and the model string."""

    label: str
    confidence: float
    words: list[str]
    evidence: list[dict[str, Any]]
    model_version: str


def _check_arguments(channel: str | None, review_threshold: float) -> None:
    if channel is not None and channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not 0.0 <= review_threshold <= 1.0:
        raise ValueError("review_threshold is a confidence between 0 and 1")


def _read(text: str, j: Jurisdiction, g: gazetteer.Gazetteer) -> _Reading:
    """Normalize, segment, find the places and the accused (a place inside a name is dropped)."""
    norm, converted = normalize_and_report(text)
    tokens = segment.cut(norm)
    prior = j.division_code if j.division_code in g else None
    places, place_notes = g.find(norm, prior)
    people = accused_mod.extract(norm, tokens, places, j, prior)
    places, place_notes = _outside_names(places, place_notes, people)
    return _Reading(norm, converted, tokens, places, list(dict.fromkeys(place_notes)), people)


def _outside_names(
    places: list[PlaceMatch], place_notes: list[str], people: list[Accused]
) -> tuple[list[PlaceMatch], list[str]]:
    """A place read out of a person's name (李建国 → 建国) is not a place of the report."""
    names = {a.name for a in people if a.name and len(a.name) >= 2}
    if not names:
        return places, place_notes
    places = [p for p in places if not any(p.text in n and p.text != n for n in names)]
    place_notes = [n for n in place_notes if not any(n.split(":", 1)[0] in name for name in names)]
    return places, place_notes


def _categorize(
    reading: _Reading,
    rules: CategoryRules,
    model: Model | None,
    explain: bool,
    hits: dict[str, list[Hit]] | None = None,
) -> _Category:
    """The model's category when there is a model (the discipline rules noted beside it), else the
    discipline rules' own (from ``hits`` when the rules' keywords were matched already)."""
    discipline = rules.decide(reading.norm) if hits is None else rules.decide_hits(hits)
    if model is None:
        return _Category(
            discipline.category,
            max(discipline.confidence, 0.5),
            list(discipline.words),
            [discipline.evidence(rules.version)],
            f"{RULES_VERSION}+{rules.version}",
        )
    pred = model.predict_tokens(reading.tokens, reading.norm)
    model_note = {
        "decision": "category",
        "rule": f"model {model.version}",
        "words": [],
        "note": f"p={pred.confidence:.3f}; discipline={discipline.category}",
    }
    return _Category(
        pred.label,
        pred.confidence,
        model.deciding_words(reading.tokens, pred.label) if explain else [],
        [model_note, discipline.evidence(rules.version)],
        f"{RULES_VERSION}+{model.version}",
    )


def _place_evidence(reading: _Reading) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if reading.places:
        out.append({"decision": "places", "rule": "gazetteer", "words": [p.text for p in reading.places]})
    out.extend(
        {"decision": "places", "rule": "ambiguous", "words": [], "note": note} for note in reading.place_notes
    )
    return out


def _confidence_evidence(
    confidence: float, needs_review: bool, review_threshold: float, parts: tuple[float, float, float]
) -> dict[str, Any]:
    return {
        "decision": "confidence",
        "rule": MANUAL_QUEUE if needs_review else "automatic",
        "words": [],
        "note": _confidence_note(confidence, needs_review, review_threshold, *parts),
    }


@functools.lru_cache(maxsize=4096, typed=True)  # typed: a threshold of 1 is noted as 1, of 1.0 as 1.0
def _confidence_note(
    confidence: float,
    needs_review: bool,
    review_threshold: float,
    scope_conf: float,
    route_conf: float,
    category_conf: float,
) -> str:
    """The confidence entry's note (a few values recur: formatting six floats costs more than the
    cache's look-up)."""
    return (
        f"{confidence:.3f} {'<' if needs_review else '≥'} review_threshold {review_threshold}; "
        f"scope={scope_conf} routing={route_conf:.2f} category={category_conf:.3f}"
    )


def triage(
    text: str,
    *,
    channel: str | None = None,
    jurisdiction: Jurisdiction | None = None,
    model: Model | None = None,
    duplicates: DuplicateIndex | None = None,
    real_name: bool | None = None,
    rules: CategoryRules | None = None,
    review_threshold: float = REVIEW_THRESHOLD,
    explain: bool = True,
    receiving_unit: str | None = None,
) -> TriageResult:
    """Triage one report.

    ``channel`` is the report's channel tag (advice for out-of-scope items depends on it);
    ``jurisdiction`` the deployment's org tree (without one, units are named but have no id);
    ``model`` a trained classifier for the deployment's taxonomy; ``duplicates`` an index of
    earlier reports; ``real_name`` whether the informant gave their name (the channel knows);
    ``explain`` whether to write :attr:`TriageResult.explanations` (officers' plain-Chinese reasons);
    ``receiving_unit`` the unit of the tree the report was filed at (default: the jurisdiction's
    receiving unit; ``ValueError`` when it is not in the tree).
    """
    _check_arguments(channel, review_threshold)
    j = _jurisdiction(jurisdiction).received_at(receiving_unit)
    _prepare(j)
    g = gazetteer.default()
    reading = _read(text, j, g)
    norm, people, places = reading.norm, reading.people, reading.places
    evidence: list[dict[str, Any]] = []
    if reading.converted:
        evidence.append(
            {"decision": "normalize", "rule": "OpenCC t2s", "words": [], "note": "traditional → simplified"}
        )

    rules = rules or _category_rules()
    signals, category_hits = _match_keywords(norm, rules)
    sc = scope.decide(norm, people, channel, signals)
    cat = _categorize(reading, rules, model, explain, category_hits)
    evidence.extend(cat.evidence)
    evidence.append(sc.evidence())
    evidence.extend(a.evidence() for a in people)
    evidence.extend(_place_evidence(reading))

    router = routing.Router(j, g)
    route = router.route(
        people, places, scope=sc.scope, channel=channel, handover=bool(signals.get("handover"))
    )
    evidence.append(route.evidence())

    sig = signature(reading.tokens).tobytes()
    duplicate_of = duplicates.query_signature(sig) if duplicates is not None else None
    if duplicate_of:
        evidence.append({"decision": "duplicate", "rule": "MinHash/LSH", "words": [], "note": duplicate_of})
    pr = priority.decide(norm, real_name=real_name, duplicate=duplicate_of is not None, signals=signals)
    evidence.append(pr.evidence())

    confidence = _combine(sc.confidence, route.confidence, cat.confidence)
    needs_review = confidence < review_threshold
    evidence.append(
        _confidence_evidence(
            confidence, needs_review, review_threshold, (sc.confidence, route.confidence, cat.confidence)
        )
    )
    explanations: tuple[dict[str, Any], ...] = ()
    if explain:
        explanations = tuple(
            explain_mod.build(
                text,
                sc=sc,
                category=cat.label,
                category_confidence=cat.confidence,
                category_words=cat.words,
                by_model=model is not None,
                route=route,
                accused=people,
                receiving=j.receiving.name,
                priority=pr.priority,
                priority_reasons=pr.reasons,
                priority_words=pr.words,
                duplicate_of=duplicate_of,
                confidence=confidence,
                needs_review=needs_review,
                threshold=review_threshold,
                place_words=[p.text for p in places],
                normalized=norm,
            )
        )
    return _result(
        category=cat.label,
        scope=sc.scope,
        level=route.level,
        unit=route.unit,
        places=tuple(places),
        accused=tuple(people),
        priority=pr.priority,
        confidence=confidence,
        evidence=tuple(evidence),
        duplicate_of=duplicate_of,
        model=cat.model_version,
        sealed=route.sealed,
        transfer=route.transfer,
        forward_to=route.forward,
        advice=sc.advice,
        redirect_to=sc.redirect_to,
        needs_review=needs_review,
        signature=sig,
        explanations=explanations,
        tokens=tuple(reading.tokens),
    )
