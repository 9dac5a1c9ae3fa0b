"""Accused persons: their title with its unit, resolved together to a rank and a managing level.

For each title word (:data:`triage.lexicon.TITLES`) found in the text the unit phrase in front of
it is read back to the nearest place, stop word or punctuation (我要举报 | 长沙县教育局 | 局长). The
unit's level comes from, most specific first: a level word or character in the phrase (县教育局,
镇政府, 某村), the place that opens it (长沙县 → county, 浏阳市 → county), the level the title itself
implies (县长, 村支书), and last the jurisdiction's own level (a bare 局长 in a county deployment is a
county 局长). The rank follows from the title's class at that level (局长: 正厅 in a province, 正处
in a city, 正科 in a county); the managing level from the rank (§2.5 rank proxy), never below the
unit's own level, and a management list entry of the deployment overrides both.

Guards against false titles: a title must sit on jieba word boundaries (超市长期 has no 市长), may
share only its first character with a place that ends it (长沙市长 = 长沙市 + 市长; 湖南省长沙县 has no
省长), and is dropped when the text addresses the official (尊敬的张书记, 胡书记您好) or when the
informant describes themself (我是一名教师).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import ahocorasick

from triage.gazetteer import PlaceMatch
from triage.jurisdiction import Jurisdiction, ManagementRule
from triage.lexicon import (
    FORMER_WORDS,
    LEVEL_CHARS,
    LEVEL_RANK,
    LEVEL_WORDS,
    LEVELS,
    MANAGED_BY_RANK,
    NON_PARTY_WORDS,
    ORG_SUFFIXES,
    PARTY_MEMBER_WORDS,
    RANK_BY_CLASS,
    TITLES,
    UNIT_STOPS,
    Title,
)
from triage.names import name_near

_LEVEL_INDEX = {"central": 0, "province": 1, "city": 2, "county": 3, "township": 4, "village": 5}
_PUNCT = set("，。！？、；：,.!?;:()（）【】[]《》“”\"'‘’ \n\t…—-/")
_SHARED = frozenset({"省", "市", "州", "县", "区", "镇", "乡", "村", "社区"})
_GREETINGS = ("您好", "你好")


def _addressed(text: str, pos: int) -> bool:
    """The official is spoken to, not about: 张书记：… / 胡书记，您好 / 书记您好."""
    if text.startswith(("：", ":"), pos):
        return True
    return text[pos : pos + 4].lstrip("，,、 ！!").startswith(_GREETINGS)


_SELF_BEFORE = ("我是", "本人是", "我作为", "我系", "本人系", "我们是", "我曾是", "我父亲是", "我母亲是")


@dataclass(frozen=True)
class Accused:
    """One accused person as far as the text tells."""

    name: str | None
    title: str
    unit: str
    unit_level: str
    division: str | None
    rank: str
    managed_by: str
    party: bool | None
    commission_head: bool
    leadership: bool
    former: bool
    level_source: str  # unit | place | title | prior
    management_rule: bool
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"title": self.title, "rank": self.rank}
        if self.name:
            doc = {"name": self.name, **doc}
        return doc

    def evidence(self) -> dict[str, Any]:
        return {
            "decision": "accused",
            "words": [w for w in (self.unit + self.title, self.name) if w],
            "rule": "management list" if self.management_rule else "rank proxy §2.5",
            "note": (
                f"unit={self.unit or '—'} level={self.unit_level} ({self.level_source}) "
                f"rank={self.rank} managed_by={self.managed_by}"
                + (" party=yes" if self.party else " party=no" if self.party is False else "")
                + (" former" if self.former else "")
            ),
        }


class _Titles:
    def __init__(self, titles: Sequence[Title]) -> None:
        self.automaton: Any = ahocorasick.Automaton()
        for t in titles:
            self.automaton.add_word(t.word, t)
        self.automaton.make_automaton()

    def spans(self, text: str) -> list[tuple[int, int, Title]]:
        hits = [(end + 1 - len(t.word), end + 1, t) for end, t in self.automaton.iter(text)]
        hits.sort(key=lambda h: (h[0] - h[1], h[0]))
        taken: list[tuple[int, int, Title]] = []
        for h in hits:
            if all(h[1] <= k[0] or h[0] >= k[1] for k in taken):
                taken.append(h)
        taken.sort(key=lambda h: h[0])
        return taken


_TITLES = _Titles(TITLES)


def _boundaries(tokens: Sequence[str]) -> list[int]:
    """Token end offsets (sorted), starting with 0."""
    ends = [0]
    for tok in tokens:
        ends.append(ends[-1] + len(tok))
    return ends


def _is_boundary(ends: Sequence[int], pos: int) -> bool:
    i = bisect_left(ends, pos)
    return i < len(ends) and ends[i] == pos


def _covering_end(ends: Sequence[int], pos: int) -> int:
    """The end of the token that covers character ``pos``."""
    i = bisect_right(ends, pos)
    return ends[i] if i < len(ends) else pos


def _clause_start(text: str, pos: int, floor: int) -> int:
    i = pos
    while i > floor and text[i - 1] not in _PUNCT:
        i -= 1
    return i


def _unit_level_from_phrase(phrase: str) -> str | None:
    """A level word or character in the unit phrase (县教育局 → county, 某村 → village)."""
    found: list[str] = []
    for word, level in LEVEL_WORDS.items():
        if word in phrase:
            found.append(level)
    if phrase and phrase[0] in LEVEL_CHARS:
        found.append(LEVEL_CHARS[phrase[0]])
    if phrase.endswith(("村", "社区", "组")):
        found.append("village")
    elif phrase.endswith(("镇", "乡", "街道")):
        found.append("township")
    return max(found, key=lambda lv: LEVEL_RANK[lv]) if found else None


def _has_org(phrase: str) -> bool:
    return any(phrase.endswith(s) or s in phrase for s in ORG_SUFFIXES if len(s) > 1) or (
        bool(phrase) and phrase[-1] in "局厅委办院所站部处科股校"
    )


def _title_class(title: Title, unit: str) -> str:
    """The rank class of a title in its unit (书记 of a 局 is its head, of a 村 a village cadre)."""
    word = title.word
    if word in ("书记", "党委书记", "一把手", "党委副书记", "副书记"):
        if any(m in unit for m in ("村", "社区", "居委会")):
            return "village"
        if _has_org(unit) and not unit.endswith(("党委", "政府", "党工委", "镇", "乡", "街道")):
            return "dept_deputy" if "副" in word else "dept_head"
    if word in ("主任", "副主任"):
        if unit.endswith(("人大", "人大常委会")):
            return "deputy" if "副" in word else "leader"
        if unit.endswith(("村委会", "居委会", "村委", "社区", "村")):
            return "village"
        if unit.endswith("办公室") and any(c in unit[:-3] for c in "局厅委院"):
            return "staff"
    return title.cls


# What sits between a unit and the title but is not part of the unit (民政办有工作人员, 局里的一名干部,
# 局里位干部). A bare 名 or 位 counts people only after 有/里/内/中: else it ends the unit's own
# name (某单位局长, 岗位, 学位), and a 里/内/中 only where a word ends (县一中校长: 一中 is a school).
_UNIT_TAIL = re.compile(
    r"(?:有|(?P<inside>里的|里|内|中))?"
    r"(?:一名|一位|一个|个别|部分|一些|几名|几位|几个|多名|两名|两位|(?<=[有里内中])[名位])?$"
)
_JOINERS = ("、", "兼", "，兼", "、兼")


@dataclass
class _Scan:
    """One extraction under way: the text read so far and the accused found in it."""

    text: str
    ends: list[int]
    places: Sequence[PlaceMatch]
    place_spans: list[PlaceMatch]
    jurisdiction: Jurisdiction
    prior_division: str | None
    out: list[Accused] = field(default_factory=list)
    prev_end: int = 0
    merged_into: Accused | None = None


class _UnitPhrase(NamedTuple):
    """The unit in front of a title: the place it opens with (if any), its text, where it starts,
    and whether it was marked former (原)."""

    place: PlaceMatch | None
    unit: str
    start: int
    former: bool


def extract(
    text: str,
    tokens: Sequence[str],
    places: Sequence[PlaceMatch],
    jurisdiction: Jurisdiction,
    prior_division: str | None,
) -> list[Accused]:
    """The accused named in normalized ``text`` (segmented as ``tokens``), in text order."""
    spans = _TITLES.spans(text)
    if not spans:
        return []
    place_spans = sorted(places, key=lambda p: p.start)
    scan = _Scan(text, _boundaries(tokens), places, place_spans, jurisdiction, prior_division)
    for start, end, title in spans:
        found = _read_title(scan, start, end, title)
        if found is not None:
            _add(scan, *found)
    return scan.out


def _read_title(scan: _Scan, start: int, end: int, title: Title) -> tuple[Accused, bool] | None:
    """The accused a title found at ``start:end`` stands for, and whether it is joined to the one
    before (县委常委、县纪委书记); None when the title is not an accused's."""
    text = scan.text
    shared = _place_share(scan.place_spans, text, start, end, title)
    if shared is None or not _title_stands(text, scan.ends, start, end, title, bool(shared)):
        return None
    clause_from = _clause_start(text, start, max(scan.prev_end, start - 24))
    if any(s in text[max(0, clause_from - 4) : start] for s in _SELF_BEFORE):
        return None
    name, earlier = _name_for(text, start, end, text[clause_from:start], scan.out)
    if name and _addressed(text, end + len(name)):
        return None  # 张书记您好 / 书记张某某：
    phrase = _unit_phrase(text, scan.ends, scan.place_spans, clause_from, start, shared, earlier)
    # Titles joined by 、 or 兼 belong to one person (县委常委、县纪委书记张某某).
    prev_end = scan.prev_end
    joined = (
        bool(scan.out)
        and scan.merged_into is not None
        and (text[prev_end:start] in _JOINERS or text[prev_end : max(prev_end, phrase.start)] in _JOINERS)
    )
    return _resolve(scan, title, name, phrase, start, end), joined


def _place_share(
    place_spans: Sequence[PlaceMatch], text: str, start: int, end: int, title: Title
) -> str | None:
    """The level word a title shares with the place that ends in it (长沙市长 = 长沙市 + 市长,
    金凤村党支部书记 = 金凤村 + 村党支部书记); "" when it overlaps no place; None when it overlaps a
    place otherwise (湖南省长沙县 has no 省长)."""
    overlapping = [p for p in place_spans if p.start < end and start < p.end]
    if not overlapping:
        return ""
    shared = text[start : overlapping[0].end] if len(overlapping) == 1 else ""
    shares_place = (
        shared in _SHARED
        and overlapping[0].start < start
        and title.word.startswith(shared)
        and overlapping[0].text.endswith(shared)
    )
    return shared if shares_place else None


def _title_stands(
    text: str, ends: Sequence[int], start: int, end: int, title: Title, shares_place: bool
) -> bool:
    """The title sits on word boundaries and the text does not address its holder."""
    start_ok = _is_boundary(ends, start) or shares_place or _covering_end(ends, start) == end
    end_ok = _is_boundary(ends, end) or len(title.word) >= 3
    if not (start_ok and end_ok):
        return False
    return not (_addressed(text, end) or text[max(0, start - 3) : start] == "尊敬的")


def _name_for(
    text: str, start: int, end: int, head: str, found: Sequence[Accused]
) -> tuple[str | None, str | None]:
    """The name of the title's holder, and the earlier accused's name that stands right in front
    of the title (李建国书记 after 李建国 was named: that person, not a unit)."""
    name = name_near(text, start, end)
    earlier = next((a.name for a in found if a.name and head.endswith(a.name)), None)
    if earlier and not name:
        name = earlier
    return name, earlier


def _unit_phrase(
    text: str,
    ends: Sequence[int],
    place_spans: Sequence[PlaceMatch],
    clause_from: int,
    start: int,
    shared: str,
    earlier: str | None,
) -> _UnitPhrase:
    """The unit phrase: from the last place in the clause (or after the last stop word)."""
    place = None
    for p in place_spans:
        if clause_from <= p.start < start and (p.end <= start or (shared and p.end == start + len(shared))):
            place = p
    unit = ""
    if place is not None:
        unit = text[place.start : start]
        tail = text[min(place.end, start) : start]
        if any(s in tail for s in UNIT_STOPS if len(s) > 1) or "的" in tail[:-1]:
            place, unit = None, ""
    if place is None:
        unit = _after_last_stop(text[clause_from:start])
    bare = unit.removesuffix("的")
    unit = _without_tail(bare, start - (len(unit) - len(bare)), ends)
    if earlier and unit.endswith(earlier):
        unit = unit[: -len(earlier)]
    unit_start = place.start if place is not None else start - len(unit)
    former = unit.startswith("原") or text[max(0, unit_start - 1) : unit_start] == "原"
    return _UnitPhrase(place, unit.removeprefix("原"), unit_start, former)


def _without_tail(unit: str, unit_end: int, ends: Sequence[int]) -> str:
    """``unit`` (ending at ``unit_end`` in the text) without the words after it that count or
    place people (:data:`_UNIT_TAIL`)."""
    m = _UNIT_TAIL.search(unit)
    if m is None or m.start() == len(unit):
        return unit
    if m.group("inside") and not _is_boundary(ends, unit_end - len(unit) + m.start()):
        return unit[: m.end("inside")]  # 县一中: the 中 is the school's, what follows is stripped
    return unit[: m.start()]


def _after_last_stop(head: str) -> str:
    cut = 0
    for stop in UNIT_STOPS:
        i = head.rfind(stop)
        if i >= 0:
            cut = max(cut, i + len(stop))
    return head[cut:]


def _resolve(
    scan: _Scan, title: Title, name: str | None, phrase: _UnitPhrase, start: int, end: int
) -> Accused:
    """The accused's unit level, division, rank, managing level and party membership."""
    cls, unit_level, source = _unit_level(title, phrase, scan.jurisdiction.receiving.level)
    place = phrase.place
    division = (
        place.division.code
        if place is not None
        else _division_for(scan.places, unit_level, scan.prior_division)
    )
    rank = RANK_BY_CLASS[cls][_LEVEL_INDEX[unit_level]]
    rule = scan.jurisdiction.match_management(name=name, title=title.word, unit=phrase.unit)
    former, party = _sentence_flags(scan.text, start, end, title, phrase.former)
    return Accused(
        name=name,
        title=title.word,
        unit=phrase.unit,
        unit_level=unit_level,
        division=division,
        rank=rank,
        managed_by=_managed_by(rank, unit_level, division, rule),
        party=party,
        commission_head=title.commission,
        leadership=title.leadership,
        former=former,
        level_source=source,
        management_rule=rule is not None,
        start=start,
        end=end,
    )


def _unit_level(title: Title, phrase: _UnitPhrase, receiving_level: str) -> tuple[str, str, str]:
    """The title's rank class, the unit's level and where the level came from (the most specific
    of the unit phrase, its place and the title; else the receiving unit's level)."""
    place, unit = phrase.place, phrase.unit
    cls = _title_class(title, unit)
    phrase_level = _unit_level_from_phrase(unit[len(place.text) :] if place else unit)
    candidates: list[tuple[str, str]] = []
    if phrase_level:
        candidates.append((phrase_level, "unit"))
    if place is not None:
        candidates.append((place.division.level, "place"))
    if title.level:
        candidates.append((title.level, "title"))
    if candidates:
        unit_level, source = max(candidates, key=lambda c: LEVEL_RANK[c[0]])
    else:
        unit_level, source = receiving_level, "prior"
    if cls == "village":
        unit_level = "village"
    return cls, unit_level, source


def _managed_by(rank: str, unit_level: str, division: str | None, rule: ManagementRule | None) -> str:
    """The managing level: the rank's, never below the unit's own; a management list entry wins."""
    if rule is not None:
        return rule.managed_by
    unit_routing_level = unit_level if unit_level in LEVELS else "township"
    managed_by = MANAGED_BY_RANK[rank] or unit_routing_level
    if LEVEL_RANK[unit_routing_level] < LEVEL_RANK[managed_by]:
        managed_by = unit_routing_level
    if managed_by == "city" and division and division[2:4] == "90":
        # 省直辖县级行政区 (琼海市, 仙桃市 …): no city committee above them, so the province
        # manages what a city would elsewhere (S1 art 11(二): 同级党委管理).
        return "province"
    return managed_by


def _sentence_flags(text: str, start: int, end: int, title: Title, former: bool) -> tuple[bool, bool | None]:
    """Former office holder and party membership, as the sentence around the title tells."""
    sentence = text[_clause_start(text, start, max(0, start - 60)) : min(len(text), end + 40)]
    former = former or any(w in sentence for w in FORMER_WORDS)
    party: bool | None = True if title.party else None
    if any(w in sentence for w in NON_PARTY_WORDS):
        party = False
    elif any(w in sentence for w in PARTY_MEMBER_WORDS):
        party = True
    return former, party


def _add(scan: _Scan, accused: Accused, joined: bool) -> None:
    """Add ``accused`` to the scan: merged into the one before when joined (the senior post of
    the two kept), folded into an earlier record of the same person, or as a new accused."""
    out, merged_into = scan.out, scan.merged_into
    if joined and merged_into is not None:
        # Keep the senior post of the two, with the later one's name if the first had none.
        senior = min((merged_into, accused), key=lambda a: LEVEL_RANK[a.managed_by])
        combined = replace(
            senior,
            name=accused.name or merged_into.name,
            party=merged_into.party or accused.party,
            commission_head=merged_into.commission_head or accused.commission_head,
            end=accused.end,
        )
        out[-1] = combined
        scan.merged_into = combined
    elif (twin := _same_person(out, accused)) is not None:
        # The same person named again (李建国……李建国书记): one accused, the fuller record kept.
        keep = out[twin]
        out[twin] = replace(
            keep,
            name=keep.name or accused.name,
            party=keep.party if keep.party is not None else accused.party,
            former=keep.former or accused.former,
        )
        scan.merged_into = None
    else:
        out.append(accused)
        scan.merged_into = accused
    scan.prev_end = accused.end + (len(accused.name) if accused.name else 0)


def _same_person(found: Sequence[Accused], a: Accused) -> int | None:
    """The index of an earlier accused who is ``a`` again: the same name, or no name on either
    side with the same title in the same (or an unnamed) unit."""
    for i, b in enumerate(found):
        if a.name and b.name:
            if a.name == b.name:
                return i
            continue
        if a.title == b.title and (a.unit == b.unit or not a.unit or not b.unit):
            return i
    return None


def _division_for(places: Sequence[PlaceMatch], level: str, prior: str | None) -> str | None:
    """The division of a unit that has no place of its own: the text's most specific place cut to
    the unit's level (黄兴镇 … 局长 → 长沙县), else the jurisdiction's own division."""
    if not places:
        return prior
    code = max(places, key=lambda p: (LEVEL_RANK[p.division.level], -p.start)).division.code
    length = {"central": 0, "province": 2, "city": 4, "county": 6, "township": 9, "village": 12}[level]
    if length == 0:
        return None
    if prior and len(code) < length and prior.startswith(code):
        return prior[:length] if len(prior) >= length else prior
    return code[:length]
