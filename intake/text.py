"""The characters no text we keep may hold: the one control-character policy of every route.

NUL and the other C0 and C1 controls (except tab, line feed and carriage return), DEL, and lone
UTF-16 surrogates. PostgreSQL refuses NUL in ``text`` (SQLite keeps it), a lone surrogate cannot be
encoded as UTF-8 (so it breaks sealing, hashing and every response), and the rest only hide text
from the officer who reads it. Citizen- and staff-facing routes refuse such text with 422
``invalid_characters`` (:func:`check_text`); platform pushes, whose platforms need their success
answer, have the characters removed (:func:`strip_controls`). The pipeline and the workflow check
again, so a path that forgot the edge still cannot store them — with the same answer on both
databases.
"""

from __future__ import annotations

import re

from intake.errors import ValidationError

# C0 without \t \n \r, DEL, C1, and the surrogate range (only lone surrogates survive in a str).
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def strip_controls(text: str) -> str:
    """The text without the characters the policy forbids (for platform pushes)."""
    return _CONTROLS.sub("", text)


def invalid_characters() -> ValidationError:
    return ValidationError(
        "内容含有无法识别的字符（如控制字符），请删除后重新提交。", code="invalid_characters"
    )


def check_text(*texts: str | None) -> None:
    """422 ``invalid_characters`` when any of the texts holds a forbidden character."""
    for text in texts:
        if text and _CONTROLS.search(text) is not None:
            raise invalid_characters()
