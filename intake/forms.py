"""Reading the web form's bodies with every size bounded: multipart for reports, urlencoded for
the status forms. Unknown fields are dropped; text must be UTF-8 without control characters (422
``invalid_characters``, :func:`intake.text.check_text`); line breaks become ``\\n``. The body is
read by the shared bounded reader; transport failures (a bad ``Content-Encoding``, a cut-off body)
and malformed multipart are 400s.

The anti-forgery check runs as soon as it can: in a multipart body before the first file is read
(our form puts the token first, as browsers send fields in document order), otherwise at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from intake.domain import Upload
from intake.edge import read_body, transport_error
from intake.errors import IntakeError, ValidationError
from intake.files import clean_filename, human_size, sniff
from intake.text import check_text, strip_controls

MAX_FIELD_BYTES = 128 * 1024  # one text field: the facts may be 20,000 characters of 4 bytes
MAX_TEXT_BYTES = 256 * 1024  # all text fields together, and the whole of an urlencoded body
MAX_PARTS = 64  # parts of any kind, known or not
CHUNK = 64 * 1024
# File inputs of the form: evidence for the handlers, and the informant's proof of identity (sealed).
FILE_FIELDS = {"attachments": False, "identity_files": True}


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)
    # Files refused for their type: reported with the form re-shown, so the citizen's text is kept.
    refused_files: int = 0

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


class FormInvalidCharacters(ValidationError):
    """A field holding control characters (422). Carries the fields with them removed, so the page
    can be shown again with the citizen's text for them to check and send again."""

    def __init__(self, message: str, form: FormData) -> None:
        super().__init__(message, code="invalid_characters")
        self.form = form


# Called with the fields read so far; raises (403) when the anti-forgery token does not verify.
TokenCheck = Callable[[FormData], None]


class FormTooLarge(IntakeError):
    """A part or the whole form over its limit (413). Carries the fields read until then and
    whether the anti-forgery token had verified, so the page can be shown again with the text."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="payload_too_large", status=413)
        self.form = FormData()
        self.verified = False


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError("表单内容的编码无法识别，请使用 UTF-8。", code="bad_encoding", status=400) from None
    # Browsers submit a textarea's line breaks as CRLF; count and store them as one character.
    return text.replace("\r\n", "\n")


async def read_form(
    request: web.Request,
    known: frozenset[str],
    check: TokenCheck,
    *,
    max_file_bytes: int = 0,
    max_files: int = 0,
) -> FormData:
    """The known fields (and, when ``max_files``, the attachments) of a form POST, token checked."""
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, known, check, max_file_bytes, max_files)
    if request.content_type == "application/x-www-form-urlencoded":
        raw = await _read_body(request)
        if raw.count(b"&") >= MAX_PARTS:
            raise FormTooLarge("表单项目过多。")
        try:
            parsed = parse_qs(_text(raw), keep_blank_values=True, max_num_fields=MAX_PARTS, errors="strict")
        except ValueError:  # an escape that is not UTF-8
            raise IntakeError("表单格式不正确。", code="malformed_form", status=400) from None
        form = FormData({k: v[0].replace("\r\n", "\n") for k, v in parsed.items() if k in known})
        check(form)
        return _without_controls(form)
    raise IntakeError("请通过页面上的表单提交。", code="unsupported_media_type", status=415)


async def _read_body(request: web.Request) -> bytes:
    try:
        return await read_body(request, MAX_TEXT_BYTES)
    except IntakeError as exc:
        if exc.status == 413:
            raise FormTooLarge("表单内容过长。") from None
        raise


async def _read_multipart(
    request: web.Request, known: frozenset[str], check: TokenCheck, max_file_bytes: int, max_files: int
) -> FormData:
    form = FormData()
    checked = False
    text_budget = MAX_TEXT_BYTES
    parts = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > MAX_PARTS:
                raise FormTooLarge("表单项目过多。")
            if not isinstance(part, BodyPartReader):
                raise IntakeError("表单格式不正确。", code="malformed_form", status=400)
            if part.name in FILE_FIELDS and max_files:
                if not checked:
                    check(form)
                    checked = True
                await _read_file(part, form, max_file_bytes, max_files, FILE_FIELDS[part.name])
            else:
                # Unknown fields are read (within the same budget) and dropped.
                raw = await _read_limited(part, min(MAX_FIELD_BYTES, text_budget), "填写的内容过长。")
                text_budget -= len(raw)
                if part.name in known:
                    form.fields[part.name] = _text(raw)
    except FormTooLarge as exc:
        exc.form, exc.verified = form, checked
        raise
    except (web.RequestPayloadError, ConnectionResetError) as exc:
        raise transport_error(exc) from None  # the body itself failed (encoding, cut off)
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError):
        # aiohttp raises these for a body that is not well-formed multipart, among them
        # ``InvalidHeader`` for a part header holding a control character (a NUL in a filename).
        raise IntakeError("表单格式不正确。", code="malformed_form", status=400) from None
    if not checked:
        check(form)
    return _without_controls(form)


def _without_controls(form: FormData) -> FormData:
    """The form, refused (422) when a kept field holds a control character; checked once the
    token verified, on the decoded values (an urlencoded ``%00`` is one only after parsing)."""
    try:
        check_text(*form.fields.values())
    except ValidationError as exc:
        stripped = FormData({k: strip_controls(v) for k, v in form.fields.items()})
        raise FormInvalidCharacters(exc.message, stripped) from None
    return form


async def _read_limited(part: BodyPartReader, limit: int, message: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:
            raise FormTooLarge(message)
    return bytes(data)


async def _read_file(
    part: BodyPartReader, form: FormData, max_file_bytes: int, max_files: int, identifying: bool
) -> None:
    too_big = f"每个附件不能超过 {human_size(max_file_bytes)}，请压缩或分开提交。"
    data = await _read_limited(part, max_file_bytes, too_big)
    if not data and not part.filename:
        return  # the file input left empty
    if len(form.files) + form.refused_files >= max_files:
        raise FormTooLarge(f"最多上传 {max_files} 个附件。")
    name = clean_filename(part.filename or "")
    content_type = sniff(data, name)
    if content_type is None:
        form.refused_files += 1
        return
    form.files.append(Upload(name, content_type, data, identifying))
