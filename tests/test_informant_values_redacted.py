"""Issue 14, defect 6: the informant's own name reached handlers. Reporter 欧阳振华 (name, phone, ID
number and address given in the identity fields) writes the name, phone and address into the text,
the title, a follow-up sent later by query code and an attachment's file name; none of it may reach
what staff see (the staff API, the console case page and its download, ``intake reports show``) or
the stored rows and files (the SQLite database and its WAL; a PostgreSQL dump), on both databases.
The accused's name and the facts stay, which proves the scans can see what is stored in the clear.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp

from intake.vault_service import VaultService
from server.cli import main
from tests.console.conftest import console_get, console_login
from tests.scan import leaking_files, leaking_rows, leaks, pg_dump_async
from tests.workflow.conftest import Office, office

__all__ = ["office"]

PNG = (Path(__file__).parent / "fixtures" / "channels" / "web" / "report__with_attachment.png").read_bytes()
REPORTER = {
    "name": "欧阳振华",
    "phone": "+86 139-0731-7788",
    "id_number": "43012119900307002x",
    "address": "长沙县黄兴镇甄家湾村十七组8号",
}
# Every way the values are written below: none may be seen or stored.
SECRETS = [
    "欧阳振华",
    "13907317788",
    "139 0731 7788",
    "43012119900307002",
    "甄家湾村十七组8号",
    "十七组8号",
]
ACCUSED = "邬瀚霖"
FACTS = "甄家湾村村支书邬瀚霖在危房改造补助发放中虚报冒领"
REPORT = {
    "title": "欧阳振华反映邬瀚霖虚报冒领问题",
    "content": (
        f"欧阳振华反映：{FACTS}，将12户亲属纳入补助名单。"
        "请联系欧阳振华核实，回电 139 0731 7788，也可到甄家湾村十七组8号找我。\n—— 欧阳振华"
    ),
    "category": "群众纪律",
    "accused": {"name": ACCUSED, "unit": "黄兴镇甄家湾村", "position": "村支书"},
    "location": {"division_code": "430121102", "text": "黄兴镇"},
    "reporter": REPORTER,
    "anonymous": False,
}
FOLLOWUP = "欧阳振华补充：邬瀚霖还把补助款转到了他儿子的账户，回电13907317788，身份证43012119900307002X。"


async def _file_and_follow_up(o: Office) -> tuple[str, str]:
    resp = await o.client.post("/api/v1/reports", json=REPORT)
    assert resp.status == 201, await resp.text()
    receipt = await resp.json()
    resp = await o.client.post(
        "/api/v1/followups", json={"query_code": receipt["query_code"], "content": FOLLOWUP}
    )
    assert resp.status == 201, await resp.text()
    return receipt["case_no"], receipt["query_code"]


def _hidden(text: str) -> list[str]:
    return leaks(text.encode(), SECRETS)


async def test_the_informants_values_reach_no_staff_view_and_no_stored_row(
    office: Office, db_url: str, data_dir: Path
) -> None:
    o = office
    case_no, _ = await _file_and_follow_up(o)

    # The staff API: the case with its follow-up, redacted, the facts intact.
    await o.login("county_reg")
    status, doc = await o.get("county_reg", f"/api/v1/staff/reports/{case_no}")
    assert status == 200
    shown = json.dumps(doc, ensure_ascii=False)
    assert _hidden(shown) == []
    assert FACTS in shown and ACCUSED in shown and "他儿子的账户" in shown
    assert doc["title"] == "〔已隐去：姓名〕反映邬瀚霖虚报冒领问题"
    assert doc["content"].startswith("〔已隐去：姓名〕反映：")
    assert doc["content"].endswith("—— 〔已隐去：姓名〕")
    assert "〔已隐去：住址〕找我" in doc["content"] and "回电 〔已隐去：手机号〕" in doc["content"]
    followup = next(m["text"] for m in doc["thread"] if m["direction"] == "in")
    assert followup.startswith("〔已隐去：姓名〕补充：邬瀚霖") and "〔已隐去：手机号〕" in followup

    # The console's case page.
    await console_login(o, "county_reg")
    status, html = await console_get(o, f"/console/cases/{case_no}")
    assert status == 200 and FACTS in html and "他儿子的账户" in html
    assert _hidden(html) == []

    # The operator's command line, against the same data directory and database.
    out = await asyncio.to_thread(_cli, data_dir, db_url, "reports", "show", case_no, "--json")
    assert FACTS in out and _hidden(out) == []

    # What is stored: every row of every table; the values went to the vault (sealed).
    db = o.services.db
    async with db.read_engine.connect() as conn:
        assert await leaking_rows(conn, SECRETS) == []
        assert await leaking_rows(conn, [ACCUSED]) != []  # the scan sees clear text
    report = await db.reports.get(case_no)
    assert report is not None
    terms = await db.reports.redaction_terms(report.id)
    assert {t.kind for t in terms} == {"name", "mobile", "id_number", "address"}
    if db_url.startswith("sqlite"):
        # The database file and its WAL, read raw while the server runs.
        assert (data_dir / "intake.db-wal").exists()
        assert leaking_files(data_dir, SECRETS) == []
        assert leaking_files(data_dir, [ACCUSED]) != []
    else:
        dump = await pg_dump_async(db_url)
        assert leaks(dump, SECRETS) == [] and leaks(dump, [ACCUSED]) != []

    # Crypto-shredding takes the terms with the identity.
    o.clock.at = o.clock.at.replace(year=o.clock.at.year + 1)
    await VaultService(db, o.clock).shred(timedelta(days=30), "cli:root")
    assert await db.reports.redaction_terms(report.id) == []


def _cli(data_dir: Path, db_url: str, *args: str) -> str:
    env = {"INTAKE_DATA_DIR": str(data_dir), "INTAKE_DATABASE_URL": db_url, "INTAKE_LOG_LEVEL": "WARNING"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            assert main(list(args)) == 0
        return buffer.getvalue()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def test_an_attachment_named_after_the_informant_is_stored_and_served_without_it(
    office: Office,
) -> None:
    o = office
    resp = await o.client.get("/", headers={"Accept": "text/html"})
    page = await resp.text()
    form = aiohttp.FormData(default_to_multipart=True)
    fields = {
        "csrf": _field(page, "csrf"),
        "submission_id": _field(page, "submission_id"),
        "accused_name": ACCUSED,
        "division_code": "430121102",
        "content": FACTS + "。",
        "identity": "real",
        "reporter_name": REPORTER["name"],
        "reporter_phone": "13907317788",
    }
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("attachments", PNG, filename="证据_欧阳振华_13907317788.png", content_type="image/png")
    resp = await o.client.post("/reports", data=form, headers={"Accept": "text/html"})
    assert resp.status == 201, await resp.text()
    case_no = re.search(r'id="case-no">([^<]+)<', await resp.text()).group(1)  # type: ignore[union-attr]

    # A letter registered at the console, its scan named the same way.
    await o.login("county_reg")
    status, doc = await o.post(
        "county_reg",
        "/api/v1/staff/reports",
        {
            "channel": "letter",
            "content": FACTS + "（来信）",
            "reporter": {"name": REPORTER["name"], "phone": "13907317788"},
            "attachments": [{"filename": "欧阳振华来信_13907317788.png", "data": _b64(PNG)}],
        },
    )
    assert status == 201, doc

    await console_login(o, "county_reg")
    for case, expected in ((case_no, "证据_〔已隐去：姓名〕_〔已隐去：手机号〕.png"), (doc["case_no"], None)):
        status, html = await console_get(o, f"/console/cases/{case}")
        assert status == 200 and _hidden(html) == []
        links = re.findall(rf'href="(/console/cases/{case}/attachments/[0-9a-f-]+)"', html)
        assert len(links) == 1
        served = await o.client.get(links[0])
        assert served.status == 200 and await served.read() == PNG
        name = unquote(served.headers["Content-Disposition"].split("filename*=UTF-8''")[1])
        assert _hidden(name) == [] and name.endswith(".png")
        if expected:
            assert name == expected
    assert leaking_files(o.services.settings.data_dir, SECRETS) == []


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, name
    return m.group(1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_the_accused_and_ordinary_text_are_left_alone(office: Office) -> None:
    """Guard: an accused whose name contains the informant's (王刚强 / 王刚), the village the facts
    happened in, and text with none of the values keep every character."""
    o = office
    body: dict[str, Any] = {
        "content": "王刚强书记在黄兴镇甄家湾村收受礼金两万元，合同编号2213907317788999。王刚反映。",
        "accused": {"name": "王刚强"},
        "reporter": {"name": "王刚", "phone": "13907317788", "address": "长沙县黄兴镇甄家湾村十七组8号"},
        "anonymous": False,
    }
    receipt = await (await o.client.post("/api/v1/reports", json=body)).json()
    await o.client.post(
        "/api/v1/followups",
        json={"query_code": receipt["query_code"], "content": "补充：王刚强的妻子也在甄家湾村村委会任职。"},
    )
    report = await o.services.db.reports.get(receipt["case_no"])
    assert report is not None
    assert (
        report.content
        == "王刚强书记在黄兴镇甄家湾村收受礼金两万元，合同编号2213907317788999。〔已隐去：姓名〕反映。"
    )
    assert [m.body for m in report.messages] == ["补充：王刚强的妻子也在甄家湾村村委会任职。"]
