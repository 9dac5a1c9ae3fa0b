"""The one table of how long a report's fields may be.

Every channel, the citizen form, the request models (and so the JSON Schema and OpenAPI documents
built from them), video reception's booking, the import and the pipeline's last check read their
bounds here. Lengths are in characters (Python ``len``), the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

MAX_CONTENT = 20_000  # the facts (主要问题) of a report, and one follow-up
MAX_EXTERNAL_ID = 200  # a channel's idempotency key (``Idempotency-Key``, a platform message id)

# Dotted names as in :class:`intake.domain.Submission` (``accused.name`` is ``sub.accused.name``).
FIELD_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "title": 200,
        "category": 64,
        "accused.name": 100,
        "accused.unit": 200,
        "accused.position": 100,
        "location.text": 200,
        "reporter.name": 50,
        "reporter.id_number": 32,
        "reporter.phone": 32,
        "reporter.address": 200,
    }
)


# How each field is called where a citizen or an officer reads about it (messages, never keys).
FIELD_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "title": "标题",
        "category": "问题类别",
        "accused.name": "被反映人姓名",
        "accused.unit": "被反映人单位",
        "accused.position": "被反映人职务",
        "location.text": "发生地点",
        "reporter.name": "反映人姓名",
        "reporter.id_number": "反映人身份证号",
        "reporter.phone": "反映人电话",
        "reporter.address": "反映人地址",
    }
)


def limits_of(prefix: str) -> dict[str, int]:
    """The limits of one part, by its own field names: ``limits_of("reporter")`` is
    ``{"name": 50, "id_number": 32, …}``."""
    start = prefix + "."
    return {name[len(start) :]: n for name, n in FIELD_LIMITS.items() if name.startswith(start)}


def clip(value: str, field: str) -> str:
    """``value`` cut to the field's limit: for channels whose platform hands over longer text than
    a field holds (a Telegram contact's name, a shared location's label)."""
    return value[: FIELD_LIMITS[field]]


__all__ = ["FIELD_LIMITS", "MAX_CONTENT", "MAX_EXTERNAL_ID", "clip", "limits_of"]
