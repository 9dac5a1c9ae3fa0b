"""Finding the informant's own identity written inside the report text, and sealing it.

Informants often write their name, ID number, phone, e-mail, bank card or address into the facts.
Those details are identity: the pipeline seals the originals into the vault and stores the text
with placeholders such as 〔已隐去：手机号〕. The accused's details, places, amounts and facts stay
intact, because handlers need them: a detail is the informant's only when the text ties it to the
writer (本人, 我, 举报人, a signature line such as 联系电话：…), or when it is of a kind that only the
writer would give about themselves (an ID number with no third party named before it).

Rules, in order: candidates by pattern (ID numbers with their checksum, mobile and landline numbers,
e-mail addresses, bank cards with the Luhn check); the owner of each by the nearest owner words in
the same clause; names by self-introductions (我叫…, 本人…, 举报人：…) with jieba's part-of-speech tags
and a surname list; addresses by 我家住 / 本人住址 and the like.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from intake.person_names import is_warm, name_after, person_names, warm_up

LABELS = {
    "id_number": "身份证号",
    "mobile": "手机号",
    "landline": "电话号码",
    "email": "电子邮箱",
    "bank_card": "银行卡号",
    "name": "姓名",
    "address": "住址",
}

# Clause boundaries: an owner word in an earlier sentence does not own a later number.
_CLAUSE_END = "。！？!?；;\n"

_ID = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])"
    r"(?![0-9A-Za-z])"
)
_MOBILE = re.compile(r"(?<![0-9])((?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0\d{2,3}[- ]?\d{7,8})(?![0-9])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_CARD = re.compile(r"(?<![0-9])((?:\d[ -]?){15,18}\d)(?![0-9])")

_SELF = ("本人", "我", "举报人", "检举人", "控告人", "信访人", "反映人", "联系人", "署名", "实名")
# Words that, standing between an owner word and the detail, hand the detail to someone else.
_OTHER = (
    # Third persons, the accused
    *("他", "她", "其", "该", "对方", "被举报人", "被反映人", "被检举人", "此人", "这个人"),
    # Posts and occupations: someone the writer writes about
    *("书记", "支书", "主任", "镇长", "村长", "组长", "队长", "会计", "出纳", "局长"),
    *("所长", "站长", "科长", "校长", "院长", "厂长", "经理", "老板", "秘书", "司机"),
    # Relatives, and a name left out (某某)
    *("老婆", "妻子", "丈夫", "儿子", "女儿", "亲戚"),
    *("某某", "某"),
)
# Labels that, with no third party before them, introduce the writer's own contact details.
_CONTACT_LABELS = (
    *("联系电话", "联系方式", "手机号码", "手机号", "电话", "手机"),
    *("邮箱", "电子邮箱", "身份证号码", "身份证号", "身份证"),
    *("银行卡号", "银行卡", "住址", "地址"),
)

_NAME_INTRO = re.compile(
    r"(?:我叫|我名叫|我的名字叫|我的名字是|本人名叫|本人叫|本人是|本人|我是|(?<!被)举报人(?:是|为|系)?|"
    r"(?<!被)检举人|控告人|信访人|(?<!被)反映人|实名举报人|实名(?=[：:])|联系人|署名)[：:\s]*"
)
_ADDRESS_INTRO = re.compile(
    r"(?:我家住在|我家住|我家在|我住在|我住|本人住在|本人住址|本人家住|我的住址|"
    r"现住址|家庭住址|住址|联系地址|地址|家住在|家住|现住在|现住|(?<=[，,、　 ])住)(?:是|为)?[：:\s]*"
)
_ADDRESS_BODY = re.compile(r"[^，,。；;！!？?\n]{4,40}")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str

    @property
    def placeholder(self) -> str:
        return f"〔已隐去：{LABELS[self.kind]}〕"


def _id_checksum_ok(value: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(value[:17], weights, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _clause_before(text: str, start: int) -> str:
    i = start
    while i > 0 and text[i - 1] not in _CLAUSE_END:
        i -= 1
    return text[i:start]


def _owner(text: str, start: int) -> str | None:
    """'self', 'other' or None: whoever the nearest owner word before ``start`` in its clause names."""
    found = _owner_at(text, start)
    return found[1] if found else None


def _owner_at(text: str, start: int) -> tuple[int, str] | None:
    clause = _clause_before(text, start)
    offset = start - len(clause)
    best: tuple[int, str] | None = None
    for words, who in ((_SELF, "self"), (_OTHER, "other")):
        for word in words:
            pos = clause.rfind(word)
            end = pos + len(word)
            # On a tie the longer, third-party word wins (被举报人 over 举报人).
            if pos >= 0 and (best is None or end > best[0] or (end == best[0] and who == "other")):
                best = (end, who)
    return (best[0] + offset, best[1]) if best else None


def _someone_else_named(text: str, start: int, end: int, own_names: set[tuple[int, int]]) -> bool:
    """Is a person other than the writer named between ``start`` and ``end``?"""
    return any(not any(a <= start + s < b for a, b in own_names) for s, _e in person_names(text[start:end]))


def _label_only(text: str, start: int) -> bool:
    """A contact label (联系电话：…) directly before the detail, with nobody else named in the clause."""
    clause = _clause_before(text, start).rstrip("：: ")
    return clause.endswith(_CONTACT_LABELS)


def _is_informants(kind: str, text: str, start: int) -> bool:
    owner = _owner(text, start)
    if owner == "self":
        return True
    if owner == "other":
        return False
    if _label_only(text, start):
        return True
    # With nobody named, an ID number can only be the writer's own; numbers and cards in the
    # facts (a shop's phone, the account money went into) are evidence and stay.
    return kind == "id_number"


# After a number, in its clause: the writer saying it is theirs (电话 139… 可以联系我).
_SELF_AFTER = ("联系我", "找我", "打给我", "打我", "回电给我", "是我的", "是本人", "为本人", "系本人")


def _claimed_after(text: str, end: int) -> bool:
    i = end
    while i < len(text) and text[i] not in _CLAUSE_END and text[i] not in "，," and i - end < 16:
        i += 1
    return any(word in text[end:i] for word in _SELF_AFTER)


def _numbers(text: str) -> list[Finding]:
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _ID.finditer(text):
        if _id_checksum_ok(m.group(1)):
            found.append(Finding("id_number", m.start(1), m.end(1), m.group(1)))
            taken.append(m.span(1))
    for m in _EMAIL.finditer(text):
        found.append(Finding("email", m.start(1), m.end(1), m.group(1)))
        taken.append(m.span(1))
    for m in _MOBILE.finditer(text):
        if free(*m.span(1)):
            found.append(Finding("mobile", m.start(1), m.end(1), m.group(1)))
            taken.append(m.span(1))
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group(1))
        if 16 <= len(digits) <= 19 and free(*m.span(1)) and _luhn_ok(digits):
            found.append(Finding("bank_card", m.start(1), m.end(1), m.group(1)))
            taken.append(m.span(1))
    for m in _LANDLINE.finditer(text):
        if free(*m.span(1)):
            found.append(Finding("landline", m.start(1), m.end(1), m.group(1)))
            taken.append(m.span(1))
    return found


def _names(text: str) -> list[Finding]:
    found = []
    for m in _NAME_INTRO.finditer(text):
        span = name_after(text, m.end())
        if span is not None:
            found.append(Finding("name", span[0], span[1], text[span[0] : span[1]]))
    return found


def _addresses(text: str) -> list[Finding]:
    found = []
    for m in _ADDRESS_INTRO.finditer(text):
        if _owner(text, m.start()) == "other":
            continue
        if m.group(0).startswith(("住", "现住", "联系地址", "地址", "家庭住址", "家住")) and not (
            _owner(text, m.start()) == "self" or _label_only(text, m.end())
        ):
            continue
        body = _ADDRESS_BODY.match(text, m.end())
        if body:
            found.append(Finding("address", body.start(), body.end(), body.group(0).strip()))
    return found


# Cheap looks before the full patterns, which begin with look-behinds and so are tried at every
# position of the text: each hint is implied by every match of the patterns it stands for.
# Numbers: an ID, mobile, landline or card number is a run of at least ten digits, spaces or
# dashes starting with a digit; e-mail addresses have an @.
_NUMBER_HINT = re.compile(r"\d[\d -]{9,}|@")
_NAME_HINT = re.compile(r"我叫|我名叫|我的名字|本人|我是|举报人|检举人|控告人|信访人|反映人|实名|联系人|署名")
_ADDRESS_HINT = re.compile(r"住|地址|我家在")


def find_identity(text: str) -> list[Finding]:
    """The informant's own identifying details in ``text``, in order, not overlapping."""
    names = _names(text) if _NAME_HINT.search(text) else []
    own_names = {(f.start, f.end) for f in names}
    candidates: list[Finding] = []
    last_end: int | None = None
    numbers = _numbers(text) if _NUMBER_HINT.search(text) else []
    for f in sorted(numbers, key=lambda f: f.start):
        owner = _owner_at(text, f.start)
        if (
            owner is not None
            and owner[1] == "self"
            and _someone_else_named(text, owner[0], f.start, own_names)
        ):
            mine = False  # 我给王某打过电话 138…: the number is the other person's
        elif last_end is not None and _continues(text, last_end, f.start):
            mine = True  # 联系电话 139…（白天），0731-…（晚上）: one list of the writer's details
        else:
            mine = _is_informants(f.kind, text, f.start) or _claimed_after(text, f.end)
        if mine:
            candidates.append(f)
            last_end = f.end
    candidates += names
    if _ADDRESS_HINT.search(text):
        candidates += _addresses(text)
    candidates.sort(key=lambda f: (f.start, -(f.end - f.start)))
    result: list[Finding] = []
    for f in candidates:
        if result and f.start < result[-1].end:
            continue
        result.append(f)
    return result


def _continues(text: str, prev_end: int, start: int) -> bool:
    """Only punctuation and a short note (（白天）, 或, 和) between two details."""
    between = text[prev_end:start]
    if any(ch in _CLAUSE_END for ch in between) or len(between) > 8:
        return False
    return _owner_at(text[prev_end:start], len(between)) is None


def redact(text: str, extra: Sequence[Finding] = ()) -> tuple[str, list[Finding]]:
    """The text with each finding replaced by its placeholder, and the findings (to be sealed).
    ``extra``: findings from elsewhere (the values the informant gave, :mod:`intake.given_identity`),
    merged with the patterns' own."""
    findings = find_identity(text) if may_contain_identity(text) else []
    if extra:
        findings = merge([*findings, *extra], text)
    return apply(text, findings), findings


def merge(findings: Iterable[Finding], text: str) -> list[Finding]:
    """Findings in order, overlapping ones joined into one (the first's kind) so that no part of
    either stays in the clear."""
    out: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if out and f.start < out[-1].end:
            last = out[-1]
            if f.end > last.end:
                out[-1] = Finding(last.kind, last.start, f.end, text[last.start : f.end])
            continue
        out.append(f)
    return out


def apply(text: str, findings: Sequence[Finding]) -> str:
    """The text with each (ordered, non-overlapping) finding replaced by its placeholder."""
    out, last = [], 0
    for f in findings:
        out.append(text[last : f.start])
        out.append(f.placeholder)
        last = f.end
    out.append(text[last:])
    return "".join(out)


_QUICK = re.compile(
    r"\d{3}[- ]?\d{4}|@|我|本人|举报人|检举人|控告人|信访人|反映人|联系人|署名|实名|住址|地址|家住|现住"
)


def may_contain_identity(text: str) -> bool:
    """A cheap first look: False means :func:`redact` would certainly find nothing."""
    return _QUICK.search(text) is not None


__all__ = [
    "LABELS",
    "Finding",
    "apply",
    "find_identity",
    "is_warm",
    "may_contain_identity",
    "merge",
    "redact",
    "warm_up",
]
