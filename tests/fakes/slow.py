"""A file served the way a real network delivers it, for the fake platform APIs: in 64 KiB chunks
with a short pause after each (so the client sees the body arrive in pieces, not in one read), and
on request broken: cut short of its ``Content-Length``, or dropped mid-way through a chunked body.
"""

from __future__ import annotations

import asyncio
import random
from typing import Literal

from aiohttp import web

CHUNK = 64 * 1024
PAUSE = 0.002  # seconds between chunks: what the client's reader sees as the network's pace
Fault = Literal["short", "drop"]
FAULTS: tuple[Fault, ...] = ("short", "drop")


def media_file(signature: bytes, size: int) -> bytes:
    """A file of exactly ``size`` bytes starting with a format's signature (what the server sniffs),
    the rest reproducible noise, so that a byte lost or misplaced anywhere shows."""
    return signature + random.Random(size).randbytes(size - len(signature))


async def serve_slowly(
    request: web.Request, data: bytes, content_type: str, fault: Fault | None = None
) -> web.StreamResponse:
    """``short``: ``Content-Length`` declares the whole file, half of it is sent, the connection
    closes. ``drop``: chunked transfer (no length declared), half sent, the connection closes
    without the last chunk. ``None``: the whole file, with its ``Content-Length``."""
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    if fault == "drop":
        resp.enable_chunked_encoding()
    else:
        resp.content_length = len(data)
    await resp.prepare(request)
    end = len(data) // 2 if fault else len(data)
    try:
        for start in range(0, end, CHUNK):
            await resp.write(data[start : min(start + CHUNK, end)])  # write() drains the transport
            await asyncio.sleep(PAUSE)
    except ConnectionResetError:
        return resp  # the client stopped reading (it refused the file): nothing more to serve
    if fault:
        assert request.transport is not None
        request.transport.close()  # the network fails: no more bytes, no proper end of body
        return resp
    await resp.write_eof()
    return resp
