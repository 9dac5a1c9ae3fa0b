"""What a video-reception booking's document holds, read and bounded: the facts, the accused, the
identity the citizen gives (the one field-limits table, :mod:`intake.limits`), the minutes."""

from __future__ import annotations

from typing import Any

from intake.errors import ValidationError
from intake.limits import limits_of

MAX_FACTS = 2000
MAX_MINUTES = 15000
IDENTITY_FIELDS = limits_of("reporter")
ACCUSED_FIELDS = limits_of("accused")


def text_field(doc: dict[str, Any], key: str, limit: int) -> str | None:
    """A text field of the document, stripped (blank is None); refused when not text or too long."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{key} 应为文字。", code="invalid_field")
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{key} 不能超过 {limit} 字。", code="field_too_long")
    return value or None


def booking_details(
    doc: dict[str, Any],
) -> tuple[str, dict[str, str | None], dict[str, str]]:
    """A booking's facts (required), the accused's fields and the identity the citizen gave."""
    facts = text_field(doc, "facts", MAX_FACTS)
    if not facts:
        raise ValidationError("请简要填写反映的问题。", code="facts_required")
    accused_doc: dict[str, Any] = doc["accused"] if isinstance(doc.get("accused"), dict) else {}
    accused = {k: text_field(accused_doc, k, n) for k, n in ACCUSED_FIELDS.items()}
    reporter_doc: dict[str, Any] = doc["reporter"] if isinstance(doc.get("reporter"), dict) else {}
    identity = {k: v for k, n in IDENTITY_FIELDS.items() if (v := text_field(reporter_doc, k, n))}
    return facts, accused, identity
