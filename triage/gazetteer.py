"""Places: the administrative-division gazetteer and the place matcher.

Data: ``triage/data/divisions.tsv.gz`` (统计用区划代码, 国家统计局 2023; province → township for the
whole country, villages for the demo jurisdiction), built by :mod:`triage.build_data`. The level
of a division follows from its code length (2 province, 4 city, 6 county, 9 township, 12 village)
and its parent from the code's prefix.

Matching is one pass over the normalized text (a two-character prefix index into a dict of
names) with every full name and its suffix-stripped aliases (湖南省 → 湖南, 长沙县 → 长沙,
星沙街道 → 星沙, 开元路社区居委会 → 开元路社区). Overlaps keep the longest match. Names are
heavily ambiguous below the province (城关镇 × 88, 朝阳区 × 2, 长沙 = 长沙市 and 长沙县), so each
match is resolved by context:

* a place whose ancestor is also named in the text wins (a township next to its county);
* a place whose descendant is named wins over a namesake elsewhere;
* the deployment's jurisdiction is the prior for bare names (a 长沙县 deployment reads 星沙 as
  星沙街道 of 长沙县);
* a bare stem shared by a city and its own county (长沙) means the city;
* a stripped alias that is also an ordinary word (路口, 果园, 和平, 通道) is not used at all (the
  data build drops it), and a
  stripped township alias needs its county in the text or the jurisdiction's county as prior;
* what is still ambiguous after that is left out (and said so in the evidence) rather than guessed.
"""

from __future__ import annotations

import functools
import gzip
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from triage.lexicon import LEVEL_BY_CODE_LENGTH, LEVEL_RANK

# Statistical placeholders in the city table, never matched as places.
PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

ETHNIC_GROUPS = (
    "土家族",
    "苗族",
    "藏族",
    "彝族",
    "壮族",
    "回族",
    "蒙古族",
    "哈萨克族",
    "柯尔克孜族",
    "朝鲜族",
    "傣族",
    "景颇族",
    "傈僳族",
    "白族",
    "哈尼族",
    "布依族",
    "侗族",
    "羌族",
    "黎族",
    "畲族",
    "瑶族",
    "水族",
    "仫佬族",
    "毛南族",
    "仡佬族",
    "土族",
    "撒拉族",
    "东乡族",
    "保安族",
    "裕固族",
    "达斡尔族",
    "鄂温克族",
    "鄂伦春族",
    "锡伯族",
    "满族",
    "维吾尔族",
    "塔吉克族",
    "纳西族",
    "怒族",
    "独龙族",
    "普米族",
    "拉祜族",
    "佤族",
    "布朗族",
    "阿昌族",
    "德昂族",
    "基诺族",
    "京族",
    "各族",
    "俄罗斯族",
    "赫哲族",
)

_SUFFIXES: dict[int, tuple[str, ...]] = {
    2: ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"),
    4: ("自治州", "地区", "盟", "市"),
    6: ("自治县", "自治旗", "林区", "特区", "县", "区", "市", "旗"),
    9: ("民族乡", "街道", "镇", "乡", "苏木"),
}
# Stems of cities that are ordinary words far more often than places.
CITY_STEM_BLOCKLIST = frozenset({"来宾", "阿里", "白银", "安康", "日照", "中山", "白山", "黑河", "三沙"})
# Kinds of automaton entries.
FULL, ALIAS = 0, 1


@dataclass(frozen=True)
class Division:
    code: str
    name: str

    @property
    def level(self) -> str:
        return LEVEL_BY_CODE_LENGTH[len(self.code)]


@dataclass(frozen=True)
class PlaceMatch:
    """A place named in the text: its span, the words used and the division they resolved to."""

    start: int
    end: int
    text: str
    division: Division
    alias: bool

    def to_json(self) -> dict[str, str]:
        return {"code": self.division.code, "name": self.division.name, "level": self.division.level}


def _strip_ethnic(stem: str) -> str:
    cut = min((i for i in (stem.find(e) for e in ETHNIC_GROUPS) if i > 0), default=len(stem))
    return stem[:cut]


def aliases(code: str, name: str) -> list[str]:
    """Suffix-stripped short forms of a division name (长沙县 → 长沙); empty when none is safe."""
    if len(code) == 12:
        # NBS village names end in 村委会 / 村民委员会 / 社区居委会 / 居委会; citizens write X村 / X社区.
        for suffix, short in (
            ("村民委员会", "村"),
            ("村委会", "村"),
            ("社区居委会", "社区"),
            ("居委会", "社区"),
        ):
            if name.endswith(suffix) and len(name) > len(suffix):
                stem = name[: -len(suffix)]
                return [stem if stem.endswith(short) else stem + short]  # 蓝田新村村委会 → 蓝田新村
        return []
    for suffix in _SUFFIXES.get(len(code), ()):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if "自治" in suffix or suffix == "民族乡" or stem.endswith("族"):
                stem = _strip_ethnic(stem)  # 通道侗族自治县 → 通道, 蓝田瑶族乡 → 蓝田
            if len(stem) >= 2 and not stem.endswith(("开发", "新", "高新", "工业", "管理")):
                return [stem]
            return []
    return []


def _read_rows() -> list[tuple[str, str, str]]:
    """(code, name, alias) rows of the packaged table; alias is "" when none may be used."""
    data = resources.files("triage").joinpath("data/divisions.tsv.gz").read_bytes()
    out = []
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        code, name, alias = line.split("\t")
        out.append((code, name, alias))
    return out


@functools.lru_cache(maxsize=65536)
def _proper_prefixes(code: str) -> tuple[str, ...]:
    """The codes of a division's ancestors (by prefix): 430121102 → 43, 4301, 430121."""
    return tuple(code[:n] for n in (2, 4, 6, 9) if n < len(code))


@functools.lru_cache(maxsize=65536)
def _prior_score(code: str, prior: str | None) -> float:
    """How close ``code`` is to the jurisdiction: 3 same county, 2 same city, 1 same province
    (kept per pair: the same few names recur report after report)."""
    if not prior:
        return 0.0
    if code.startswith(prior) or prior.startswith(code):
        return 3.0
    for length, score in ((6, 3.0), (4, 2.0), (2, 1.0)):
        if len(code) >= length and len(prior) >= length and code[:length] == prior[:length]:
            return score
    return 0.0


def _is_ancestor(anc: str, code: str) -> bool:
    return len(anc) < len(code) and code.startswith(anc)


class Gazetteer:
    """Division lookup and free-text place matching; immutable after construction."""

    def __init__(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """``rows`` are (code, name, alias) as :mod:`triage.build_data` writes them."""
        self._names: dict[str, str] = {}
        entries: dict[str, list[tuple[str, int]]] = {}
        for code, name, alias in rows:
            self._names[code] = name
            if name in PLACEHOLDERS:
                continue
            entries.setdefault(name, []).append((code, FULL))
            if alias and alias != name:
                entries.setdefault(alias, []).append((code, ALIAS))
        # Matching is a scan with a two-character prefix index, not an Aho-Corasick automaton:
        # with 60,000 names the automaton's root has thousands of edges, searched one by one
        # on every character (≈170 µs for a 400-character report); the index needs one dict
        # lookup per character and a few more where a name may start (≈40 µs).
        self._entries: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
            surface: (surface, tuple(found)) for surface, found in entries.items()
        }
        lengths: dict[str, set[int]] = {}
        for surface in self._entries:
            if len(surface) >= 2:  # one character is never taken for a place
                lengths.setdefault(surface[:2], set()).add(len(surface))
        self._lengths = {prefix: tuple(sorted(ls)) for prefix, ls in lengths.items()}

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, code: object) -> bool:
        return code in self._names

    def get(self, code: str) -> Division | None:
        name = self._names.get(code)
        return None if name is None else Division(code, name)

    def parent(self, code: str) -> str | None:
        """The parent division's code, skipping statistical placeholders (北京 110105 → 11)."""
        for length in (9, 6, 4, 2):
            if length < len(code):
                name = self._names.get(code[:length])
                if name is not None and name not in PLACEHOLDERS:
                    return code[:length]
        return None

    def ancestor_at(self, code: str, level: str) -> Division | None:
        """The division at ``level`` that contains ``code`` (itself when it is at that level)."""
        length = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}[level]
        if len(code) < length:
            return None
        name = self._names.get(code[:length])
        if name is None or name in PLACEHOLDERS:
            return None
        return Division(code[:length], name)

    @functools.cached_property
    def _below_county(self) -> dict[str, tuple[str, ...]]:
        """County code → the codes under it (townships, villages), in the table's order."""
        below: dict[str, list[str]] = {}
        for child in self._names:
            if len(child) > 6:
                below.setdefault(child[:6], []).append(child)
        return {county: tuple(codes) for county, codes in below.items()}

    def children_names(self, code: str) -> list[str]:
        """Names (and aliases) of the divisions under ``code``: the jurisdiction's user words."""
        if len(code) == 6:
            children: Iterable[str] = self._below_county.get(code, ())
        else:
            children = (c for c in self._names if c.startswith(code) and c != code)
        out: list[str] = []
        for child in children:
            name = self._names[child]
            if name not in PLACEHOLDERS:
                out.append(name)
                out.extend(aliases(child, name))
        return out

    # -- matching ---------------------------------------------------------------------------

    def find(self, text: str, prior: str | None = None) -> tuple[list[PlaceMatch], list[str]]:
        """Places named in ``text``, most specific first, and notes on what was left ambiguous.

        ``prior`` is the deployment's own division code (e.g. ``430121``): bare names are read
        inside it first.
        """
        spans = self._longest_spans(text)
        if not spans:
            return [], []
        # Which spans name each code, and which spans name something below each code: the
        # context tests below are set lookups, not pairwise comparisons. A lone span has no
        # context (every test would ask about another span): the tables stay empty.
        code_spans: dict[str, set[int]] = {}
        below_spans: dict[str, set[int]] = {}
        for i, (_, _, _, cands) in enumerate(spans if len(spans) > 1 else ()):
            for code, _ in cands:
                code_spans.setdefault(code, set()).add(i)
                for anc in _proper_prefixes(code):
                    below_spans.setdefault(anc, set()).add(i)
        matches: list[PlaceMatch] = []
        notes: list[str] = []
        for i, (start, end, surface, cands) in enumerate(spans):
            before = i - 1 if i > 0 and spans[i - 1][1] == start else None
            best = self._resolve(i, cands, code_spans, below_spans, before, prior)
            if best is None:
                if len(cands) > 1:
                    notes.append(f"{surface}: {len(cands)} 处同名区划，无上下文，未采用")
                continue
            code, kind = best
            matches.append(PlaceMatch(start, end, surface, Division(code, self._names[code]), kind == ALIAS))
        matches.sort(key=lambda m: (-LEVEL_RANK[m.division.level], m.start))
        return matches, notes

    def _occurrences(self, text: str) -> list[tuple[int, int, str, tuple[tuple[str, int], ...]]]:
        """Every occurrence of every name (overlaps included) as (start, end, surface, candidates)."""
        hits = []
        lengths, entries = self._lengths, self._entries
        size = len(text)
        for i in range(size - 1):
            found = lengths.get(text[i : i + 2])
            if found is None:
                continue
            for n in found:
                if i + n > size:  # a slice past the end is shorter: a shorter name, at the wrong span
                    continue
                entry = entries.get(text[i : i + n])
                if entry is not None:
                    hits.append((i, i + n, entry[0], entry[1]))
        return hits

    def _longest_spans(self, text: str) -> list[tuple[int, int, str, tuple[tuple[str, int], ...]]]:
        hits = self._occurrences(text)
        if not hits:
            return []
        hits.sort(key=lambda h: (h[0] - h[1], h[0]))  # longest first, then leftmost
        covered = bytearray(len(text))
        taken = []
        for hit in hits:
            if covered.find(1, hit[0], hit[1]) < 0:
                covered[hit[0] : hit[1]] = b"\x01" * (hit[1] - hit[0])
                taken.append(hit)
        taken.sort()
        return taken

    def _resolve(
        self,
        i: int,
        cands: Sequence[tuple[str, int]],
        code_spans: dict[str, set[int]],
        below_spans: dict[str, set[int]],
        before: int | None,
        prior: str | None,
    ) -> tuple[str, int] | None:
        def elsewhere(spans: set[int] | None, within: int | None = None) -> bool:
            if not spans:
                return False
            if within is not None:
                return within in spans
            return len(spans) > 1 or i not in spans

        scored: list[tuple[float, str, int]] = []
        context = bool(code_spans)
        for code, kind in cands:
            prefixes = _proper_prefixes(code)
            anc = context and any(elsewhere(code_spans.get(p)) for p in prefixes)
            desc = context and elsewhere(below_spans.get(code))
            near_prior = _prior_score(code, prior)
            if kind == ALIAS and len(code) >= 9 and not anc and near_prior < 3:
                # A bare township or village stem needs its county in the text or as the prior.
                continue
            if kind == ALIAS and len(code) == 6 and not (anc or desc) and near_prior < 1:
                # A bare county stem outside the jurisdiction's province needs context.
                continue
            adjacent = (
                context and before is not None and any(elsewhere(code_spans.get(p), before) for p in prefixes)
            )
            score = 4.0 * anc + 2.0 * adjacent + 3.0 * desc
            score += near_prior + (0.5 if kind == FULL else 0.0)
            score -= 0.1 * LEVEL_RANK[LEVEL_BY_CODE_LENGTH[len(code)]]  # 长沙: the city before its county
            scored.append((score, code, kind))
        if not scored:
            return None
        scored.sort(key=lambda s: (-s[0], s[1]))
        if len(scored) > 1 and scored[0][0] - scored[1][0] < 0.5:
            top, second = scored[0][1], scored[1][1]
            # The same stem for a city and its own county (长沙 / 长沙县) is not an ambiguity.
            if not (_is_ancestor(top, second) or _is_ancestor(second, top)):
                return None
        return scored[0][1], scored[0][2]


_lock = threading.Lock()
_default: Gazetteer | None = None


def default() -> Gazetteer:
    """The packaged gazetteer, built once on first use (about 0.2 s)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Gazetteer(_read_rows())
    return _default
