"""The audit hash chain: every report event carries the hash of the one before it.

``hash = sha256(prev_hash | seq | report_id | kind | actor | at | payload)``, with ``at`` normalised to
UTC microseconds so the chain verifies the same on SQLite (naive timestamps) and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def utc(dt: datetime) -> datetime:
    """An aware UTC datetime from whatever the driver returned (SQLite drops the zone)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def canonical_payload(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def event_hash(
    prev_hash: str, seq: int, report_id: uuid.UUID | None, kind: str, actor: str, at: datetime, payload: str
) -> str:
    stamp = utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    material = "|".join(
        [prev_hash, str(seq), report_id.hex if report_id else "", kind, actor, stamp, payload]
    )
    return hashlib.sha256(material.encode()).hexdigest()
