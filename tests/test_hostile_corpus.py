"""The bad-input corpus, replayed against the whole server (every channel mounted against the local
fake platforms, video reception included) over raw TCP: each case of
``tests/fixtures/hostile/<channel>/`` gets the answer it declares (a 4xx, or the platform's success
answer), never a 5xx; nothing is stored unless the case says what may be; no traceback, no report
text and none of the case's identity values reach the log (``<data dir>/logs/intake.log``, the same
records as stderr), nor its identity values the response. ``tests/fixtures/hostile/README.md``
describes the cases.

One server per configuration for the whole module (cases are independent: every platform case
speaks as a new sender, and row counts are read before and after each case). Large media served
slowly in 64 KiB chunks by the fake platforms are tested where the downloads are
(``tests/channels/*/test_*_media_download.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

import channels
from intake import logs
from intake.domain import Accused, Location, Reporter, Submission
from intake.staff import totp_now
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.conftest import PG_URL, fresh_pg_database
from tests.fakes import telegram, twilio, wechat, weibo
from tests.fakes.server import platform_env
from tests.hostile import UNCLEAN, Case, Env, all_cases, build, exchange
from video_reception import feature

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*"),
    # aiohttp's notice that it met a hostile Content-Disposition: what those cases send.
    pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionHeader"),
    pytest.mark.filterwarnings("ignore::aiohttp.BadContentDispositionParam"),
]

CASES = all_cases()
COUNTED = ("reports", "messages", "attachments", "vault_entries", "reception_sessions", "reception_chunks")
PASSWORD = "hostile corpus passphrase"
STAFF = {"corpus_reg": ("430121", "registrar"), "corpus_town": ("430121102", "registrar")}
APP_SECRET = "app-hmac-secret-for-the-corpus"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
# Values the setup itself files: they must never reach the log either.
SETUP_IDENTITY = ("闵雪樵", "13873100001", "430121197705056617")
# Phrases of the report texts the corpus and the setup file: report text is never logged either
# (on PostgreSQL a failed statement's parameters carried it, issue 14 defect 3).
REPORT_TEXT = ("安排亲属承揽工程", "征地补偿中虚报冒领", "侵占集体土地补偿款")


# --- the servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    server: TestServer
    services: Services
    log: Path
    env: Env
    fakes: list[TestServer] = field(default_factory=list)

    @property
    def port(self) -> int:
        port = self.server.port
        assert port is not None
        return port

    async def counts(self) -> dict[str, int]:
        async with self.services.db.read_engine.connect() as conn:
            return {
                t: int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())  # noqa: S608
                for t in COUNTED
            }

    async def newest_texts(self) -> list[str]:
        """The text fields of the newest report and the newest follow-up."""
        async with self.services.db.read_engine.connect() as conn:
            report = (
                await conn.execute(
                    sa.text(
                        "SELECT title, content, accused_name, accused_unit, accused_position, location_text "
                        "FROM reports ORDER BY received_at DESC LIMIT 1"
                    )
                )
            ).first()
            message = (
                await conn.execute(sa.text("SELECT body FROM messages ORDER BY id DESC LIMIT 1"))
            ).first()
        return [str(v) for row in (report, message) if row is not None for v in row if v is not None]

    async def close(self) -> None:
        await self.server.close()
        for fake in self.fakes:
            await fake.close()

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")


async def _fake(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def start(data_dir: Path, log: Path, config: str, database_url: str | None) -> Server:
    fakes = [
        await _fake(wechat.FakeWeChatApi().app()),
        await _fake(weibo.FakeWeiboApi().app()),
        await _fake(telegram.FakeBotApi().app()),
        await _fake(twilio.FakeTwilioApi().app()),
    ]
    wx, wb, tg, tw = (str(f.make_url("")) for f in fakes)
    env = {
        "INTAKE_DATA_DIR": str(data_dir),
        "INTAKE_LOG_LEVEL": "INFO",
        "INTAKE_STATUS_ATTEMPTS_PER_MINUTE": "100000",
        "INTAKE_REPORTS_PER_INFORMANT_PER_HOUR": "100000",
        # The browser's recording upload (the fallback) is what the chunk cases try.
        "INTAKE_RECEPTION_SERVER_RECORDING": "0",
        **platform_env(wx, wb),
        **twilio.twilio_env(tw.rstrip("/")),
        **telegram.telegram_env(tg),
    }
    if config == "app_hmac":
        env["INTAKE_APP_HMAC_SECRET"] = APP_SECRET
    if database_url:
        env["INTAKE_DATABASE_URL"] = database_url
    settings = Settings.from_env(env)
    app = build_app(settings, channels.REGISTRY, run_worker=False, features=[feature])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    services = services_of(app)
    port = server.port
    assert port is not None
    srv = Server(server, services, log, Env(port), fakes)
    await prepare(srv)
    return srv


async def prepare(srv: Server) -> None:
    """The records and credentials cases refer to: a filed report (its case number and query code),
    staff signed in (bearer token, console session), the forms' anti-forgery pairs, a booked and
    consented video reception session."""
    services, env = srv.services, srv.env
    assert services.staff is not None
    tokens = {}
    for name, (unit, role) in STAFF.items():
        _, secret = await services.staff.add(name, unit, role, PASSWORD)
        tokens[name], _, _ = await services.staff.login(
            name, PASSWORD, totp_now(secret, services.clock.now()), client="corpus-setup"
        )
    receipt = await services.pipeline.accept(
        Submission(
            channel="web",
            content="黄兴镇某村主任在征地补偿中虚报冒领，涉及金额二十余万元。",
            accused=Accused("褚某", "黄兴镇某村", "村主任"),
            location=Location("430121102", "黄兴镇"),
            reporter=Reporter(*SETUP_IDENTITY[:1], SETUP_IDENTITY[2], SETUP_IDENTITY[1], None),
            anonymous=False,
            handles={"ip": "127.0.0.1"},
        )
    )
    assert receipt.query_code
    env.values.update(case_no=receipt.case_no, query_code=receipt.query_code)
    env.bearer.update(staff_bearer=tokens["corpus_reg"], reception_bearer=tokens["corpus_town"])
    base = f"http://127.0.0.1:{env.port}"
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        env.values["csrf"], env.cookies["web_form"] = await _form_pair(http, "/", "xf_form")
        env.values["login_csrf"], env.cookies["console_login"] = await _form_pair(
            http, "/console/login", "xf_console_login"
        )
        http.cookie_jar.clear()
        http.cookie_jar.update_cookies({"xf_console": tokens["corpus_reg"]})
        env.cookies["console_session"] = {"xf_console": tokens["corpus_reg"]}
        resp = await http.get("/console/file")
        found = CSRF.search(await resp.text())
        assert resp.status == 200 and found, resp.status
        env.values["console_csrf"] = found.group(1)
        env.values["session"] = await _reception_session(http, tokens["corpus_town"])


async def _form_pair(http: aiohttp.ClientSession, path: str, cookie: str) -> tuple[str, dict[str, str]]:
    http.cookie_jar.clear()
    resp = await http.get(path)
    found = CSRF.search(await resp.text())
    assert resp.status == 200 and found, (path, resp.status)
    value = resp.cookies[cookie].value
    return found.group(1), {cookie: value}


async def _reception_session(http: aiohttp.ClientSession, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    slots = (await (await http.get("/reception/api/slots?township=430121102", headers=auth)).json())["slots"]
    body = {
        "township": "430121102",
        "slot": next(s["start"] for s in slots if s["free"]),
        "facts": "反映黄兴镇某村党支部书记侵占集体土地补偿款。",
        "accused": {"name": "褚某", "unit": "黄兴镇某村", "position": "村党支部书记"},
    }
    resp = await http.post("/reception/api/bookings", json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    session = str((await resp.json())["id"])
    resp = await http.post(
        f"/reception/api/sessions/{session}/consent", json={"recorded": True, "attendees": True}, headers=auth
    )
    assert resp.status == 200, await resp.text()
    return session


class Servers:
    """One server per configuration, started when a case first needs it: on PostgreSQL when
    ``INTAKE_TEST_DATABASE_URL`` is set (as in CI: a NUL answers 500 there, not on SQLite), on SQLite
    otherwise."""

    def __init__(self, root: Path, stack: contextlib.AsyncExitStack) -> None:
        self.root = root
        self.log = root / "logs" / "intake.log"  # the process's log: every server's records
        self.stack = stack
        self.running: dict[str, Server] = {}
        self.lock = asyncio.Lock()

    async def get(self, config: str) -> Server:
        async with self.lock:
            if config not in self.running:
                url = await self.stack.enter_async_context(fresh_pg_database()) if PG_URL else None
                srv = await start(self.root / config, self.log, config, url)
                self.stack.push_async_callback(srv.close)
                self.running[config] = srv
            return self.running[config]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Servers]:
    root = tmp_path_factory.mktemp("hostile")
    level = logging.getLogger().level
    logs.setup("INFO", root)  # as in production: JSON lines on stderr and in <data dir>/logs/intake.log
    try:
        async with contextlib.AsyncExitStack() as stack:
            yield Servers(root, stack)
    finally:
        for handler in [h for h in logging.getLogger().handlers if getattr(h, "_intake", False)]:
            logging.getLogger().removeHandler(handler)
            handler.close()
        logging.getLogger().setLevel(level)


# --- the corpus -------------------------------------------------------------------------------------


def check_stored(case: Case, before: dict[str, int], after: dict[str, int], texts: list[str]) -> list[str]:
    delta = {t: after[t] - before[t] for t in COUNTED}
    if isinstance(case.stores, dict):
        want = {t: case.stores.get(t, 0) for t in COUNTED}
        return [] if delta == want else [f"stored rows {delta}, expected {want}"]
    if case.stores == "nothing" and any(delta.values()):
        return [f"stored rows: {delta}"]
    if case.stores == "report" and delta["reports"] != 1:
        return [f"expected one report stored: {delta}"]
    if case.stores == "followup" and (delta["messages"] != 1 or delta["reports"]):
        return [f"expected one follow-up stored: {delta}"]
    if case.stores == "clean":
        if delta["reports"] > 1 or delta["messages"] > 1:
            return [f"stored more than one report or follow-up: {delta}"]
        if (delta["reports"] or delta["messages"]) and any(UNCLEAN.search(t) for t in texts):
            return ["stored text with control characters or lone surrogates"]
    return []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_input(servers: Servers, case: Case) -> None:
    srv = await servers.get(case.server)
    before, offset = await srv.counts(), srv.log_size()
    resp = await exchange(srv.port, build(case, srv.env), case.delivery)
    after = await srv.counts()
    logged = srv.log_since(offset)
    problems = []
    if not case.status_ok(resp.status):
        problems.append(f"status {resp.status} (code {resp.code}), expected {case.expect['status']}")
    if resp.status == 0 or resp.status >= 500:
        problems.append(f"no 4xx answer: status {resp.status}")
    if not case.code_ok(resp.code):
        problems.append(f"error code {resp.code!r}, expected {case.expect['code']!r}")
    if "body" in case.expect and resp.text != case.expect["body"]:
        problems.append(f"body {resp.text[:80]!r}, expected {case.expect['body']!r}")
    if "json" in case.expect:
        problems += json_mismatches(case.expect["json"], resp.body)
    changed = [t for t in COUNTED if after[t] != before[t]]
    texts = await srv.newest_texts() if changed else []
    problems += check_stored(case, before, after, texts)
    if "Traceback" in logged or '"trace"' in logged:
        problems.append("a traceback in the log")
    identity = [v for v in (*case.identity, *SETUP_IDENTITY) if v]
    problems += [f"identity {v!r} in the log" for v in identity if v in logged]
    problems += [f"report text {v!r} in the log" for v in REPORT_TEXT if v in logged]
    if not case.echo:
        problems += [f"identity {v!r} in the response" for v in identity if v in resp.text]
    assert not problems, f"{case.name}: {case.tries}\n  " + "\n  ".join(problems)


def json_mismatches(want: dict[str, Any], body: bytes) -> list[str]:
    try:
        doc = json.loads(body)
    except ValueError:
        return ["the answer is not JSON"]
    return [f"{k} = {doc.get(k)!r}, expected {v!r}" for k, v in want.items() if doc.get(k) != v]


def _route_pattern(canonical: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(canonical)) + "$")


async def test_every_route_that_reads_input_has_cases(servers: Servers) -> None:
    """Every POST route, and every GET route of the channels' and APIs' that reads a query, is in
    the corpus: a route added without hostile cases fails here."""
    srv = await servers.get("main")
    tried = {(c.request.get("method", "POST"), c.request["path"]) for c in CASES}
    missing = []
    for route in srv.server.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        reads = route.method == "POST" or (route.method == "GET" and canonical in READING_GETS)
        if not reads:
            continue
        pattern = _route_pattern(canonical)
        if not any(m == route.method and pattern.match(p) for m, p in tried):
            missing.append(f"{route.method} {canonical}")
    assert not missing, missing


# GET routes whose query strings are input (the rest are pages and documents without parameters).
READING_GETS = {
    "/channels/wechat",
    "/channels/weibo",
    "/api/v1/staff/reports",
    "/api/v1/staff/reports/export",
    "/console/cases/export",
    "/api/v1/staff/deadlines",
    "/console/deadlines",
    "/console/search",
    "/console/stats",
    "/console/stats/export",
    "/console/stats/report",
    "/api/v1/staff/stats/measures",
    "/api/v1/staff/stats/export",
    "/api/v1/staff/stats/report",
    "/reception/api/slots",
    "/u/{unit}/",
}


async def test_corpus_has_every_channel() -> None:
    names = {c.channel for c in CASES}
    assert {s.name for s in channels.REGISTRY} | {"reception"} <= names, names
