"""Weibo's reply API (主动回复): a text to a fan within 48 hours of their last message."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

DEFAULT_API_BASE = "https://m.api.weibo.com"
TIMEOUT = aiohttp.ClientTimeout(total=15)


class WeiboApiError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"Weibo API error_code {code}")
        self.code = code


def encode_data(doc: dict[str, Any]) -> str:
    """Weibo's ``data`` field: URL-encoded compact UTF-8 JSON (reproduces the documented example)."""
    return quote(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), safe="")


class WeiboClient:
    def __init__(self, base: str, access_token: str) -> None:
        self._base = base.rstrip("/")
        self._token = access_token
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def reply(self, uid: str, text: str) -> None:
        form = {
            "access_token": self._token,
            "type": "text",
            "data": encode_data({"text": text}),
            "receiver_id": uid,
            "save_sender_box": "0",
        }
        async with self._http().post(f"{self._base}/2/messages/reply.json", data=form) as resp:
            raw = await resp.read()
            status = resp.status
        try:
            doc = json.loads(raw)
        except ValueError:
            raise WeiboApiError(-1) from None
        if status != 200 or not isinstance(doc, dict) or "error_code" in doc:
            code = doc.get("error_code", -1) if isinstance(doc, dict) else -1
            raise WeiboApiError(int(code) if isinstance(code, int | str) and str(code).isdigit() else -1)
