"""Storage: the only layer that imports SQLAlchemy, Alembic or key material.

Everything above talks to :class:`storage.database.Database` (the facade: its named stores and the
group-commit writer), which take and return the plain records of :mod:`storage.records`. The public
API is what this module exports; the vault's sealing of a submission is one call
(:func:`storage.vault.seal_submission`).
"""

from storage import records
from storage.database import Database, upgrade
from storage.errors import DatabaseUnavailable
from storage.keys import Keyring
from storage.vault import BlindIndex, ProofFile, SealedEntry, SealedSubmission, seal_submission

# The plain records the stores take and return are in ``storage.records``.
__all__ = [
    "BlindIndex",
    "Database",
    "DatabaseUnavailable",
    "Keyring",
    "ProofFile",
    "SealedEntry",
    "SealedSubmission",
    "records",
    "seal_submission",
    "upgrade",
]
