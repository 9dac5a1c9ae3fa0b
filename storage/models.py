"""SQLAlchemy table models. The schema of record is the Alembic chain in ``storage/migrations``;
``tests/test_migrations.py`` checks that the two agree on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A naming convention lets Alembic's batch mode (SQLite) find constraints by name.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A point in time, stored as UTC on both databases and read back aware.

    SQLite has no time zones: SQLAlchemy writes the wall-clock digits of whatever zone the value
    carries and reads them back naive. Converting to UTC on the way in keeps an event stamped in
    Beijing time (+08:00) the same instant after a round trip, so the audit hash still matches.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value  # naive values are UTC by this project's convention
        return value.astimezone(UTC)

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        """On SQLite, the text SQLAlchemy's ``DATETIME`` would store (``2026-11-30 10:59:03.000123``),
        written in one C call instead of two Python steps with a ``%``-format of seven fields: every
        report row carries several of these, and they were the writer's largest single cost."""
        composed = super().bind_processor(dialect)
        if dialect.name != "sqlite" or composed is None:
            return composed

        def process(value: Any) -> Any:
            if type(value) is not datetime:
                return composed(value)  # None and subclasses: the general path
            if value.tzinfo is not None:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]  # [:26]: without the "+00:00"

        return process

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class Unit(Base):
    """A commission or office in the jurisdiction's org tree, keyed by its division code."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(24))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("units.code"), index=True)
    division_code: Mapped[str] = mapped_column(sa.String(12))
    division_name: Mapped[str] = mapped_column(sa.String(100))
    __table_args__ = (
        sa.CheckConstraint(
            "level IN ('central','province','city','county','township','village')", name="level"
        ),
    )


class Report(Base):
    __tablename__ = "reports"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    case_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    query_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    request_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    receipt_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    title: Mapped[str | None] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    category: Mapped[str | None] = mapped_column(sa.String(64))
    accused_name: Mapped[str | None] = mapped_column(sa.String(100))
    accused_unit: Mapped[str | None] = mapped_column(sa.String(200))
    accused_position: Mapped[str | None] = mapped_column(sa.String(100))
    location_code: Mapped[str | None] = mapped_column(sa.String(12))
    location_text: Mapped[str | None] = mapped_column(sa.String(200))
    anonymous: Mapped[bool] = mapped_column(sa.Boolean)
    informant_alias: Mapped[str] = mapped_column(sa.String(32))
    receiving_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    handling_unit: Mapped[str | None] = mapped_column(sa.ForeignKey("units.code"), index=True)
    status: Mapped[str] = mapped_column(sa.String(24), index=True)
    # Triage fields, filled by the triage job after the acknowledgement.
    scope: Mapped[str | None] = mapped_column(sa.String(24))
    level: Mapped[str | None] = mapped_column(sa.String(16))
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    confidence: Mapped[float | None] = mapped_column(sa.Float)
    duplicate_of: Mapped[str | None] = mapped_column(sa.String(32))
    triage: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Keyed hashes (per report) of the identity values the informant gave, for redacting their
    # follow-ups without decrypting anything: ``storage.vault.pack_redaction_terms``. Cleared by
    # crypto-shredding. A column rather than a table: one more row per report cost the accept
    # transaction three times as much.
    redaction_terms: Mapped[str | None] = mapped_column(sa.Text)
    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id"),
        sa.CheckConstraint(
            "channel IN ('web','app','wechat','weibo','phone','sms','telegram','letter','visit','video')",
            name="channel",
        ),
    )


class ReportEvent(Base):
    """The append-only audit trail: one global hash chain over every event (全程留痕)."""

    __tablename__ = "report_events"
    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    report_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditHead(Base):
    """One row: the last sequence number and hash of the chain, locked by each writing transaction."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


class CaseCounter(Base):
    """Per receiving unit and year, the last case sequence number handed out."""

    __tablename__ = "case_counters"
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    unit_code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    last: Mapped[int] = mapped_column(sa.BigInteger)


class VaultEntry(Base):
    """A sealed identity or channel handle: envelope-encrypted, bound to its own id and report id."""

    __tablename__ = "vault_entries"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    kek_version: Mapped[int] = mapped_column(sa.Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    nonce: Mapped[bytes] = mapped_column(sa.LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Attachment(Base):
    """A file sent with a report; its bytes (and original name) live encrypted on disk."""

    __tablename__ = "attachments"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    blob_path: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    """The two-way thread of a case: informant follow-ups (in) and office replies (out)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    direction: Mapped[str] = mapped_column(sa.String(4))
    channel: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("direction IN ('in','out')", name="direction"),)


class Job(Base):
    """The durable queue for work after the acknowledgement."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(12))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    max_attempts: Mapped[int] = mapped_column(sa.Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.Index("ix_jobs_status_run_after", "status", "run_after"),
        sa.CheckConstraint("status IN ('pending','running','done','dead')", name="status"),
    )


# --- the identity vault (issue 3) -----------------------------------------------------------------


class VaultKey(Base):
    """A key-encryption key version as the database knows it (never the key itself): its public
    check value, when it was first seen, when every data key was re-wrapped to it, when retired."""

    __tablename__ = "vault_keys"
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    provider: Mapped[str] = mapped_column(sa.String(32))
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VaultCustodian(Base):
    """Someone who may ask for, approve and open reveals (a username until staff accounts exist)."""

    __tablename__ = "vault_custodians"
    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    added_by: Mapped[str] = mapped_column(sa.String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VaultRevealRequest(Base):
    """A custodian's request to reveal one report's identity, handles or IP address."""

    __tablename__ = "vault_reveal_requests"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    requester: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    commission_ref: Mapped[str | None] = mapped_column(sa.String(200))
    approvals_needed: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("kind IN ('identity','handle','ip')", name="kind"),
        sa.CheckConstraint("status IN ('pending','approved','denied','expired','opened')", name="status"),
    )


class VaultRevealDecision(Base):
    """One custodian's approval or denial of a reveal request (one each)."""

    __tablename__ = "vault_reveal_decisions"
    request_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("vault_reveal_requests.id"), primary_key=True)
    custodian: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    decision: Mapped[str] = mapped_column(sa.String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("decision IN ('approve','deny')", name="decision"),)


class VaultBlindIndex(Base):
    """A keyed hash of one of an informant's identifiers, per report: same MAC, same informant."""

    __tablename__ = "vault_blind_indexes"
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    alg: Mapped[str] = mapped_column(sa.String(16))
    mac: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- platform dialogues (issue 5: WeChat and Weibo) ------------------------------------------------


class Conversation(Base):
    """Where an informant is in a platform channel's guided dialogue. Keyed by the blind index of
    their channel handle (an HMAC, never the openid or uid itself); the draft is sealed."""

    __tablename__ = "conversations"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[str] = mapped_column(sa.String(24))
    draft: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    last_inbound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChannelMessage(Base):
    """A platform message already seen (keyed hash of its id), so that a platform's retries get
    the first answer again (sealed, kept a day) instead of being processed twice."""

    __tablename__ = "channel_messages"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(8))
    reply: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    __table_args__ = (sa.CheckConstraint("status IN ('pending','done')", name="status"),)


# --- case workflow, deadlines and staff (issue 8) --------------------------------------------------


class StaffAccount(Base):
    """A staff member: one unit, one role, a memory-hard password hash and a sealed TOTP secret."""

    __tablename__ = "staff"
    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    totp_sealed: Mapped[bytes] = mapped_column(sa.LargeBinary)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # No longer read or written (issue 14: failed logins are throttled per address, in memory,
    # not counted on the account); kept until a revision drops them.
    failed_logins: Mapped[int] = mapped_column(sa.Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('registrar','triage_officer','handler','supervisor','custodian','admin')", name="role"
        ),
    )


class StaffRelation(Base):
    """A relation a staff member declared (a relative, a former colleague …): blocks assignment (回避)."""

    __tablename__ = "staff_relations"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.ForeignKey("staff.username"), index=True)
    person_name: Mapped[str] = mapped_column(sa.String(100))
    person_unit: Mapped[str | None] = mapped_column(sa.String(200))
    relation: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A bearer token (only its SHA-256 is kept) with an absolute expiry."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    username: Mapped[str] = mapped_column(sa.ForeignKey("staff.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseState(Base):
    """The workflow's view of one report: which unit owns it, who handles it, sealing, merging,
    and the review (复查/复核) stage."""

    __tablename__ = "case_states"
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), primary_key=True)
    owner_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    handler: Mapped[str | None] = mapped_column(sa.String(64))
    sealed: Mapped[bool] = mapped_column(sa.Boolean)
    merged_into: Mapped[str | None] = mapped_column(sa.String(32))
    review_stage: Mapped[int] = mapped_column(sa.Integer)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseTransfer(Base):
    """A transfer (转办 up, down or sideways), an assignment down (交办), or a forward elsewhere."""

    __tablename__ = "case_transfers"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    from_unit: Mapped[str] = mapped_column(sa.String(16))
    to_unit: Mapped[str | None] = mapped_column(sa.String(16))
    to_organ: Mapped[str | None] = mapped_column(sa.String(100))
    sealed: Mapped[bool] = mapped_column(sa.Boolean)
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("kind IN ('upward','downward','sideways','assign_down','forward')", name="kind"),
    )


class CaseDeadline(Base):
    """One running period of a case under a named rule (intake.deadlines)."""

    __tablename__ = "case_deadlines"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    rule: Mapped[str] = mapped_column(sa.String(48))
    unit_code: Mapped[str] = mapped_column(sa.String(16), index=True)
    start_on: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date] = mapped_column(sa.Date, index=True)
    extensions: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("status IN ('open','met','cancelled')", name="status"),)


class RecusalRequest(Base):
    """A request that someone step aside (回避): from the informant or a staff member."""

    __tablename__ = "recusal_requests"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (sa.CheckConstraint("status IN ('pending','granted','denied')", name="status"),)


class SearchDocument(Base):
    """The words of one report for full-text search: jieba tokens, space-separated (storage.search).

    The index over them is dialect-specific and lives outside this metadata (migration 0011): an
    FTS5 table ``search_fts`` (external content, rowid = ``id``) on SQLite, a GIN index over
    ``to_tsvector('simple', tokens)`` on PostgreSQL.
    """

    __tablename__ = "search_documents"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), unique=True)
    tokens: Mapped[str] = mapped_column(sa.Text)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The full-text index objects above are not describable in SQLAlchemy metadata. Autogenerate (and
# the schema comparison of tests/test_migrations.py) would otherwise propose dropping them: this
# comparator, run after Alembic's own, removes exactly those proposals and nothing else.
SEARCH_FTS_TABLE = "search_fts"
SEARCH_FTS_SHADOW = frozenset(
    {SEARCH_FTS_TABLE} | {f"{SEARCH_FTS_TABLE}_{s}" for s in ("data", "idx", "content", "docsize", "config")}
)
SEARCH_GIN_INDEX = "ix_search_documents_tsv"


def _keep_search_index(autogen_context: Any, upgrade_ops: Any, schemas: Any) -> None:
    from alembic.operations import ops

    kept: list[Any] = []
    for op in upgrade_ops.ops:
        if isinstance(op, ops.DropTableOp) and op.table_name in SEARCH_FTS_SHADOW:
            continue
        if isinstance(op, ops.ModifyTableOps) and op.table_name == SearchDocument.__tablename__:
            op.ops = [
                o for o in op.ops if not (isinstance(o, ops.DropIndexOp) and o.index_name == SEARCH_GIN_INDEX)
            ]
            if not op.ops:
                continue
        kept.append(op)
    upgrade_ops.ops[:] = kept


def _register_search_comparator() -> None:
    from alembic.autogenerate.compare import comparators
    from alembic.util import DispatchPriority

    comparators.dispatch_for("schema", priority=DispatchPriority.LAST)(_keep_search_index)


_register_search_comparator()


# --- video reception sessions (issue 9) ------------------------------------------------------------


class ReceptionSession(Base):
    """A booked video reception session (视频接访): a township room, the receiving county (or city)
    unit, a slot, what the citizen comes about, the sealed identity until the session files its
    report, consent, minutes and the case it filed."""

    __tablename__ = "reception_sessions"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    township_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    host_unit: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    slot_minutes: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12), index=True)
    accused_name: Mapped[str | None] = mapped_column(sa.String(100))
    accused_unit: Mapped[str | None] = mapped_column(sa.String(200))
    accused_position: Mapped[str | None] = mapped_column(sa.String(100))
    accused_rank: Mapped[str | None] = mapped_column(sa.String(16))
    facts: Mapped[str] = mapped_column(sa.Text)
    identity_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    linked_report_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id"))
    booked_by: Mapped[str] = mapped_column(sa.String(64))
    officer: Mapped[str | None] = mapped_column(sa.String(64))
    attendees: Mapped[list[str] | None] = mapped_column(sa.JSON)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minutes: Mapped[str | None] = mapped_column(sa.Text)
    minutes_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_no: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        sa.CheckConstraint("status IN ('booked','live','minutes','filed','cancelled')", name="status"),
    )


class ReceptionChunk(Base):
    """One piece of a session's recording as the browser uploaded it (an encrypted blob file)."""

    __tablename__ = "reception_chunks"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reception_sessions.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    blob_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (sa.UniqueConstraint("session_id", "seq"),)
