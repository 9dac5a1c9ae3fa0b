"""Full-text search (storage.search): the words of each report, and the Alembic comparator that
keeps the dialect-specific index objects out of autogenerate."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


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
    # The report's few keywords (a JSON array, :func:`storage.search.document_keywords`), counted
    # per day by the statistics roll-up for the hot words; None until computed (migration 0023).
    keywords: Mapped[str | None] = mapped_column(sa.Text)
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
