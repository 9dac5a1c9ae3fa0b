"""Colour-coded deadlines and automatic urging (催办), issue 18 item 4, with the real app on SQLite
and PostgreSQL and a real SMTP server (aiosmtpd on loopback): a deadline that turns yellow alerts
its unit once, in the console inbox and by e-mail (Chinese subject and body, no informant); a mail
server that is down delays the mail, which goes out on the retry; supervision notices (督办函) are
answered and closed through the staff action route; bad input changes nothing."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from intake.staff import StaffMember
from server.config import Settings
from tests.workflow.conftest import PASSWORD, STAFF, Office, open_office


class Inbox:
    """The messages the local SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.rcpts: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Smtp:
    def __init__(self, port: int) -> None:
        self.port = port
        self.box = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp(free_port())
    yield server
    server.stop()


@pytest.fixture
async def mailing_office(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str, smtp: Smtp
) -> AsyncIterator[Office]:
    settings = make_settings(
        INTAKE_DATABASE_URL=db_url,
        INTAKE_SMTP_HOST="127.0.0.1",
        INTAKE_SMTP_PORT=str(smtp.port),
        INTAKE_SMTP_FROM="xinfang@example.org",
        INTAKE_SMTP_TIMEOUT_SECONDS="5",
        INTAKE_PUBLIC_URL="https://jw.example.org",
    )
    o = await open_office(aiohttp_client, settings)
    _, secret = await o.services.staff.add(
        "county_mail", "430121", "handler", PASSWORD, email="county@example.org"
    )
    o.secrets["county_mail"] = secret
    await o.services.staff.add("town_mail", "430121102", "handler", PASSWORD, email="town@example.org")
    yield o


async def drain(o: Office) -> None:
    """Run the job queue until nothing is due (the scan queues mail jobs the next turn takes)."""
    for _ in range(10):
        if not await o.services.worker.run_once():
            return


async def scan(o: Office) -> None:
    """Run the periodic scan job as the worker does."""
    await o.services.db.urging.schedule_scan(o.clock.now(), o.clock.now())
    await drain(o)


MEMBERS = {**STAFF, "county_mail": ("430121", "handler"), "town_mail": ("430121102", "handler")}


async def inbox_of(o: Office, name: str) -> list[dict[str, Any]]:
    """The member's inbox as the console's page lists it (the tests move the clock past sessions)."""
    member = StaffMember(name, *MEMBERS[name])
    items: list[dict[str, Any]] = await o.services.urging.inbox(member)
    return items


async def accepted_case(o: Office) -> str:
    """A real-name case accepted by the county on 26 Sep 2025: the notice is due 23 Oct 2025."""
    case_no, _ = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.login("county_reg")
    status, doc = await o.act("county_reg", case_no, action="accept")
    assert status == 200, doc
    return case_no


async def test_a_deadline_turning_yellow_alerts_the_unit_by_inbox_and_mail_once(
    mailing_office: Office, smtp: Smtp
) -> None:
    o = mailing_office
    smtp.start()
    case_no = await accepted_case(o)
    await o.login("county_mail")
    await o.login("town_sup")
    _, doc = await o.get("county_mail", f"/api/v1/staff/reports/{case_no}")
    notice = next(d for d in doc["deadlines"] if d["rule"] == "jjkg_realname_accept_notice")
    assert (notice["due_on"], notice["colour"], notice["colour_label"]) == ("2025-10-23", "green", "正常")
    await scan(o)
    assert await inbox_of(o, "county_mail") == [] and smtp.box.messages == []

    # 17 Oct: four working days left (20–23 Oct) — yellow.
    o.clock.set(2025, 10, 17)
    await scan(o)
    await o.login("county_mail")
    _, doc = await o.get("county_mail", f"/api/v1/staff/reports/{case_no}")
    notice = next(d for d in doc["deadlines"] if d["rule"] == "jjkg_realname_accept_notice")
    assert (notice["colour"], notice["colour_label"]) == ("yellow", "临期")
    items = await inbox_of(o, "county_mail")
    assert [(i["case_no"], i["kind"], i["colour"], i["mail"]) for i in items] == [
        (case_no, "deadline_yellow", "yellow", "sent")
    ]
    assert await inbox_of(o, "town_sup") == []  # another unit's inbox stays empty
    assert len(smtp.box.messages) == 1
    msg = smtp.box.messages[0]
    assert smtp.box.rcpts[0] == ["county@example.org"]
    assert msg["Subject"] == f"【期限临近】案件 {case_no} · 实名举报受理告知" or case_no in msg["Subject"]
    assert "期限临近" in msg["Subject"]
    body = msg.get_content()
    assert "2025-10-23" in body and f"https://jw.example.org/console/cases/{case_no}" in body
    assert "剩余不足 5 个工作日" in body
    for identity in ("李四", "13800000000"):
        assert identity not in body and identity not in msg["Subject"]

    # Scanning again, or the deadline's own reminder, alerts nobody twice about this deadline.
    # (By 21 Oct the clue's one-month disposal deadline, due 27 Oct, turns yellow on its own.)
    await scan(o)
    o.clock.set(2025, 10, 21, 10)
    await drain(o)

    def notice_mails() -> list[Any]:
        return [m for m in smtp.box.messages if "受理告知" in m["Subject"]]

    async def notice_alerts() -> list[str]:
        return [i["kind"] for i in await inbox_of(o, "county_mail") if i["due_on"] == "2025-10-23"]

    assert len(notice_mails()) == 1 and await notice_alerts() == ["deadline_yellow"]
    clue = [i for i in await inbox_of(o, "county_mail") if i["due_on"] != "2025-10-23"]
    assert [(i["kind"], i["due_on"]) for i in clue] == [("deadline_yellow", "2025-10-27")]
    assert len(smtp.box.messages) == 2  # one mail per alert

    # 24 Oct: overdue — red, a second alert and a second mail about the notice deadline.
    o.clock.set(2025, 10, 24)
    await scan(o)
    assert await notice_alerts() == ["deadline_red", "deadline_yellow"]
    assert len(notice_mails()) == 2 and "期限已超" in notice_mails()[1]["Subject"]
    await o.login("county_mail")
    _, doc = await o.get("county_mail", f"/api/v1/staff/reports/{case_no}")
    assert "staff_alerted" in [e["kind"] for e in doc["timeline"]]
    await o.audit_ok()


async def test_a_mail_server_that_is_down_delays_the_mail_and_loses_nothing(
    mailing_office: Office, smtp: Smtp
) -> None:
    o = mailing_office
    case_no = await accepted_case(o)
    await o.login("county_mail")
    o.clock.set(2025, 10, 17)
    await scan(o)  # the server is not running: the mail fails, the inbox says so
    items = await inbox_of(o, "county_mail")
    assert [(i["kind"], i["mail"], i["mail_label"]) for i in items] == [
        ("deadline_yellow", "retrying", "邮件未送达，将重试")
    ]
    jobs = await o.services.db.jobs.counts()
    assert jobs.get("pending", 0) >= 1 and jobs.get("dead", 0) == 0
    smtp.start()
    await drain(o)  # the retry is not due yet (backoff): nothing sent
    assert smtp.box.messages == []
    o.clock.at += timedelta(minutes=1)
    await drain(o)
    assert len(smtp.box.messages) == 1 and case_no in smtp.box.messages[0]["Subject"]
    items = await inbox_of(o, "county_mail")
    assert [(i["mail"], i["mail_label"]) for i in items] == [("sent", "已发邮件")]


async def test_a_supervision_notice_is_answered_and_closed_through_the_staff_api(office: Office) -> None:
    o = office
    case_no, _ = await o.file()
    await o.triaged(case_no, level="township")
    for name in ("county_reg", "county_sup", "town_officer", "town_sup", "county_handler"):
        await o.login(name)
    await o.act("county_reg", case_no, action="transfer", to_unit="430121102")
    status, doc = await o.act("town_officer", case_no, action="accept")
    assert status == 200, doc

    # Bad input first: a reply deadline in the past, no reason.
    status, err = await o.act(
        "county_sup", case_no, action="supervise", reason="请加快办理", deadline="2025-09-01"
    )
    assert status == 422 and err["error"]["code"] == "deadline_in_past", err
    status, err = await o.act("county_sup", case_no, action="supervise", reason="  ")
    assert status == 422 and err["error"]["code"] == "text_required"
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert doc["supervision_notices"] == [] and doc["status"] == "accepted"

    status, doc = await o.act(
        "county_sup", case_no, action="supervise", reason="群众反映强烈，请加快办理", deadline="2025-10-20"
    )
    assert status == 200, doc
    [n] = doc["supervision_notices"]
    assert (n["status"], n["status_label"], n["to_unit"]["id"], n["from_unit"]["id"]) == (
        "pending",
        "待答复",
        "430121102",
        "430121",
    )
    assert n["reply_due"] == "2025-10-20"
    assert [i["kind"] for i in await inbox_of(o, "town_officer")] == ["supervision"]

    # Answering as the wrong unit, with an empty answer, or closing before an answer: refused.
    status, err = await o.act("county_sup", case_no, action="answer_supervision", text="已办")
    assert status == 403 and err["error"]["code"] == "not_notice_unit", err
    status, err = await o.act("county_handler", case_no, action="answer_supervision", text="已办")
    assert status == 404 and err["error"]["code"] == "case_not_found"  # not even in its sight
    status, err = await o.act("town_officer", case_no, action="answer_supervision", text=" ")
    assert status == 422 and err["error"]["code"] == "text_required"
    status, err = await o.act("county_sup", case_no, action="close_supervision")
    assert status == 409 and err["error"]["code"] == "notice_state"
    status, err = await o.act("county_sup", case_no, action="supervise", reason="再次督办")
    assert status == 409 and err["error"]["code"] == "supervision_open"
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert doc["supervision_notices"][0]["status"] == "pending"

    status, doc = await o.act(
        "town_officer", case_no, action="answer_supervision", text="已约谈村支书，正在核实。"
    )
    assert status == 200, doc
    assert doc["supervision_notices"][0]["status"] == "answered"
    assert doc["supervision_notices"][0]["answer"] == "已约谈村支书，正在核实。"
    assert [i["kind"] for i in await inbox_of(o, "county_sup")] == ["supervision_answered"]
    status, err = await o.act("town_sup", case_no, action="close_supervision")
    assert status == 403 and err["error"]["code"] == "not_notice_unit"  # the lower unit cannot close it

    # Sent back, answered again, closed.
    status, err = await o.act("county_sup", case_no, action="close_supervision", decision="return")
    assert status == 422 and err["error"]["code"] == "text_required"
    status, doc = await o.act(
        "county_sup", case_no, action="close_supervision", decision="return", reason="请说明核实结果"
    )
    assert status == 200 and doc["supervision_notices"][0]["status"] == "pending", doc
    await o.act("town_officer", case_no, action="answer_supervision", text="经核实，情况属实，已处理。")
    status, doc = await o.act("county_sup", case_no, action="close_supervision", decision="close")
    assert status == 200, doc
    [n] = doc["supervision_notices"]
    assert (n["status"], n["status_label"]) == ("closed", "已办结")

    # A closed notice takes no answer.
    status, err = await o.act("town_officer", case_no, action="answer_supervision", text="补充")
    assert status == 409 and err["error"]["code"] == "notice_state"
    status, err = await o.act(
        "town_officer", case_no, action="answer_supervision", text="补充", notice_id=999
    )
    assert status == 404 and err["error"]["code"] == "notice_not_found"
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{case_no}")
    assert doc["supervision_notices"][0]["answer"] == "经核实，情况属实，已处理。"
    kinds = [e["kind"] for e in doc["timeline"]]
    for kind in ("supervise", "answer_supervision", "close_supervision"):
        assert kind in kinds
    assert kinds.count("answer_supervision") == 2 and kinds.count("close_supervision") == 2
    await o.audit_ok()
