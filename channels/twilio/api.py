"""Twilio's REST API, as far as this channel needs it: outbound SMS (the async Twilio client),
downloading a call recording or an MMS picture, and deleting it afterwards so that no copy stays
with the provider.

Every call goes to ``INTAKE_TWILIO_API_BASE`` (Twilio's own by default; tests point it at a local
fake). Errors are raised as :class:`TwilioApiError` carrying only the HTTP status and Twilio's error
code: Twilio's messages can quote the destination number, which must never reach a log. Downloads
go through :func:`channels.media.download_complete` (whole or :class:`~channels.media.DownloadError`).
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.media import download_complete

DEFAULT_API_BASE = "https://api.twilio.com"
MAX_MEDIA_BYTES = 25 * 1024 * 1024  # a 10-minute WAV at 8 kHz is ~10 MB; MMS media are ≤ 5 MB
TIMEOUT = aiohttp.ClientTimeout(total=60)
SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")

# The SDK logs every request at INFO; its own logger is kept at WARNING so that nothing about a
# message (URL, headers) reaches our logs.
_sdk_log = logging.getLogger("channels.twilio.sdk")
_sdk_log.setLevel(logging.WARNING)


class TwilioApiError(Exception):
    """Twilio refused or could not be reached. ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, code: int | None = None) -> None:
        super().__init__(f"Twilio API status {status}" + (f" code {code}" if code else ""))
        self.status = status
        self.code = code


class TwilioApi:
    """Built inside the running loop (the SDK's async client opens its session at once)."""

    def __init__(self, base: str, account_sid: str, auth_token: str, sender: str | None) -> None:
        self.base = base.rstrip("/")
        self.account_sid = account_sid
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth_header = {"Authorization": f"Basic {credentials}"}
        self.sender = sender  # an E.164 number or a Messaging Service SID (MG…); None: no SMS out
        self._http = AsyncTwilioHttpClient(logger=_sdk_log, timeout=30)
        self.client = Client(account_sid, auth_token, http_client=self._http)
        self.client.api.base_url = self.base
        self._session: aiohttp.ClientSession | None = None

    def _download_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False)
        return self._session

    async def close(self) -> None:
        await self._http.close()
        if self._session is not None:
            await self._session.close()

    # --- SMS ---------------------------------------------------------------------------------

    async def send_sms(self, to: str, body: str) -> str:
        """Send one SMS (Twilio splits it into segments; callers keep it ≤ 1600 characters)."""
        if self.sender is None:
            raise TwilioApiError(0)
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self.sender.startswith("MG"):
            kwargs["messaging_service_sid"] = self.sender
        else:
            kwargs["from_"] = self.sender
        try:
            message = await self.client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            raise TwilioApiError(exc.status, exc.code) from None
        except (TwilioException, aiohttp.ClientError, TimeoutError):
            raise TwilioApiError(0) from None
        return str(message.sid)

    # --- recordings and MMS media ------------------------------------------------------------

    def recording_path(self, recording_sid: str) -> str:
        if not SID.fullmatch(recording_sid) or not recording_sid.startswith("RE"):
            raise ValueError("not a recording SID")
        return f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}"

    def media_path(self, media_url: str) -> tuple[str, str, str]:
        """``(path, message SID, media SID)`` of an MMS ``MediaUrl<n>`` of *this* account; the
        host is ignored (the download goes to the configured API base)."""
        m = re.fullmatch(
            rf"https?://[^/]+(/2010-04-01/Accounts/{re.escape(self.account_sid)}"
            r"/Messages/(MM[0-9a-f]{32})/Media/(ME[0-9a-f]{32}))",
            media_url,
        )
        if m is None:
            raise ValueError("not a media URL of this account")
        return m.group(1), m.group(2), m.group(3)

    async def download(self, path: str) -> bytes:
        """GET ``path`` (with the account's credentials) from the API base: the whole file, at most
        25 MiB, or :class:`~channels.media.DownloadError` (then nothing may be deleted)."""
        got = await download_complete(
            self._download_session(), self.base + path, headers=self._auth_header, max_bytes=MAX_MEDIA_BYTES
        )
        return got.data

    async def download_recording(self, recording_sid: str) -> bytes:
        return await self.download(self.recording_path(recording_sid) + ".wav")

    async def delete_recording(self, recording_sid: str) -> None:
        self.recording_path(recording_sid)  # validates the SID
        await self._delete(lambda: self.client.recordings(recording_sid).delete_async())

    async def delete_media(self, message_sid: str, media_sid: str) -> None:
        await self._delete(lambda: self.client.messages(message_sid).media(media_sid).delete_async())

    @staticmethod
    async def _delete(call: Any) -> None:
        try:
            await call()
        except TwilioRestException as exc:
            if exc.status == 404:
                return  # already gone: what we wanted
            raise TwilioApiError(exc.status, exc.code) from None
        except (TwilioException, aiohttp.ClientError, TimeoutError):
            raise TwilioApiError(0) from None
