"""Notice letters (issue 17): a real-name letter informant, who cannot be told electronically, is owed
a letter for each statutory notice; the case page lists them, prints them without any identity and
records them as mailed; an anonymous informant is owed none."""

from __future__ import annotations

import re

from tests.console.conftest import console_get, console_login, csrf_of
from tests.workflow.conftest import Office


def letters_of(html: str) -> list[tuple[str, str, str]]:
    rows = re.findall(r'<tr id="letter-(\d+)"><td>([^<]+)</td>.*?<td class="l-status">(.*?)</td>', html, re.S)
    return [(seq, title, re.sub(r"<[^>]+>", "", status)) for seq, title, status in rows]


async def test_a_letter_informant_is_owed_printed_and_mailed_letters(office: Office) -> None:
    o = office
    case_no, _ = await o.file("黄兴镇某村会计挪用低保金两万元。", channel="letter", real_name=True)
    anonymous, _ = await o.file("黄兴镇某村会计挪用低保金。", channel="letter")
    for case in (case_no, anonymous):
        await o.triaged(case)
    await o.login("county_reg")
    for case in (case_no, anonymous):
        status, doc = await o.act("county_reg", case, action="accept")
        assert status == 200, doc
    await console_login(o, "county_reg")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert status == 200
    owed = letters_of(html)
    assert [(title, state) for _, title, state in owed] == [("受理告知书", "待寄送")]
    seq = owed[0][0]
    # The print page: the case, the unit, what happened; no name, no phone, no address.
    status, letter = await console_get(o, f"/console/cases/{case_no}/letters/{seq}")
    assert status == 200
    assert "受理告知书" in letter and case_no in letter and "已依规受理" in letter
    assert "长沙县纪委监委" in letter and "2025年09月26日" in letter
    for identity in ("李四", "13800000000"):
        assert identity not in letter
    # Recorded as mailed, once; the timeline says so.
    resp = await o.client.post(
        f"/console/cases/{case_no}/letters/{seq}/mailed", data={"csrf": csrf_of(html)}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"].endswith("?done=mailed#notices")
    _, html = await console_get(o, f"/console/cases/{case_no}?done=mailed")
    assert [state.split("（")[0] for _, _, state in letters_of(html)] == ["已寄出"]
    assert "告知书已寄出" in html and "已记录告知书寄出。" in html
    # A forged form, an unknown letter, a letter of another case: refused, nothing recorded.
    resp = await o.client.post(f"/console/cases/{case_no}/letters/{seq}/mailed", data={"csrf": "0" * 64})
    assert resp.status == 403
    for path in (f"/console/cases/{case_no}/letters/999999", f"/console/cases/{anonymous}/letters/{seq}"):
        status, _ = await console_get(o, path)
        assert status == 404, path
    status, _ = await console_get(o, f"/console/cases/{case_no}/letters/x")
    assert status == 404
    # The anonymous informant is owed nothing.
    _, html = await console_get(o, f"/console/cases/{anonymous}")
    assert letters_of(html) == [] and "匿名举报：无法主动告知" in html
    await o.audit_ok()


async def test_the_reply_letter_carries_the_reply_and_the_way_to_object(office: Office) -> None:
    o = office
    case_no, _ = await o.file(channel="visit", real_name=True)
    await o.triaged(case_no)
    for name in ("county_reg", "county_sup", "county_handler"):
        await o.login(name)
    await o.act("county_reg", case_no, action="accept")
    await o.act("county_sup", case_no, action="assign", handler="county_handler")
    status, doc = await o.act(
        "county_handler", case_no, action="reply", text="经核查，反映问题属实，已给予处分。"
    )
    assert status == 200, doc
    await console_login(o, "county_handler")
    _, html = await console_get(o, f"/console/cases/{case_no}")
    owed = letters_of(html)
    assert [title for _, title, _ in owed] == ["受理告知书", "答复意见书"]
    _, letter = await console_get(o, f"/console/cases/{case_no}/letters/{owed[1][0]}")
    assert "经核查，反映问题属实，已给予处分。" in letter and "可以向本机关提出" in letter
