"""The statistics roll-up (issue 18): ``stats_counts`` holds, per China day and per month, owner
unit and sealed-from unit, how many reports have each value of each groupable field; it is exact
at every read, and costs the intake one tiny row per changed report.

Three tables (migration 0023):

- ``stats_counted``: per report, what the roll-up counted for it (its day, month, owner unit,
  sealed-from unit and each field's value: its *contribution*);
- ``stats_counts``: the sums of those contributions;
- ``stats_pending``: the reports whose contribution may have changed since. A trigger on
  ``reports``, ``case_states``, ``search_documents`` and ``vault_blind_indexes`` adds the report
  in the same transaction as the change, whatever code path made it, so no change is missed.

:func:`refresh_txn` folds pending reports in (their contribution now minus the one counted, one
grouped upsert for the batch), and a read adds the same difference for the reports still pending
(:func:`pending_rows`), in the same statement: every answer equals the ``GROUP BY`` over the
reports at the read's snapshot, however far behind the refresh is (only the time of the read
grows with the backlog). The refresh runs in the server's background every few seconds.

A report's contribution is one value per field (``''`` for none): ``channel``, ``category`` (as
filed, else as triaged), ``scope``, ``level``, ``priority``, ``status``, ``handling_unit``,
``receiving_unit``, ``place`` (the division as filed, else triage's first place), ``anonymous``
(``1``/``0``), ``place_category`` (the pair, joined by ``\\x1f``), ``accused`` (name and unit,
trimmed, when a name was filed), ``indexed`` (when the search index has it), one ``word`` per
keyword of its search document and one ``informant`` per distinct blind index (the keyed hash
of an ID number, phone or channel handle: never shown; the repeat-informant alerts count them).
The alerts' and the measures' fields are counted again for each subtree of a province, city or
county unit the owner is in (owner ``*<code>``, :data:`SUBTREE_FIELDS`, migration 0026).

**The measures** (migration 0025, counted per month only: the measures' periods are months,
quarters and years): ``accept_days`` and ``close_days``, the calendar days from receipt to the
first 受理 and to 办结 in tenths of a day (binned: to a tenth below 10 days, to a day below 100,
to ten days beyond, see :func:`days_bin`), with ``accept_s`` and ``close_s`` their exact sums in
seconds (a field of weight: its ``n`` adds the seconds, not one); ``transferred``, ``duplicate``,
``merged``, ``deadline`` (has a deadline that is not cancelled) and ``late`` (one met after its
China day) as ``'1'``; ``open_due``, the earliest open deadline's day of a case not already late
(whether it is overdue depends on the day of the read: the read compares); ``rating``, the
informant's latest rating.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from storage.db import Batch

PLAIN = ("scope", "level", "priority", "status", "handling_unit", "receiving_unit")
MEASURED = (
    "accept_days",
    "close_days",
    "transferred",
    "duplicate",
    "merged",
    "deadline",
    "late",
    "open_due",
    "rating",
)
FIELDS = (
    "channel",
    "category",
    *PLAIN,
    "place",
    "anonymous",
    "place_category",
    "accused",
    "indexed",
    *MEASURED,
)
# The fields of weight: their value is always ``''`` and each report adds its number, not one.
WEIGHED = {"accept_s": "accept_s", "close_s": "close_s"}
# The fields of many values per report, each a JSON array: the keywords (``word``) and the
# distinct blind indexes (``informant``, migration 0024).
LISTS = {"word": "keywords", "informant": "informants"}
KEYED = (
    "day",
    "month",
    "owner_unit",
    "sealed_from",
    "subtrees",
    *LISTS.values(),
    *WEIGHED.values(),
    *(f"f_{f}" for f in FIELDS),
)
# Fields counted per day only: of many values, and only asked of windows of days (the alerts'
# 90 days at most); the others are counted per day and per month.
DAY_ONLY = ("place_category", "accused", "word", "informant")
# Fields counted per month only: the measures.
MONTH_ONLY = (*MEASURED, *WEIGHED)
# The subtree rows (migration 0026): the rows of the fields the alerts read over many days and
# of those the measures read over months, summed again under the owner ``*<code>`` for the
# owner's own unit and each of its ancestors at these levels, so that a supervisor of a city
# (1,831 units) reads one owner's rows, not every unit's. A report's subtrees are counted with it
# (``stats_counted.subtrees``): a unit moved to another parent marks every report pending
# (``UnitRepository.sync``).
SUBTREE = "*"
SUBTREE_FIELDS = (*DAY_ONLY, *MONTH_ONLY, "channel", "anonymous")
SUBTREE_LEVELS = ("province", "city", "county")
UP = 4  # ancestors looked at: a village's county is two up, its province four
TRANSFER_KINDS = ("upward", "downward", "sideways")  # a 转办 (not 交办 down, not a forward out)
LOCK = 7_318_021  # the advisory lock one refresher holds at a time (PostgreSQL)
BATCH = 5000


def _json(pg: bool, column: str, *path: str | int) -> str:
    """The text at ``path`` of a JSON column."""
    if pg:
        steps = "".join(f"->{p}" if isinstance(p, int) else f"->'{p}'" for p in path[:-1])
        last = path[-1]
        return f"({column}{steps}->>{last if isinstance(last, int) else repr(last)})"
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"json_extract({column}, '${dotted}')"


def days_bin(seconds: int) -> int:
    """The bin of a time of ``seconds`` (rounded, not negative), in tenths of a day: to a tenth
    below 10 days, to a whole day below 100 days, to ten days beyond. As the roll-up computes
    it in SQL (:func:`sql_days_bin`), in integers."""
    if seconds + 4320 < 864_000:
        return (seconds + 4320) // 8640
    if seconds + 43200 < 8_640_000:
        return (seconds + 43200) // 86400 * 10
    return (seconds + 432_000) // 864_000 * 100


def sql_days_bin(seconds: str) -> str:
    """:func:`days_bin` in SQL, as text (``NULL`` stays ``NULL``)."""
    return (
        f"CAST(CASE WHEN {seconds} + 4320 < 864000 THEN ({seconds} + 4320) / 8640 "
        f"WHEN {seconds} + 43200 < 8640000 THEN ({seconds} + 43200) / 86400 * 10 "
        f"ELSE ({seconds} + 432000) / 864000 * 100 END AS TEXT)"
    )


def _measures(pg: bool) -> tuple[dict[str, str], dict[str, str]]:
    """The measures' expressions over ``r`` (reports) and ``cs`` (case_states): the seconds to
    受理 and to 办结, and the fields made of them in the outer query (over ``k``)."""
    accepted = "(SELECT min(e.at) FROM report_events e WHERE e.report_id = r.id AND e.kind = 'accept')"
    closed = "CASE WHEN r.status = 'closed' THEN cs.concluded_at END"

    def seconds(at: str) -> str:
        if pg:  # (greatest() skips a NULL: the sub-select keeps it NULL, and reads ``at`` once)
            return (
                "(SELECT CAST(greatest(0, round(extract(epoch FROM a.t - r.received_at))) AS bigint) "
                f"FROM (SELECT {at} AS t) a WHERE a.t IS NOT NULL)"
            )
        return f"max(0, CAST(round((julianday({at}) - julianday(r.received_at)) * 86400) AS INTEGER))"

    china_day = "(x.closed_at AT TIME ZONE 'Asia/Shanghai')::date" if pg else "date(x.closed_at, '+8 hours')"
    due = "to_char(min(x.due_on), 'YYYY-MM-DD')" if pg else "min(x.due_on)"
    kinds = ", ".join(f"'{k}'" for k in TRANSFER_KINDS)

    def exists(where: str) -> str:
        return f"CASE WHEN EXISTS (SELECT 1 FROM {where}) THEN '1' END"

    inner = {
        "accept_s": seconds(accepted),
        "close_s": seconds(closed),
        "transferred": exists(f"case_transfers t WHERE t.report_id = r.id AND t.kind IN ({kinds})"),
        "duplicate": "CASE WHEN r.duplicate_of IS NOT NULL THEN '1' END",
        "merged": "CASE WHEN cs.merged_into IS NOT NULL THEN '1' END",
        "deadline": exists("case_deadlines x WHERE x.report_id = r.id AND x.status <> 'cancelled'"),
        "late": exists(
            f"case_deadlines x WHERE x.report_id = r.id AND x.status = 'met' AND {china_day} > x.due_on"
        ),
        "rating": "(SELECT f.rating FROM case_feedback f WHERE f.report_id = r.id "
        "ORDER BY f.at DESC, f.id DESC LIMIT 1)",
    }
    outer = {
        "accept_days": sql_days_bin("k.accept_s"),
        "close_days": sql_days_bin("k.close_s"),
        "open_due": f"CASE WHEN k.f_late IS NULL THEN (SELECT {due} FROM case_deadlines x "
        "WHERE x.report_id = k.report_id AND x.status = 'open') END",
    }
    return inner, outer


def current_keyed(pg: bool, ids: str) -> str:
    """The contribution of each report whose id is in ``ids`` (an SQL set), as it is now: sign 1,
    report_id and the :data:`KEYED` columns, in that order."""
    sep = "chr(31)" if pg else "char(31)"
    if pg:
        day = "(r.received_at AT TIME ZONE 'Asia/Shanghai')::date"
        month = "date_trunc('month', r.received_at AT TIME ZONE 'Asia/Shanghai')::date"
        sealed = f"coalesce(cs.sealed, false) OR coalesce({_json(pg, 'r.triage', 'sealed')}::boolean, false)"
        informants = (
            "(SELECT json_agg(DISTINCT b.mac ORDER BY b.mac)::text "
            "FROM vault_blind_indexes b WHERE b.report_id = r.id)"
        )
    else:
        day = "date(r.received_at, '+8 hours')"
        month = "strftime('%Y-%m-01', r.received_at, '+8 hours')"
        sealed = f"coalesce(cs.sealed, 0) OR coalesce({_json(pg, 'r.triage', 'sealed')}, 0)"
        informants = (
            "(SELECT json_group_array(mac) FROM (SELECT DISTINCT b.mac AS mac FROM vault_blind_indexes b "
            "WHERE b.report_id = r.id ORDER BY 1))"
        )
    levels = ", ".join(f"'{level}'" for level in SUBTREE_LEVELS)
    subtrees = ", ".join(
        f"CASE WHEN u{i}.level IN ({levels}) THEN '{SUBTREE}' || u{i}.code END" for i in range(UP + 1)
    )
    subtrees = f"{'json_build_array' if pg else 'json_array'}({subtrees}){'::text' if pg else ''}"
    owner = "coalesce(cs.owner_unit, r.receiving_unit)"
    up = f"LEFT JOIN units u0 ON u0.code = {owner} " + "".join(
        f"LEFT JOIN units u{i} ON u{i}.code = u{i - 1}.parent_code " for i in range(1, UP + 1)
    )
    category = f"coalesce(nullif(r.category, ''), {_json(pg, 'r.triage', 'category')}, '')"
    place = f"coalesce(r.location_code, {_json(pg, 'r.triage', 'places', 0, 'code')}, '')"
    inner, outer = _measures(pg)
    values = {
        "channel": "r.channel",
        "category": category,
        **{f: f"coalesce(r.{f}, '')" for f in PLAIN},
        "place": place,
        "anonymous": "CASE WHEN r.anonymous THEN '1' ELSE '0' END",
        "place_category": f"{place} || {sep} || {category}",
        "accused": f"CASE WHEN trim(r.accused_name) <> '' THEN trim(r.accused_name) || {sep} || "
        "coalesce(trim(r.accused_unit), '') END",
        "indexed": "CASE WHEN d.report_id IS NOT NULL THEN '' END",
        **{name: expr for name, expr in inner.items() if name not in WEIGHED},
    }
    columns = ", ".join(f"{expr} AS f_{name}" for name, expr in values.items())
    weighed = ", ".join(f"{inner[name]} AS {name}" for name in WEIGHED)
    listed = ", ".join(f"{outer[c[2:]]} AS {c}" if c[2:] in outer else f"k.{c}" for c in KEYED)
    return (
        f"SELECT k.sign, k.report_id, {listed} FROM ("
        f"SELECT 1 AS sign, r.id AS report_id, {day} AS day, {month} AS month, "
        f"{owner} AS owner_unit, "
        f"CASE WHEN {sealed} THEN r.receiving_unit ELSE '' END AS sealed_from, {subtrees} AS subtrees, "
        f"d.keywords AS keywords, {informants} AS informants, {weighed}, {columns} "
        "FROM reports r LEFT JOIN case_states cs ON cs.report_id = r.id "
        f"LEFT JOIN search_documents d ON d.report_id = r.id {up}WHERE {member_of(pg, 'r.id', ids)}) k"
    )


# The reports the reads add to the roll-up (see :func:`pending_rows`).
PENDING = "SELECT report_id FROM stats_pending"


def member_of(pg: bool, column: str, ids: str) -> str:
    """``column`` is one of the ids of the SQL set ``ids``. The pending reports on PostgreSQL as
    ``= ANY(ARRAY(…))``: the few ids are read first and the reports looked up by their keys.
    Written ``IN (…)``, the planner hashed them against all of ``reports``, ``search_documents``
    and ``stats_counted`` (parallel sequential scans: 10 s per statistics read at a million
    reports whenever anything was pending, 0.3 s this way). A refresh's batch of ids (up to
    50,000 at a backfill) keeps the join."""
    if pg and ids == PENDING:
        return f"{column} = ANY(ARRAY({ids}))"
    return f"{column} IN ({ids})"


def counted_keyed(pg: bool, ids: str) -> str:
    """The contribution counted for each report in ``ids``, with sign -1."""
    return (
        f"SELECT -1 AS sign, report_id, {', '.join(KEYED)} FROM stats_counted "
        f"WHERE {member_of(pg, 'report_id', ids)}"
    )


def unpivot(pg: bool, keyed: str) -> str:
    """One row per field (and per keyword) of each keyed row: field, value, sign, w (the weight:
    1, or the seconds of a field of :data:`WEIGHED`), day, month, owner_unit, sealed_from;
    fields without a value have none. The rows of :data:`SUBTREE_FIELDS` come again with each
    of the owner's subtrees as their owner."""
    names = " UNION ALL ".join(f"SELECT '{f}' AS field" for f in (*FIELDS, *WEIGHED))
    value = (
        "CASE v.field "
        + " ".join(f"WHEN '{f}' THEN k.f_{f}" for f in FIELDS)
        + " ".join(f" WHEN '{f}' THEN CASE WHEN k.{c} IS NOT NULL THEN '' END" for f, c in WEIGHED.items())
        + " END"
    )
    weight = "CASE v.field " + " ".join(f"WHEN '{f}' THEN k.{c}" for f, c in WEIGHED.items()) + " ELSE 1 END"
    sub = f"({keyed}) k"

    def split(field: str, column: str) -> str:
        each = (
            f"LATERAL json_array_elements_text(k.{column}::json) w(value)"
            if pg
            else f"json_each(k.{column}) w"
        )
        return (
            f"UNION ALL SELECT '{field}', w.value, k.sign, 1, k.day, k.month, k.owner_unit, "
            f"k.sealed_from, k.subtrees FROM {sub}, {each} "
        )

    lists = "".join(split(field, column) for field, column in LISTS.items())
    rows = (
        f"SELECT field, value, sign, w, day, month, owner_unit, sealed_from, subtrees FROM ("
        f"SELECT v.field AS field, {value} AS value, k.sign AS sign, {weight} AS w, k.day AS day, "
        f"k.month AS month, k.owner_unit AS owner_unit, k.sealed_from AS sealed_from, "
        f"k.subtrees AS subtrees FROM {sub} CROSS JOIN ({names}) v {lists}) x WHERE value IS NOT NULL"
    )
    # Each row of the subtree fields again for each subtree of its owner (the rows made once).
    each = "LATERAL json_array_elements_text(y.subtrees::json) s(value)" if pg else "json_each(y.subtrees) s"
    fields = ", ".join(f"'{f}'" for f in SUBTREE_FIELDS)
    columns = "y.field, y.value, y.sign, y.w, y.day, y.month"
    return (
        f"WITH y AS ({rows}) SELECT {columns}, y.owner_unit, y.sealed_from FROM y UNION ALL "
        f"SELECT {columns}, s.value, y.sealed_from FROM y, {each} "
        f"WHERE y.field IN ({fields}) AND s.value IS NOT NULL"
    )


def difference(pg: bool, ids: str) -> str:
    """The rows of the pending difference of the reports in ``ids``: now, minus as counted."""
    return unpivot(pg, f"{current_keyed(pg, ids)} UNION ALL {counted_keyed(pg, ids)}")


def pending_rows(pg: bool) -> str:
    """What the reads add to ``stats_counts``: the difference of every pending report."""
    return difference(pg, PENDING)


def upsert(pg: bool, rows: str) -> str:
    """Add ``rows`` (of :func:`unpivot`) to ``stats_counts``, by day (but the fields of
    :data:`MONTH_ONLY`) and by month (but the fields of :data:`DAY_ONLY`), in key order (two
    refreshers never wait on each other crosswise)."""
    day_only = ", ".join(repr(f) for f in DAY_ONLY)
    month_only = ", ".join(repr(f) for f in MONTH_ONLY)
    return (
        "INSERT INTO stats_counts (field, grain, owner_unit, day, sealed_from, value, n) "
        "SELECT x.field, g.grain, x.owner_unit, CASE g.grain WHEN 'd' THEN x.day ELSE x.month END, "
        "x.sealed_from, x.value, sum(x.sign * x.w) "
        f"FROM ({rows}) x CROSS JOIN (SELECT 'd' AS grain UNION ALL SELECT 'm') g "
        f"WHERE (g.grain = 'd' AND x.field NOT IN ({month_only})) "
        f"OR (g.grain = 'm' AND x.field NOT IN ({day_only})) "
        "GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(x.sign * x.w) <> 0 ORDER BY 1, 2, 3, 4, 5, 6 "
        "ON CONFLICT (field, grain, owner_unit, day, sealed_from, value) "
        "DO UPDATE SET n = stats_counts.n + excluded.n"
    )


def _ids(pg: bool, ids: Sequence[uuid.UUID]) -> tuple[str, dict[str, Any]]:
    """An SQL set of report ids, and its parameter."""
    if pg:
        return "SELECT unnest(CAST(:ids AS uuid[]))", {"ids": list(ids)}
    return "SELECT value FROM json_each(:ids)", {"ids": "[" + ",".join(f'"{i.hex}"' for i in ids) + "]"}


async def refresh_txn(batch: Batch, limit: int = BATCH) -> int:
    """Fold up to ``limit`` pending reports into the roll-up; how many. One refresher at a time
    (an advisory lock on PostgreSQL, the single writer on SQLite). A report changed again while
    this runs keeps its pending row (its ``seq`` moved on), and is folded in next time."""
    conn = batch.conn
    pg = conn.dialect.name == "postgresql"
    if pg and not (await conn.execute(sa.text(f"SELECT pg_try_advisory_xact_lock({LOCK})"))).scalar():
        return 0
    claimed = (
        await conn.execute(
            sa.text("SELECT report_id, seq FROM stats_pending ORDER BY report_id LIMIT :n").columns(
                sa.column("report_id", sa.Uuid), sa.column("seq", sa.BigInteger)
            ),
            {"n": limit},
        )
    ).all()
    if not claimed:
        return 0
    if pg:
        # Room to group a batch's rows in memory (in 4 MB a backfill's grouping spilled for
        # minutes), and a plan made for each batch's own ids: asyncpg prepares the statements, and
        # from the sixth batch PostgreSQL may switch to a generic plan made without them, which
        # ran one 50,000-report batch of a backfill for over six minutes instead of 30 s.
        await conn.execute(
            sa.text(
                "SELECT set_config('work_mem', '256MB', true), "
                "set_config('plan_cache_mode', 'force_custom_plan', true)"
            )
        )
    ids, params = _ids(pg, [r.report_id for r in claimed])
    # The contributions now, computed once (the difference reads them three times: the fields,
    # the keywords, the blind indexes; then they are what is counted).
    if not pg:  # (SQLite's temporary tables live as long as the connection: none is left here)
        await conn.execute(sa.text("DROP TABLE IF EXISTS temp.stats_fresh"))
    await conn.execute(
        sa.text(
            f"CREATE TEMP TABLE stats_fresh {'ON COMMIT DROP ' if pg else ''}AS {current_keyed(pg, ids)}"
        ),
        params,
    )
    if pg:  # (a temporary table has no statistics: without them the upsert's plan took minutes)
        await conn.execute(sa.text("ANALYZE stats_fresh"))
    keyed = ", ".join(KEYED)
    fresh = f"SELECT sign, report_id, {keyed} FROM stats_fresh"
    counted = counted_keyed(pg, ids)
    await conn.execute(sa.text(upsert(pg, unpivot(pg, f"{fresh} UNION ALL {counted}"))), params)
    await conn.execute(sa.text(f"DELETE FROM stats_counted WHERE report_id IN ({ids})"), params)
    await conn.execute(
        sa.text(f"INSERT INTO stats_counted (report_id, {keyed}) SELECT report_id, {keyed} FROM stats_fresh")
    )
    if not pg:
        await conn.execute(sa.text("DROP TABLE temp.stats_fresh"))
    if pg:
        await conn.execute(
            sa.text(
                "DELETE FROM stats_pending p USING (SELECT unnest(CAST(:ids AS uuid[])) AS id, "
                "unnest(CAST(:seqs AS bigint[])) AS seq) c WHERE p.report_id = c.id AND p.seq = c.seq"
            ),
            {"ids": params["ids"], "seqs": [r.seq for r in claimed]},
        )
    else:
        await conn.execute(sa.text(f"DELETE FROM stats_pending WHERE report_id IN ({ids})"), params)
    return len(claimed)
