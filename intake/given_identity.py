"""The identity values an informant gave in the identity fields (name, phone, ID number, address),
found wherever they also wrote them: in the report's content and title, in the names of the files
they attached, and in the follow-ups they send later by query code.

The patterns of :mod:`intake.redaction` find details the text itself ties to the writer (本人…,
联系电话：…). They cannot know that "欧阳振华反映：…请联系欧阳振华核实" or a signature "—— 欧阳振华" is
the writer; the identity fields say so. Every occurrence of a given value is redacted, with the
same placeholders, and sealed with the other in-text findings.

**Matching form** (the *skeleton*): full-width digits and letters folded to ASCII, Latin letters
upper case (the ``x`` of an ID number), traditional characters simplified (OpenCC ``t2s``, on the
text and on the values alike: ``歐陽振華`` matches ``欧阳振华`` either way round), and spaces, dashes,
middle dots, brackets and underscores dropped, so ``欧 阳 振 华``, ``139-0731-7788``,
``(0731)84567890`` and ``…123x`` match. Numbers match only
whole: each end at the end of a digit run or at a gap the informant left (``139 0731 7788`` is one
number, ``…1237 139…`` two), with ``+86``/``0086``/``86`` or a trunk ``0`` before them optional.

**Which values** (:func:`terms_of`):

- the name, whole, when it has at least two characters (four for a Latin name): a one-character
  name would wipe out the text; a placeholder name (张某, 匿名) is not one. Occurrences inside the
  accused's given name (the informant 王刚, the accused 王刚强) are left alone;
- the phone's national number, and for a landline also the local number without the area code
  (a phone handle of the channel counts too);
- the ID number's 18-character form, and the 15-digit form when that is what was given;
- the address, whole (at least four characters), and, when it goes down to a house or a group (a
  digit, or 组/号/栋/楼/单元/室/弄/巷/户), each tail of at least six characters after an
  administrative level (县|黄兴镇甄家湾村十七组8号, 镇|甄家湾村十七组8号). The village alone is not a
  term: it is where the facts happened as often as where the informant lives.

**Two lookups, one matcher**: :class:`PlainTerms` at accept (the values, in memory only) and
:class:`HashedTerms` for follow-ups, built from the per-report keyed hashes stored at accept
(``storage.vault.RedactionTerm``): candidate substrings of the stored kinds and lengths are hashed
and compared, so a follow-up is redacted without decrypting the vault.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from intake.domain import Reporter
from intake.redaction import Finding
from storage.vault import RedactionTerm, normalize_id_number, normalize_phone

TEXT_KINDS = frozenset({"name", "address"})
DIGIT_KINDS = frozenset({"mobile", "landline", "id_number"})
MAX_DIGITS = 20  # the longest number a term can be (an international phone number, with prefix)

# What the matching form folds, one character for one (so positions stay those of the original):
# full-width digits and letters to ASCII, Latin letters to upper case. Full-width punctuation is
# left alone (no term contains any), so that most texts have nothing to fold.
_FOLD = {
    **{chr(c): chr(c - 0xFEE0).upper() for c in range(0xFF10, 0xFF1A)},
    **{chr(c): chr(c - 0xFEE0).upper() for c in range(0xFF21, 0xFF3B)},
    **{chr(c): chr(c - 0xFEE0).upper() for c in range(0xFF41, 0xFF5B)},
    **{chr(c): chr(c).upper() for c in range(ord("a"), ord("z") + 1)},
}
_FOLDABLE = re.compile("[" + "".join(_FOLD) + "]")
_GAP_CHARS = r"\s\-‐‑‒–—―_·•・‧()（）\[\]【】－＿"
_GAP = re.compile(f"[{_GAP_CHARS}]+")
_ANY_GAP = re.compile(f"[{_GAP_CHARS}]")  # a third of the time of _GAP on a text without any
_DIGITS = re.compile(r"[0-9]+")
_PLACEHOLDER_NAMES = ("某", "匿名", "不详", "未知", "保密")
_LEVEL = re.compile(r"街道|苏木|[省市州盟县区旗镇乡]")  # (on simplified text)
_BELOW_VILLAGE = re.compile(r"[0-9组号栋楼单元室弄巷户]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _fold(text: str) -> str:
    """Digits and letters folded, traditional characters simplified, one character for one."""
    if _FOLDABLE.search(text):
        text = _FOLDABLE.sub(lambda m: _FOLD[m.group()], text)
    if _traditional().search(text):
        simplified = _convert("t2s", text)
        # OpenCC converts character by character, but a phrase may in principle change length:
        # then positions would no longer map back, and the text is matched as written.
        if len(simplified) == len(text):
            return simplified
    return text


def skeleton(value: str) -> str:
    """A value in matching form (see the module docstring)."""
    return _GAP.sub("", _fold(value))


class Folded:
    """A text's skeleton, and the way back from skeleton positions to the text's."""

    __slots__ = ("_orig", "_skel", "breaks", "skeleton")

    def __init__(self, text: str) -> None:
        folded = _fold(text)
        self._skel, self._orig = [0], [0]
        self.breaks: list[int] = []  # skeleton positions where a gap was dropped
        if not _ANY_GAP.search(folded):
            self.skeleton = folded
            return
        pieces: list[str] = []
        kept = pos = 0
        for gap in _GAP.finditer(folded):
            pieces.append(folded[pos : gap.start()])
            kept += gap.start() - pos
            pos = gap.end()
            self.breaks.append(kept)
            self._skel.append(kept)
            self._orig.append(pos)
        pieces.append(folded[pos:])
        self.skeleton = "".join(pieces)

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the text that skeleton span [start, end) came from (gaps inside included)."""
        i = bisect.bisect_right(self._skel, start) - 1
        j = bisect.bisect_right(self._skel, end - 1) - 1
        return self._orig[i] + start - self._skel[i], self._orig[j] + end - self._skel[j]

    def cuts(self, start: int, end: int) -> list[int]:
        """Where a number inside the digit run [start, end) may begin or end."""
        lo, hi = bisect.bisect_right(self.breaks, start), bisect.bisect_left(self.breaks, end)
        return [start, *self.breaks[lo:hi], end]


class Lookup(Protocol):
    """Where the values come from: the values themselves, or their keyed hashes."""

    digit_lengths: frozenset[int]
    cost: int  # hashes per character of text (0: plain lookups)

    def text_spans(self, skeleton: str) -> Iterator[tuple[str, int, int]]: ...

    def digit_kind(self, value: str) -> str | None: ...


class PlainTerms:
    """The values as given (at accept: in memory, never stored)."""

    def __init__(self, terms: Iterable[tuple[str, str]]) -> None:
        terms = list(terms)
        self._text = [(k, v) for k, v in terms if k in TEXT_KINDS]
        self._digits = {v: k for k, v in terms if k in DIGIT_KINDS}
        self.digit_lengths = frozenset(len(v) for v in self._digits)
        self.cost = 0

    def text_spans(self, skeleton: str) -> Iterator[tuple[str, int, int]]:
        for kind, value in self._text:
            i = skeleton.find(value)
            while i >= 0:
                yield kind, i, i + len(value)
                i = skeleton.find(value, i + len(value))

    def digit_kind(self, value: str) -> str | None:
        return self._digits.get(value)


class HashedTerms:
    """The stored keyed hashes (for follow-ups). ``hashers[alg](kind, value)`` is the report's term
    MAC under each algorithm the terms were stored with."""

    def __init__(
        self, terms: Sequence[RedactionTerm], hashers: Mapping[str, Callable[[str, str], str]]
    ) -> None:
        self._hashers = hashers
        groups: dict[tuple[str, int, str], set[str]] = {}
        for t in terms:
            groups.setdefault((t.kind, t.length, t.alg), set()).add(t.mac)
        self._text = [(k, n, a, m) for (k, n, a), m in groups.items() if k in TEXT_KINDS]
        self._digits = [(k, n, a, m) for (k, n, a), m in groups.items() if k in DIGIT_KINDS]
        self.digit_lengths = frozenset(n for _, n, _, _ in self._digits)
        self.cost = len(self._text) + 1

    def text_spans(self, skeleton: str) -> Iterator[tuple[str, int, int]]:
        for kind, length, alg, macs in self._text:
            mac = self._hashers[alg]
            for i in range(len(skeleton) - length + 1):
                candidate = skeleton[i : i + length]
                if kind == "name" and not candidate.isalpha():
                    continue  # names are letters only (terms_of drops any other)
                if mac(kind, candidate) in macs:
                    yield kind, i, i + length

    def digit_kind(self, value: str) -> str | None:
        for kind, length, alg, macs in self._digits:
            if length == len(value) and self._hashers[alg](kind, value) in macs:
                return kind
        return None


def find(text: str, terms: Lookup, accused: str | None = None) -> list[Finding]:
    """Every occurrence of a given value in ``text``, in order, not overlapping."""
    folded = Folded(text)
    sk = folded.skeleton
    spans = [*terms.text_spans(sk), *_numbers(folded, terms)]
    if not spans:
        return []
    guard = skeleton(accused) if accused and any(kind == "name" for kind, _, _ in spans) else ""
    if guard:
        inside = [(a, b) for _, a, b in PlainTerms([("name", guard)]).text_spans(sk)]
        spans = [s for s in spans if s[0] != "name" or not any(a <= s[1] and s[2] <= b for a, b in inside)]
    found: list[Finding] = []
    for kind, s, e in sorted(spans, key=lambda x: (x[1], -x[2])):
        start, end = folded.original(s, e)
        if found and start < found[-1].end:
            continue
        found.append(Finding(kind, start, end, text[start:end]))
    return found


def _numbers(folded: Folded, terms: Lookup) -> Iterator[tuple[str, int, int]]:
    """Numbers of the stored lengths, cut at digit-run ends or at the informant's gaps."""
    if not terms.digit_lengths:
        return
    sk = folded.skeleton
    shortest = min(terms.digit_lengths)
    for run in _DIGITS.finditer(sk):
        if run.end() - run.start() + 1 < shortest:
            continue  # (+1: the X of an ID number after the digits)
        cuts = folded.cuts(*run.span())
        ends = cuts[1:] + ([run.end() + 1] if sk[run.end() : run.end() + 1] == "X" else [])
        for s in cuts[:-1]:
            for e in ends:
                if s < e <= s + MAX_DIGITS:
                    hit = _number_at(sk, s, e, terms)
                    if hit is not None:
                        yield hit


def _number_at(sk: str, s: int, e: int, terms: Lookup) -> tuple[str, int, int] | None:
    value = sk[s:e]
    forms = [(value, s)]
    for prefix in ("0086", "86", "0"):
        if value.startswith(prefix):
            # +86 139…: the plus sign goes with the number it belongs to.
            start = s - 1 if prefix != "0" and sk[s - 1 : s] == "+" else s
            forms.append((value[len(prefix) :], start))
    for form, start in forms:
        if len(form) in terms.digit_lengths:
            kind = terms.digit_kind(form)
            if kind is not None:
                return kind, start, e
    return None


# --- the terms of a report -------------------------------------------------------------------------


def terms_of(reporter: Reporter, handles: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(kind, value)`` pairs, in matching form, of what the informant gave (see the docstring)."""
    terms: list[tuple[str, str]] = []
    if reporter.name and _usable_name(name := skeleton(reporter.name)):
        terms.append(("name", name))
    phones = [reporter.phone, *(v for k, v in (handles or {}).items() if k in ("phone", "mobile"))]
    for phone in phones:
        if phone:
            terms += _phone_terms(phone)
    if reporter.id_number:
        terms += _id_terms(reporter.id_number)
    if reporter.address:
        terms += [("address", part) for part in _address_parts(skeleton(reporter.address))]
    return list(dict.fromkeys(terms))


def _usable_name(value: str) -> bool:
    if not value.isalpha() or any(p in value for p in _PLACEHOLDER_NAMES):
        return False
    return len(value) >= (2 if all(_CJK.match(ch) for ch in value) else 4)


def _phone_terms(raw: str) -> list[tuple[str, str]]:
    e164 = normalize_phone(raw)
    if e164 is None:
        digits = "".join(ch for ch in skeleton(raw) if ch.isascii() and ch.isdigit())
        return [("landline", digits)] if 7 <= len(digits) <= MAX_DIGITS else []
    if not e164.startswith("+86"):
        return [("landline", e164[1:])]
    national = e164[3:]
    if len(national) == 11 and national.startswith("1"):
        return [("mobile", national)]
    local = national[2:] if national[0] in "12" else national[3:]  # 010, 02x: two-digit area codes
    return [("landline", national)] + ([("landline", local)] if len(local) >= 7 else [])


def _id_terms(raw: str) -> list[tuple[str, str]]:
    normal = normalize_id_number(raw)
    if normal is None:
        return []
    given = skeleton(raw)
    return [("id_number", normal)] + ([("id_number", given)] if len(given) == 15 else [])


def _address_parts(value: str) -> list[str]:
    parts = [value] if len(value) >= 4 else []
    if _BELOW_VILLAGE.search(value):
        parts += [value[m.end() :] for m in _LEVEL.finditer(value) if len(value) - m.end() >= 6]
    return parts


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


_CONVERTERS: dict[str, _Converter] = {}
_CONVERTERS_LOCK = threading.Lock()


def _convert(config: str, value: str) -> str:
    converter = _CONVERTERS.get(config)
    if converter is None:
        with _CONVERTERS_LOCK:
            import opencc

            converter = _CONVERTERS.setdefault(config, opencc.OpenCC(config))
    return converter.convert(value)


_TRADITIONAL: re.Pattern[str] | None = None
_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))


def _traditional() -> re.Pattern[str]:
    """The characters OpenCC's ``t2s`` changes (about 4,200), found once (~15 ms): looking for
    one costs a fifth of converting a text that has none, which is nearly every text."""
    global _TRADITIONAL
    if _TRADITIONAL is None:
        chars = [chr(c) for lo, hi in _CJK_RANGES for c in range(lo, hi)]
        converted = _convert("t2s", "\n".join(chars)).split("\n")
        if len(converted) == len(chars):
            changed = "".join(a for a, b in zip(chars, converted, strict=True) if a != b)
            _TRADITIONAL = re.compile(f"[{changed}]")
        else:  # a converter that joins lines: convert every Chinese text instead
            _TRADITIONAL = _CJK
    return _TRADITIONAL


def warm_up() -> None:
    """Load the OpenCC converter and its character table now (at start-up), not on a report."""
    _traditional()
