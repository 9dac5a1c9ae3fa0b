"""Plain records that cross the storage boundary (no SQLAlchemy objects leave ``storage``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.vault import BlindIndex, RedactionTerm, SealedEntry


@dataclass(frozen=True)
class UnitRecord:
    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    division_code: str
    division_name: str


@dataclass(frozen=True)
class AttachmentRef:
    """An attachment as the stores name it: its id, media type and size in bytes."""

    id: uuid.UUID
    content_type: str
    size: int


@dataclass(frozen=True)
class StoredBlob(AttachmentRef):
    """An attachment already written (encrypted, fsynced) to disk, to be linked in the transaction."""

    blob_path: str


@dataclass(frozen=True)
class ReportText:
    """What a report says, about whom and where, and under which pseudonym: the fields the write
    record, the staff view and the export have in common."""

    title: str | None
    content: str
    category: str | None
    accused_name: str | None
    accused_unit: str | None
    accused_position: str | None
    location_code: str | None
    location_text: str | None
    anonymous: bool
    informant_alias: str


@dataclass(frozen=True)
class NewReport(ReportText):
    """Everything the accept transaction writes for one report; identity is already sealed."""

    id: uuid.UUID
    channel: str
    external_id: str | None
    request_fingerprint: str | None
    query_hash: str
    receipt_sealed: bytes | None
    receiving_unit: str
    handling_unit: str | None
    received_at: datetime
    case_year: int
    sealed: list[SealedEntry] = field(default_factory=list)
    attachments: list[StoredBlob] = field(default_factory=list)
    event_payload: dict[str, Any] = field(default_factory=dict)
    jobs: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)
    blind_indexes: list[BlindIndex] = field(default_factory=list)
    redaction_terms: list[RedactionTerm] = field(default_factory=list)
    # An imported historical case (``intake reports import``) keeps the status it had in the old
    # system, is filed by the import (not by a channel) and carries its old history as events.
    status: str = "received"
    actor: str | None = None
    history: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class AcceptResult:
    """The committed case: ``created`` is False when an earlier delivery already filed it."""

    report_id: uuid.UUID
    case_no: str
    status: str
    received_at: datetime
    created: bool
    request_fingerprint: str | None = None
    receipt_sealed: bytes | None = None


@dataclass(frozen=True)
class MessageRecord:
    direction: str
    channel: str
    body: str
    at: datetime


@dataclass(frozen=True)
class CaseStatusRecord:
    report_id: uuid.UUID
    case_no: str
    channel: str
    status: str
    received_at: datetime
    updated_at: datetime
    messages: list[MessageRecord]
    accused_name: str | None = None


@dataclass(frozen=True)
class CaseKey:
    """The fields a stored case is listed by; they come first in the records built on it."""

    id: uuid.UUID
    case_no: str
    channel: str
    status: str


@dataclass(frozen=True)
class StoredReport(ReportText, CaseKey):
    """A filed report as staff may see it (never identity): its key, its text, where it came in.
    The fields run in this order: id, case number, channel, status, the text, receiving unit."""

    receiving_unit: str


@dataclass(frozen=True)
class ReportSummary(StoredReport):
    """The staff view of a report: never identity, only the informant's pseudonym."""

    handling_unit: str | None
    scope: str | None
    level: str | None
    priority: str | None
    triage: dict[str, Any] | None
    received_at: datetime
    updated_at: datetime
    attachments: int = 0
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass(frozen=True)
class EventRecord:
    seq: int
    report_id: uuid.UUID | None
    kind: str
    actor: str
    at: datetime
    payload: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


# --- video reception rooms shared by several workers (issue 21, storage.reception_rooms) ---------

Signal = dict[str, Any]  # a message between workers (intake.reception.room_bus)


@dataclass(frozen=True)
class SharedSeat:
    """A seat as the workers share it: which worker holds it, since when, connected or dropped."""

    room: str
    seat: str
    role: str
    worker: str
    joined_at: float  # epoch seconds
    connected: bool


@dataclass(frozen=True)
class SharedRoom:
    """A room's seats as of its change number ``seq``."""

    room: str
    seq: int
    seats: tuple[SharedSeat, ...]


@dataclass(frozen=True)
class SeatTaken:
    """A seat taken by this worker: the room afterwards, and the worker that held the seat before
    (``None``: a new seat; the same worker or another: a resumed or replaced one)."""

    room: SharedRoom
    previous: str | None
