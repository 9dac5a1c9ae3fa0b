"""Storage for staff accounts (issue 8): accounts, login sessions and declared relations.

Every write is one named transaction on the group-commit writer and writes its audit events in
the same transaction. The TOTP secret of a staff account is sealed with a key derived from the
keyring (AES-GCM, bound to the username); only a SHA-256 of a bearer token is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.exc import IntegrityError

from storage.db import Batch
from storage.tables import SR, SS, S

if TYPE_CHECKING:
    from storage.database import Database


class StaffExists(Exception):
    """A staff account with that username exists already."""


@dataclass(frozen=True)
class StaffRecord:
    username: str
    unit_code: str
    role: str
    password_hash: str
    totp_secret: str
    totp_last_step: int | None
    disabled: bool


@dataclass(frozen=True)
class RelationRecord:
    person_name: str
    person_unit: str | None
    relation: str


class StaffStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- sealing the TOTP secret ----------------------------------------------------------------

    def _seal_secret(self, username: str, secret: str) -> bytes:
        nonce = secrets.token_bytes(12)
        aead = self._db.keyring.aead("staff-totp")
        return nonce + aead.encrypt(nonce, secret.encode(), f"staff/{username}".encode())

    def _open_secret(self, username: str, sealed: bytes) -> str:
        aead = self._db.keyring.aead("staff-totp")
        try:
            return aead.decrypt(sealed[:12], sealed[12:], f"staff/{username}".encode()).decode()
        except InvalidTag:
            return ""  # a tampered or foreign row: no code will ever match

    # --- staff ------------------------------------------------------------------------------------

    async def add_staff(
        self,
        username: str,
        unit: str,
        role: str,
        password_hash: str,
        totp_secret: str,
        actor: str,
        at: datetime,
        email: str | None = None,
    ) -> None:
        sealed = self._seal_secret(username, totp_secret)

        async def add_staff_txn(batch: Batch) -> None:
            exists = (
                await batch.conn.execute(sa.select(S.c.username).where(S.c.username == username))
            ).first()
            if exists is not None:
                raise StaffExists(username)
            await batch.conn.execute(
                sa.insert(S).values(
                    username=username,
                    unit_code=unit,
                    role=role,
                    password_hash=password_hash,
                    totp_sealed=sealed,
                    failed_logins=0,
                    created_at=at,
                    email=email,
                )
            )
            batch.event(None, "staff_added", actor, at, {"username": username, "unit": unit, "role": role})

        try:
            await self._db.writer.run(add_staff_txn)
        except IntegrityError:
            raise StaffExists(username) from None

    async def staff(self, username: str) -> StaffRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (await conn.execute(sa.select(S).where(S.c.username == username))).first()
        return None if row is None else self._staff(row)

    def _staff(self, row: Any) -> StaffRecord:
        return StaffRecord(
            row.username,
            row.unit_code,
            row.role,
            row.password_hash,
            self._open_secret(row.username, row.totp_sealed),
            row.totp_last_step,
            row.disabled_at is not None,
        )

    async def list_staff(self) -> list[tuple[str, str, str]]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(S.c.username, S.c.unit_code, S.c.role).order_by(S.c.username))
            return [(r.username, r.unit_code, r.role) for r in rows]

    async def login_failed(self, username: str, reason: str, at: datetime) -> None:
        """An audit event for a failed login. Nothing on the account changes: the throttle is
        per address (``intake.staff.LoginThrottle``), so a stranger's failures cannot lock it."""

        async def staff_login_failed_txn(batch: Batch) -> None:
            payload = {"username": username[:64], "reason": reason}
            batch.event(None, "staff_login_failed", "system:auth", at, payload)

        await self._db.writer.run(staff_login_failed_txn)

    async def login_succeeded(
        self, username: str, step: int, token_hash: str, expires_at: datetime, at: datetime
    ) -> bool:
        """Record the login and open the session; False when the TOTP step was already used
        (a replayed code), checked inside the transaction."""

        async def staff_login_txn(batch: Batch) -> bool:
            updated = await batch.conn.execute(
                sa.update(S)
                .where(
                    S.c.username == username,
                    sa.or_(S.c.totp_last_step.is_(None), S.c.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            if updated.rowcount != 1:
                batch.event(
                    None,
                    "staff_login_failed",
                    "system:auth",
                    at,
                    {"username": username, "reason": "totp_replay"},
                )
                return False
            await batch.conn.execute(
                sa.insert(SS).values(
                    token_hash=token_hash, username=username, created_at=at, expires_at=expires_at
                )
            )
            batch.event(None, "staff_login", f"staff:{username}", at, {"expires_at": expires_at.isoformat()})
            return True

        ok: bool = await self._db.writer.run(staff_login_txn)
        return ok

    async def session_user(self, token_hash: str, now: datetime) -> StaffRecord | None:
        async with self._db.read_engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(S)
                    .join(SS, SS.c.username == S.c.username)
                    .where(
                        SS.c.token_hash == token_hash,
                        SS.c.revoked_at.is_(None),
                        SS.c.expires_at > now,
                        S.c.disabled_at.is_(None),
                    )
                )
            ).first()
        return None if row is None else self._staff(row)

    async def revoke_session(self, token_hash: str, username: str, at: datetime) -> None:
        async def staff_logout_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.update(SS)
                .where(SS.c.token_hash == token_hash, SS.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            batch.event(None, "staff_logout", f"staff:{username}", at, {})

        await self._db.writer.run(staff_logout_txn)

    async def add_relation(
        self, username: str, person_name: str, person_unit: str | None, relation: str, at: datetime
    ) -> None:
        async def staff_relation_txn(batch: Batch) -> None:
            await batch.conn.execute(
                sa.insert(SR).values(
                    username=username,
                    person_name=person_name,
                    person_unit=person_unit,
                    relation=relation,
                    created_at=at,
                )
            )
            # Who the relation is with stays in the table; the chain records that one was declared.
            batch.event(None, "staff_relation_declared", f"staff:{username}", at, {"relation": relation})

        await self._db.writer.run(staff_relation_txn)

    async def relations(self, username: str) -> list[RelationRecord]:
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(sa.select(SR).where(SR.c.username == username).order_by(SR.c.id))
            return [RelationRecord(r.person_name, r.person_unit, r.relation) for r in rows]
