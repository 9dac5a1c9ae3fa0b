"""WeChat's server API, as far as this channel needs it: the access token (cached, refreshed
before it expires and when WeChat says it is stale), customer-service text messages, and temporary
media downloads (through :func:`channels.media.download_complete`: whole, or an error). Never called
inside a passive-reply window except for a late reply. The JSON calls read their (small) answers
with ``resp.read()``, which reads to the end and raises on a body cut short."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import aiohttp

from channels.media import download_complete
from intake.clock import Clock

DEFAULT_API_BASE = "https://api.weixin.qq.com"
STALE_TOKEN = {40001, 40014, 42001}  # invalid, malformed, expired access_token
MAX_MEDIA_BYTES = 10 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=15)


class WeChatApiError(Exception):
    """WeChat answered with an ``errcode`` (the code only: messages may echo request data)."""

    def __init__(self, errcode: int) -> None:
        super().__init__(f"WeChat API errcode {errcode}")
        self.errcode = errcode


class WeChatClient:
    def __init__(self, base: str, app_id: str, app_secret: str, clock: Clock) -> None:
        self._base = base.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[str, Any] | None = None  # (token, expires at)
        self._lock = asyncio.Lock()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def access_token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            now = self._clock.now()
            if self._token is not None and not refresh and now < self._token[1]:
                return self._token[0]
            params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
            async with self._http().get(f"{self._base}/cgi-bin/token", params=params) as resp:
                doc = _json(await resp.read())
            token, expires_in = doc.get("access_token"), doc.get("expires_in", 7200)
            if not isinstance(token, str) or not token:
                raise WeChatApiError(int(doc.get("errcode", -1)))
            # Refresh five minutes early, so that a token never expires between check and use.
            self._token = (token, now + timedelta(seconds=max(60, int(expires_in) - 300)))
            return token

    async def _call(self, path: str, body: dict[str, Any]) -> None:
        for attempt in (1, 2):
            token = await self.access_token(refresh=attempt == 2)
            async with self._http().post(
                f"{self._base}{path}",
                params={"access_token": token},
                data=json.dumps(body, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
            ) as resp:
                doc = _json(await resp.read())
            errcode = int(doc.get("errcode", 0))
            if errcode == 0:
                return
            if errcode not in STALE_TOKEN or attempt == 2:
                raise WeChatApiError(errcode)

    async def send_text(self, openid: str, text: str) -> None:
        """Customer-service message (客服消息): allowed within 48 hours of the user's last message."""
        await self._call(
            "/cgi-bin/message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}}
        )

    async def download_media(self, media_id: str) -> bytes:
        """A temporary media file, whole (:class:`~channels.media.DownloadError` otherwise). WeChat
        answers an error as a JSON body with status 200, so the type tells a file from an error."""
        for attempt in (1, 2):
            token = await self.access_token(refresh=attempt == 2)
            got = await download_complete(
                self._http(),
                f"{self._base}/cgi-bin/media/get",
                params={"access_token": token, "media_id": media_id},
                max_bytes=MAX_MEDIA_BYTES,
            )
            if got.content_type not in ("application/json", "text/plain"):
                return got.data
            errcode = int(_json(got.data).get("errcode", -1))
            if errcode not in STALE_TOKEN or attempt == 2:
                raise WeChatApiError(errcode)
        raise WeChatApiError(-1)  # not reached


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise WeChatApiError(-1) from None
    if not isinstance(doc, dict):
        raise WeChatApiError(-1)
    return doc
