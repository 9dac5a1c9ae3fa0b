"""Names next to a title: pseudonymized (张某某, 李某, 王XX) or real (张三, 欧阳明).

A pseudonym is read after the title (局长张某某, 村委会主任（非党员）李某) or right before it (张某某局长);
a real name only after it, and only when punctuation or a word reports commonly put there follows
it (张三利用职务…, 张三，…).
"""

from __future__ import annotations

import re

from triage.lexicon import COMPOUND_SURNAMES, SURNAMES

_SURNAME_RE = "|".join([*COMPOUND_SURNAMES, *SURNAMES])
_PSEUDONYM = re.compile(rf"(?:{_SURNAME_RE})(?:某某|某|[xX×*＊]{{1,2}}|[A-Z]{{1,2}})")
_REAL_NAME = re.compile(rf"(?:{_SURNAME_RE})[\u4e00-\u9fff]{{1,2}}")
# What may follow a real name directly (张三 利用职务…, 张三，…): verbs common in reports.
_AFTER_NAME_SET = frozenset("，。,.；;、（( 在利用以将把等长期私自违多收索贪挪侵涉指强拒带伙与和及是对向从为")
_PAREN = re.compile(r"^[（(][^）)]{0,12}[）)]")


def name_near(text: str, start: int, end: int) -> str | None:
    """The name of the holder of the title at ``text[start:end]``, or None."""
    after = text[end : end + 20]
    paren = _PAREN.match(after)
    if paren:  # 村委会主任（非党员）李某
        after = after[paren.end() :]
    after = after[:8]
    m = _PSEUDONYM.match(after) or _PSEUDONYM.match(after.lstrip(" ：:（("))
    if m:
        return m.group(0)
    before = text[max(0, start - 6) : start]
    for m in _PSEUDONYM.finditer(before):
        if m.end() == len(before):
            return m.group(0)
    m = _REAL_NAME.match(after)
    if m:
        for size in (3, 2):
            cand = after[:size]
            nxt = after[size : size + 1]
            if _REAL_NAME.fullmatch(cand) and (not nxt or nxt in _AFTER_NAME_SET):
                return cand
    return None
