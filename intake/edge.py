"""Request bodies at the edge: the one bounded reader and the one JSON parser of every route.

``channels.base`` hands these to the channels; ``video_reception`` (which may not import channels)
uses them from here. Every failure is a typed :class:`IntakeError`, never a 500:

- :func:`read_body` reads to the end of the body (``StreamReader.read(n)`` returns only what has
  arrived, so a body in several TCP segments needs a loop), caps the *decoded* bytes (aiohttp
  inflates ``Content-Encoding: gzip``/``deflate`` as it reads, so a gzip bomb stops at the cap),
  and turns aiohttp's transport errors into 400s.
- :func:`parse_json_object` bounds the nesting depth (the C decoder recurses: a thousand ``[``
  would be a ``RecursionError``, and our own code would recurse on what it returned) and applies
  the control-character policy of :mod:`intake.text` to every string, keys included. Both checks
  look at the raw text first, so a usual body costs little more than ``json.loads``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError

from intake.errors import IntakeError
from intake.text import has_controls, invalid_characters, strip_controls

CHUNK = 64 * 1024
MAX_JSON_DEPTH = 64  # our documents nest three deep, a Telegram update about eight

# What reading a request's body raises when the transport fails: aiohttp wraps the parser's error
# (a bad Content-Encoding, a body shorter than its Content-Length) in ``RequestPayloadError``; a
# client gone mid-body cancels the request with ``ConnectionResetError``.
# A page for a browser's error (the web form's): request, status, code, message → the answer.
HtmlErrorRenderer = Callable[[web.Request, int, str, str], web.StreamResponse]

TRANSPORT_ERRORS = (web.RequestPayloadError, HttpProcessingError, ConnectionResetError)


def too_large(max_bytes: int) -> IntakeError:
    return IntakeError(f"请求体超过 {max_bytes} 字节的上限。", code="payload_too_large", status=413)


def transport_error(exc: BaseException) -> IntakeError:
    """The 400 for one of :data:`TRANSPORT_ERRORS` (only its type is looked at, never its text)."""
    cause = exc.__cause__ if isinstance(exc, web.RequestPayloadError) and exc.__cause__ else exc
    if isinstance(cause, ContentEncodingError):
        return IntakeError("请求体的压缩编码无效。", code="bad_content_encoding", status=400)
    return IntakeError("请求体不完整，请重新发送。", code="incomplete_body", status=400)


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, at most ``max_bytes`` once decoded: 413 beyond, 400 when it cannot be read."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes)
    data = bytearray()
    try:
        while chunk := await request.content.read(CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise too_large(max_bytes)
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc) from None
    return bytes(data)


async def read_bounded_json(request: web.Request, max_bytes: int) -> bytes:
    """Read a JSON body of at most ``max_bytes``: 415 for another type, 413 when too large."""
    if request.content_type != "application/json":
        raise IntakeError("请求体应为 application/json。", code="unsupported_media_type", status=415)
    return await read_body(request, max_bytes)


def _too_deep() -> IntakeError:
    return IntakeError(f"请求体的嵌套层数超过 {MAX_JSON_DEPTH} 层。", code="too_deep", status=400)


# The depth check works on the raw text: with the escapes removed no string holds a quote, so the
# text between every other quote is outside strings (and ASCII); of that only brackets are kept.
# Exact on a document the decoder accepted, and each step one pass in C.
_ESCAPES = re.compile(r"\\.")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")  # one pass removes exactly one level: it does not look back
# Where a forbidden character could come from in the raw text: DEL and C1 written as they are, or
# a ``\u`` escape of a C0/DEL/C1 control or of any surrogate. Conservative (an escaped backslash
# before ``u``, a surrogate pair, ``\u000a``): a hit only means the strings are checked one by one.
_LITERAL_CONTROLS = re.compile("[\x7f-\x9f]")
_ESCAPED_CONTROLS = re.compile(r"\\u(?:00[01][0-9a-fA-F]|007[fF]|00[89][0-9a-fA-F]|[dD][89a-fA-F])")


def parse_json_object(raw: bytes, *, strip: bool = False) -> dict[str, Any]:
    """The body as a JSON object: 400 when malformed or nested too deep, 422 when not an object or
    when a string holds a forbidden character — removed instead with ``strip`` (platform pushes)."""
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise IntakeError("请求体不是有效的 JSON。", code="malformed_json", status=400) from None
    except RecursionError:  # deeper than the interpreter's stack: refused like any deep document
        raise _too_deep() from None
    if not isinstance(doc, dict):
        raise IntakeError("请求体应为 JSON 对象。", code="invalid_body", status=422)
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth_exceeds(text):
        raise _too_deep()
    if _LITERAL_CONTROLS.search(text) is None and (
        "\\u" not in text or _ESCAPED_CONTROLS.search(text) is None
    ):
        return doc  # no string can hold a forbidden character: nothing to walk
    if strip:
        stripped: dict[str, Any] = _stripped(doc)
        return stripped
    _check_strings(doc)
    return doc


def _depth_exceeds(text: str) -> bool:
    """Whether the (valid) document nests deeper than ``MAX_JSON_DEPTH``: the brackets outside
    strings, innermost pairs removed level by level (a walk in Python would cost more)."""
    outside = "".join(_ESCAPES.sub("", text).split('"')[::2])
    brackets = outside.encode("ascii", "ignore").translate(None, _NOT_BRACKETS)
    for _ in range(MAX_JSON_DEPTH):
        brackets = _INNERMOST.sub(b"", brackets)
        if not brackets:
            return False
    return True


def _check_strings(doc: dict[str, Any]) -> None:
    """422 at the first string (key or value) holding a forbidden character; iterative, so no
    shape of document can exhaust the interpreter's stack."""
    stack: list[Any] = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if any(has_controls(k) for k in value):
                raise invalid_characters()
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and has_controls(value):
            raise invalid_characters()


def _stripped(value: Any) -> Any:
    """``value`` with the forbidden characters removed from every string (bounded depth)."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    if isinstance(value, dict):
        return {strip_controls(k): _stripped(v) for k, v in value.items()}
    return value
