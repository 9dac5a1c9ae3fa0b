"""Full-text search over report text: jieba tokens in ``search_documents``, indexed by FTS5 on
SQLite and by a GIN index over ``to_tsvector('simple', tokens)`` on PostgreSQL (migration 0011).

Chinese has no spaces, so both databases are handed text that jieba has already cut: a document
is indexed with jieba's search mode (every dictionary word inside a long word too, so 低保金 is
indexed as 低保 · 保金 · 低保金) plus the two-character pieces of longer words (so 张三 is found in
张三在); a query is cut in precise mode and every word must match. One-character words match as a
prefix. The database's own tokenizer (``unicode61``, PostgreSQL's ``simple`` parser) only splits
the result on the spaces.

A report is indexed after the acknowledgement (the triage job calls :meth:`SearchIndex.index`),
and :meth:`SearchIndex.catch_up` indexes whatever is missing (reports filed before migration 0011,
a job that failed), so search never depends on one job having run. Report text is immutable once
filed, so a document is written once. A search is scoped in its query, as the queue is: it
returns the case numbers of one scope's best matches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage.db import Batch
from storage.tables import D, R
from storage.workflow_store import CASES, in_scope_filter

if TYPE_CHECKING:
    from storage.database import Database

log = logging.getLogger("storage.search")


_WORD = re.compile(r"\w")
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
MAX_QUERY_WORDS = 16
MAX_QUERY_CHARS = 200
# How far back of its previous start a search's catch-up looks again: a report's receipt time is
# taken before its transaction commits, which the group commit keeps well under a second.
CATCH_UP_OVERLAP = timedelta(minutes=10)


def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def document_tokens(text: str) -> str:
    """The words of a report as the index stores them (space-separated, lower-cased)."""
    return document_tokens_of(_jieba().cut_for_search(text))


def document_tokens_of(words: Iterable[str]) -> str:
    """:func:`document_tokens` from words already cut in jieba's search mode (the triage worker
    hands over the words triage segmented, so a report's text is cut once)."""
    out: list[str] = []
    for raw in words:
        word = raw.strip().lower()
        if not word or not _WORD.search(word):
            continue
        out.append(word)
        if len(word) >= 3 and _HAN.match(word):
            out.extend(word[i : i + 2] for i in range(len(word) - 1))
    return " ".join(out)


KEYWORDS = 5  # keywords kept per report for the hot words (issue 18)
_KEYWORD = re.compile(r"[\u4e00-\u9fff]")  # a keyword has a Chinese character and two or more


@cache
def _idf() -> tuple[dict[str, float], float]:
    """jieba's inverse document frequencies (its bundled general corpus) and their median, the
    weight of a word it does not know (a name, a local term): loaded once, about 1 s."""
    import jieba.analyse

    tfidf = jieba.analyse.default_tfidf
    return tfidf.idf_freq, tfidf.median_idf


def document_keywords(tokens: str, k: int = KEYWORDS) -> str:
    """A report's ``k`` keywords as a JSON array: the words of its tokens (two characters or
    more, one of them Chinese) of highest TF-IDF, ties by the word. The statistics roll-up counts
    these per day for the hot words; a word common everywhere (反映, 问题) rarely makes the cut, a
    name or a matter (王五, 低保) does."""
    idf, median = _idf()
    tf: dict[str, int] = {}
    for word in tokens.split():
        if len(word) >= 2 and len(word) <= 32 and _KEYWORD.search(word):
            tf[word] = tf.get(word, 0) + 1
    ranked = sorted(tf, key=lambda w: (-tf[w] * idf.get(w, median), w))
    return json.dumps(ranked[:k], ensure_ascii=False)


def query_words(text: str) -> list[str]:
    """The words a query must all match (precise-mode jieba), at most ``MAX_QUERY_WORDS``."""
    words: list[str] = []
    for raw in _jieba().cut(text[:MAX_QUERY_CHARS]):
        word = raw.strip().lower()
        if word and _WORD.search(word) and word not in words:
            words.append(word)
    return words[:MAX_QUERY_WORDS]


def warm_up() -> None:
    """Load jieba's own dictionary (what queries and the catch-up cut with) now, at server start,
    rather than in the first search: loaded before the server freezes its start-up objects out of
    the garbage collector, its 600,000-entry dictionary is not walked again by every full
    collection (about 120 ms each at a million reports, the console's slowest requests)."""
    query_words("全文检索")


def fts5_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every word as a quoted string (implicit AND)."""
    parts = []
    for w in words:
        quoted = '"' + w.replace('"', '""') + '"'
        parts.append(quoted + "*" if len(w) == 1 else quoted)
    return " ".join(parts)


def ts_query(words: Sequence[str]) -> str:
    """A ``to_tsquery`` expression: every word as a quoted lexeme, joined with ``&``."""
    parts = []
    for w in words:
        quoted = "'" + w.replace("\\", "\\\\").replace("'", "''") + "'"
        parts.append(quoted + ":*" if len(w) == 1 else quoted)
    return " & ".join(parts)


def report_text(row: Any) -> str:
    """What of a report is searchable: title, facts, the accused and the place."""
    return "\n".join(p for p in (row.title, row.content, report_details(row)) if p)


def report_details(row: Any) -> str:
    """The searchable fields besides the title and the facts: the accused and the place."""
    parts = (row.accused_name, row.accused_unit, row.accused_position, row.location_text)
    return "\n".join(p for p in parts if p)


def _keywords_of(rows: Sequence[Any]) -> list[tuple[int, str]]:
    return [(r.id, document_keywords(r.tokens)) for r in rows]


async def _set_keywords_txn(found: Sequence[tuple[int, str]], batch: Batch) -> None:
    for doc_id, keywords in found:
        await batch.conn.execute(sa.update(D).where(D.c.id == doc_id).values(keywords=keywords))


class SearchIndex:
    """The search repository of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Every report received before this time had a document when this process last looked
        # (None: not looked yet), and the documents' keywords were all filled in: what
        # :meth:`catch_up` need not look at again.
        self._indexed_before: datetime | None = None
        self._keywords_filled = False

    async def _unindexed(
        self, limit: int, case_no: str | None = None, since: datetime | None = None
    ) -> list[Any]:
        query = (
            sa.select(
                R.c.id,
                R.c.title,
                R.c.content,
                R.c.accused_name,
                R.c.accused_unit,
                R.c.accused_position,
                R.c.location_text,
            )
            .select_from(R.outerjoin(D, D.c.report_id == R.c.id))
            .where(D.c.id.is_(None))
            .order_by(R.c.received_at, R.c.id)
            .limit(limit)
        )
        if case_no is not None:
            query = query.where(R.c.case_no == case_no)
        if since is not None:
            query = query.where(R.c.received_at >= since)
        async with self._db.read_engine.connect() as conn:
            return list((await conn.execute(query)).all())

    async def _write(self, rows: Sequence[Any], at: datetime) -> int:
        # jieba is CPU-bound: cut off the event loop, then one short write transaction.
        def cut() -> list[tuple[uuid.UUID, str, str]]:
            docs = [(r.id, document_tokens(report_text(r))) for r in rows]
            return [(report_id, tokens, document_keywords(tokens)) for report_id, tokens in docs]

        return await self._write_documents(await asyncio.to_thread(cut), at)

    async def index_tokens(self, report_id: uuid.UUID, tokens: str, at: datetime) -> bool:
        """Index one report whose text was already cut by :func:`document_tokens` elsewhere (the
        triage worker process does it, so the server's interpreter never pays for jieba here)."""
        keywords = await asyncio.to_thread(document_keywords, tokens)
        return await self._write_documents([(report_id, tokens, keywords)], at) > 0

    async def _write_documents(self, docs: Sequence[tuple[uuid.UUID, str, str]], at: datetime) -> int:
        sqlite = self._db.dialect == "sqlite"

        async def index_reports_txn(batch: Batch) -> int:
            ids = [report_id for report_id, _, _ in docs]
            existing = set(
                (await batch.conn.execute(sa.select(D.c.report_id).where(D.c.report_id.in_(ids)))).scalars()
            )
            written = 0
            for report_id, tokens, keywords in docs:
                if report_id in existing:
                    continue
                doc_id = (
                    await batch.conn.execute(
                        sa.insert(D)
                        .values(report_id=report_id, tokens=tokens, keywords=keywords, indexed_at=at)
                        .returning(D.c.id)
                    )
                ).scalar_one()
                if sqlite:
                    await batch.conn.execute(
                        sa.text("INSERT INTO search_fts (rowid, tokens) VALUES (:id, :tokens)"),
                        {"id": doc_id, "tokens": tokens},
                    )
                written += 1
            return written

        return await self._db.writer.run(index_reports_txn)

    async def index(self, case_no: str, at: datetime) -> bool:
        """Index one report (the job after the acknowledgement); False when it already was."""
        rows = await self._unindexed(1, case_no)
        return bool(rows) and await self._write(rows, at) > 0

    async def catch_up(self, at: datetime, *, batch: int = 200, limit: int = 5000) -> int:
        """Index reports that have no search document yet, oldest first; how many were indexed.
        Documents indexed before their keywords were kept (migration 0023) get them too.

        The first call of a process looks at every report; once it has found them all indexed,
        later calls look only at the reports received since :data:`CATCH_UP_OVERLAP` before it
        began (an index range scan of the newest reports instead of an anti-join of the whole
        table, 1.5 s at a million reports, before every search). A report committed that much
        later than its receipt time says is indexed by its own triage job, as every report is."""
        if not self._keywords_filled:
            self._keywords_filled = await self._keywords_catch_up(batch, limit) < limit
        since = self._indexed_before
        done, complete = 0, False
        while (want := min(batch, limit - done)) > 0:
            rows = await self._unindexed(want, since=since)
            if rows:
                done += await self._write(rows, at)
            if len(rows) < want:
                complete = True  # nothing unindexed is left
                break
        if complete:
            self._indexed_before = at - CATCH_UP_OVERLAP
        if done:
            log.info(f"search index: {done} reports indexed")
        return done

    async def _keywords_catch_up(self, batch: int, limit: int) -> int:
        """Keywords for the documents written without them, ``batch`` at a time."""
        done = 0
        while done < limit:
            async with self._db.read_engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(D.c.id, D.c.tokens)
                        .where(D.c.keywords.is_(None))
                        .order_by(D.c.id)
                        .limit(batch)
                    )
                ).all()
            if not rows:
                break
            found = await asyncio.to_thread(_keywords_of, rows)
            await self._db.writer.run(partial(_set_keywords_txn, found))
            done += len(rows)
        return done

    async def search(
        self,
        text: str,
        *,
        units: Sequence[str],
        hide_sealed_received_by: Sequence[str],
        limit: int = 100,
    ) -> list[str]:
        """Case numbers of the reports of a scope (``intake.staff.Scope``'s units and sealed
        receivers, as the queue scopes) whose text has every word of ``text``, best match first.

        Scoped in the query: ranked over all matches and then cut to a scope, a county's matches
        fell out of the best thousand of a province's (3,655 matches for two common words at a
        million reports)."""
        words = await asyncio.to_thread(query_words, text)
        if not words:
            return []
        dialect = self._db.dialect
        scoped = sa.select(R.c.case_no).select_from(CASES.join(D, D.c.report_id == R.c.id))
        scoped = scoped.where(in_scope_filter(units, hide_sealed_received_by, dialect))
        if dialect == "sqlite":
            fts = sa.table("search_fts", sa.column("rowid"), sa.column("rank"))
            query = (
                scoped.join(fts, fts.c.rowid == D.c.id)
                .where(sa.literal_column("search_fts").op("MATCH")(fts5_query(words)))
                .order_by(fts.c.rank, R.c.received_at.desc())
            )
        else:
            simple: Any = sa.literal_column("'simple'::regconfig")
            document = sa.func.to_tsvector(simple, D.c.tokens)  # what the GIN index holds
            tsquery = sa.func.to_tsquery(simple, ts_query(words))
            query = scoped.where(document.op("@@")(tsquery)).order_by(
                sa.func.ts_rank(document, tsquery).desc(), R.c.received_at.desc()
            )
        async with self._db.read_engine.connect() as conn:
            rows = await conn.execute(query.limit(limit))
            return [row[0] for row in rows]
