"""statistics roll-up (issue 18): ``stats_counts`` holds, per China day and per month, owner unit
and sealed-from unit, the number of reports with each value of each groupable field (and the
place × category pair, the accused, the keywords of the search index), kept exact by triggers
on ``reports``, ``case_states`` and ``search_documents``; ``search_documents.keywords`` (a JSON
array of a report's few keywords, for the hot words); backfill of the existing reports

The triggers are the only writers of ``stats_counts``: every statement that inserts, updates or
deletes a report, a case state or a search document adds the difference between the rows'
contributions after and before (rows whose contribution does not change write nothing), so the
counts equal a ``GROUP BY`` over the reports at every commit, whichever code path wrote. On
PostgreSQL they are statement-level with transition tables (one grouped upsert per statement,
however many rows it touched), on SQLite row-level. A later revision that rebuilds one of the
three tables on SQLite (batch mode copies and renames) drops its triggers and must recreate them
(:func:`create_triggers`).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The report columns a contribution reads.
REPORT_COLUMNS = (
    "id received_at channel category triage scope level priority status handling_unit receiving_unit "
    "location_code anonymous accused_name accused_unit"
).split()
# The plain fields: their value is the column's (NULL stored as '').
PLAIN = ("scope", "level", "priority", "status", "handling_unit", "receiving_unit")
FIELDS = ("channel", "category", *PLAIN, "place", "anonymous", "place_category", "accused", "indexed")
EVENTS = ("insert", "update", "delete")
TABLES = ("reports", "case_states", "search_documents")


def _json(pg: bool, column: str, *path: str | int) -> str:
    """The text at ``path`` of a JSON column."""
    if pg:
        steps = "".join(f"->{p}" if isinstance(p, int) else f"->'{p}'" for p in path[:-1])
        last = path[-1]
        return f"({column}{steps}->>{last if isinstance(last, int) else repr(last)})"
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"json_extract({column}, '${dotted}')"


def _keyed(pg: bool, src: str) -> str:
    """One row per source row: sign, day, month, owner unit, sealed-from and each field's value."""
    sep = "chr(31)" if pg else "char(31)"
    if pg:
        day = "(s.received_at AT TIME ZONE 'Asia/Shanghai')::date"
        month = "date_trunc('month', s.received_at AT TIME ZONE 'Asia/Shanghai')::date"
        sealed = f"coalesce(s.cs_sealed, false) OR coalesce({_json(pg, 's.triage', 'sealed')}::boolean, false)"
    else:
        day = "date(s.received_at, '+8 hours')"
        month = "strftime('%Y-%m-01', s.received_at, '+8 hours')"
        sealed = f"coalesce(s.cs_sealed, 0) OR coalesce({_json(pg, 's.triage', 'sealed')}, 0)"
    category = f"coalesce(nullif(s.category, ''), {_json(pg, 's.triage', 'category')}, '')"
    place = f"coalesce(s.location_code, {_json(pg, 's.triage', 'places', 0, 'code')}, '')"
    values = {
        "channel": "s.channel",
        "category": category,
        **{f: f"coalesce(s.{f}, '')" for f in PLAIN},
        "place": place,
        "anonymous": "CASE WHEN s.anonymous THEN '1' ELSE '0' END",
        "place_category": f"{place} || {sep} || {category}",
        "accused": f"CASE WHEN trim(s.accused_name) <> '' THEN trim(s.accused_name) || {sep} || "
        "coalesce(trim(s.accused_unit), '') END",
        "indexed": "CASE WHEN s.has_doc THEN '' END",
    }
    columns = ", ".join(f"{expr} AS f_{name}" for name, expr in values.items())
    return (
        f"SELECT s.sign AS sign, {day} AS day, {month} AS month, "
        f"coalesce(s.cs_owner, s.receiving_unit) AS owner_unit, "
        f"CASE WHEN {sealed} THEN s.receiving_unit ELSE '' END AS sealed_from, "
        f"s.keywords AS keywords, {columns} FROM ({src}) s"
    )


def apply_sql(pg: bool, sources: Sequence[str]) -> str:
    """The upsert of the summed contributions of ``sources`` (selects of :func:`source`)."""
    src = " UNION ALL ".join(sources)
    keyed = _keyed(pg, src)
    names = " UNION ALL ".join(f"SELECT '{f}' AS field" for f in FIELDS)
    value = "CASE v.field " + " ".join(f"WHEN '{f}' THEN k.f_{f}" for f in FIELDS) + " END"
    keyed_sub = f"({keyed}) k"
    split = "LATERAL json_array_elements_text(k.keywords::json) w(value)" if pg else "json_each(k.keywords) w"
    rows = (
        f"SELECT v.field AS field, {value} AS value, k.sign AS sign, k.day AS day, k.month AS month, "
        f"k.owner_unit AS owner_unit, k.sealed_from AS sealed_from FROM {keyed_sub} CROSS JOIN ({names}) v "
        f"UNION ALL SELECT 'word', w.value, k.sign, k.day, k.month, k.owner_unit, k.sealed_from "
        f"FROM {keyed_sub}, {split}"
    )
    return (
        "INSERT INTO stats_counts (field, grain, day, owner_unit, sealed_from, value, n) "
        "SELECT x.field, g.grain, CASE g.grain WHEN 'd' THEN x.day ELSE x.month END, x.owner_unit, "
        "x.sealed_from, x.value, sum(x.sign) "
        f"FROM ({rows}) x CROSS JOIN (SELECT 'd' AS grain UNION ALL SELECT 'm') g "
        "WHERE x.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(x.sign) <> 0 ORDER BY 1, 2, 3, 4, 5, 6 "
        "ON CONFLICT (field, grain, day, owner_unit, sealed_from, value) "
        "DO UPDATE SET n = stats_counts.n + excluded.n"
    )


def source(pg: bool, sign: int, table: str, rows: str, present: bool = True) -> str:
    """A report's parts as one select, ``sign`` its weight: the changed ``table`` (reports,
    case_states or search_documents) is read from ``rows`` (a transition table on PostgreSQL, a
    one-row select of NEW or OLD on SQLite), or taken as absent when not ``present`` (a case
    state or search document before its insert, after its delete); the two other tables as they
    are now."""
    r = "t" if table == "reports" else "r"
    cols = ", ".join(f"{r}.{c} AS {c}" for c in REPORT_COLUMNS if c != "id")
    cs = "t" if table == "case_states" else "cs"
    d = "t" if table == "search_documents" else "d"
    cs_cols = f"{cs}.owner_unit AS cs_owner, {cs}.sealed AS cs_sealed"
    d_cols = f"{d}.keywords AS keywords, {d}.report_id IS NOT NULL AS has_doc"
    if table == "reports":
        frm = (
            f"{rows} t LEFT JOIN case_states cs ON cs.report_id = t.id "
            "LEFT JOIN search_documents d ON d.report_id = t.id"
        )
    elif table == "case_states":
        if not present:
            cs_cols = "NULL AS cs_owner, NULL AS cs_sealed"
        frm = f"{rows} t JOIN reports r ON r.id = t.report_id LEFT JOIN search_documents d ON d.report_id = r.id"
    else:
        if not present:
            d_cols = "NULL AS keywords, " + ("false" if pg else "0") + " AS has_doc"
        frm = f"{rows} t JOIN reports r ON r.id = t.report_id LEFT JOIN case_states cs ON cs.report_id = r.id"
    return f"SELECT {sign} AS sign, {cols}, {cs_cols}, {d_cols} FROM {frm}"


def _sqlite_row(table: str, prefix: str) -> str:
    columns = {
        "reports": REPORT_COLUMNS,
        "case_states": ["report_id", "owner_unit", "sealed"],
        "search_documents": ["report_id", "keywords"],
    }[table]
    return "(SELECT " + ", ".join(f"{prefix}.{c} AS {c}" for c in columns) + ")"


def _sources(pg: bool, table: str, event: str) -> list[str]:
    """The before (-1) and after (+1) contributions of the rows an ``event`` on ``table`` touched:
    a report's own insert has no before, its delete no after; an insert into case_states or
    search_documents has before it the same report without the row, a delete after it."""
    old = "old_rows" if pg else _sqlite_row(table, "OLD")
    new = "new_rows" if pg else _sqlite_row(table, "NEW")
    parts: list[str] = []
    if event != "insert":
        parts.append(source(pg, -1, table, old))
    elif table != "reports":
        parts.append(source(pg, -1, table, new, present=False))
    if event != "delete":
        parts.append(source(pg, 1, table, new))
    elif table != "reports":
        parts.append(source(pg, 1, table, old, present=False))
    return parts


def backfill_sql(pg: bool) -> str:
    return apply_sql(pg, [source(pg, 1, "reports", "reports")])


def _name(table: str, event: str) -> str:
    return f"stats_{table}_{event}"


def create_triggers(pg: bool) -> list[str]:
    statements = []
    for table in TABLES:
        for event in EVENTS:
            name = _name(table, event)
            body = apply_sql(pg, _sources(pg, table, event))
            if pg:
                refs = {
                    "insert": "NEW TABLE AS new_rows",
                    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                    "delete": "OLD TABLE AS old_rows",
                }[event]
                statements.append(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN {body}; RETURN NULL; END $$"
                )
                statements.append(
                    f"CREATE TRIGGER {name} AFTER {event.upper()} ON {table} REFERENCING {refs} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
                )
            else:
                what = event.upper()
                if event == "update":
                    watched = {
                        "reports": [c for c in REPORT_COLUMNS if c != "id"],
                        "case_states": ["owner_unit", "sealed"],
                        "search_documents": ["keywords"],
                    }[table]
                    what = "UPDATE OF " + ", ".join(watched)
                statements.append(f"CREATE TRIGGER {name} AFTER {what} ON {table} FOR EACH ROW BEGIN {body}; END")
    return statements


def drop_triggers(pg: bool) -> list[str]:
    statements = []
    for table in TABLES:
        for event in EVENTS:
            name = _name(table, event)
            statements.append(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
            if pg:
                statements.append(f"DROP FUNCTION IF EXISTS {name}()")
    return statements


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("search_documents") as batch:
        batch.add_column(sa.Column("keywords", sa.Text(), nullable=True))
    op.create_table(
        "stats_counts",
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("owner_unit", sa.String(length=16), nullable=False),
        sa.Column("sealed_from", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "field", "grain", "day", "owner_unit", "sealed_from", "value", name=op.f("pk_stats_counts")
        ),
        **({"postgresql_with": {"fillfactor": 80}} if pg else {}),
    )
    op.create_index("ix_stats_counts_value", "stats_counts", ["field", "value", "grain", "day"])
    op.execute(backfill_sql(pg))
    for statement in create_triggers(pg):
        op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in drop_triggers(pg):
        op.execute(statement)
    op.drop_index("ix_stats_counts_value", table_name="stats_counts")
    op.drop_table("stats_counts")
    with op.batch_alter_table("search_documents") as batch:
        batch.drop_column("keywords")
