"""The web form's signed receipt and the no-JS /verify page (issue 17): the receipt page prints the
five fields and the JSON the /verify page takes; a pasted receipt is valid, a changed one or junk is
not (422), a forged form is refused, and nothing is stored either way."""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any

from tests.channels.web.test_web_form import HTML, file_report, hidden, open_form, report_form


async def receipt_json(client: Any) -> dict[str, str]:
    csrf, sid = await open_form(client)
    resp = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    assert resp.status == 201
    page = await resp.text()
    assert "受理回执" in page and "长沙县纪委监委（430121）" in page
    found = re.search(r'<pre id="receipt-json">(.*?)</pre>', page, re.S)
    assert found, page
    return dict(json.loads(html_lib.unescape(found.group(1))))


async def verify(client: Any, pasted: str) -> tuple[int, str]:
    resp = await client.get("/verify", headers=HTML)
    assert resp.status == 200
    csrf = hidden(await resp.text(), "csrf")
    resp = await client.post("/verify", data={"csrf": csrf, "receipt": pasted}, headers=HTML)
    return resp.status, await resp.text()


async def test_the_receipt_page_prints_a_receipt_that_verifies(client: Any, services: Any) -> None:
    receipt = await receipt_json(client)
    count = await services(client).db.reports.count()
    status, page = await verify(client, json.dumps(receipt, ensure_ascii=False))
    assert status == 200 and "回执有效" in page and receipt["case_no"] in page and "长沙县纪委监委" in page
    changed = {**receipt, "received_at": receipt["received_at"].replace(":", "-", 1)}
    status, page = await verify(client, json.dumps(changed))
    assert status == 422 and "回执无效" in page and "签名与回执内容不符" in page
    for junk in ("不是回执", "[]", "{}", '{"case_no": 1}'):
        status, page = await verify(client, junk)
        assert status == 422 and "回执无效" in page, junk
    assert await services(client).db.reports.count() == count  # nothing is stored by checking


async def test_a_forged_verify_form_is_refused(client: Any) -> None:
    await file_report(client)
    resp = await client.post("/verify", data={"csrf": "forged", "receipt": "{}"}, headers=HTML)
    assert resp.status == 403
