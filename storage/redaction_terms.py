"""SQL for the redaction terms (the ``reports.redaction_terms`` column): written with the report,
read when a follow-up comes in by query code, cleared when identities are crypto-shredded. What the
terms are: :class:`storage.vault.RedactionTerm`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from storage.db import Batch
from storage.tables import R
from storage.vault import RedactionTerm, unpack_redaction_terms

if TYPE_CHECKING:
    from storage.database import Database


async def clear_redaction_terms_txn(batch: Batch, cutoff: datetime) -> None:
    """Crypto-shredding: the terms of every report received before ``cutoff`` (they were written
    with the report, as its first vault entries were)."""
    await batch.conn.execute(
        sa.update(R)
        .where(R.c.received_at < cutoff, R.c.redaction_terms.is_not(None))
        .values(redaction_terms=None)
    )


async def redaction_terms_of(db: Database, report_id: uuid.UUID) -> list[RedactionTerm]:
    async with db.read_engine.connect() as conn:
        packed = (
            await conn.execute(sa.select(R.c.redaction_terms).where(R.c.id == report_id))
        ).scalar_one_or_none()
    return unpack_redaction_terms(packed)
