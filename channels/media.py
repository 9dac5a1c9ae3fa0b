"""The one way a channel downloads a file from its platform's API (Twilio call recordings and MMS
pictures, WeChat temporary media, Telegram files): the body is read to its end, bounded, and
checked complete.

A download is evidence, and after it the platform's copy may be deleted, so "complete" is proven,
not assumed: ``StreamReader.read(n)`` answers with whatever has arrived so far (the first segment
of a slow body), so the body is read in a loop until EOF. aiohttp's parser counts the body's bytes
against ``Content-Length`` (or waits for a chunked body's last chunk) and raises when the
connection ends first; ``tests/channels/test_media_download.py`` pins that. Every failure is a
:class:`DownloadError`, so the job that asked retries and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

CHUNK = 64 * 1024


class DownloadError(Exception):
    """A download that did not arrive whole. ``reason`` is a stable code: ``status`` (the platform
    answered ``status``), ``incomplete`` (the body ended early or the connection dropped),
    ``unreachable`` (no answer, or too slow), ``too_large``. The message holds nothing else: the
    URL may carry an access token, and a platform's error text may quote the user."""

    def __init__(self, reason: str, status: int = 0) -> None:
        super().__init__(f"download failed: {reason}" + (f" (HTTP {status})" if status else ""))
        self.reason = reason
        self.status = status


class MediaTooLarge(DownloadError):
    """Larger than the channel's cap: refused before (by ``Content-Length``) or while reading."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__("too_large")
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class Download:
    data: bytes
    content_type: str


async def download_complete(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    client_timeout: aiohttp.ClientTimeout | None = None,
) -> Download:
    """GET ``url`` and return its whole body (at most ``max_bytes``) once it has provably ended;
    :class:`DownloadError` for any other answer than 200 or any body that did not arrive whole.
    ``client_timeout``: the session's own when not given."""
    timeout = client_timeout or session.timeout
    try:
        async with session.get(url, headers=headers, params=params, timeout=timeout) as resp:
            if resp.status != 200:
                raise DownloadError("status", resp.status)
            declared = resp.content_length
            if declared is not None and declared > max_bytes:
                raise MediaTooLarge(max_bytes)
            return Download(await _read_to_end(resp, max_bytes), resp.content_type)
    except aiohttp.ClientPayloadError:
        raise DownloadError("incomplete") from None
    except (aiohttp.ClientError, TimeoutError):
        raise DownloadError("unreachable") from None


async def _read_to_end(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise MediaTooLarge(max_bytes)
    return bytes(body)
