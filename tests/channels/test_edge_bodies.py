"""Request bodies at the edge (issue 14, defects 2 and 4): every route reads its body whole with
the one bounded reader, parses JSON with the one parser, and answers bad transport, bad encoding,
deep nesting and malformed multipart with a typed 4xx, storing nothing.

Split bodies go over a real TCP socket in several writes (``tests/rawhttp.py``).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from aiohttp import streams, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import ContentLengthError
from aiohttp.test_utils import make_mocked_request

from channels.base import read_bounded_json
from intake.errors import IntakeError
from server.config import Settings
from tests.channels.web.test_web_form import open_form
from tests.fakes import telegram, weibo
from tests.fakes.server import Platforms, count_rows, receipt_of
from tests.fakes.telegram import TelegramServer, message, start_telegram
from tests.rawhttp import send_in_segments, split

JSON = {"Content-Type": "application/json"}
HTML = {"Accept": "text/html"}
FACTS = "黄兴镇某站所负责人张某某在审批过程中收受他人礼金两万元，并要求申请人在指定饭店宴请。"
CHAT = 700100300
DEEP = 1000  # the probe's depth: past the interpreter's recursion limit


def report(size: int) -> bytes:
    """A valid app report of about ``size`` bytes of JSON, escaped to ASCII as many clients send
    it (six bytes a character: 80 KB stays within the 20,000 characters allowed)."""
    content = (FACTS * (size // 6 // len(FACTS) + 1))[: size // 6]
    return json.dumps({"title": "收受礼金", "content": content}).encode()


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


async def error_of(resp: Any) -> tuple[int, str]:
    return resp.status, (await resp.json())["error"]["code"]


@pytest.fixture
async def tg(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> TelegramServer:
    return await start_telegram(aiohttp_client, aiohttp_server, make_settings)


# --- bodies in several TCP segments (defect 2) ----------------------------------------------------


async def test_a_report_in_two_segments_is_filed(client: Any, services: Any) -> None:
    body = report(2048)
    assert 2000 <= len(body) <= 2200
    resp = await send_in_segments(client, "/api/v1/reports", split(body, 2), JSON)
    assert resp.status == 201, resp.body
    assert resp.json()["case_no"]
    assert await services(client).db.reports.count() == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_an_80_kb_report_in_several_segments_is_filed(client: Any, services: Any, framing: str) -> None:
    body = report(80_000)
    assert len(body) >= 79_000
    length = -1 if framing == "content-length" else None
    resp = await send_in_segments(
        client, "/api/v1/reports", split(body, 5), JSON, content_length=length, pause=0.1
    )
    assert resp.status == 201, resp.body
    stored = await services(client).db.reports.get(resp.json()["case_no"])
    assert stored is not None and len(stored.content) == len(json.loads(body)["content"])


async def test_a_form_in_two_segments_is_filed(client: Any, services: Any) -> None:
    csrf, sid = await open_form(client)
    boundary = "edgeboundary"
    fields = {"csrf": csrf, "submission_id": sid, "content": FACTS * 20, "identity": "anonymous"}
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        ).encode()
        + f"--{boundary}--\r\n".encode()
    )
    cookie = "; ".join(f"{c.key}={c.value}" for c in client.session.cookie_jar)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Cookie": cookie,
        **HTML,
    }
    resp = await send_in_segments(client, "/reports", split(body, 2), headers)
    assert resp.status == 201, resp.body.decode()
    assert await services(client).db.reports.count() == 1


async def test_a_weibo_push_in_two_segments_is_answered(sp: Platforms) -> None:
    push = json.dumps(weibo.push(2489518277, "text", "举报 " + FACTS), ensure_ascii=False).encode()
    query = "&".join(f"{k}={v}" for k, v in weibo.signed_query().items())
    resp = await send_in_segments(sp.client, f"/channels/weibo?{query}", split(push, 2), JSON)
    assert resp.status == 200, resp.body
    case_no, _ = receipt_of(json.loads(unquote(resp.json()["data"]))["text"])
    assert (await sp.services.db.reports.get(case_no)) is not None


async def test_a_telegram_update_in_two_segments_is_processed(tg: TelegramServer) -> None:
    update = json.dumps(message(CHAT, text="/report " + FACTS), ensure_ascii=False).encode()
    headers = {**JSON, "X-Telegram-Bot-Api-Secret-Token": telegram.SECRET}
    resp = await send_in_segments(tg.client, "/channels/telegram", split(update, 2), headers)
    assert resp.status == 200, resp.body
    assert await count_rows(tg.services, "reports") == 1
    assert "查询码" in tg.api.texts(CHAT)[-1]


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        # What aiohttp's parser sets on the body when the connection ends before Content-Length
        # bytes came, and what a cancelled request gets when the client goes away.
        (
            web.RequestPayloadError("Not enough data to satisfy content length header."),
            ContentLengthError(""),
        ),
        (ConnectionResetError("Connection lost"), None),
    ],
)
async def test_a_body_cut_off_in_transit_is_400(error: BaseException, cause: BaseException | None) -> None:
    # The client is gone, so no answer reaches it: the reader itself must raise a typed 400
    # (a 500 would log a traceback). Driven through aiohttp's own stream, failed as aiohttp fails it.
    loop = asyncio.get_running_loop()
    payload = streams.StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    payload.feed_data(report(2048)[:1000])
    if cause is None:
        payload.set_exception(error)
    else:
        payload.set_exception(error, cause)
    request = make_mocked_request(
        "POST", "/api/v1/reports", headers={**JSON, "Content-Length": "2048"}, payload=payload
    )
    with pytest.raises(IntakeError) as refused:
        await read_bounded_json(request, 1 << 20)
    assert (refused.value.status, refused.value.code) == (400, "incomplete_body")


# --- Content-Encoding (defect 4) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/reports", "application/json"),
        ("/api/v1/staff/login", "application/json"),
        ("/reports", "multipart/form-data; boundary=b"),
        ("/status", "application/x-www-form-urlencoded"),
        ("/status/followup", "application/x-www-form-urlencoded"),
    ],
)
async def test_gzip_header_on_a_body_that_is_not_gzip_is_400(
    client: Any, services: Any, path: str, content_type: str
) -> None:
    if path.startswith(("/reports", "/status")):
        await open_form(client)  # the form's cookie: the body is read only for a page of ours
    headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
    resp = await client.post(path, data=b"this is not gzip at all " * 40, headers=headers)
    assert await error_of(resp) == (400, "bad_content_encoding")
    assert await services(client).db.reports.count() == 0


async def test_a_gzipped_report_is_read_and_filed(client: Any, services: Any) -> None:
    body = gzip.compress(report(4000))
    resp = await client.post("/api/v1/reports", data=body, headers={**JSON, "Content-Encoding": "gzip"})
    assert resp.status == 201
    assert await services(client).db.reports.count() == 1


def bomb(decoded_bytes: int) -> bytes:
    """A gzip stream of ``decoded_bytes`` spaces (about a thousandth of that on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    out = [packer.compress(b'{"content": "')]
    for _ in range(decoded_bytes // len(block)):
        out.append(packer.compress(block))
    out.append(packer.compress(b'"}') + packer.flush())
    return b"".join(out)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_gzip_bomb_stops_at_the_cap(
    aiohttp_client: Any, make_settings: Callable[..., Settings], framing: str
) -> None:
    import channels
    from server.app import build_app, services_of

    app = build_app(make_settings(INTAKE_MAX_JSON_BYTES="65536"), channels.REGISTRY, run_worker=False)
    client = await aiohttp_client(app)
    wire = bomb(64 << 20)
    assert len(wire) < 65536 < 64 << 20  # under the cap on the wire, a thousand times it decoded
    headers = {**JSON, "Content-Encoding": "gzip"}
    length = -1 if framing == "content-length" else None
    resp = await send_in_segments(client, "/api/v1/reports", split(wire, 2), headers, content_length=length)
    assert (resp.status, resp.code) == (413, "payload_too_large")
    assert await services_of(app).db.reports.count() == 0


async def test_a_gzip_bomb_in_a_form_stops_at_the_cap(client: Any, services: Any) -> None:
    await open_form(client)
    wire = bomb(32 << 20)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
    resp = await client.post("/status", data=wire, headers=headers)
    assert await error_of(resp) == (413, "payload_too_large")
    assert await services(client).db.reports.count() == 0


# --- JSON nested deeper than the parser allows (defect 4) -----------------------------------------

APP_ROUTES = [
    "/api/v1/reports",
    "/api/v1/status",
    "/api/v1/followups",
    "/api/v1/recusals",
    "/api/v1/staff/login",
]


@pytest.mark.parametrize("path", APP_ROUTES)
@pytest.mark.parametrize(
    "doc", [nested(DEEP), '{"content": ' + nested(DEEP) + "}", '{"content": "x", "a": ' + nested(65) + "}"]
)
async def test_deeply_nested_json_is_400_too_deep(client: Any, services: Any, path: str, doc: str) -> None:
    resp = await client.post(path, data=doc.encode(), headers=JSON)
    assert await error_of(resp) == (400, "too_deep")
    assert await services(client).db.reports.count() == 0


async def test_nesting_within_the_bound_is_parsed(client: Any, services: Any) -> None:
    # 64 levels in all: the object itself and 63 lists (unknown keys are dropped).
    doc = '{"content": "' + FACTS + '", "extra": ' + nested(63) + "}"
    resp = await client.post("/api/v1/reports", data=doc.encode(), headers=JSON)
    assert resp.status == 201
    assert await services(client).db.reports.count() == 1


async def test_deep_platform_pushes_are_400(sp: Platforms, tg: TelegramServer) -> None:
    deep = '{"a": ' + nested(DEEP) + "}"
    resp = await sp.wb.post_raw(deep.encode())
    assert await error_of(resp) == (400, "too_deep")
    headers = {**JSON, "X-Telegram-Bot-Api-Secret-Token": telegram.SECRET}
    resp = await tg.client.post("/channels/telegram", data=deep.encode(), headers=headers)
    assert await error_of(resp) == (400, "too_deep")
    assert await count_rows(sp.services, "reports") == 0
    assert await count_rows(tg.services, "reports") == 0


# --- malformed multipart and control characters in part headers (defect 4) ------------------------

MALFORMED = {
    "header_without_colon": b"--b\r\nContent-Disposition\r\n\r\nabc\r\n--b--\r\n",
    "nul_in_a_field_name": b'--b\r\nContent-Disposition: form-data; name="a\x00b"\r\n\r\nabc\r\n--b--\r\n',
    "esc_in_a_field_name": b'--b\r\nContent-Disposition: form-data; name="a\x1bb"\r\n\r\nabc\r\n--b--\r\n',
    "no_boundary_line": b"garbage before any boundary\r\n",
    "truncated": b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nabc',
}


@pytest.mark.parametrize("path", ["/reports", "/status", "/status/followup", "/console/login"])
@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_multipart_is_400(client: Any, services: Any, path: str, case: str) -> None:
    await open_form(client)
    await client.get("/console/login")  # the login page's cookie, without which nothing is read
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    if not path.startswith("/console"):  # the console answers with pages only
        resp = await client.post(path, data=MALFORMED[case], headers=headers)
        assert await error_of(resp) == (400, "malformed_form")
    # A browser gets the error page.
    resp = await client.post(path, data=MALFORMED[case], headers={**headers, **HTML})
    assert resp.status == 400 and 'lang="zh-CN"' in await resp.text()
    assert await services(client).db.reports.count() == 0


def report_with_file(csrf: str, sid: str, disposition: bytes) -> bytes:
    head = (
        f'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        f'--b\r\nContent-Disposition: form-data; name="submission_id"\r\n\r\n{sid}\r\n'
        f'--b\r\nContent-Disposition: form-data; name="content"\r\n\r\n{FACTS}\r\n'
    ).encode()
    return head + b"--b\r\n" + disposition + b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"


@pytest.mark.parametrize("name", [b"a\x00b.txt", b"a\x1bb.txt", b"a\rb.txt", b"\x7f.txt"])
async def test_a_control_character_in_a_filename_is_400(client: Any, services: Any, name: bytes) -> None:
    csrf, sid = await open_form(client)
    body = report_with_file(
        csrf, sid, b'Content-Disposition: form-data; name="attachments"; filename="' + name + b'"'
    )
    resp = await client.post(
        "/reports", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert await error_of(resp) == (400, "malformed_form")
    assert await services(client).db.reports.count() == 0


async def test_an_encoded_control_character_in_a_filename_is_removed(client: Any, services: Any) -> None:
    # RFC 5987 ``filename*`` gets past the header parser as escapes: the stored name has none.
    csrf, sid = await open_form(client)
    disposition = (
        b"Content-Disposition: form-data; name=\"attachments\"; filename*=UTF-8''%E8%AF%81%00%1B%C2%85.txt"
    )
    body = report_with_file(csrf, sid, disposition)
    resp = await client.post(
        "/reports", data=body, headers={"Content-Type": "multipart/form-data; boundary=b", **HTML}
    )
    assert resp.status == 201, await resp.text()
    db = services(client).db
    async with db.read_engine.connect() as conn:
        ids = (await conn.execute(sa.text("SELECT id FROM attachments"))).scalars().all()
    assert [db.blobs.get(uuid.UUID(str(i))).filename for i in ids] == ["证.txt"]
