"""The statistics roll-up (``storage.stats_rollup``) stays exact: after filing, triage, indexing
and every workflow step (accept, assign, close, transfer down and sideways, merge, an upward
sealed transfer) each roll-up answer equals the plain ``GROUP BY`` over the reports in every
staff member's scope, both with changes still pending and after the refresh folded them in; and
the refreshed table equals the same counts recomputed from scratch. On SQLite and PostgreSQL
(the ``db_url`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa

import intake.stats
from intake.clock import CHINA
from intake.domain import Accused, Reporter, Submission
from storage.stats_rollup import MONTH_ONLY, SUBTREE, SUBTREE_FIELDS, current_keyed, unpivot, upsert
from storage.stats_store import FEW_VALUES, ROLLED, StatsFilter, grain_ranges
from storage.tables import CD, CS, R
from storage.workflow_store import sealed_case
from tests.stats.conftest import OTHER_COUNTY, Office

VIEWERS = ("county_reg", "county_sup", "city_sup", "town_sup", "town_officer", "nx_sup", "prov_sup")
# The supervisors of a county, a city or a province: the roll-up's subtree rows answer for them.
SUBTREES = {"county_sup": "*430121", "city_sup": "*4301", "nx_sup": "*430182", "prov_sup": "*43"}
GROUPINGS: list[tuple[str, ...]] = [
    *((f,) for f in sorted(ROLLED)),
    ("owner_unit",),
    ("place", "category"),
    ("category", "place", "day"),
    ("channel", "day"),
    ("category", "month"),
    ("owner_unit", "status"),
    ("month",),
    (),
]


async def _rows(conn: Any) -> Counter[tuple[Any, ...]]:
    rows = await conn.execute(
        sa.text("SELECT field, grain, day, owner_unit, sealed_from, value, n FROM stats_counts WHERE n <> 0")
    )
    return Counter({tuple(str(x) for x in r[:-1]): int(r[-1]) for r in rows})


async def check_exact(o: Office) -> None:
    """Reads are exact with changes pending (the reads add their difference); then the refresh
    folds every pending report in, and the table equals the counts recomputed from scratch (in
    a transaction rolled back), every field, grain, owner and word; no count is negative."""
    db = o.services.db
    pg = db.dialect == "postgresql"
    async with db.read_engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM stats_pending"))).scalar(), "nothing pending"
    await check_answers(o, date(2025, 9, 1), date(2025, 9, 26))
    measured = {who: await measure_sums(o, who) for who in VIEWERS}
    assert await db.stats.refresh() > 0
    assert {who: await measure_sums(o, who) for who in VIEWERS} == measured
    async with db.write_engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM stats_pending"))).scalar() == 0
        kept = await _rows(conn)
        assert (await conn.execute(sa.text("SELECT count(*) FROM stats_counts WHERE n < 0"))).scalar() == 0
        await conn.execute(sa.text("DELETE FROM stats_counts"))
        await conn.execute(sa.text(upsert(pg, unpivot(pg, current_keyed(pg, "SELECT id FROM reports")))))
        fresh = await _rows(conn)
        await conn.rollback()
    assert kept == fresh
    assert kept, "nothing counted"
    subtrees = {k[3] for k in kept if k[3].startswith(SUBTREE)}
    assert {"*43", "*4301", "*430121"} <= subtrees <= {"*43", "*4301", "*430121", "*430182"}, subtrees
    assert {k[0] for k in kept if k[3] in subtrees} == set(SUBTREE_FIELDS) & {k[0] for k in kept}
    await check_answers(o, date(2025, 9, 1), date(2025, 9, 26))


async def scope_filter(o: Office, who: str, first: date, last: date) -> StatsFilter:
    """The reports of ``who``'s scope received from ``first`` to ``last`` (China days), as the
    statistics service makes it."""
    member = await o.services.staff.member(who)
    assert member is not None
    stats = intake.stats.StatsService(o.services.db, o.clock, o.services.staff)
    f = stats.filter(member, o.services.staff.scope(member).units, first, last)
    assert f.subtree == SUBTREES.get(who), who
    return f


async def measure_sums(o: Office, who: str) -> dict[str, dict[str, int]]:
    """The measures' sums of September 2025 in ``who``'s scope (from a subtree's own rows the
    same as from its units' rows)."""
    f = await scope_filter(o, who, date(2025, 9, 1), date(2025, 9, 30))
    sums = await o.services.db.stats.measure_sums(f)
    if f.subtree:
        assert sums == await o.services.db.stats.measure_sums(dataclasses.replace(f, subtree=None)), who
    return sums


async def check_answers(o: Office, first: date, last: date) -> None:
    """Each grouping the roll-up serves equals the plain GROUP BY over the reports, per scope;
    and a subtree's sums (its own rows, migration 0026) equal its units' sums."""
    store = o.services.db.stats
    for who in VIEWERS:
        f = await scope_filter(o, who, first, last)
        for by in GROUPINGS:
            rolled = Counter(dict(await store.counts(f, by)))
            live = Counter(dict(await store._counts_live(f, by)))
            assert rolled == live, (who, by)
        # Values looked up by value, or (many) filtered from the range's sums: the same.
        words = await store.sums(f, "word")
        many = [*words, *(f"未见词{i}" for i in range(FEW_VALUES))]
        assert await store.sums(f, "word", values=many) == words, who
        few = dict(sorted(words.items())[:2])
        assert await store.sums(f, "word", values=[*few, "未见词"]) == few, who
        if f.subtree:
            by_unit = dataclasses.replace(f, subtree=None, outside=None)
            for field in (f for f in SUBTREE_FIELDS if f not in MONTH_ONLY):  # (those: measure_sums)
                assert await store.sums(f, field) == await store.sums(by_unit, field), (who, field)


async def _file(
    o: Office, content: str, *, channel: str = "web", accused: str = "张三", real: bool = False
) -> str:
    case_no, _ = await o.file(
        content, channel=channel, real_name=real, accused=Accused(accused, "某村", "村干部")
    )
    return case_no


async def scope_copy_drift(o: Office) -> list[Any]:
    """Copies of a case's scope that differ from the case's own; none may: the deadlines' owner,
    seal and receiving unit (migration 0032, what the deadline board scopes by) and the report
    row's owner (0034, what every list scopes by). Asserts first that the copies are worth
    checking: a case owned by a unit other than its receiving one, a sealed one."""
    cases = R.outerjoin(CS, CS.c.report_id == R.c.id)
    async with o.services.db.read_engine.connect() as conn:
        kinds = (
            await conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.sum(sa.case((CD.c.case_owner != R.c.receiving_unit, 1), else_=0)),
                    sa.func.sum(sa.case((CD.c.case_sealed, 1), else_=0)),
                    sa.func.sum(sa.case((R.c.owner_unit != R.c.receiving_unit, 1), else_=0)),
                ).select_from(CD.join(R, R.c.id == CD.c.report_id))
            )
        ).one()
        assert kinds[0] >= 4 and kinds[1] >= 1 and kinds[2] >= 1 and kinds[3] >= 1, kinds
        owner = sa.func.coalesce(CS.c.owner_unit, R.c.receiving_unit)  # the case's own
        drift = sa.or_(
            CD.c.case_owner.is_distinct_from(owner),
            CD.c.case_sealed != sealed_case(),
            CD.c.case_received_by.is_distinct_from(R.c.receiving_unit),
        )
        query = sa.select(R.c.case_no, CD.c.rule).select_from(CD.join(cases, R.c.id == CD.c.report_id))
        found = list((await conn.execute(query.where(drift))).all())
        rows = sa.select(R.c.case_no, sa.literal("reports.owner_unit")).select_from(cases)
        found += (await conn.execute(rows.where(R.c.owner_unit.is_distinct_from(CS.c.owner_unit)))).all()
        return found


async def test_rollup_equals_group_by_through_the_workflow(office: Office) -> None:
    o = office
    for name in ("county_reg", "county_sup", "city_sup", "county_handler", "town_officer"):
        await o.login(name)
    first = date(2025, 9, 20)
    o.clock.set(2025, 9, 20)
    filed = [await _file(o, "村支书张三在低保评定中优亲厚友。", channel="web")]
    o.clock.set(2025, 9, 25)
    filed.append(await _file(o, "镇干部李四违规收受礼金。", channel="phone", accused="李四", real=True))
    o.clock.set(2025, 9, 26)
    for i in range(4):
        filed.append(
            await _file(o, f"反映工程建设问题第{i}件，施工方偷工减料。", channel="app", accused="王五")
        )
    await check_exact(o)
    await check_answers(o, first, date(2025, 9, 26))

    # Triage fills category, scope, level, priority, places; the search index adds keywords.
    for case_no in filed:
        await o.triaged(case_no, places=[{"code": "430121102", "name": "黄兴镇", "level": "township"}])
    await o.services.db.search.catch_up(o.clock.now())
    await check_exact(o)

    a, b, c, d, e, _ = filed
    status, doc = await o.act("county_reg", a, action="accept")
    assert status == 200, doc
    status, doc = await o.act("county_sup", a, action="assign", handler="county_handler")
    assert status == 200, doc
    final = "经核查，反映问题部分属实，已作处理。"
    status, doc = await o.act(
        "county_handler", a, action="close", outcome="talk_reminder", text=final, confirm=True
    )
    assert status == 200 and doc["status"] == "closed", doc
    status, doc = await o.act("county_reg", b, action="transfer", to_unit="430121102")  # down, to 黄兴镇
    assert status == 200, doc
    status, doc = await o.act("county_reg", c, action="transfer", to_unit=OTHER_COUNTY)  # sideways
    assert status == 200, doc
    status, doc = await o.act("county_reg", d, action="merge", target=e)
    assert status == 200 and doc["merged_into"] == e, doc
    await check_exact(o)
    await check_answers(o, first, date(2025, 9, 26))

    # A report about the county commission's head goes up sealed: hidden from the county.
    sealed = await _file(o, "县纪委书记赵六收受他人财物二十万元。", accused="赵六")
    await o.triaged(
        sealed, level="city", unit={"id": "4301", "name": "长沙市纪委监委"}, sealed=True, transfer="upward"
    )
    await check_exact(o)
    assert await scope_copy_drift(o) == []
    await check_answers(o, first, date(2025, 9, 26))
    window = await scope_filter(o, "county_sup", date(2025, 9, 1), date(2025, 9, 26))
    assert "赵六\x1f某村" not in await o.services.db.stats.sums(window, "accused")
    await o.audit_ok()

    # Any other writer of the three tables (a repair script, a later feature) is caught too: a
    # case state moved alone, a case state removed, a document's keywords rewritten.
    async with o.services.db.write_engine.begin() as conn:
        ids = {r.case_no: r.id for r in await conn.execute(sa.text("SELECT case_no, id FROM reports"))}
        await conn.execute(
            sa.text("UPDATE case_states SET owner_unit = :u WHERE report_id = :id"),
            {"u": "430121102", "id": ids[c]},
        )
        await conn.execute(sa.text("DELETE FROM case_states WHERE report_id = :id"), {"id": ids[e]})
        await conn.execute(
            sa.text("UPDATE search_documents SET keywords = :k WHERE report_id = :id"),
            {"k": '["改写"]', "id": ids[a]},
        )
        # An identity shredded takes its blind indexes away; another report gains one.
        blind = (
            await conn.execute(
                sa.text("SELECT count(*) FROM vault_blind_indexes WHERE report_id = :id"), {"id": ids[b]}
            )
        ).scalar()
        assert blind, "the real-name report has blind indexes"
        await conn.execute(sa.text("DELETE FROM vault_blind_indexes WHERE report_id = :id"), {"id": ids[b]})
        await conn.execute(
            sa.text(
                "INSERT INTO vault_blind_indexes (report_id, kind, alg, mac, created_at) "
                "VALUES (:id, 'phone', 'hmac-sha256', :mac, :at)"
            ),
            {"id": ids[d], "mac": "0" * 64, "at": datetime(2025, 9, 26, tzinfo=CHINA)},
        )
    await check_exact(o)
    assert await scope_copy_drift(o) == []  # the case state moved alone, the one removed
    assert await o.services.db.stats.sums(window, "informant") == {"0" * 64: 1}

    # And the measures' tables: a deadline met late, one removed, a rating given and changed, a
    # transfer removed, a report marked a duplicate, an accept event of a report never accepted.
    before = await measure_sums(o, "city_sup")
    async with o.services.db.write_engine.begin() as conn:
        deadlines = (
            await conn.execute(
                sa.text("SELECT id, report_id, due_on FROM case_deadlines WHERE status = 'open' ORDER BY id")
            )
        ).all()
        assert len(deadlines) >= 2, deadlines
        late, gone = deadlines[0], deadlines[1]
        await conn.execute(
            sa.text("UPDATE case_deadlines SET status = 'met', closed_at = :at WHERE id = :id"),
            {
                "at": datetime.combine(
                    date.fromisoformat(str(late.due_on)) + timedelta(days=3), time(12), CHINA
                ),
                "id": late.id,
            },
        )
        await conn.execute(sa.text("DELETE FROM case_deadlines WHERE id = :id"), {"id": gone.id})
        await conn.execute(
            sa.text(
                "INSERT INTO case_feedback (report_id, reply_at, rating, channel, at) "
                "VALUES (:id, :at, 'dissatisfied', 'web', :at)"
            ),
            {"id": ids[a], "at": datetime(2025, 9, 27, tzinfo=CHINA)},
        )
        await conn.execute(
            sa.text("UPDATE case_feedback SET rating = 'satisfied' WHERE report_id = :id"), {"id": ids[a]}
        )
        await conn.execute(sa.text("DELETE FROM case_transfers WHERE report_id = :id"), {"id": ids[c]})
        await conn.execute(
            sa.text("UPDATE reports SET duplicate_of = :d WHERE id = :id"), {"d": a, "id": ids[e]}
        )
    await o.triaged(filed[5], duplicate_of=None)
    status, doc = await o.act("county_reg", filed[5], action="accept")
    assert status == 200, doc
    await check_exact(o)
    after = await measure_sums(o, "city_sup")
    assert after["late"] == {"1": 1} and before["late"] == {}
    assert after["rating"] == {"satisfied": 1} and before["rating"] == {}
    assert after["duplicate"] == {"1": 1 + before["duplicate"].get("1", 0)}
    assert sum(after["accept_days"].values()) == sum(before["accept_days"].values()) + 1
    assert after["transferred"]["1"] == before["transferred"]["1"] - 1


async def test_accused_alerts_are_ranked_and_capped(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    """More accused named three times or more than are listed: the most named first, the rest
    counted (``more``), never 8,000 lines."""
    o = office
    monkeypatch.setattr(intake.stats, "GROUPS_SHOWN", 2)
    o.clock.set(2025, 9, 26)
    for name, times in (("甲某", 3), ("乙某", 5), ("丙某", 4)):
        for i in range(times):
            await _file(o, f"反映{name}的问题，第{i}次。", accused=name)
    await o.login("county_sup")
    status, body = await o.get("county_sup", "/api/v1/staff/stats/alerts?date=2025-09-26")
    assert status == 200, body
    accused = [a for a in body["alerts"] if a["kind"] == "accused"]
    assert [a["count"] for a in accused] == [5, 4]
    assert "乙某" in accused[0]["reason"] and "丙某" in accused[1]["reason"]
    assert body["more"] == {"accused": 1}


def test_ranges_read_whole_months_from_the_month_rows() -> None:
    assert grain_ranges(date(2025, 1, 15), date(2025, 3, 10), False) == [
        ("d", date(2025, 1, 15), date(2025, 1, 31)),
        ("m", date(2025, 2, 1), date(2025, 2, 28)),
        ("d", date(2025, 3, 1), date(2025, 3, 10)),
    ]
    assert grain_ranges(date(2025, 1, 1), date(2025, 12, 31), False) == [
        ("m", date(2025, 1, 1), date(2025, 12, 31))
    ]
    assert grain_ranges(date(2025, 1, 2), date(2025, 1, 31), False) == [
        ("d", date(2025, 1, 2), date(2025, 1, 31))
    ]
    assert grain_ranges(date(2025, 1, 1), date(2025, 3, 31), True) == [
        ("d", date(2025, 1, 1), date(2025, 3, 31))
    ]


class _FailingRollup:
    """A roll-up whose refresh raises ``error`` once and then waits to be cancelled."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.called = asyncio.Event()

    async def refresh(self, limit: int, batch: int) -> int:
        if self.called.is_set():
            await asyncio.Event().wait()
        self.called.set()
        raise self.error


@pytest.mark.parametrize("outage", [True, False], ids=["outage", "fault"])
async def test_the_refresher_leaves_an_outage_to_storage_and_logs_a_fault(
    outage: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable database is storage's to log (once per interval, as a warning); the
    refresher logging it again as an error made the outage look like a fault (the kill-the-
    database test caught it when a refresh fell inside the outage). A real fault is an error."""
    from types import SimpleNamespace

    from server.app import _stats_rollup
    from storage.errors import DatabaseUnavailable

    rollup = _FailingRollup(DatabaseUnavailable() if outage else RuntimeError("a bug"))
    task = asyncio.create_task(_stats_rollup(cast(Any, SimpleNamespace(db=SimpleNamespace(stats=rollup)))))
    await asyncio.wait_for(rollup.called.wait(), 10)  # the handler ran in the same step
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ([] if outage else ["stats roll-up refresh failed"])


class _Backlog:
    """A roll-up with ``pending`` reports to fold, recording each refresh's batch."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.batches: list[int] = []
        self.drained = asyncio.Event()

    async def refresh(self, limit: int, batch: int) -> int:
        self.batches.append(batch)
        folded = min(self.pending, limit, batch)
        self.pending -= folded
        if not self.pending:
            self.drained.set()
        return folded


async def test_the_refresher_folds_a_backlog_in_small_transactions_one_after_another() -> None:
    """Each refresh is one transaction of the single writer: a backlog is folded ROLLUP_BATCH
    reports at a time with only a short pause between (filings queued meanwhile go first), not
    in one long transaction, and not one batch every ROLLUP_SECONDS."""
    from types import SimpleNamespace

    from server.app import ROLLUP_BATCH, ROLLUP_SECONDS, _stats_rollup

    rollup = _Backlog(ROLLUP_BATCH * 3 + 10)
    task = asyncio.create_task(_stats_rollup(cast(Any, SimpleNamespace(db=SimpleNamespace(stats=rollup)))))
    try:
        await asyncio.wait_for(rollup.drained.wait(), ROLLUP_SECONDS / 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert rollup.batches == [ROLLUP_BATCH] * 4 and ROLLUP_BATCH <= 500


async def test_repeat_informants_are_ranked_capped_and_merged(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeat informants as the accused: the most reports first, the rest counted (``more``);
    an informant who gave an ID number and a phone on the same reports is one alert, not two,
    and counts once; the identifiers never reach the answer."""
    o = office
    monkeypatch.setattr(intake.stats, "GROUPS_SHOWN", 2)
    o.clock.set(2025, 9, 26)
    people = {
        "13900000001": (None, 3),
        "13900000002": (None, 5),
        "13900000003": ("430102199001011234", 4),  # two identifiers, the same four reports
        "13900000004": (None, 3),
    }
    for phone, (id_number, times) in people.items():
        for i in range(times):
            sub = Submission(
                channel="web",
                content=f"反映某村干部的问题，第{i}次，请调查处理。",
                accused=Accused(f"干部{i}", "某村", "村干部"),
                reporter=Reporter("李四", id_number, phone, None),
                anonymous=False,
            )
            await o.services.pipeline.accept(sub)
    await o.login("county_sup")
    status, body = await o.get("county_sup", "/api/v1/staff/stats/alerts?date=2025-09-26")
    assert status == 200, body
    repeat = [a for a in body["alerts"] if a["kind"] == "repeat_informant"]
    assert [a["count"] for a in repeat] == [5, 4]
    assert all(len(set(a["reports"])) == a["count"] for a in repeat)
    assert body["more"]["repeat_informant"] == 2  # 13900000001 and 13900000004, not listed
    assert "139000000" not in str(body) and "4301021990" not in str(body)


async def test_a_unit_moved_in_the_tree_counts_every_report_in_its_new_subtrees(office: Office) -> None:
    """The subtree rows follow the tree: the county moved from the city to directly under the
    province (a jurisdiction file changed, synced at start) marks every report pending, and the
    refresh takes its reports out of the city's subtree and leaves them in the province's; a
    sync that changes nothing marks none."""
    o = office
    o.clock.set(2025, 9, 26)
    await _file(o, "村支书张三在低保评定中优亲厚友。")
    await _file(o, "镇干部李四违规收受礼金。", accused="李四")
    db = o.services.db
    assert await db.stats.refresh() == 2
    f = await scope_filter(o, "prov_sup", date(2025, 9, 1), date(2025, 9, 30))
    city = dataclasses.replace(f, subtree="*4301")
    both = {"张三\x1f某村": 1, "李四\x1f某村": 1}
    assert await db.stats.sums(city, "accused") == both == await db.stats.sums(f, "accused")

    units = await db.units.all()
    await db.units.sync(units)
    assert await db.stats.refresh() == 0
    moved = [dataclasses.replace(u, parent_code="43") if u.code == "430121" else u for u in units]
    await db.units.sync(moved)
    async with db.read_engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM stats_pending"))).scalar() == 2
    assert await db.stats.refresh() == 2
    assert await db.stats.sums(city, "accused") == {}
    assert await db.stats.sums(f, "accused") == both
