"""The citizen web form over HTTP: tokens, filing with attachments, receipts, status, follow-ups."""

from __future__ import annotations

import base64
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

import channels
from intake.vault_service import VaultGone, VaultService
from server.app import build_app, services_of
from server.vault_commands import save_identity_files
from tests.channels.loop_helpers import answer, feedback_of, reviews_of

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "channels" / "web"
HTML = {"Accept": "text/html"}
FACTS = "张某某在审批中收受礼金两万元。"


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
    """The body the page's form sends (multipart, token first); tuples become attachments."""
    data = aiohttp.FormData(default_to_multipart=True)
    values = {
        "csrf": csrf,
        "submission_id": sid,
        "accused_name": "张某某",
        "accused_unit": "黄兴镇人民政府",
        "accused_position": "站长",
        "division_code": "430121102",
        "category": "廉洁纪律",
        "title": "收受礼金",
        "content": FACTS,
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


def stored_blobs(client: Any) -> list[Path]:
    return [p for p in (services_of(client.app).settings.data_dir / "blobs").rglob("*") if p.is_file()]


async def file_report(client: Any, **fields: Any) -> tuple[str, str, str]:
    csrf, sid = await open_form(client)
    resp = await client.post("/reports", data=report_form(csrf, sid, **fields), headers=HTML)
    assert resp.status == 201
    return (csrf, *receipt_of(await resp.text()))


# --- the form and its token ---------------------------------------------------------------------


async def test_form_renders_with_token_and_townships(client: Any) -> None:
    resp = await client.get("/", headers=HTML)
    html = await resp.text()
    assert resp.status == 200
    assert 'lang="zh-CN"' in html and "我要举报" in html
    assert '<meta name="viewport"' in html and "/static/web/style.css" in html
    assert "黄兴镇" in html and 'value="430121102"' in html
    for category in ("政治纪律", "生活纪律", "职务违法", "职务犯罪", "其他"):
        assert f"<option>{category}</option>" in html
    assert "办理人员看不到" in html
    assert len(hidden(html, "csrf")) == 64
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", hidden(html, "submission_id"))
    cookie = resp.cookies["xf_form"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert resp.headers["Cache-Control"] == "no-store"
    # No script, and nothing from elsewhere.
    assert "<script" not in html and "http://" not in html and "https://" not in html
    css = await client.get("/static/web/style.css")
    assert css.status == 200 and "url(" not in await css.text()


@pytest.mark.parametrize("token", [None, "0" * 64])
async def test_post_without_a_valid_token_is_refused(client: Any, services: Any, token: str | None) -> None:
    csrf, sid = await open_form(client)
    png = (FIXTURES / "report__with_attachment.png").read_bytes()
    form = report_form(token or "", sid, a=("照片.png", png))
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 403
    html = await resp.text()
    assert "页面已过期" in html
    # Our cookie came along, so this is a stale page of ours: the text is kept, with a new token.
    assert FACTS in html and "附件需要重新选择" in html
    assert hidden(html, "csrf") == csrf
    assert await services(client).db.reports.count() == 0
    assert stored_blobs(client) == []


async def test_post_without_the_cookie_is_refused_and_echoes_nothing(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    client.session.cookie_jar.clear()  # what a forged cross-site post looks like (SameSite=Strict)
    resp = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    assert resp.status == 403
    html = await resp.text()
    assert "Cookie" in html and FACTS not in html
    assert await services(client).db.reports.count() == 0
    for path, data in [("/status", {"csrf": csrf, "query_code": "1" * 16}), ("/status/followup", {})]:
        resp = await client.post(path, data=data, headers=HTML)
        assert resp.status == 403, path


async def test_a_stale_page_can_be_resubmitted_after_the_kept_form(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    # Another tab (opened from a link on another site, which sends no Strict cookie) renewed it.
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(
        {"xf_form": "renewed-by-another-tab-000000"}, response_url=client.make_url("/")
    )
    resp = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    assert resp.status == 403
    html = await resp.text()
    fresh = hidden(html, "csrf")
    assert fresh != csrf and hidden(html, "submission_id") == sid and FACTS in html
    assert await services(client).db.reports.count() == 0
    resp = await client.post("/reports", data=report_form(fresh, sid), headers=HTML)
    assert resp.status == 201
    assert await services(client).db.reports.count() == 1


# --- filing -------------------------------------------------------------------------------------


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
        reporter_address="长沙县星沙街道某某路9号",
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
    assert "只显示这一次" in html and "不要把查询码告诉他人" in html and "您选择了实名举报" in html

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
    for secret in ("甄宝琮", "13912345678", "430121199001011237", "某某路9号", "照片.png", "127.0.0.1"):
        assert secret.encode() not in everything, secret
    assert png[8:] not in everything and b"%PDF-1.4" not in everything
    assert "张某某".encode() in everything  # the scan does see what is stored in the clear
    assert code.replace(" ", "").encode() not in everything


async def test_double_submit_files_one_report(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    first = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    again = await client.post("/reports", data=report_form(csrf, sid), headers=HTML)
    assert first.status == 201 and again.status == 200
    assert receipt_of(await first.text()) == receipt_of(await again.text())
    assert await services(client).db.reports.count() == 1
    # Two forms, two reports: the id comes from the page, not from the content.
    csrf, other = await open_form(client)
    assert other != sid
    third = await client.post("/reports", data=report_form(csrf, other), headers=HTML)
    assert third.status == 201
    assert receipt_of(await third.text())[0] != receipt_of(await first.text())[0]
    assert await services(client).db.reports.count() == 2


async def test_an_edited_resubmission_is_offered_as_a_new_report(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    assert (await client.post("/reports", data=report_form(csrf, sid), headers=HTML)).status == 201
    edited = report_form(csrf, sid, content="另一件事：李某某违规发放补贴。")
    resp = await client.post("/reports", data=edited, headers=HTML)
    assert resp.status == 409
    html = await resp.text()
    assert "此前已经提交过" in html and "另一件事：李某某违规发放补贴。" in html
    new_sid = hidden(html, "submission_id")
    assert new_sid != sid
    assert await services(client).db.reports.count() == 1
    resp = await client.post("/reports", data=report_form(csrf, new_sid, content="另一件事。"), headers=HTML)
    assert resp.status == 201
    assert await services(client).db.reports.count() == 2


async def test_line_breaks_count_once(client: Any, services: Any) -> None:
    """Browsers send a textarea's line breaks as CRLF; the 20,000-character limit counts them as one."""
    content = ("一二三四五六七八九" + "\r\n") * 2000  # 22,000 characters as sent, 20,000 as written
    _csrf, case_no, _code = await file_report(client, content=content)
    report = await services(client).db.reports.get(case_no)
    assert "\r" not in report.content and len(report.content) == 20_000 - 1  # the last break trimmed


@pytest.mark.parametrize("fixture", ["report__disallowed_type.exe", "report__disallowed_zip.docx"])
async def test_disallowed_file_types_store_nothing(client: Any, services: Any, fixture: str) -> None:
    csrf, sid = await open_form(client)
    png = (FIXTURES / "report__with_attachment.png").read_bytes()
    form = report_form(csrf, sid, a=(fixture, (FIXTURES / fixture).read_bytes()), b=("ok.png", png))
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 422
    html = await resp.text()
    assert "类型不在允许范围内" in html
    assert FACTS in html  # the citizen's text is kept for another try
    assert await services(client).db.reports.count() == 0
    assert stored_blobs(client) == []  # not even the allowed file that came with it


async def test_a_docx_is_taken(client: Any, services: Any) -> None:
    docx = (FIXTURES / "report__with_attachment.docx").read_bytes()
    _csrf, case_no, _code = await file_report(client, a=("材料.docx", docx))
    assert (await services(client).db.reports.get(case_no)).attachments == 1


async def test_oversized_file_is_413_and_stores_nothing(aiohttp_client: Any, make_settings: Any) -> None:
    client = await aiohttp_client(
        build_app(make_settings(INTAKE_MAX_FILE_BYTES="1024"), channels.REGISTRY, run_worker=False)
    )
    csrf, sid = await open_form(client)
    png = (FIXTURES / "report__with_attachment.png").read_bytes() + b"\x00" * 2048
    resp = await client.post("/reports", data=report_form(csrf, sid, a=("big.png", png)), headers=HTML)
    assert resp.status == 413
    html = await resp.text()
    assert "每个附件不能超过 1 KB" in html and "请重新选择附件" in html
    assert FACTS in html and hidden(html, "submission_id") == sid
    assert await services_of(client.app).db.reports.count() == 0
    assert stored_blobs(client) == []


async def test_too_many_files_is_413(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    png = (FIXTURES / "report__with_attachment.png").read_bytes()
    files = {f"f{i}": (f"{i}.png", png) for i in range(services(client).settings.max_files + 1)}
    resp = await client.post("/reports", data=report_form(csrf, sid, **files), headers=HTML)
    assert resp.status == 413
    assert "最多上传" in await resp.text()
    assert await services(client).db.reports.count() == 0
    assert stored_blobs(client) == []


@pytest.mark.parametrize(
    "extra",
    [
        [("unknown", "x")] * 70,  # too many parts
        [("unknown", "x" * 200_000)],  # one field too long, even one we do not know
        [(f"u{i}", "x" * 100_000) for i in range(4)],  # the text fields together too long
    ],
)
async def test_bodies_are_bounded(client: Any, services: Any, extra: list[tuple[str, str]]) -> None:
    csrf, sid = await open_form(client)
    form = report_form(csrf, sid)
    for name, value in extra:
        form.add_field(name, value)
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 413
    assert "出错了" in await resp.text()
    assert await services(client).db.reports.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"csrf=x&query_code=1&content=" + b"%E8%A1%A5" * 30_000,  # over 256 KiB
        b"&".join(b"f%d=1" % i for i in range(70)),
    ],
)
async def test_urlencoded_bodies_are_bounded(client: Any, body: bytes) -> None:
    resp = await client.post(
        "/status/followup",
        data=body,
        headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 413


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"content": "   "}, "请填写反映的主要问题"),
        ({"content": "举" * 20_001}, "不能超过 20000 字"),
        ({"identity": "real", "reporter_name": "甄宝琮"}, "实名举报请填写姓名和联系电话"),
        ({"division_code": "110101001"}, "请从列表中选择所在地区"),
        ({"category": "随便写的"}, "请从列表中选择问题类别"),
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
    for name in ("content", "accused_name", "reporter_name"):
        if name in fields and fields[name].strip():
            assert fields[name] in html  # what they wrote is kept
    assert await services(client).db.reports.count() == 0


# --- following a case ---------------------------------------------------------------------------


async def test_status_page_and_followup(client: Any, services: Any) -> None:
    csrf, case_no, code = await file_report(client)
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
    assert 'id="followups">0 次' in html
    assert code.replace(" ", "") not in str(resp.url)

    resp = await client.post(
        "/status/followup",
        data={"csrf": csrf, "query_code": code, "content": "补充：还有一笔一万元。"},
        headers=HTML,
    )
    html = await resp.text()
    assert resp.status == 200 and "补充材料已收到" in html
    assert 'id="followups">1 次' in html
    assert "补充：还有一笔一万元。" not in html  # the box is empty again after a follow-up
    report = await svc.db.reports.get(case_no)
    assert [m.body for m in report.messages if m.direction == "in"] == ["补充：还有一笔一万元。"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("   ", "请填写补充内容"), ("补" * 20_001, "不能超过 20000 字")],
)
async def test_invalid_followup_keeps_the_input(
    client: Any, services: Any, content: str, message: str
) -> None:
    csrf, case_no, code = await file_report(client)
    resp = await client.post(
        "/status/followup", data={"csrf": csrf, "query_code": code, "content": content}, headers=HTML
    )
    assert resp.status == 422
    html = await resp.text()
    assert message in html and case_no in html
    assert f">{content.strip()}</textarea>" in html  # what they wrote is still in the box
    assert hidden(html, "query_code") == code
    report = await services(client).db.reports.get(case_no)
    assert [m for m in report.messages if m.direction == "in"] == []


async def test_wrong_code_is_404_page(client: Any) -> None:
    csrf, _ = await open_form(client)
    resp = await client.post(
        "/status", data={"csrf": csrf, "query_code": "1234 1234 1234 1234"}, headers=HTML
    )
    assert resp.status == 404
    assert "查询码无效" in await resp.text()
    resp = await client.post(
        "/status/followup",
        data={"csrf": csrf, "query_code": "1234 1234 1234 1234", "content": "补充"},
        headers=HTML,
    )
    assert resp.status == 404
    assert "查询码无效" in await resp.text()


async def test_status_lookups_are_rate_limited_with_a_page(aiohttp_client: Any, make_settings: Any) -> None:
    client = await aiohttp_client(
        build_app(make_settings(INTAKE_STATUS_ATTEMPTS_PER_MINUTE="2"), channels.REGISTRY, run_worker=False)
    )
    csrf, _ = await open_form(client)
    data = {"csrf": csrf, "query_code": "1" * 16}
    statuses = [(await client.post("/status", data=data, headers=HTML)).status for _ in range(2)]
    assert statuses == [404, 404]
    resp = await client.post("/status", data=data, headers=HTML)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert "查询过于频繁" in await resp.text()


async def test_status_post_needs_the_token(client: Any) -> None:
    resp = await client.post("/status", data={"csrf": "x", "query_code": "1234123412341234"}, headers=HTML)
    assert resp.status == 403


# --- never a 500 --------------------------------------------------------------------------------


async def test_garbage_bodies_are_4xx_not_500(client: Any, services: Any) -> None:
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
    assert resp.status == 400  # an escape that is not UTF-8
    not_utf8 = (
        f'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        '--b\r\nContent-Disposition: form-data; name="content"\r\n\r\n'
    ).encode() + b"\xff\xfe\r\n--b--\r\n"
    resp = await client.post(
        "/reports", data=not_utf8, headers={**HTML, "Content-Type": "multipart/form-data; boundary=b"}
    )
    assert resp.status == 400
    assert await services(client).db.reports.count() == 0


async def test_unknown_page_is_a_friendly_404(client: Any) -> None:
    resp = await client.get("/no-such-page", headers=HTML)
    assert resp.status == 404
    html = await resp.text()
    assert "没有这个地址" in html and 'lang="zh-CN"' in html


async def test_nothing_the_citizen_wrote_reaches_the_logs(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_ = {"甄宝琮", "13912345678", "430121199001011237", FACTS, "补充：还有一笔一万元。"}
    csrf, case_no, code = await file_report(
        client,
        identity="real",
        reporter_name="甄宝琮",
        reporter_phone="13912345678",
        reporter_id_number="430121199001011237",
    )
    await client.post("/status", data={"csrf": csrf, "query_code": code}, headers=HTML)
    await client.post(
        "/status/followup",
        data={"csrf": csrf, "query_code": code, "content": "补充：还有一笔一万元。"},
        headers=HTML,
    )
    await client.post("/status/followup", data={"csrf": csrf, "query_code": code}, headers=HTML)
    # The test server's own access log is not ours (``intake serve`` runs without one).
    ours = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records if r.name != "aiohttp.access")
    assert case_no in ours  # the log does say what happened
    for secret in (*secrets_, code, code.replace(" ", ""), "127.0.0.1"):
        assert secret not in ours, secret


async def test_proof_of_identity_is_sealed_with_the_identity(
    client: Any, services: Any, tmp_path: Path
) -> None:
    """An ID-card photo uploaded as proof of identity is not an attachment handlers see: it is
    sealed in the vault, comes back only through an approved reveal, and dies with the identity."""
    png = (FIXTURES / "report__with_attachment.png").read_bytes()
    pdf = (FIXTURES / "report__with_attachment.pdf").read_bytes()
    csrf, sid = await open_form(client)
    form = report_form(
        csrf, sid, identity="real", reporter_name="甄宝琮", reporter_phone="13912345678", a=("材料.pdf", pdf)
    )
    form.add_field("identity_files", png, filename="甄宝琮身份证.png", content_type="image/png")
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 201, await resp.text()
    case_no, _ = receipt_of(await resp.text())

    svc = services(client)
    report = await svc.db.reports.get(case_no)
    assert report.attachments == 1  # the evidence only
    async with svc.db.read_engine.connect() as conn:
        types = (await conn.execute(sa.text("SELECT content_type FROM attachments"))).scalars().all()
        kinds = (await conn.execute(sa.text("SELECT kind FROM vault_entries ORDER BY kind"))).scalars().all()
    assert types == ["application/pdf"]
    assert kinds == ["handle", "identity", "identity_file"]
    everything = b"".join(p.read_bytes() for p in svc.settings.data_dir.rglob("*") if p.is_file())
    assert png[8:] not in everything and "甄宝琮身份证".encode() not in everything

    vs = VaultService(svc.db, svc.clock)
    for name in ("alice", "bob"):
        await vs.add_custodian(name, "test")
    req = await vs.request(case_no, "identity", "alice", "核查检举人身份")
    await vs.approve(req.id, "bob")
    revealed = await vs.open(req.id, "alice")
    doc = revealed.entries["identity_file"]
    assert (doc["filename"], doc["content_type"], doc["size"]) == ("甄宝琮身份证.png", "image/png", len(png))
    assert base64.b64decode(doc["data"]) == png
    saved = save_identity_files(revealed.entries, tmp_path / "reveal")
    path = Path(saved["identity_file"][0]["saved_to"])
    assert path.read_bytes() == png and path.stat().st_mode & 0o777 == 0o600 and path.name == "01.png"
    assert "data" not in saved["identity_file"][0] and saved["identity"] == revealed.entries["identity"]

    assert (await vs.shred(timedelta(0), "test")).entries == 3
    with pytest.raises(VaultGone):
        await vs.request(case_no, "identity", "alice", "再次核查")


async def test_proof_of_identity_is_not_kept_for_an_anonymous_report(client: Any, services: Any) -> None:
    png = (FIXTURES / "report__with_attachment.png").read_bytes()
    csrf, sid = await open_form(client)
    form = report_form(csrf, sid, identity="anonymous", reporter_name="甄宝琮")
    form.add_field("identity_files", png, filename="身份证.png", content_type="image/png")
    resp = await client.post("/reports", data=form, headers=HTML)
    assert resp.status == 201
    svc = services(client)
    async with svc.db.read_engine.connect() as conn:
        kinds = (await conn.execute(sa.text("SELECT kind FROM vault_entries"))).scalars().all()
        files = (await conn.execute(sa.text("SELECT count(*) FROM attachments"))).scalar()
    assert kinds == ["handle"] and files == 0
    everything = b"".join(p.read_bytes() for p in svc.settings.data_dir.rglob("*") if p.is_file())
    assert "甄宝琮".encode() not in everything


async def test_status_page_timeline_rating_and_review(client: Any, services: Any) -> None:
    """Issue 17: the dated timeline, the rating form once per answer, the review request (no script)."""
    csrf, case_no, code = await file_report(client)
    svc = services(client)
    resp = await client.post("/status", data={"csrf": csrf, "query_code": code}, headers=HTML)
    html = await resp.text()
    assert 'data-event="received"' in html and 'id="feedback"' not in html
    await answer(svc, case_no)
    resp = await client.post("/status", data={"csrf": csrf, "query_code": code}, headers=HTML)
    html = await resp.text()
    assert 'data-event="accepted"' in html and 'data-event="replied"' in html
    assert 'id="feedback"' in html and 'id="review"' in html and 'value="review"' in html
    assert "loop_sup" not in html

    form = {"csrf": csrf, "query_code": code, "rating": "dissatisfied", "comment": "没有解决问题"}
    resp = await client.post("/status/feedback", data=form, headers=HTML)
    html = await resp.text()
    assert resp.status == 200 and "感谢您的评价（不满意）" in html
    assert 'id="feedback"' not in html and 'id="rated">您已评价：不满意' in html
    assert [f.rating for f in await feedback_of(svc, case_no)] == ["dissatisfied"]
    resp = await client.post("/status/feedback", data=form, headers=HTML)
    assert resp.status == 409 and "已经评价过" in await resp.text()

    form = {"csrf": csrf, "query_code": code, "kind": "review", "reason": "处理结果与事实不符"}
    resp = await client.post("/status/review", data=form, headers=HTML)
    html = await resp.text()
    assert resp.status == 200, html
    assert "您的复查申请已收到" in html and "市级纪检监察机关" in html
    assert 'data-event="review_requested"' in html
    [asked] = await reviews_of(svc, case_no)
    assert asked.to_unit == "4301" and asked.reason == "处理结果与事实不符"
    resp = await client.post("/status/review", data={**form, "reason": " "}, headers=HTML)
    assert resp.status == 422 and case_no in await resp.text()


async def test_wrong_code_for_rating_or_review_is_the_404_page(client: Any, services: Any) -> None:
    csrf, _ = await open_form(client)
    wrong = "1234 1234 1234 1234"
    for path, extra in [
        ("/status/feedback", {"rating": "satisfied"}),
        ("/status/review", {"kind": "review"}),
    ]:
        resp = await client.post(
            path, data={"csrf": csrf, "query_code": wrong, "reason": "x", **extra}, headers=HTML
        )
        assert resp.status == 404 and "查询码无效" in await resp.text()
