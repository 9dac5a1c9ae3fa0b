"""The identity vault (issue 3): sealed entries, key versions, custodians, reveal requests and
their decisions, blind indexes."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


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
