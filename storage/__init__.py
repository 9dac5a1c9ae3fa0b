"""Storage: the only layer that imports SQLAlchemy, Alembic or key material.

Everything above talks to :class:`storage.database.Database` (the facade: its named stores and the
group-commit writer), which take and return the plain records of :mod:`storage.records`. The public
API is what this module exports; the vault's sealing of a submission is one call
(:func:`storage.vault.seal_submission`).
"""

from storage.database import Database, upgrade
from storage.errors import DatabaseUnavailable
from storage.keys import Keyring
from storage.records import (
    AcceptResult,
    CaseStatusRecord,
    EventRecord,
    JobRecord,
    MessageRecord,
    NewReport,
    ReportSummary,
    StoredBlob,
    UnitRecord,
)
from storage.vault import BlindIndex, ProofFile, SealedEntry, SealedSubmission, seal_submission

__all__ = [
    "AcceptResult",
    "BlindIndex",
    "CaseStatusRecord",
    "Database",
    "DatabaseUnavailable",
    "EventRecord",
    "JobRecord",
    "Keyring",
    "MessageRecord",
    "NewReport",
    "ProofFile",
    "ReportSummary",
    "SealedEntry",
    "SealedSubmission",
    "StoredBlob",
    "UnitRecord",
    "seal_submission",
    "upgrade",
]
