"""Triage wired into the server: the job after the acknowledgement, the stored result and its
audit event, duplicates across channels and restarts, the manual queue, staff corrections."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import channels
import triage
from intake.errors import ValidationError
from intake.triage_service import search_document
from server.app import build_app, services_of
from server.cli import main
from server.config import Settings
from storage.search import document_tokens, document_tokens_of
from storage.tables import D

DESIGN_KEYS = {
    "category", "scope", "level", "unit", "places", "accused",
    "priority", "confidence", "evidence", "duplicate_of", "model",
}  # fmt: skip
VILLAGE = (
    "举报长沙县黄兴镇金凤村党支部书记张某某优亲厚友，把低保名额给了自己的亲戚，还收受工程老板好处费两万元。"
)
VILLAGE_AGAIN = (
    "長沙縣黃興鎮金鳳村黨支部書記張某某優親厚友，把低保名額給了自己的親戚，還收受工程老闆好處費兩萬元。"
)
VAGUE = "有问题，请领导重视。"


async def file(client: Any, content: str, **extra: Any) -> str:
    resp = await client.post("/api/v1/reports", json={"content": content, **extra})
    assert resp.status == 201, await resp.text()
    case_no: str = (await resp.json())["case_no"]
    return case_no


async def test_reports_are_triaged_after_the_acknowledgement(
    aiohttp_client: Any, make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    first = await file(client, VILLAGE)
    assert (await svc.db.reports.get(first)).triage is None  # the receipt did not wait for triage
    assert await svc.worker.run_once() == 1

    report = await svc.db.reports.get(first)
    assert report.triage is not None and set(report.triage) >= DESIGN_KEYS
    assert (report.scope, report.level, report.handling_unit) == ("accusation", "township", "430121102")
    assert report.triage["unit"] == {"id": "430121102", "name": "黄兴镇纪委"}
    assert report.triage["duplicate_of"] is None and report.triage["model"]
    triaged = [json.loads(e.payload) for e in await svc.db.reports.events(report.id) if e.kind == "triaged"]
    assert triaged == [
        {"scope": "accusation", "level": "township", "priority": report.priority,
         "handling_unit": "430121102", "duplicate_of": None}
    ]  # fmt: skip

    # The same matter again, in traditional characters: a duplicate of the first case.
    second = await file(client, VILLAGE_AGAIN)
    vague = await file(client, VAGUE)
    assert await svc.worker.run_once() == 2
    assert (await svc.db.reports.get(second)).triage["duplicate_of"] == first
    assert (await svc.db.reports.get(vague)).triage["duplicate_of"] is None

    # Unsure results wait for a person; a correction takes the report out of the queue.
    queue = await svc.triage.review_queue()
    assert [q["case_no"] for q in queue] == [vague]
    with pytest.raises(ValidationError):
        await svc.triage.correct(vague, "staff:li", {"level": "galaxy"})
    with pytest.raises(ValidationError):
        await svc.triage.correct(vague, "staff:li", {"unit": "999999"})
    before = (await svc.db.reports.get(vague)).triage
    assert (before["category"], before["unit"]["id"]) == ("其他", "430121")
    fixed = await svc.triage.correct(
        vague, "staff:li", {"category": "违反工作纪律", "scope": "suggestion", "unit": "430121"}
    )
    assert fixed["needs_review"] is False and fixed["unit"] == {"id": "430121", "name": "长沙县纪委监委"}
    report = await svc.db.reports.get(vague)
    assert (report.scope, report.handling_unit) == ("suggestion", "430121")
    assert await svc.triage.review_queue() == []
    events = [e for e in await svc.db.reports.events(report.id) if e.kind == "triage_corrected"]
    assert len(events) == 1 and events[0].actor == "staff:li"
    # The unit was already 430121: not a change, so not recorded as one.
    assert json.loads(events[0].payload)["after"] == {"category": "违反工作纪律", "scope": "suggestion"}
    ok, _, _ = await svc.db.audit.verify()
    assert ok


async def test_duplicates_survive_a_restart_and_corrections_export(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    first = await file(client, VILLAGE)
    await svc.worker.run_once()
    await svc.triage.correct(first, "staff:wang", {"category": "违反廉洁纪律"})
    await client.close()

    # A new server on the same data: the child process starts from the stored signatures.
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    again = await file(client, VILLAGE_AGAIN, reporter={"name": "李四", "phone": "13912345678"})
    await svc.worker.run_once()
    assert (await svc.db.reports.get(again)).triage["duplicate_of"] == first
    await client.close()

    for name, value in settings.env.items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(main, ["reports", "corrections", "--field", "category"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["case_no", "text", "field", "before", "after", "actor"]
    assert [r[0] for r in rows[1:]] == [first]
    assert rows[1][2:] == ["category", "违反群众纪律", "违反廉洁纪律", "staff:wang"]
    assert "金凤村" in rows[1][1]
    argv = ["reports", "correct", again, "--actor", "staff:wang", "--level", "county"]
    assert await asyncio.to_thread(main, argv) == 0
    assert json.loads(capsys.readouterr().out)["level"] == "county"
    assert await asyncio.to_thread(main, ["reports", "show", again]) == 0
    shown = capsys.readouterr().out
    assert f"疑似重复：{first}" in shown and "分流：违反群众纪律 · 检举控告 · 县级 · 黄兴镇纪委" in shown
    assert "13912345678" not in shown and "李四" not in shown
    assert await asyncio.to_thread(main, ["reports", "queue"]) == 0
    assert json.loads(capsys.readouterr().out) == {"needs_review": []}


async def test_explanations_are_stored_and_a_no_op_correction_is_not_recorded(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(build_app(make_settings(), channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    case = await file(client, VILLAGE)
    await svc.worker.run_once()
    stored = (await svc.db.reports.get(case)).triage
    level = next(e for e in stored["explanations"] if e["decision"] == "level")
    assert "乡镇党委管理" in level["text"] and level["confidence_label"] in ("高", "中", "低")

    # The same values again: a confirmation, not a correction (nothing for the retraining export).
    same = {"category": stored["category"], "level": stored["level"], "unit": stored["unit"]["id"]}
    await svc.triage.correct(case, "staff:li", same)
    report = await svc.db.reports.get(case)
    kinds = [e.kind for e in await svc.db.reports.events(report.id)]
    assert "triage_corrected" not in kinds and kinds.count("triage_confirmed") == 1
    assert await svc.triage.corrections() == []

    # A real change is recorded, and its explanation says a person decided it.
    changed = await svc.triage.correct(case, "staff:li", {"level": "county", "category": stored["category"]})
    assert [(c.field, c.before, c.after) for c in await svc.triage.corrections()] == [
        ("level", "township", "county")
    ]
    level = next(e for e in changed["explanations"] if e["decision"] == "level")
    assert level["text"].startswith("已人工修改为“县级”（自动判断原为“乡镇”") and level["confidence"] == 1.0
    ok, _, _ = await svc.db.audit.verify()
    assert ok


async def test_the_search_index_reuses_the_words_triage_cut(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    """Issue 19: the triage worker cut every report twice, once for triage and once with jieba's
    own dictionary for full-text search. The stored words are now triage's: its dictionary keeps
    张某某 and 党支部书记 whole, which jieba's own search mode splits (张 / 某某, 党支部 / 书记)."""
    assert not {"张某某", "党支部书记", "王某某"} & set(document_tokens(f"{VILLAGE}\n王某某").split())
    client = await aiohttp_client(build_app(make_settings(), channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    accused = {"name": "王某某", "unit": "黄兴镇国土所", "position": "所长"}
    case = await file(client, VILLAGE, title="反映低保问题", accused=accused)
    assert await svc.worker.run_once() == 1
    report = await svc.db.reports.get(case)
    async with svc.db.read_engine.connect() as conn:
        stored = (await conn.execute(sa.select(D.c.tokens).where(D.c.report_id == report.id))).scalar_one()
    words = stored.split()
    assert {"张某某", "党支部书记", "反映"} <= set(words)  # the title and the text, as triage cut them
    assert {"王某某", "所长"} <= set(words)  # the accused's fields, by the same tokenizer
    await svc.staff.add("county_reg", "430121", "registrar", "correct horse battery")
    member = await svc.staff.member("county_reg")
    assert member is not None and svc.workflow is not None
    scope = svc.staff.scope(member)

    async def search(query: str) -> list[str]:
        return await svc.db.search.search(
            query, units=scope.units, hide_sealed_received_by=scope.hide_sealed_received_by
        )

    assert await search("张某某 低保") == [case]
    # Queries are cut by jieba's own dictionary (黄兴镇 → 黄兴 | 镇, 纪工委书记 → 纪工委 | 书记): they
    # still find the words triage kept whole.
    for query in ("黄兴镇", "党支部书记", "村党支部书记", "金凤村", "王某某", "好处费"):
        assert await search(query) == [case], query
    # Staff typing traditional characters find the same: the query is made simplified first.
    for query in ("黃興鎮", "黨支部書記", "好處費"):
        assert [r.case_no for r in await svc.workflow.search(member, query)] == [case], query


def test_the_search_document_is_made_of_the_results_tokens() -> None:
    """:func:`search_document` reads the words of the result, never its text: tokens no
    segmentation of the text would give are what it stores (so the text is not cut again)."""
    tokens = ("甲乙丙丁", "，", "Ab")
    result = dataclasses.replace(triage.triage(VILLAGE), tokens=tokens)
    words = search_document(result, "").split()
    assert words == [*document_tokens_of(triage.search_words(tokens, all_pieces=True)).split(), "丁"]
    assert "甲乙丙丁" in words and "ab" in words and "张某某" not in words
    assert search_document(result, "王某某").split() == [
        *document_tokens_of(triage.search_words([*tokens, "王某某"], all_pieces=True)).split(),
        "丁",
        "某",
    ]
