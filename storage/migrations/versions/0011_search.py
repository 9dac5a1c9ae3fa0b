"""full-text search over report text (issue 8, the console's search)

``search_documents`` holds each report's jieba tokens (storage.search writes them after the
acknowledgement and catches up on older reports); the index over them is FTS5 on SQLite and a GIN
index over ``to_tsvector('simple', tokens)`` on PostgreSQL. Reports filed before this revision are
indexed by ``SearchIndex.catch_up`` (at start-up and before each search), not here: tokenizing
needs jieba, which a migration should not load.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_search_documents_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("report_id", name=op.f("uq_search_documents_report_id")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # External content: the tokens are stored once, in search_documents; rowid = its id.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "tokens, content='search_documents', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "CREATE INDEX ix_search_documents_tsv ON search_documents "
            "USING gin (to_tsvector('simple'::regconfig, tokens))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_search_documents_tsv")
    op.drop_table("search_documents")
