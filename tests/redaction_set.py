"""The labeled sentence set for in-text identity detection, expanded from a template file.

Each template is filled with several value sets (names, valid ID numbers, Luhn-valid cards …),
giving sentences whose informant details and other people's details are known exactly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "redaction"
TEMPLATES = FIXTURES / "templates.txt"
HELDOUT = FIXTURES / "heldout.txt"

NAMES = [
    "李秀英",
    "王建国",
    "刘洋",
    "陈晓梅",
    "欧阳娜娜",
    "赵国强",
    "黄丽",
    "周志明",
    "吴桂兰",
    "徐海峰",
    "孙静",
    "马文华",
    "朱红梅",
    "胡德胜",
    "郭敏",
    "何建平",
    "高翠华",
    "林涛",
    "罗春花",
    "郑伟",
]
ADDRESSES = [
    "黄兴镇光明村三组12号",
    "星沙街道开元东路88号3栋",
    "江背镇五福村六组",
    "果园镇浔龙河村",
    "泉塘街道东业上城5栋1单元",
    "路口镇明月村八组23号",
]
TAGS = re.compile(r"\{(a:)?(NAME|PHONE|ID|CARD|EMAIL|LAND|ADDR)\}")


def _id_number(rng: random.Random) -> str:
    birth = f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"430121{birth}{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _card(rng: random.Random) -> str:
    body = "622202" + "".join(str(rng.randint(0, 9)) for _ in range(12))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _value(kind: str, rng: random.Random) -> str:
    return {
        "NAME": lambda: rng.choice(NAMES),
        "PHONE": lambda: f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        "ID": lambda: _id_number(rng),
        "CARD": lambda: _card(rng),
        "EMAIL": lambda: f"user{rng.randint(100, 999)}@example.com",
        "LAND": lambda: f"0731-8{rng.randint(1_000_000, 9_999_999)}",
        "ADDR": lambda: rng.choice(ADDRESSES),
    }[kind]()


@dataclass(frozen=True)
class Sentence:
    text: str
    informant: tuple[tuple[str, str], ...]  # (kind, value) to be sealed
    others: tuple[str, ...]  # values that must stay in the text


def sentences(variants: int = 3, seed: int = 7, path: Path = TEMPLATES) -> list[Sentence]:
    rng = random.Random(seed)
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln and not ln.startswith("#")]
    out = []
    for _ in range(variants):
        out.extend(_fill(line, rng) for line in lines)
    return out


def _fill(line: str, rng: random.Random) -> Sentence:
    informant: list[tuple[str, str]] = []
    others: list[str] = []
    used: set[str] = set()

    def fill(m: re.Match[str]) -> str:
        value = _value(m.group(2), rng)
        while value in used:  # one person, one name within a sentence
            value = _value(m.group(2), rng)
        used.add(value)
        if m.group(1):
            others.append(value)
        else:
            informant.append((m.group(2), value))
        return value

    text = TAGS.sub(fill, line)
    return Sentence(text, tuple(informant), tuple(others))
