"""SQLAlchemy table models, one module per area. The schema of record is the Alembic chain in
``storage/migrations``; ``tests/test_migrations.py`` checks that the two agree on SQLite and
PostgreSQL. Every model is importable from here (``storage.models.Report``), as before the split.
"""

# The tables register in this order, the order they were declared in before the split.
# isort: off
from storage.models.base import NAMING, Base, UTCDateTime
from storage.models.reports import Attachment, AuditHead, CaseCounter, Job, Message, Report, ReportEvent, Unit
from storage.models.vault import (
    VaultBlindIndex,
    VaultCustodian,
    VaultEntry,
    VaultKey,
    VaultRevealDecision,
    VaultRevealRequest,
)
from storage.models.dialogues import ChannelMessage, Conversation
from storage.models.workflow import (
    CaseDeadline,
    CaseState,
    CaseTransfer,
    RecusalRequest,
    StaffAccount,
    StaffRelation,
    StaffSession,
)
from storage.models.search import SEARCH_FTS_SHADOW, SEARCH_FTS_TABLE, SEARCH_GIN_INDEX, SearchDocument
from storage.models.reception import (
    ReceptionChunk,
    ReceptionRoom,
    ReceptionSeat,
    ReceptionSession,
    ReceptionSignal,
    ReceptionSpentToken,
    ReceptionWorker,
)
from storage.models.informant import CaseFeedback, ReviewRequest
from storage.models.clues import Clue
from storage.models.urging import StaffAlert, StaffAlertRead, SupervisionNotice
from storage.models.stats import StatsCount, StatsCounted, StatsPending
from storage.models.shared import RateBucket, SpentNonce

# isort: on

__all__ = [
    "NAMING",
    "SEARCH_FTS_SHADOW",
    "SEARCH_FTS_TABLE",
    "SEARCH_GIN_INDEX",
    "Attachment",
    "AuditHead",
    "Base",
    "CaseCounter",
    "CaseDeadline",
    "CaseFeedback",
    "CaseState",
    "CaseTransfer",
    "ChannelMessage",
    "Clue",
    "Conversation",
    "Job",
    "Message",
    "RateBucket",
    "ReceptionChunk",
    "ReceptionRoom",
    "ReceptionSeat",
    "ReceptionSession",
    "ReceptionSignal",
    "ReceptionSpentToken",
    "ReceptionWorker",
    "RecusalRequest",
    "Report",
    "ReportEvent",
    "ReviewRequest",
    "SearchDocument",
    "SpentNonce",
    "StaffAccount",
    "StaffAlert",
    "StaffAlertRead",
    "StaffRelation",
    "StaffSession",
    "StatsCount",
    "StatsCounted",
    "StatsPending",
    "SupervisionNotice",
    "UTCDateTime",
    "Unit",
    "VaultBlindIndex",
    "VaultCustodian",
    "VaultEntry",
    "VaultKey",
    "VaultRevealDecision",
    "VaultRevealRequest",
]
