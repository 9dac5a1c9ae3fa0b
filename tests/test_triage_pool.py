"""Triage on every core (issue 21): a batch shared among several triage processes gives exactly
what one process triaging the reports one after another gives — the duplicates found in case
order (within the batch, across the runs the processes got, and against stored reports), the
priority and the explanations that depend on them — and a small batch stays in one process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import channels
from intake.triage_service import SHARE_FROM
from server.app import build_app, services_of
from server.config import Settings
from tests.conftest import migrated_sqlite_file
from tests.test_triage_wiring import VILLAGE, file

TOPICS = (
    "黄兴镇卫生院院长{n}号违规收受医药代表回扣，群众反映强烈。",
    "安沙镇国土所工作人员{n}在征地补偿中虚报面积，套取补偿款。",
    "星沙街道城管队员{n}对摊贩态度粗暴，随意没收物品，请求处理。",
    "榔梨街道某村会计{n}挪用集体资金用于个人炒股，村民多次反映无果。",
)


def batch() -> list[str]:
    """40 reports: distinct ones, a near copy of the stored report, and copies of reports earlier
    in the batch, some twenty places apart (so a copy and its original fall to different
    processes when the batch is shared)."""
    texts = [TOPICS[i % 4].format(n=i) + "时间大约在今年" + str(i % 12 + 1) + "月。" for i in range(30)]
    texts.insert(5, VILLAGE.replace("两万元", "两万元整"))
    for i in (0, 1, 7, 12, 3, 9, 2, 15, 4):
        texts.append(texts[i] + "再次反映。")
    return texts


async def triage_batch(aiohttp_client: Any, settings: Settings) -> list[dict[str, Any]]:
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    await file(client, VILLAGE)
    assert await svc.worker.run_once() == 1  # one stored report, in the index from the start
    cases = [await file(client, text) for text in batch()]
    outcomes = await svc.triage.triage_reports(cases)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert svc.triage.running == settings.triage_processes
    return [o for o in outcomes if isinstance(o, dict)]


async def test_a_shared_batch_gives_what_one_process_gives(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    one = await triage_batch(aiohttp_client, make_settings(INTAKE_TRIAGE_PROCESSES="1"))
    other = tmp_path / "other"
    other.mkdir()
    migrated_sqlite_file(other / "intake.db")
    shared = await triage_batch(
        aiohttp_client, make_settings(INTAKE_TRIAGE_PROCESSES="2", INTAKE_DATA_DIR=str(other))
    )
    assert len(batch()) >= 4 * SHARE_FROM
    duplicates = [r["duplicate_of"] for r in one]
    assert duplicates[5] is not None  # the stored report's near copy
    assert sum(d is not None for d in duplicates) >= 8  # the copies of earlier reports of the batch
    assert [r["duplicate_of"] for r in shared] == duplicates
    for mine, theirs in zip(one, shared, strict=True):
        assert mine == theirs


async def test_a_small_batch_stays_in_one_process(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(
        build_app(make_settings(INTAKE_TRIAGE_PROCESSES="4"), channels.REGISTRY, run_worker=False)
    )
    svc = services_of(client.app)
    cases = [await file(client, VILLAGE + str(i)) for i in range(SHARE_FROM * 2 - 1)]
    outcomes = await svc.triage.triage_reports(cases)
    assert all(isinstance(o, dict) for o in outcomes)
    assert svc.triage.running == 1


async def test_a_job_claimed_again_keeps_the_triage_its_first_run_committed(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    # A worker killed between committing a report's triage and marking its job done leaves the job
    # to be claimed again when its lease lapses: the second run must not triage the report twice
    # (a second audit event, a result replacing what staff may have corrected since).
    client = await aiohttp_client(build_app(make_settings(), channels.REGISTRY, run_worker=False))
    svc = services_of(client.app)
    case_no = await file(client, VILLAGE)
    first = await svc.triage.triage_reports([case_no])
    report = await svc.db.reports.get(case_no)
    again = await svc.triage.triage_reports([case_no])
    assert again == first and isinstance(first[0], dict) and first[0]["scope"]
    events = [e.kind for e in await svc.db.reports.events(report.id)]
    assert events.count("triaged") == 1


async def test_a_restarted_server_loads_the_stored_signatures_a_chunk_at_a_time(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(INTAKE_DATABASE_URL=db_url)
    first = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(first.app)
    cases = [await file(first, TOPICS[i].format(n=i) + "时间大约在今年三月。") for i in range(3)]
    await svc.triage.triage_reports(cases)
    chunks = [c async for c, _ in svc.db.reports.triage_signatures(chunk=2)]
    assert chunks == [cases[:2], cases[2:]]  # oldest first, two at a time
    await first.close()

    again = await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    svc = services_of(again.app)
    copy = await file(again, TOPICS[1].format(n=1) + "时间大约在今年三月。再次反映。")
    [result] = await svc.triage.triage_reports([copy])
    assert isinstance(result, dict) and result["duplicate_of"] == cases[1]
