"""Fixtures for the triage tests: the demo jurisdiction plus a 派驻 group, loaded once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import opencc
import pytest

import triage

FIXTURES = Path(__file__).parent / "fixtures"
_S2T = opencc.OpenCC("s2t")


def traditional(text: str) -> str:
    """The same report written in traditional characters (OpenCC s2t)."""
    return str(_S2T.convert(text))


@pytest.fixture(scope="session")
def to_traditional() -> Callable[[str], str]:
    return traditional


@pytest.fixture(scope="session")
def jurisdiction() -> triage.Jurisdiction:
    """长沙县纪委监委 receiving; 长沙市 and 湖南省 above; 18 townships; a 派驻 group for 县教育局."""
    doc = json.loads((FIXTURES / "jurisdiction.json").read_text("utf-8"))
    j = triage.Jurisdiction.from_dict(doc)
    triage.warm_up(j)
    return j


@pytest.fixture(scope="session")
def demo_jurisdiction() -> triage.Jurisdiction:
    """The bundled demo exactly as intake ships it (no 派驻 groups)."""
    path = Path(__file__).resolve().parents[2] / "intake" / "data" / "demo_jurisdiction.json"
    return triage.Jurisdiction.from_dict(json.loads(path.read_text("utf-8")))
