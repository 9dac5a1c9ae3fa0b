"""The bad-input corpus (``tests/fixtures/hostile/<channel>/<route>__<what_it_tries>.json``): the case
format, the bodies it can describe, and a raw HTTP/1.1 client that delivers them over a TCP socket
whole, split into writes with pauses, or in slow chunks. ``tests/test_hostile_corpus.py`` replays
every case against the whole server; the format is described in ``tests/fixtures/hostile/README.md``.

Everything a case cannot carry literally (anti-forgery tokens, bearer tokens, platform signatures,
fresh sender ids) it names, and :class:`Env` fills in, computed with the platforms' own client
libraries (wechatpy through ``tests.fakes.wechat``, twilio's ``RequestValidator``).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from tests.fakes import telegram, twilio, wechat, weibo

CORPUS = Path(__file__).parent / "fixtures" / "hostile"
CASE_KEYS = {"tries", "defect", "server", "request", "delivery", "expect", "stores", "identity", "echo"}
REQUEST_KEYS = {"method", "path", "query", "headers", "auth", "body", "framing"}
EXPECT_KEYS = {"status", "code", "body", "json"}
AUTH = {
    "web_form",
    "console_login",
    "console_session",
    "staff_bearer",
    "reception_bearer",
    "wechat",
    "wechat_query",
    "wechat_server",
    "weibo",
    "telegram",
    "twilio",
}
STORES = {"nothing", "report", "followup", "clean"}
PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls other than tab, line feed and carriage return; DEL; lone surrogates.
UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Case:
    """One hostile input: what it tries, the request, how it is delivered, what must come back."""

    name: str  # <channel>/<route>__<what_it_tries>
    channel: str
    tries: str
    request: dict[str, Any]
    expect: dict[str, Any]
    server: str = "main"
    delivery: dict[str, Any] = field(default_factory=dict)
    stores: str | dict[str, int] = "nothing"
    identity: tuple[str, ...] = ()
    echo: bool = False  # the page may show the sender's own input back (the web form re-shown)
    defect: int | None = None

    @property
    def auth(self) -> list[str]:
        auth = self.request.get("auth", [])
        return [auth] if isinstance(auth, str) else list(auth)

    def status_ok(self, status: int) -> bool:
        want = self.expect["status"]
        if want == "4xx":
            return 400 <= status < 500
        if isinstance(want, list):
            return status in want
        return bool(status == want)

    def code_ok(self, code: str | None) -> bool:
        want = self.expect.get("code")
        if want is None:
            return True
        return code in want if isinstance(want, list) else code == want


def load(path: Path) -> Case:
    doc = json.loads(path.read_text(encoding="utf-8"))
    unknown = set(doc) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown keys {unknown}"
    assert not set(doc["request"]) - REQUEST_KEYS, f"{path.name}: unknown request keys"
    assert not set(doc["expect"]) - EXPECT_KEYS, f"{path.name}: unknown expect keys"
    auth = doc["request"].get("auth", [])
    assert set([auth] if isinstance(auth, str) else auth) <= AUTH, f"{path.name}: unknown auth"
    stores = doc.get("stores", "nothing")
    assert isinstance(stores, dict) or stores in STORES, f"{path.name}: unknown stores"
    return Case(
        name=f"{path.parent.name}/{path.stem}",
        channel=path.parent.name,
        tries=doc["tries"],
        request=doc["request"],
        expect=doc["expect"],
        server=doc.get("server", "main"),
        delivery=doc.get("delivery", {}),
        stores=doc.get("stores", "nothing"),
        identity=tuple(doc.get("identity", ())),
        echo=bool(doc.get("echo", False)),
        defect=doc.get("defect"),
    )


def all_cases() -> list[Case]:
    return [load(p) for p in sorted(CORPUS.glob("*/*.json"))]


# --- what the runner fills in ---------------------------------------------------------------------

_fresh = itertools.count(int(time.time()) % 10**6 * 1000)


@dataclass
class Env:
    """Tokens, cookies and records of the server under test that cases refer to by name."""

    port: int
    values: dict[str, str] = field(default_factory=dict)  # ${name} → value
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)  # auth name → cookies
    bearer: dict[str, str] = field(default_factory=dict)  # auth name → token

    def fresh(self) -> dict[str, str]:
        """Values new for every case, so that no case continues another's platform dialogue."""
        n = next(_fresh)
        return {
            "openid": f"oHostile{n}",
            "uid": str(5_000_000_000 + n),
            "chat_id": str(700_000_000 + n),
            "phone": f"+86139{n % 10**8:08d}",
            "update_id": str(n),
            "msg_id": str(10**15 + n),
            "sms_sid": f"SM{secrets.token_hex(16)}",
            "call_sid": f"CA{secrets.token_hex(16)}",
            "recording_sid": f"RE{secrets.token_hex(16)}",
            "submission_id": secrets.token_urlsafe(18),
            "nonce": secrets.token_hex(16),
            "now": str(int(time.time())),
            "now_ms": str(int(time.time() * 1000)),
            "account_sid": twilio.ACCOUNT_SID,
            "wechat_account": wechat.ACCOUNT,
            "weibo_account": str(weibo.ACCOUNT_UID),
        }


def fill(value: Any, names: Mapping[str, str]) -> Any:
    """``${name}`` replaced throughout strings, lists and objects (keys included)."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: names[m.group(1)], value)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    return value


# --- bodies ---------------------------------------------------------------------------------------


def json_text(doc: Any) -> str:
    """JSON as clients send it (UTF-8, not escaped), lone surrogates as ``\\udXXX`` escapes."""
    text = json.dumps(doc, ensure_ascii=False)
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _nested(spec: dict[str, Any]) -> bytes:
    """``template`` (JSON) with the string ``"@@"`` replaced by ``depth`` nested arrays/objects."""
    depth = int(spec["depth"])
    opener, closer = ('{"a":', "}") if spec.get("objects") else ("[", "]")
    deep = opener * depth + "1" + closer * depth
    return json_text(spec["template"]).replace('"@@"', deep, 1).encode()


def _report(spec: dict[str, Any]) -> bytes:
    """A valid app report whose content is ``chars`` characters of ``text`` repeated."""
    text = spec.get("text", "某局长违规收受礼金，")
    chars = int(spec["chars"])
    doc = {**spec.get("fields", {}), "content": (text * (chars // len(text) + 1))[:chars]}
    return json.dumps(doc, ensure_ascii=bool(spec.get("ascii", False))).encode()


def _padded(spec: dict[str, Any]) -> bytes:
    """``template`` with the string ``"@@"`` replaced by a JSON string making the body ``bytes``."""
    base = json_text(spec["template"])
    pad = int(spec["bytes"]) - len(base.encode()) + 4
    return base.replace('"@@"', json.dumps(spec.get("char", "x") * max(pad, 0)), 1).encode()


def _repeat(spec: dict[str, Any]) -> bytes:
    return (spec["head"] + spec["text"] * int(spec["times"]) + spec.get("tail", "")).encode()


def _zeros(spec: dict[str, Any]) -> bytes:
    return b"\x00" * int(spec["bytes"])


GENERATORS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "nested": _nested,
    "report": _report,
    "padded": _padded,
    "repeat": _repeat,
    "zeros": _zeros,
}


def _multipart(spec: dict[str, Any]) -> bytes:
    """A multipart body from ``parts`` (name, filename, content_type, headers, text/base64), with a
    ``preamble``, a ``tail`` instead of the closing boundary, or ``raw`` part headers."""
    boundary = spec.get("boundary", "hostileBoundary7MA4YWxk")
    out = bytearray(spec.get("preamble", "").encode("utf-8", "surrogatepass"))
    for part in spec["parts"]:
        out += f"--{boundary}\r\n".encode()
        if "raw_headers" in part:
            out += part["raw_headers"].encode("utf-8", "surrogateescape")
        else:
            disposition = f'form-data; name="{part["name"]}"'
            if "filename" in part:
                disposition += f'; filename="{part["filename"]}"'
            # Header bytes as given: \udcXX stands for the raw byte XX (surrogateescape).
            out += f"Content-Disposition: {disposition}\r\n".encode("utf-8", "surrogateescape")
            if "content_type" in part:
                out += f"Content-Type: {part['content_type']}\r\n".encode()
            for k, v in part.get("headers", {}).items():
                out += f"{k}: {v}\r\n".encode("utf-8", "surrogateescape")
        out += b"\r\n"
        out += _bytes(part)
        out += b"\r\n"
    out += spec.get("tail", f"--{boundary}--\r\n").encode("utf-8", "surrogatepass")
    return bytes(out)


def _bytes(spec: Mapping[str, Any]) -> bytes:
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    if "png_bytes" in spec:
        return wechat.PNG[:8] + b"\x00" * (int(spec["png_bytes"]) - 8)
    return str(spec.get("text", "")).encode("utf-8", "surrogatepass")


def render_body(spec: Mapping[str, Any] | None) -> bytes:
    if not spec:
        return b""
    if "json" in spec:
        raw = json_text(spec["json"]).encode("utf-8", "surrogatepass")
    elif "form" in spec:
        raw = urlencode(spec["form"], encoding="utf-8", errors="surrogatepass").encode()
    elif "multipart" in spec:
        raw = _multipart(spec["multipart"])
    elif "generate" in spec:
        raw = GENERATORS[spec["generate"]](spec)
    else:
        raw = _bytes(spec)
    if spec.get("gzip"):
        raw = gzip.compress(raw, mtime=0)
    return raw


# --- signing and authenticating -------------------------------------------------------------------


def authenticate(
    case: Case, env: Env, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
) -> tuple[dict[str, str], dict[str, str], bytes]:
    """The query, headers and body with what each of ``case.auth`` adds."""
    cookies: dict[str, str] = {}
    for auth in case.auth:
        cookies.update(env.cookies.get(auth, {}))
        if auth in env.bearer:
            headers.setdefault("Authorization", f"Bearer {env.bearer[auth]}")
        elif auth == "wechat":
            params, envelope = wechat.WeChatDriver(None).envelope(body.decode("utf-8", "surrogatepass"))
            query = {**params, **query}
            body = envelope.encode()
        elif auth == "wechat_query":
            params, _ = wechat.WeChatDriver(None).envelope(wechat.text_xml("oX", "x", 1))
            query = {**params, **query}
        elif auth == "wechat_server":
            stamp, nonce = str(int(time.time())), secrets.token_hex(8)
            query = {"signature": wechat.sign(wechat.TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
            query |= case.request.get("query", {})
        elif auth == "weibo":
            query = {**weibo.signed_query(), **query}
        elif auth == "telegram":
            headers.setdefault("X-Telegram-Bot-Api-Secret-Token", telegram.SECRET)
        elif auth == "twilio":
            try:
                params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            except (UnicodeDecodeError, ValueError):
                params = {}
            path_qs = path + ("?" + urlencode(query) if query else "")
            headers.update(twilio.signed(path_qs, params))
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return query, headers, body


def build(case: Case, env: Env) -> bytes:
    """The request's bytes, from the request line to the end of the body."""
    names = {**env.values, **env.fresh()}
    req = fill(case.request, names)
    path: str = req["path"]
    query: dict[str, str] = dict(req.get("query", {}))
    headers: dict[str, str] = dict(req.get("headers", {}))
    body = render_body(req.get("body"))
    query, headers, body = authenticate(case, env, path, query, headers, body)
    target = quote(path, safe="/:@!$&'()*+,;=-._~%?")
    if query:
        target += ("&" if "?" in target else "?") + urlencode(query)
    framing = req.get("framing", "content-length")
    lines = [f"{req.get('method', 'POST')} {target} HTTP/1.1", f"Host: 127.0.0.1:{env.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        body = (
            b"".join(
                f"{len(body[i : i + 8192]):x}\r\n".encode() + body[i : i + 8192] + b"\r\n"
                for i in range(0, len(body), 8192)
            )
            + b"0\r\n\r\n"
        )
    elif isinstance(framing, dict):
        lines.append(f"Content-Length: {framing['content_length']}")
    elif body or req.get("method", "POST") in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + body


# --- the raw client -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int  # 0: the server closed or reset the connection without an answer
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def code(self) -> str | None:
        """The stable error code of a JSON error, if the body is one."""
        try:
            doc = json.loads(self.body)
        except ValueError:
            return None
        error = doc.get("error") if isinstance(doc, dict) else None
        return error.get("code") if isinstance(error, dict) else None


def segments(data: bytes, head_len: int, delivery: Mapping[str, Any]) -> list[bytes]:
    """The writes: whole; ``split_at`` body offsets; or ``chunk``-sized pieces of the body."""
    if "split_at" in delivery:
        cuts = [head_len + int(c) for c in delivery["split_at"]]
        edges = [0, *cuts, len(data)]
        return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]
    if "chunk" in delivery:
        size = int(delivery["chunk"])
        return [data[:head_len]] + [data[i : i + size] for i in range(head_len, len(data), size)]
    return [data]


ANSWER_WITHIN = 60  # seconds: only bounds a hang (a failure); no case waits on it


async def exchange(port: int, data: bytes, delivery: Mapping[str, Any]) -> Response:
    """Write ``data`` as ``delivery`` says (a pause between two writes is the scenario), then read
    the answer to the end (``Connection: close``)."""
    head_len = data.index(b"\r\n\r\n") + 4
    pause = float(delivery.get("pause", 0))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            for i, piece in enumerate(segments(data, head_len, delivery)):
                if i > 1 or (i == 1 and "split_at" in delivery) or (i > 0 and "chunk" in delivery):
                    await asyncio.sleep(pause)
                writer.write(piece)
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server answered early (413) and closed: read what it said
        try:
            raw = await asyncio.wait_for(reader.read(), ANSWER_WITHIN)
        except ConnectionResetError:
            raw = b""
    finally:
        writer.close()
    return parse_response(raw)


def parse_response(raw: bytes) -> Response:
    if b"\r\n\r\n" not in raw:
        return Response(0, {}, raw)
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Response(status, headers, body)


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


# --- the summary at the end of a run ----------------------------------------------------------------


def summary(reporter: Any) -> None:
    """One line: the corpus cases replayed per channel, and how many failed (``tests/conftest.py``)."""
    ran: dict[str, list[int]] = {}
    for outcome in ("passed", "failed", "skipped"):
        for report in reporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if "::test_hostile_input[" not in nodeid or getattr(report, "when", "call") not in (
                "call",
                "setup",
            ):
                continue
            if report.when == "setup" and outcome == "passed":
                continue
            channel = nodeid.split("[", 1)[1].split("/", 1)[0]
            counts = ran.setdefault(channel, [0, 0])
            counts[0] += 1
            counts[1] += outcome == "failed"
    if ran:
        parts = [f"{c} {n}" + (f" ({f} failed)" if f else "") for c, (n, f) in sorted(ran.items())]
        total, failed = sum(n for n, _ in ran.values()), sum(f for _, f in ran.values())
        reporter.write_sep("-", f"hostile corpus: {total} cases, {failed} failed")
        reporter.write_line("; ".join(parts))
