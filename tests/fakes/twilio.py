"""A local fake of Twilio's REST API (SMS sends, recordings and MMS media to fetch and delete), and a
driver that plays Twilio calling our webhooks: it signs every request with twilio's own
``RequestValidator`` over the public URL and follows the action URLs of the TwiML we answer."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import secrets
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from aiohttp import web
from defusedxml import ElementTree
from twilio.request_validator import RequestValidator

from tests.fakes.server import SteppedClock
from tests.fakes.slow import Fault, serve_slowly

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_URL = "https://jb.example.gov.cn"
HOTLINE = "+8673112388000"  # the hotline's Twilio number ("To" of calls, "From" of our SMS)
OFFICE = "+8673188880000"  # where <Dial> transfers to a person
CALLER = "+8613912345678"


def wav(seconds: float = 0.5, rate: int = 8000, *, noise: bool = False) -> bytes:
    """A real 8 kHz 16-bit mono WAV file, as Twilio serves recordings: silent, or (``noise``)
    filled with reproducible noise, so that every byte of a long one is worth checking."""
    frames = (
        random.Random(seconds).randbytes(2 * int(rate * seconds))
        if noise
        else b"\x00\x00" * int(rate * seconds)
    )
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(frames))
        + frames
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class FakeTwilioApi:
    """``POST …/Messages.json``; ``GET``/``DELETE`` ``…/Recordings/RE….wav|.json`` and
    ``…/Messages/MM…/Media/ME…[.json]``. Basic auth with the account's SID and token is required.

    Files are served as a network delivers them (:func:`tests.fakes.slow.serve_slowly`); each entry
    of ``faults`` breaks one download, in order. ``on_delete``, when set, is awaited with the SID
    as a ``DELETE`` arrives, before it is carried out (to observe what the server had stored)."""

    sent: list[dict[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    recordings: dict[str, bytes] = field(default_factory=dict)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    fail_sends: int = 0
    fail_downloads: int = 0
    fail_deletes: int = 0
    faults: list[Fault] = field(default_factory=list)
    on_delete: Callable[[str], Awaitable[None]] | None = None
    received: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_post(f"{base}/Messages.json", self.send)
        app.router.add_get(f"{base}/Recordings/{{name}}", self.get_recording)
        app.router.add_delete(f"{base}/Recordings/{{name}}", self.delete_recording)
        app.router.add_get(f"{base}/Messages/{{message}}/Media/{{name}}", self.get_media)
        app.router.add_delete(f"{base}/Messages/{{message}}/Media/{{name}}", self.delete_media)
        return app

    def _check(self, request: web.Request) -> None:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["account"] != ACCOUNT_SID:
            raise web.HTTPUnauthorized(text='{"code": 20003, "message": "Authenticate"}')

    @staticmethod
    def _error(status: int, code: int) -> web.Response:
        return web.json_response({"code": code, "message": "failed", "status": status}, status=status)

    async def send(self, request: web.Request) -> web.Response:
        self._check(request)
        form = dict(await request.post())
        if self.fail_sends:
            self.fail_sends -= 1
            return self._error(500, 20500)
        self.sent.append({k: str(v) for k, v in form.items()})
        self.received.set()
        doc = {"sid": sid("SM"), "status": "queued", "to": form.get("To"), "body": form.get("Body")}
        return web.json_response(doc, status=201)

    async def get_recording(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        name = request.match_info["name"]
        self.downloads.append(name)
        if self.fail_downloads:
            self.fail_downloads -= 1
            return self._error(503, 20503)
        data = self.recordings.get(name.removesuffix(".wav")) if name.endswith(".wav") else None
        if data is None:
            return self._error(404, 20404)
        return await self._serve(request, data, "audio/x-wav")

    async def _serve(self, request: web.Request, data: bytes, content_type: str) -> web.StreamResponse:
        return await serve_slowly(request, data, content_type, self.faults.pop(0) if self.faults else None)

    async def _deleting(self, request: web.Request) -> str:
        self._check(request)
        name = request.match_info["name"].removesuffix(".json")
        if self.on_delete is not None:
            await self.on_delete(name)
        return name

    async def delete_recording(self, request: web.Request) -> web.Response:
        name = await self._deleting(request)
        if self.fail_deletes:
            self.fail_deletes -= 1
            return self._error(500, 20500)
        if self.recordings.pop(name, None) is None:
            return self._error(404, 20404)
        self.deleted.append(name)
        return web.Response(status=204)

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        self.downloads.append(request.match_info["name"])
        found = self.media.get(request.match_info["name"])
        if found is None:
            return self._error(404, 20404)
        return await self._serve(request, *found)

    async def delete_media(self, request: web.Request) -> web.Response:
        name = await self._deleting(request)
        if self.media.pop(name, None) is None:
            return self._error(404, 20404)
        self.deleted.append(name)
        return web.Response(status=204)

    def add_media(self, data: bytes = PNG, content_type: str = "image/png") -> tuple[str, str]:
        """A picture as if an MMS had carried it: (its MediaUrl, its content type)."""
        media_sid, message_sid = sid("ME"), sid("MM")
        self.media[media_sid] = (data, content_type)
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media/{media_sid}"
        return url, content_type


# --- playing Twilio -------------------------------------------------------------------------------


def twilio_env(api_base: str, **extra: str) -> dict[str, str]:
    env = {
        "INTAKE_PUBLIC_URL": PUBLIC_URL,
        "INTAKE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "INTAKE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "INTAKE_TWILIO_API_BASE": api_base,
        "INTAKE_TWILIO_SMS_FROM": HOTLINE,
        "INTAKE_TWILIO_DIAL_NUMBER": OFFICE,
    }
    env.update(extra)
    return env


def signed(path_qs: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """The ``X-Twilio-Signature`` header Twilio would send for a POST to ``PUBLIC_URL + path_qs``."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC_URL + path_qs, params)}


def parse_twiml(raw: str) -> Element:
    root: Element = ElementTree.fromstring(raw)
    assert root.tag == "Response", raw
    return root


def spoken(root: Element) -> str:
    """Everything the caller hears, in order (``<Say>`` text, prosody included)."""
    return "".join("".join(e.itertext()) for e in root.iter("Say"))


def messages(raw: str) -> list[str]:
    return [m.text or "" for m in parse_twiml(raw).iter("Message")]


class Call:
    """One phone call, as Twilio places it: the first webhook, then whatever our TwiML asks for."""

    def __init__(self, driver: TwilioDriver, caller: str = CALLER) -> None:
        self.driver = driver
        self.sid = sid("CA")
        self.caller = caller
        self.twiml: Element | None = None
        self.raw = ""

    def base(self, **extra: str) -> dict[str, str]:
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.sid,
            "From": self.caller,
            "To": HOTLINE,
            "Direction": "inbound",
            "CallStatus": "in-progress",
            "ApiVersion": "2010-04-01",
        }
        params.update(extra)
        return params

    async def start(self) -> Element:
        return await self._post("/channels/twilio/voice", self.base(CallStatus="ringing"))

    def action(self, verb: str = "Gather") -> str:
        """The path and query of the current TwiML's ``verb`` action (absolute on the public URL)."""
        assert self.twiml is not None
        found = [e for e in self.twiml.iter(verb)]
        assert found, (verb, self.raw)
        url = found[-1].get("action") or ""
        assert url.startswith(PUBLIC_URL + "/channels/twilio/voice/"), url
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def attribute(self, verb: str, name: str) -> str:
        assert self.twiml is not None
        found = [e for e in self.twiml.iter(verb)]
        assert found, (verb, self.raw)
        return found[-1].get(name) or ""

    async def press(self, digits: str) -> Element:
        return await self._post(self.action(), self.base(Digits=digits))

    async def say(self, speech: str) -> Element:
        return await self._post(self.action(), self.base(SpeechResult=speech, Confidence="0.91"))

    async def silence(self) -> Element:
        """The caller says and presses nothing (``actionOnEmptyResult`` brings Twilio back)."""
        return await self._post(self.action(), self.base())

    async def record(self, recording_sid: str, seconds: int = 12) -> Element:
        params = self.base(
            RecordingSid=recording_sid,
            RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}",
            RecordingDuration=str(seconds),
            Digits="#",
        )
        return await self._post(self.action("Record"), params)

    async def partial(self, text: str, seq: int) -> int:
        assert self.twiml is not None
        url = [e for e in self.twiml.iter("Gather")][-1].get("partialResultCallback") or ""
        parts = urlsplit(url)
        path = parts.path + f"?{parts.query}"
        params = self.base(UnstableSpeechResult=text, StableSpeechResult=text[:-1], SequenceNumber=str(seq))
        resp = await self.driver.post(path, params)
        return int(resp.status)

    async def recording_status(self, recording_sid: str, status: str = "completed") -> int:
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.sid,
            "RecordingSid": recording_sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}",
            "RecordingStatus": status,
            "RecordingDuration": "12",
            "RecordingChannels": "1",
            "RecordingSource": "RecordVerb",
        }
        resp = await self.driver.post("/channels/twilio/voice/recording-status", params)
        return int(resp.status)

    async def hang_up(self) -> int:
        """Twilio's call status callback when the call ends."""
        resp = await self.driver.post(
            "/channels/twilio/voice/status", self.base(CallStatus="completed", CallDuration="61")
        )
        return int(resp.status)

    async def dial_ended(self, status: str) -> Element:
        return await self._post(self.action("Dial"), self.base(DialCallStatus=status))

    async def _post(self, path_qs: str, params: dict[str, str]) -> Element:
        resp = await self.driver.post(path_qs, params)
        self.raw = await resp.text()
        assert resp.status == 200, (resp.status, self.raw)
        assert resp.content_type == "application/xml"
        self.twiml = parse_twiml(self.raw)
        return self.twiml

    @property
    def heard(self) -> str:
        assert self.twiml is not None
        return spoken(self.twiml)


class TwilioDriver:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.last_params: dict[str, str] = {}

    async def post(
        self, path_qs: str, params: dict[str, str], *, sign: Callable[..., dict[str, str]] = signed
    ) -> Any:
        self.last_params = params
        return await self.client.post(path_qs, data=params, headers=sign(path_qs, params))

    def call(self, caller: str = CALLER) -> Call:
        return Call(self, caller)

    def sms_params(
        self,
        body: str,
        *,
        sender: str = CALLER,
        message_sid: str | None = None,
        media: Sequence[tuple[str, str]] = (),
    ) -> dict[str, str]:
        params = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": message_sid or sid("SM" if not media else "MM"),
            "From": sender,
            "To": HOTLINE,
            "Body": body,
            "NumMedia": str(len(media)),
            "NumSegments": str(max(1, len(body) // 67 + 1)),
            "ApiVersion": "2010-04-01",
        }
        params["SmsMessageSid"] = params["MessageSid"]
        for i, (url, kind) in enumerate(media):
            params[f"MediaUrl{i}"] = url
            params[f"MediaContentType{i}"] = kind
        return params

    async def sms(self, body: str, **kw: Any) -> tuple[int, list[str]]:
        """Send an SMS to the hotline; (status, the texts of our TwiML reply)."""
        resp = await self.post("/channels/twilio/sms", self.sms_params(body, **kw))
        raw = await resp.text()
        if resp.status != 200:
            return resp.status, []
        return resp.status, messages(raw)


CODE = re.compile(r"查询码：([\d ]{16,19})")
CASE = re.compile(r"案件编号：(\S+)")


def receipt_of(text: str) -> tuple[str, str]:
    case, code = CASE.search(text), CODE.search(text)
    assert case and code, text
    return case.group(1), code.group(1).replace(" ", "")


# --- the whole server with the Twilio channel against the fake ------------------------------------


class MovableClock(SteppedClock):
    """A clock the test sets: a Wednesday at 10:00 in Beijing (inside office hours) by default."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@dataclass
class Hotline:
    client: Any
    services: Any
    api: FakeTwilioApi
    driver: TwilioDriver
    clock: MovableClock


async def start_hotline(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Any, db_url: str, **extra: str
) -> Hotline:
    import channels
    from server.app import build_app, services_of

    api = FakeTwilioApi()
    server = await aiohttp_server(api.app())
    env = twilio_env(str(server.make_url("")).rstrip("/"), **extra)
    settings = make_settings(INTAKE_DATABASE_URL=db_url, **env)
    clock = MovableClock()
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return Hotline(client, services_of(client.app), api, TwilioDriver(client), clock)


UNSPELL = str.maketrans("零幺一二三四五六七八九", "01123456789")


def heard_receipts(heard: str) -> list[tuple[str, str]]:
    """The (case number, query code) pairs read out, digits back from their spoken form."""
    pairs = re.findall(r"案件编号：([^。]+)。查询码：([^。]+)。", heard)
    return [
        (
            case.replace(" ", "").replace("，", "-").translate(UNSPELL),
            code.replace(" ", "").replace("，", "").translate(UNSPELL),
        )
        for case, code in pairs
    ]
