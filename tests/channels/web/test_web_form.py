"""The citizen web form over HTTP: tokens, filing with attachments, receipts, status, follow-ups."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "channels" / "web"
HTML = {"Accept": "text/html"}


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


async def open_form(client: Any) -> tuple[str, str]:
    resp = await client.get("/", headers=HTML)
    assert resp.status == 200
    html = await resp.text()
    return hidden(html, "csrf"), hidden(html, "submission_id")


def report_form(csrf: str, sid: str, **fields: Any) -> aiohttp.FormData:
    data = aiohttp.FormData()
    values = {
        "csrf": csrf,
        "submission_id": sid,
        "accused_name": "张某某",
        "accused_unit": "黄兴镇人民政府",
        "accused_position": "站长",
        "division_code": "430121102",
        "category": "廉洁纪律",
        "title": "收受礼金",
        "content": "张某某在审批中收受礼金两万元。",
        "identity": "anonymous",
    }
    values.update({k: v for k, v in fields.items() if not isinstance(v, tuple)})
    for key, value in values.items():
        data.add_field(key, value)
    for value in fields.values():
        if isinstance(value, tuple):
            name, blob = value
            data.add_field("attachments", blob, filename=name, content_type="application/octet-stream")
    return data


def receipt_of(html: str) -> tuple[str, str]:
    case = re.search(r'id="case-no">([^<]+)<', html)
    code = re.search(r'id="query-code" class="code">([^<]+)<', html)
    assert case and code, html
    return case.group(1), code.group(1)


async def test_form_renders_with_token_and_townships(client: Any) -> None:
    resp = await client.get("/", headers=HTML)
    html = await resp.text()
    assert resp.status == 200
    assert 'lang="zh-CN"' in html and "我要举报" in html
    assert "黄兴镇" in html and 'value="430121102"' in html
    assert len(hidden(html, "csrf")) == 64
    assert "xf_form" in resp.cookies
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("token", [None, "0" * 64])
async def test_post_without_a_valid_token_is_refused(client: Any, services: Any, token: str | None) -> None:
    _csrf, sid = await open_form(client)
    form = report_form(token or "", sid)
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 403
    assert "页面已过期" in await resp.text()
    assert await services(client).db.reports.count() == 0


async def test_a_report_with_attachment_is_filed_and_sealed(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    png = (FIXTURES / "report__with_attachment.png").read_bytes()
    pdf = (FIXTURES / "report__with_attachment.pdf").read_bytes()
    form = report_form(
        csrf,
        sid,
        identity="real",
        reporter_name="甄宝琮",
        reporter_phone="13912345678",
        reporter_id_number="430121199001011237",
        a=("照片.png", png),
        b=("材料.pdf", pdf),
    )
    resp = await client.post("/reports", data=form, headers=HTML)
    html = await resp.text()
    assert resp.status == 201, html
    assert resp.headers["Cache-Control"] == "no-store"
    case_no, code = receipt_of(html)
    assert re.fullmatch(r"\d{4}-430121-\d{6}", case_no)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    assert "只显示这一次" in html

    svc = services(client)
    report = await svc.db.reports.get(case_no)
    assert report.channel == "web" and report.attachments == 2 and report.anonymous is False
    assert report.accused_name == "张某某" and report.location_code == "430121102"
    async with svc.db.read_engine.connect() as conn:
        rows = (
            await conn.execute(sa.text("SELECT id, content_type FROM attachments ORDER BY content_type"))
        ).all()
    assert [r.content_type for r in rows] == ["application/pdf", "image/png"]
    blob = svc.db.blobs.get(uuid.UUID(str(rows[1].id)))
    assert blob.data == png and blob.filename == "照片.png"

    # Nothing identifying, and not the files' bytes, in plaintext anywhere under the data directory.
    everything = b"".join(p.read_bytes() for p in svc.settings.data_dir.rglob("*") if p.is_file())
    for secret in ("甄宝琮", "13912345678", "430121199001011237", "照片.png"):
        assert secret.encode() not in everything, secret
    assert png[8:] not in everything and b"%PDF-1.4" not in everything
    assert "张某某".encode() in everything  # the scan does see what is stored in the clear


async def test_double_submit_files_one_report(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    first = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    again = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    assert first.status == 201 and again.status == 200
    assert receipt_of(await first.text()) == receipt_of(await again.text())
    assert await services(client).db.reports.count() == 1


@pytest.mark.parametrize("fixture", ["report__disallowed_type.exe", "report__disallowed_zip.docx"])
async def test_disallowed_file_types_store_nothing(client: Any, services: Any, fixture: str) -> None:
    csrf, sid = await open_form(client)
    form = report_form(csrf, sid, a=(fixture, (FIXTURES / fixture).read_bytes()))
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 422
    html = await resp.text()
    assert "类型不在允许范围内" in html
    assert "张某某在审批中收受礼金两万元。" in html  # the citizen's text is kept for another try
    assert await services(client).db.reports.count() == 0
    assert not list((services(client).settings.data_dir / "blobs").rglob("*.bin"))


async def test_oversized_file_is_413_and_stores_nothing(aiohttp_client: Any, make_settings: Any) -> None:
    import channels
    from intake.app import build_app, services_of

    client = await aiohttp_client(
        build_app(make_settings(INTAKE_MAX_FILE_BYTES="1024"), channels.REGISTRY, run_worker=False)
    )
    csrf, sid = await open_form(client)
    png = (FIXTURES / "report__with_attachment.png").read_bytes() + b"\x00" * 2048
    resp = await client.post("/reports", data=report_form(csrf, sid, a=("big.png", png)), headers=HTML)
    assert resp.status == 413
    assert "出错了" in await resp.text()
    assert await services_of(client.app).db.reports.count() == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"content": "   "}, "请填写反映的主要问题"),
        ({"identity": "real", "reporter_name": "甄宝琮"}, "实名举报请填写姓名和联系电话"),
        ({"division_code": "110101001"}, "请从列表中选择所在地区"),
        ({"accused_name": "名" * 101}, "超过了 100 字"),
    ],
)
async def test_invalid_input_re_renders_the_form(
    client: Any, services: Any, fields: dict[str, str], message: str
) -> None:
    csrf, sid = await open_form(client)
    resp = await client.post("/reports", data=report_form(csrf, sid, **fields), headers=HTML)
    assert resp.status == 422
    html = await resp.text()
    assert message in html
    assert hidden(html, "submission_id") == sid
    assert await services(client).db.reports.count() == 0


async def test_status_page_and_followup(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    case_no, code = receipt_of(
        await (await client.post("/reports", data=report_form(csrf, sid), headers=HTML)).text()
    )
    svc = services(client)
    report = await svc.db.reports.get(case_no)
    await svc.db.reports.add_message(
        report.id, "out", "web", "已转黄兴镇纪委核实。", svc.clock.now(), "staff:t"
    )

    resp = await client.get("/status", headers=HTML)
    assert resp.status == 200 and "查询码" in await resp.text()
    resp = await client.post("/status", data={"csrf": csrf, "query_code": code}, headers=HTML)
    html = await resp.text()
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert case_no in html and "已接收" in html and "已转黄兴镇纪委核实。" in html

    resp = await client.post(
        "/status/followup",
        data={"csrf": csrf, "query_code": code, "content": "补充：还有一笔一万元。"},
        headers=HTML,
    )
    html = await resp.text()
    assert resp.status == 200 and "补充材料已收到" in html
    assert 'id="followups">1 次' in html
    report = await svc.db.reports.get(case_no)
    assert [m.body for m in report.messages if m.direction == "in"] == ["补充：还有一笔一万元。"]


async def test_wrong_code_is_404_page(client: Any) -> None:
    csrf, _ = await open_form(client)
    resp = await client.post(
        "/status", data={"csrf": csrf, "query_code": "1234 1234 1234 1234"}, headers=HTML
    )
    assert resp.status == 404
    assert "查询码无效" in await resp.text()


async def test_status_post_needs_the_token(client: Any) -> None:
    resp = await client.post("/status", data={"csrf": "x", "query_code": "1234123412341234"}, headers=HTML)
    assert resp.status == 403


async def test_garbage_bodies_are_4xx_not_500(client: Any) -> None:
    csrf, _ = await open_form(client)
    bad_multipart = b'--xx\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' + csrf.encode()
    resp = await client.post(
        "/reports", data=bad_multipart, headers={**HTML, "Content-Type": "multipart/form-data; boundary=yy"}
    )
    assert 400 <= resp.status < 500
    resp = await client.post("/reports", data=b"\xff\xfe", headers={**HTML, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.post(
        "/status",
        data=b"csrf=%FF%FE&query_code=1",
        headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 403  # undecodable escapes become U+FFFD, and such a token never verifies


async def test_unknown_page_is_a_friendly_404(client: Any) -> None:
    resp = await client.get("/no-such-page", headers=HTML)
    assert resp.status == 404
    assert "没有这个地址" in await resp.text()
