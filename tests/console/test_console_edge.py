"""Staff input at the edge (issue 14, defects 3 and 4), on SQLite and PostgreSQL: control
characters in the staff API, the console's forms and its query strings are a 422
``invalid_characters`` on both databases (PostgreSQL refuses NUL in text: it was a 500), the
workflow refuses them itself, and the console's multipart forms answer malformed bodies and
control characters in part headers with a 400 page. Nothing is stored."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from intake.errors import ValidationError
from intake.workflow import Action
from tests.console.conftest import console_get, console_login, csrf_of
from tests.console.test_console_filing import nonce_of, post_form
from tests.fakes.server import count_rows
from tests.workflow.conftest import Office

BAD = ["\x00", "\x1b", "\x85", "\ud800"]


async def test_staff_api_refuses_control_characters(office: Office) -> None:
    o = office
    await o.login("county_sup")
    case_no, _ = await o.file()
    events = await count_rows(o.services, "report_events")
    for ch in BAD:
        status, doc = await o.act("county_sup", case_no, action="supervise", reason=f"逾期{ch}未受理")
        assert (status, doc["error"]["code"]) == (422, "invalid_characters")
        status, doc = await o.post(
            "county_sup", "/api/v1/staff/reports", {"channel": "letter", "content": f"来信{ch}反映"}
        )
        assert (status, doc["error"]["code"]) == (422, "invalid_characters")
    assert await count_rows(o.services, "report_events") == events
    assert await o.services.db.reports.count() == 1


async def test_query_string_filters_refuse_a_nul(office: Office) -> None:
    o = office
    await o.login("county_sup")
    await o.file()
    status, doc = await o.get("county_sup", "/api/v1/staff/reports?channel=web%00")
    assert (status, doc["error"]["code"]) == (422, "invalid_characters")
    await console_login(o, "county_sup")
    status, html = await console_get(o, "/console/search?q=%E4%BD%8E%E4%BF%9D%00")
    assert status == 422 and "无法识别的字符" in html


async def test_the_workflow_itself_refuses_control_characters(office: Office) -> None:
    # The last line behind the edge: a caller that skipped it still cannot store a NUL.
    o = office
    case_no, _ = await o.file()
    member = await o.services.staff.member("county_reg")
    with pytest.raises(ValidationError) as refused:
        await o.services.workflow.act(
            member, case_no, Action("redirect", kind="inform", organ="某局", reason="不属于\x00受理范围")
        )
    assert refused.value.code == "invalid_characters"
    assert (await o.services.db.reports.get(case_no)).status == "received"


async def test_console_action_form_refuses_a_nul(office: Office) -> None:
    o = office
    case_no, _ = await o.file()
    await console_login(o, "county_sup")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    form = {"csrf": csrf_of(html), "action": "supervise", "reason": "逾期\x00未受理"}
    events = await count_rows(o.services, "report_events")
    status, _, page = await post_form(o, f"/console/cases/{case_no}/actions", form)
    assert status == 422 and "无法识别的字符" in page
    assert await count_rows(o.services, "report_events") == events


def letter(token: str, nonce: str, disposition: bytes = b"") -> bytes:
    fields = {"csrf": token, "channel": "letter", "nonce": nonce, "content": "来信反映镇卫生院院长虚报费用。"}
    body = b"".join(
        f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    if disposition:
        body += b"--b\r\n" + disposition + b"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n"
    return body + b"--b--\r\n"


async def test_console_file_refuses_malformed_multipart_and_control_characters(office: Office) -> None:
    o = office
    await console_login(o, "county_reg")
    _, html = await console_get(o, "/console/file?channel=letter")
    token, nonce = csrf_of(html), nonce_of(html)
    multipart = {"Content-Type": "multipart/form-data; boundary=b", "Accept": "text/html"}

    async def post(body: bytes) -> tuple[int, str]:
        resp = await o.client.post("/console/file", data=body, headers=multipart, allow_redirects=False)
        return resp.status, await resp.text()

    status, page = await post(b"--b\r\nContent-Disposition\r\n\r\nx\r\n--b--\r\n")
    assert status == 400 and "表单格式不正确" in page
    for name in (b"scan\x00.png", b"scan\x1b.png"):
        disposition = b'Content-Disposition: form-data; name="attachments"; filename="' + name + b'"'
        status, page = await post(letter(token, nonce, disposition))
        assert status == 400 and "表单格式不正确" in page
    form = aiohttp.FormData()
    for key, value in {"csrf": token, "channel": "letter", "nonce": nonce, "content": "来信\x00反映"}.items():
        form.add_field(key, value)
    resp = await o.client.post("/console/file", data=form, headers={"Accept": "text/html"})
    assert resp.status == 422 and "无法识别的字符" in await resp.text()
    assert await o.services.db.reports.count() == 0


async def test_console_login_refuses_a_nul(office: Office) -> None:
    o = office
    resp = await o.client.get("/console/login")
    token = csrf_of(await resp.text())
    form: dict[str, Any] = {"csrf": token, "username": "county_reg\x00", "password": "x", "totp": "000000"}
    resp = await o.client.post("/console/login", data=form, allow_redirects=False)
    assert resp.status == 422 and "无法识别的字符" in await resp.text()
