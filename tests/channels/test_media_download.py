"""``channels.media.download_complete``, the one download of every platform file, against a local
server that delivers like a network (64 KiB chunks with pauses) or breaks like one."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from channels.media import DownloadError, MediaTooLarge, download_complete
from tests.fakes.slow import CHUNK, FAULTS, media_file, serve_slowly

FILE = media_file(b"\x89PNG\r\n\x1a\n", 1_500_000)
SECRET = "ACCESS-TOKEN-must-not-show"


@pytest.fixture
async def url(aiohttp_server: Any) -> str:
    async def media(request: web.Request) -> web.StreamResponse:
        q = request.query
        if "status" in q:
            return web.json_response({"message": "号码 +8613912345678 无效"}, status=int(q["status"]))
        data = FILE[: int(q["size"])] if "size" in q else FILE
        if q.get("fault") == "none-declared":  # chunked, whole: no length known before the end
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for start in range(0, len(data), CHUNK):
                await resp.write(data[start : start + CHUNK])
            await resp.write_eof()
            return resp
        return await serve_slowly(request, data, "image/png", q.get("fault"))

    app = web.Application()
    app.router.add_get("/media", media)
    server = await aiohttp_server(app)
    return str(server.make_url("/media"))


async def fetch(url: str, max_bytes: int = 10 * 1024 * 1024, **params: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        got = await download_complete(session, url, max_bytes=max_bytes, params={"token": SECRET, **params})
    return got.data


async def test_a_body_in_many_chunks_arrives_whole(url: str) -> None:
    assert len(FILE) // CHUNK >= 20
    assert await fetch(url) == FILE
    assert await fetch(url, fault="none-declared") == FILE
    assert await fetch(url, max_bytes=len(FILE)) == FILE  # exactly at the cap


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_body_cut_short_or_dropped_is_an_incomplete_download(url: str, fault: str) -> None:
    with pytest.raises(DownloadError) as err:
        await fetch(url, fault=fault)
    assert err.value.reason == "incomplete" and not isinstance(err.value, MediaTooLarge)
    assert str(err.value) == "download failed: incomplete"  # no URL, no token


async def test_over_the_cap_declared_or_not_is_refused(url: str) -> None:
    with pytest.raises(MediaTooLarge):
        await fetch(url, max_bytes=len(FILE) - 1)
    # By Content-Length, before the body: read, this half of it would end as "incomplete".
    with pytest.raises(MediaTooLarge):
        await fetch(url, max_bytes=len(FILE) * 3 // 4, fault="short")
    with pytest.raises(MediaTooLarge):
        await fetch(url, max_bytes=3 * CHUNK, fault="none-declared")  # while reading


async def test_an_error_status_or_no_server_says_only_that(url: str) -> None:
    with pytest.raises(DownloadError) as err:
        await fetch(url, status="404")
    assert (err.value.reason, err.value.status) == ("status", 404)
    assert "+86" not in str(err.value) and SECRET not in str(err.value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/media"
    with pytest.raises(DownloadError) as err:
        await fetch(closed)
    assert err.value.reason == "unreachable" and SECRET not in str(err.value)
