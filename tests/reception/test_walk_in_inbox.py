"""Issue 20: a walk-in alerts the receiving unit's officers in their console inbox — the township,
a link to join, nothing of who the citizen is — and the alert stops counting as unread once an
officer took the session (or it is cancelled). Staff of another county, of the township and the
unit's custodians get nothing."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from intake.staff import totp_now
from tests.reception.conftest import COUNTY, PASSWORD, TOWNSHIP, Reception, audit_events

UNREAD = re.compile(r'id="inbox-unread"[^>]*>(\d+)<')
CITIZEN = {"name": "李秀英", "id_number": "430121198001011234", "phone": "13812345678"}
WAITING = "黄兴镇群众现场来访，等待接访"
ROW = 'data-kind="reception_walk_in"'


async def _desks(r: Reception, accounts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Console accounts (unit, role) with their TOTP secrets."""
    secrets = {}
    for name, (unit, role) in accounts.items():
        _, secrets[name] = await r.services.staff.add(name, unit, role, PASSWORD)
    return secrets


async def _console_login(r: Reception, name: str, secret: str) -> None:
    """Sign ``name`` in through the console's form (the client's cookie jar keeps the session)."""
    r.client.session.cookie_jar.clear()
    page = await (await r.client.get("/console/login")).text()
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf
    form = {
        "csrf": csrf.group(1),
        "username": name,
        "password": PASSWORD,
        "totp": totp_now(secret, r.services.clock.now()),
    }
    resp = await r.client.post("/console/login", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()


async def _inbox(r: Reception) -> tuple[int, str]:
    """The signed-in member's unread count (in the page's header) and their inbox page."""
    resp = await r.client.get("/console/inbox", allow_redirects=False, headers={"Accept": "text/html"})
    html = await resp.text()
    assert resp.status == 200, html
    found = UNREAD.search(html)
    return (int(found.group(1)) if found else 0), html


def _no_identity(text: str) -> None:
    for value in CITIZEN.values():
        assert value not in text


async def test_a_walk_in_is_in_the_receiving_officers_inbox_until_one_joins(two_counties: Reception) -> None:
    r = two_counties
    tree = r.service.tree
    other = next(c for c in tree.descendants("4301") if tree.units[c].level == "county" and c != COUNTY)
    far_town = next(c for c in tree.descendants(other) if tree.units[c].level == "township")
    secrets = await _desks(
        r,
        {
            "desk_officer": (COUNTY, "handler"),
            "desk_officer2": (COUNTY, "registrar"),
            "desk_keeper": (COUNTY, "custodian"),  # cannot take the officer's seat
            "desk_town": (TOWNSHIP, "registrar"),
            "far_town": (far_town, "registrar"),  # a township of the other county
            "far_officer": (other, "handler"),
        },
    )
    await _console_login(r, "desk_officer", secrets["desk_officer"])
    before, html = await _inbox(r)
    assert before == 0 and ROW not in html

    opened = await r.walk_in(reporter=CITIZEN)
    session = opened["id"]
    unread, html = await _inbox(r)  # the same officer, a moment later
    assert unread == before + 1
    assert WAITING in html and ROW in html
    assert f'href="/reception/room/{session}?as=officer"' in html
    _no_identity(html)
    (row,) = re.findall(r'<tr class="alert[^"]*"[^>]*data-kind="reception_walk_in".*?</tr>', html, re.S)
    assert "unread" in row and "未读" in row

    # Nobody else is alerted: not the unit's custodian, not the township that opened it, not the
    # other county's township or officers.
    for name in ("desk_keeper", "desk_town", "far_town", "far_officer"):
        await _console_login(r, name, secrets[name])
        unread, html = await _inbox(r)
        assert unread == 0 and ROW not in html and session not in html, name

    # The alert and its event carry the session and the units, nothing of the citizen; no mail.
    events = await audit_events(r.services, "staff_alerted")
    assert [e["payload"]["session"] for e in events] == [session]
    assert events[0]["payload"]["unit"] == COUNTY and events[0]["report_id"] is None
    _no_identity(json.dumps(events, ensure_ascii=False))
    async with r.services.db.read_engine.connect() as conn:
        mails = await conn.execute(sa.text("SELECT count(*) FROM jobs WHERE kind = 'alert_mail'"))
        assert mails.scalar_one() == 0

    # One officer joins (the pool's first officer token): the alert asks nothing of anyone now.
    await r.token("officer", session, "officer")
    await _console_login(r, "desk_officer2", secrets["desk_officer2"])  # never read it
    unread, html = await _inbox(r)
    assert unread == 0
    assert "黄兴镇群众现场来访，已由 officer 接入" in html and WAITING not in html
    assert f"/reception/room/{session}" not in html
    (row,) = re.findall(r'<tr class="alert[^"]*"[^>]*data-kind="reception_walk_in".*?</tr>', html, re.S)
    assert "unread" not in row and "已处理" in row


async def test_a_cancelled_walk_in_is_handled_and_a_booking_alerts_nobody(reception: Reception) -> None:
    r = reception
    urging = r.services.urging
    officer = await r.services.staff.member("officer")
    await r.book()  # a booked session waits for its slot: no alert
    assert await urging.unread(officer) == 0 and await urging.inbox(officer) == []

    session = (await r.walk_in(facts="反映村里低保评定不公。"))["id"]
    assert await urging.unread(officer) == 1
    (item,) = await urging.inbox(officer)
    assert item["kind"] == "reception_walk_in" and item["case_no"] is None
    assert item["text"] == WAITING and item["link"] == f"/reception/room/{session}?as=officer"
    assert not item["read"] and not item["handled"]

    await r.call("town", f"sessions/{session}/cancel", {})
    assert await urging.unread(officer) == 0
    (item,) = await urging.inbox(officer)
    assert item["text"] == "黄兴镇群众现场来访，已取消" and item["handled"] and item["link"] is None


async def test_marking_a_walk_in_read_is_each_officers_own(reception: Reception) -> None:
    r = reception
    urging = r.services.urging
    first = await r.services.staff.member("officer")
    second = await r.services.staff.member("officer2")
    await r.walk_in()
    (item,) = await urging.inbox(first)
    assert await urging.mark_read(first, [item["id"]]) == 1
    assert [await urging.unread(first), await urging.unread(second)] == [0, 1]
