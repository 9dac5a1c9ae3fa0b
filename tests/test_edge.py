"""The one JSON parser's checks on the raw text (``intake/edge.py``), against the document the
decoder built: the depth bound is exact whatever the strings hold, and the control-character
policy neither misses an escaped control nor refuses what only looks like one."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from intake.edge import MAX_JSON_DEPTH, parse_json_object
from intake.errors import IntakeError


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def spine(rng: random.Random, levels: int) -> Any:
    """A document ``levels`` deep along one spine, with side branches and strings full of
    brackets, quotes and backslashes (what would fool a bracket count)."""
    if levels == 0:
        return rng.choice(['x]\\"[{', 1, None, "\\", "}{", "]]]"])
    side = rng.choice(["s]", [1], {"q{": "]"}, [], '"['])
    child = spine(rng, levels - 1)
    if rng.random() < 0.5:
        return [side, child] if rng.random() < 0.5 else [child, side]
    return {"k[": child, 'z\\"{': side}


def test_the_depth_bound_is_exact() -> None:
    rng = random.Random(14)
    for _ in range(500):
        doc = {"a": spine(rng, rng.randint(MAX_JSON_DEPTH - 6, MAX_JSON_DEPTH + 6))}
        raw = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
        if depth(doc) > MAX_JSON_DEPTH:
            with pytest.raises(IntakeError) as refused:
                parse_json_object(raw)
            assert refused.value.code == "too_deep"
        else:
            assert parse_json_object(raw) == doc


@pytest.mark.parametrize(
    "raw",
    [
        r'{"a": "\u0000"}',
        r'{"a": "\u001B"}',
        r'{"a": "\u007f"}',
        '{"a": "\x7f"}',
        '{"a": "\x85"}',
        r'{"a": "\u0085"}',
        r'{"a": "\ud800"}',
        r'{"a": "\uDFFF"}',
        r'{"a": "\ude00\ud83d"}',
        r'{"\u0000": 1}',
        r'{"a": [{"b": ["x\ud800"]}]}',
        r'{"a": "\\\u0000"}',
    ],
)
def test_forbidden_characters_are_refused_or_stripped(raw: str) -> None:
    with pytest.raises(IntakeError) as refused:
        parse_json_object(raw.encode())
    assert (refused.value.status, refused.value.code) == (422, "invalid_characters")
    stripped = json.dumps(parse_json_object(raw.encode(), strip=True), ensure_ascii=False)
    assert not any(0xD800 <= ord(c) <= 0xDFFF or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in stripped)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (r'{"a": "\ud83d\ude00"}', "\U0001f600"),  # a surrogate pair is one character
        (r'{"a": "\\u0000"}', "\\u0000"),  # an escaped backslash, then the text u0000
        (r'{"a": "\t\n\r\u0009"}', "\t\n\r\t"),
        (r'{"a": "\u00a0\u4e2d"}', "\u00a0中"),
    ],
)
def test_what_only_looks_like_a_control_is_kept(raw: str, value: str) -> None:
    assert parse_json_object(raw.encode()) == {"a": value}
