"""The console inbox over HTTP (issue 18 item 4): a deadline that turned yellow is in the unit's
inbox with its case link and the unread count in every page's header; the read state is each
member's own; marking another unit's alert, a forged token or a malformed id changes nothing."""

from __future__ import annotations

import re

from tests.console.conftest import console_get, console_login, csrf_of, office
from tests.workflow.conftest import Office

__all__ = ["office"]

UNREAD = re.compile(r'id="inbox-unread"[^>]*>(\d+)<')


def unread(html: str) -> int:
    found = UNREAD.search(html)
    return int(found.group(1)) if found else 0


async def yellow_deadline(o: Office) -> str:
    """A real-name report accepted by the county (its notice due 23 Oct 2025), the clock at 17 Oct:
    the scan raises one yellow alert for the county. Returns the case number."""
    case_no, _ = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.login("county_reg")
    status, _ = await o.act("county_reg", case_no, action="accept")
    assert status == 200
    o.clock.set(2025, 10, 17)
    assert await o.services.urging.scan() == 1
    return case_no


async def test_inbox_lists_the_units_alerts_and_keeps_each_members_read_state(office: Office) -> None:
    o = office
    case_no = await yellow_deadline(o)
    assert await o.services.urging.scan() == 0  # once per deadline and colour

    await console_login(o, "county_handler")
    status, html = await console_get(o, "/console/cases")
    assert status == 200 and unread(html) == 1  # the header of any page
    status, html = await console_get(o, "/console/inbox")
    assert status == 200 and f'href="/console/cases/{case_no}"' in html
    assert "期限临近" in html and "临期" in html and "李四" not in html
    alert_id = re.search(r'data-alert="(\d+)"', html).group(1)  # type: ignore[union-attr]

    # Bad input: a forged token, a malformed id — nothing marked.
    resp = await o.client.post(
        "/console/inbox/read", data={"csrf": "0" * 64, "all": "1"}, allow_redirects=False
    )
    assert resp.status == 403
    resp = await o.client.post(
        "/console/inbox/read", data={"csrf": csrf_of(html), "alert_id": "1;DROP"}, allow_redirects=False
    )
    assert resp.status == 422
    _, html = await console_get(o, "/console/inbox")
    assert unread(html) == 1

    # The town's supervisor marking the county's alert changes nothing for anyone.
    await console_login(o, "town_sup")
    _, html = await console_get(o, "/console/inbox")
    assert "没有提醒" in html
    resp = await o.client.post(
        "/console/inbox/read", data={"csrf": csrf_of(html), "alert_id": alert_id}, allow_redirects=False
    )
    assert resp.status == 303

    await console_login(o, "county_handler")
    _, html = await console_get(o, "/console/inbox")
    assert unread(html) == 1
    resp = await o.client.post(
        "/console/inbox/read", data={"csrf": csrf_of(html), "alert_id": alert_id}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/console/inbox?done=1"
    _, html = await console_get(o, "/console/inbox")
    assert unread(html) == 0 and "已读" in html

    await console_login(o, "county_handler2")  # a colleague has not read it
    _, html = await console_get(o, "/console/inbox")
    assert unread(html) == 1 and "未读" in html

    # The case page and the board show the colour with its word.
    _, html = await console_get(o, f"/console/cases/{case_no}")
    assert 'class="badge yellow">临期<' in html
    _, html = await console_get(o, "/console/deadlines?within=30")
    assert 'class="badge yellow">临期<' in html


async def test_the_staff_api_inbox_lists_and_marks_each_members_alerts(office: Office) -> None:
    """``GET /api/v1/staff/inbox`` and ``POST /api/v1/staff/inbox/read``: the unit's yellow deadline
    with its case and the caller's unread count; bad bodies get 422 and mark nothing; another
    unit's member marks nothing; each member's read state is their own."""
    o = office
    case_no = await yellow_deadline(o)
    for name in ("county_handler", "county_sup", "town_sup"):
        await o.login(name)
    status, doc = await o.get("county_handler", "/api/v1/staff/inbox")
    assert status == 200 and doc["unread"] == 1, doc
    (item,) = doc["alerts"]
    assert (item["case_no"], item["kind"], item["kind_label"], item["colour"]) == (
        case_no,
        "deadline_yellow",
        "期限临近",
        "yellow",
    )
    assert item["due_on"] == "2025-10-23" and item["read"] is False and item["handled"] is False
    assert "李四" not in str(doc)  # the informant is nowhere in an alert

    read = "/api/v1/staff/inbox/read"
    for body in (
        {},
        {"all": False},
        {"alert_ids": [item["id"]], "all": True},
        {"alert_ids": []},
        {"alert_ids": [str(item["id"])]},
        {"alert_ids": [0]},
        {"alert_ids": [2**31]},  # past the alerts' integer key (a 500 on PostgreSQL once)
        {"alert_ids": list(range(1, 202))},
        {"all": "yes"},
    ):
        status, err = await o.post("county_handler", read, body)
        assert status == 422 and err["error"]["message"].isascii() is False, (body, err)
    status, doc = await o.post("town_sup", read, {"alert_ids": [item["id"]]})  # another unit's alert
    assert (status, doc) == (200, {"marked": 0})
    status, doc = await o.get("county_handler", "/api/v1/staff/inbox")
    assert doc["unread"] == 1 and doc["alerts"][0]["read"] is False

    status, doc = await o.post("county_handler", read, {"alert_ids": [item["id"]]})
    assert (status, doc) == (200, {"marked": 1})
    status, doc = await o.post("county_handler", read, {"alert_ids": [item["id"]]})
    assert doc == {"marked": 0}  # already read
    status, doc = await o.get("county_handler", "/api/v1/staff/inbox")
    assert doc["unread"] == 0 and doc["alerts"][0]["read"] is True
    status, doc = await o.get("county_sup", "/api/v1/staff/inbox")
    assert doc["unread"] == 1  # a colleague's read state is their own
    status, doc = await o.post("county_sup", read, {"all": True})
    assert doc == {"marked": 1}
    status, doc = await o.get("county_sup", "/api/v1/staff/inbox")
    assert doc["unread"] == 0
    resp = await o.client.get("/api/v1/staff/inbox")
    assert resp.status == 401
