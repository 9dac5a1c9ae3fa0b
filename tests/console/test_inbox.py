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


async def test_inbox_lists_the_units_alerts_and_keeps_each_members_read_state(office: Office) -> None:
    o = office
    case_no, _ = await o.file(real_name=True)
    await o.triaged(case_no)
    await o.login("county_reg")
    status, _ = await o.act("county_reg", case_no, action="accept")  # notice due 23 Oct 2025
    assert status == 200
    o.clock.set(2025, 10, 17)
    assert await o.services.urging.scan() == 1
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
