"""A real TCP client that sends one HTTP request in several writes, as slow or fragmenting clients
do (``curl`` over a congested link, a platform's proxy): the server sees the body arrive in pieces.

Each write is drained before the next; the pause between writes is the scenario itself (a TCP
segment that arrives later), not a wait for the server to reach some state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PAUSE = 0.3  # seconds between segments: what the outside probe used


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return str(self.json()["error"]["code"])


def request_head(method: str, path: str, headers: Mapping[str, str], content_length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if content_length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def split(body: bytes, parts: int) -> list[bytes]:
    size = -(-len(body) // parts)
    return [body[i : i + size] for i in range(0, len(body), size)]


def chunked(segments: Sequence[bytes]) -> list[bytes]:
    """The segments in HTTP/1.1 chunked framing (no Content-Length), the last carrying the end."""
    framed = [f"{len(s):x}\r\n".encode() + s + b"\r\n" for s in segments]
    framed[-1] += b"0\r\n\r\n"
    return framed


async def send_in_segments(
    client: Any,
    path: str,
    segments: Sequence[bytes],
    headers: Mapping[str, str],
    *,
    content_length: int | None = -1,
    pause: float = PAUSE,
    end_early: bool = False,
) -> RawResponse:
    """POST ``segments`` (the body, in order) to the test server behind ``client``, one write each.

    ``content_length``: -1 for the body's true length, None for chunked framing, or a number to
    claim. ``end_early``: close our side after the last segment (a body cut off in transit)."""
    body_length = sum(len(s) for s in segments)
    length = body_length if content_length == -1 else content_length
    writes = list(segments) if length is not None else chunked(segments)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request_head("POST", path, headers, length) + writes[0])
        await writer.drain()
        for segment in writes[1:]:
            await asyncio.sleep(pause)  # the next TCP segment arrives later: the scenario itself
            writer.write(segment)
            await writer.drain()
        if end_early:
            writer.write_eof()
        raw = await reader.read()  # ``Connection: close``: the response ends with the connection
    finally:
        writer.close()
        await writer.wait_closed()
    return parse_response(raw)


def parse_response(raw: bytes) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawResponse(status, headers, body)


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
