"""The notifier (issue 7): a staff reply reaches the informant over the channel they reported on —
WeChat, Weibo, Telegram, SMS and the app's push gateway, each against its local fake; the web form
is not sent anything — with templates that reveal nothing; a failing channel retries with backoff,
ends dead where staff see it, and the message is not lost; the per-informant rate limit delays
rather than drops."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from aiohttp import web

import channels
from intake.domain import Submission
from intake.jobs import backoff
from intake.notifier import CaseEvent, render
from server.app import Services, build_app, services_of
from server.config import Settings
from storage.models import Job, Report
from tests.fakes import telegram, wechat, weibo
from tests.fakes.server import platform_env

OPENID = "oNotify_OpenId_42"
UID = 5055512345
CHAT = 6900011122
DEVICE = "apns-device-token-0f3c9a"
CALLER = "+8613912345678"
CONTENT = "某县交通局局长钱某某在道路工程招标中收受贿赂"
REPLY_BODY = "经核查，钱某某已被立案审查"
JOBS = cast(sa.Table, Job.__table__)
REPORTS = cast(sa.Table, Report.__table__)


class MovableClock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class FakePushGateway:
    received: list[dict[str, Any]] = field(default_factory=list)
    fail: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push", self.push)
        return app

    async def push(self, request: web.Request) -> web.Response:
        if self.fail:
            self.fail -= 1
            return web.json_response({"error": "unavailable"}, status=503)
        self.received.append(await request.json())
        return web.json_response({"ok": True})


@dataclass
class World:
    client: Any
    services: Services
    clock: MovableClock
    wechat: wechat.FakeWeChatApi
    weibo: weibo.FakeWeiboApi
    tg: telegram.FakeBotApi
    push: FakePushGateway
    twilio: Any  # tests.fakes.twilio.FakeTwilioApi, when the SMS channel exists

    async def run_jobs(self) -> None:
        while await self.services.worker.run_once():
            pass


def _twilio() -> Any:
    if "twilio" not in {s.name for s in channels.REGISTRY}:
        return None
    from tests.fakes import twilio

    return twilio


async def start_world(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    db_url: str,
    **extra: str,
) -> World:
    clock = MovableClock()
    wx, wb, tg, push = wechat.FakeWeChatApi(), weibo.FakeWeiboApi(), telegram.FakeBotApi(), FakePushGateway()
    urls = [str((await aiohttp_server(f.app())).make_url("")) for f in (wx, wb, tg, push)]
    env = platform_env(urls[0], urls[1]) | telegram.telegram_env(urls[2])
    env["INTAKE_APP_PUSH_URL"] = urls[3].rstrip("/") + "/push"
    twilio, tw = _twilio(), None
    if twilio is not None:
        tw = twilio.FakeTwilioApi()
        env |= twilio.twilio_env(str((await aiohttp_server(tw.app())).make_url("")))
    settings = make_settings(INTAKE_DATABASE_URL=db_url, **(env | extra))
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return World(client, services_of(client.app), clock, wx, wb, tg, push, tw)


async def file(w: World, channel: str, handles: dict[str, str]) -> uuid.UUID:
    """A report as a channel hands it to the pipeline (used where the channel's own inbound path
    is not what is under test: the app API takes no device token yet; SMS)."""
    receipt = await w.services.pipeline.accept(Submission(channel=channel, content=CONTENT, handles=handles))
    return await report_id(w, receipt.case_no)


async def report_id(w: World, case_no: str) -> uuid.UUID:
    async with w.services.db.read_engine.connect() as conn:
        found = await conn.execute(sa.text("SELECT id FROM reports WHERE case_no = :c"), {"c": case_no})
        value = found.scalar_one()
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def case_no_of(w: World, rid: uuid.UUID) -> str:
    async with w.services.db.read_engine.connect() as conn:
        found = await conn.execute(sa.select(REPORTS.c.case_no).where(REPORTS.c.id == rid))
        return str(found.scalar_one())


def case_no_in(reply: str | None) -> str:
    found = re.search(r"案件编号：(\S+)", reply or "")
    assert found, reply
    return found.group(1)


async def staff_reply(w: World, rid: uuid.UUID) -> bool:
    """What the case workflow does when a handler answers: the reply on the case, then the notifier."""
    await w.services.db.reports.add_message(rid, "out", "web", REPLY_BODY, w.clock.now(), actor="staff:li")
    return await w.services.notifier.case_updated(rid, CaseEvent("replied"))


# --- templates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["telegram", "wechat", "weibo", "sms", "phone", "app"])
def test_templates_say_there_is_news_and_nothing_else(channel: str) -> None:
    for template, params in (
        ("status_changed", {"status": "transferred"}),
        ("replied", {}),
        ("deadline", {"notice": "extended"}),
        ("deadline", {"notice": "reminder"}),
    ):
        text = render(template, "2026-430121-000042", channel, params, public_url="https://jb.example.gov.cn")
        assert "2026-430121-000042" in text and "查询码" in text
        assert not re.search(r"\d{16}", text)  # never a query code
        assert len(text) <= 140, (template, len(text))
    assert "已转办" in render("status_changed", "X", channel, {"status": "transferred"})
    assert "/status" in render("replied", "X", "telegram")
    assert "查询 查询码" in render("replied", "X", "wechat")


def test_case_events_are_checked() -> None:
    with pytest.raises(ValueError):
        CaseEvent("gossip")
    with pytest.raises(ValueError):
        CaseEvent("status_changed", status="no-such-status")
    with pytest.raises(ValueError):
        CaseEvent("deadline", notice="whenever")


# --- a reply reaches every channel that exists --------------------------------------------------------


async def test_staff_reply_reaches_the_informant_on_each_channel(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    w = await start_world(aiohttp_client, aiohttp_server, make_settings, db_url)
    tgd = telegram.TelegramDriver(w.client, w.tg)
    reports = {
        "wechat": await report_id(
            w, case_no_in(await wechat.WeChatDriver(w.client).text(OPENID, f"举报 {CONTENT}"))
        ),
        "weibo": await report_id(
            w, case_no_in(await weibo.WeiboDriver(w.client).text(UID, f"举报 {CONTENT}"))
        ),
        "telegram": await report_id(w, case_no_in(await tgd.say(CHAT, f"/report {CONTENT}"))),
        "app": await file(w, "app", {"app_device": DEVICE, "ip": "198.51.100.7"}),
        "web": await file(w, "web", {"ip": "198.51.100.8"}),
    }
    if w.twilio is not None:
        reports["sms"] = await file(w, "sms", {"phone": CALLER})
    sent_before = len(w.tg.sent)

    queued = {channel: await staff_reply(w, rid) for channel, rid in reports.items()}
    assert queued.pop("web") is False  # the web form's informant reads the status page
    assert all(queued.values())
    await w.run_jobs()

    case_nos = {c: await case_no_of(w, rid) for c, rid in reports.items()}
    delivered = {
        "wechat": [(m["touser"], m["text"]["content"]) for m in w.wechat.sent],
        "weibo": [(m["receiver_id"], m["data"]["text"]) for m in w.weibo.sent],
        "telegram": [(m["chat_id"], m["text"]) for m in w.tg.sent[sent_before:]],
        "app": [(m["device_token"], m["text"]) for m in w.push.received],
    }
    handles = {"wechat": OPENID, "weibo": str(UID), "telegram": str(CHAT), "app": DEVICE}
    if w.twilio is not None:
        delivered["sms"] = [(m["To"], m["Body"]) for m in w.twilio.sent if case_nos["sms"] in m["Body"]]
        handles["sms"] = CALLER
    for channel, messages in delivered.items():
        assert len(messages) == 1, (channel, messages)
        handle, text = messages[0]
        assert handle == handles[channel]
        assert case_nos[channel] in text and "已有答复" in text and "查询码" in text
        assert REPLY_BODY not in text and "钱某某" not in text and "贿赂" not in text
    assert not any(case_nos["web"] in t for m in delivered.values() for _, t in m)

    # Each delivery is in the case's audit trail, naming the channel and never the handle.
    async with w.services.db.read_engine.connect() as conn:
        rows = (
            await conn.execute(sa.text("SELECT payload FROM report_events WHERE kind = 'informant_notified'"))
        ).all()
    assert len(rows) == len(delivered)
    for (payload,) in rows:
        assert not any(h in payload for h in handles.values())


# --- a failing channel: backoff, dead letter, nothing lost ----------------------------------------------


async def test_failing_channel_retries_then_dead_letters_without_losing_the_message(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Any
) -> None:
    w = await start_world(
        aiohttp_client, aiohttp_server, make_settings, f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    )
    rid = await report_id(
        w, case_no_in(await telegram.TelegramDriver(w.client, w.tg).say(CHAT, "/report 某事"))
    )
    await w.run_jobs()  # what filing queued (triage) is out of the way
    w.tg.fail_sends = 1000
    assert await w.services.notifier.case_updated(rid, CaseEvent("status_changed", status="accepted"))

    waits = []
    for attempt in range(1, 9):
        assert await w.services.worker.run_once() == 1
        async with w.services.db.read_engine.connect() as conn:
            job = (await conn.execute(sa.select(JOBS).where(JOBS.c.kind == "notify"))).one()
        assert job.attempts == attempt and job.last_error == "DeliveryFailed"
        if attempt < 8:
            assert job.status == "pending"
            assert await w.services.worker.run_once() == 0  # not due before its backoff
            run_after = job.run_after.replace(tzinfo=UTC) if job.run_after.tzinfo is None else job.run_after
            waits.append(run_after - w.clock.now())
            w.clock.advance(run_after - w.clock.now())
        else:
            assert job.status == "dead"
    assert waits == [backoff(n) for n in range(1, 8)]  # 5 s, 10 s, 20 s … doubling
    assert waits[-1] > waits[0] * 32

    letters = await w.services.notifier.dead_letters()
    assert len(letters) == 1
    letter = letters[0]
    case_no = await case_no_of(w, rid)
    assert (letter.case_no, letter.channel, letter.template, letter.attempts, letter.last_error) == (
        case_no,
        "telegram",
        "status_changed",
        8,
        "DeliveryFailed",
    )
    assert str(CHAT) not in repr(letters)

    # The channel recovers; staff queue the dead letter again and it is delivered.
    w.tg.fail_sends = 0
    before = len(w.tg.texts(CHAT))
    assert await w.services.notifier.retry_dead(letter.job_id, "staff:zhao")
    assert not await w.services.notifier.retry_dead(letter.job_id, "staff:zhao")  # no longer dead
    async with w.services.db.read_engine.connect() as conn:
        requeued = (
            await conn.execute(
                sa.text("SELECT actor FROM report_events WHERE kind = 'notification_requeued'")
            )
        ).all()
    assert [r.actor for r in requeued] == ["staff:zhao"]
    await w.run_jobs()
    sent = w.tg.texts(CHAT)[before:]
    assert len(sent) == 1 and "已受理" in sent[0] and case_no in sent[0]
    assert await w.services.notifier.dead_letters() == []


async def test_channel_without_a_sender_ends_dead_too(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Any
) -> None:
    w = await start_world(
        aiohttp_client,
        aiohttp_server,
        make_settings,
        f"sqlite+aiosqlite:///{data_dir / 'intake.db'}",
        INTAKE_APP_PUSH_URL="",
    )
    rid = await file(w, "app", {"app_device": DEVICE})
    await w.services.notifier.case_updated(rid, CaseEvent("deadline", notice="extended"))
    for _ in range(8):
        await w.services.worker.run_once()
        w.clock.advance(timedelta(hours=1))
    [letter] = await w.services.notifier.dead_letters()
    assert letter.last_error == "DeliveryUnavailable" and letter.channel == "app"
    assert DEVICE not in repr(letter)


# --- per-informant rate limit ------------------------------------------------------------------------------


async def test_rate_limit_per_informant_delays_and_never_drops(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Any
) -> None:
    w = await start_world(
        aiohttp_client,
        aiohttp_server,
        make_settings,
        f"sqlite+aiosqlite:///{data_dir / 'intake.db'}",
        INTAKE_NOTIFY_PER_INFORMANT_PER_HOUR="2",
    )
    tgd = telegram.TelegramDriver(w.client, w.tg)
    first = await report_id(w, case_no_in(await tgd.say(CHAT, "/report 第一件事")))
    second = await report_id(w, case_no_in(await tgd.say(CHAT, "/report 第二件事")))  # same informant
    other = await report_id(w, case_no_in(await tgd.say(CHAT + 1, "/report 别人的事")))
    before = len(w.tg.sent)
    notifier = w.services.notifier
    await notifier.case_updated(first, CaseEvent("status_changed", status="registered"))
    await notifier.case_updated(first, CaseEvent("status_changed", status="accepted"))
    await notifier.case_updated(second, CaseEvent("replied"))
    await notifier.case_updated(other, CaseEvent("replied"))
    await w.run_jobs()
    chats = [int(m["chat_id"]) for m in w.tg.sent[before:]]
    assert chats.count(CHAT) == 2  # the hourly budget of this informant, over both of their cases
    assert chats.count(CHAT + 1) == 1  # another informant is not held up

    w.clock.advance(timedelta(minutes=59))
    await w.run_jobs()
    assert len(w.tg.sent) == before + 3  # still inside the hour
    w.clock.advance(timedelta(minutes=1, seconds=1))
    await w.run_jobs()
    later = w.tg.sent[before + 3 :]
    assert len(later) == 1 and int(later[0]["chat_id"]) == CHAT and "已有答复" in later[0]["text"]
    async with w.services.db.read_engine.connect() as conn:
        statuses = (
            (await conn.execute(sa.text("SELECT status FROM jobs WHERE kind = 'notify'"))).scalars().all()
        )
    assert set(statuses) == {"done"} and len(statuses) == 5  # four messages, one of them deferred once


def test_each_channel_is_told_how_to_look_the_case_up() -> None:
    from intake.notifier import lookup_hint

    assert "回复“查询 查询码”" in lookup_hint("sms")
    assert "按 2" in lookup_hint("phone", hotline="0731-12388") and "0731-12388" in lookup_hint(
        "phone", hotline="0731-12388"
    )
    assert "/status" in lookup_hint("telegram")
    assert "https://jb.example.cn" in lookup_hint("web", public_url="https://jb.example.cn")
