"""The import/export tests use the workflow tests' office (SQLite and PostgreSQL, a settable clock,
staff accounts). OCR tests need tesseract with its Simplified Chinese data and a CJK font; CI sets
``INTAKE_REQUIRE_OCR=1``, which turns their absence into a failure instead of a skip."""

from __future__ import annotations

import os

import pytest

from intake import ocr
from tests.interchange.scans import font_path
from tests.workflow.conftest import Office, office

__all__ = ["Office", "need_ocr", "office"]


def need_ocr() -> None:
    problems = []
    if not ocr.status().available:
        problems.append(ocr.status().detail)
    if font_path() is None:
        problems.append("no CJK font to render test scans (Debian: fonts-noto-cjk)")
    if not problems:
        return
    if os.environ.get("INTAKE_REQUIRE_OCR") == "1":
        pytest.fail("INTAKE_REQUIRE_OCR=1 but " + "; ".join(problems))
    pytest.skip("; ".join(problems))
