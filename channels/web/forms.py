"""Reading the web form's bodies with every size bounded: multipart for reports, urlencoded for
the status forms. Unknown fields are dropped; text must be UTF-8."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aiohttp import BodyPartReader, web

from channels.web.files import clean_filename, sniff
from intake.domain import Upload
from intake.errors import IntakeError

MAX_FIELD_BYTES = 128 * 1024
MAX_URLENCODED_BYTES = 256 * 1024
CHUNK = 64 * 1024


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)
    # Files refused for their type: reported with the form re-shown, so the citizen's text is kept.
    refused_files: int = 0

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()


def _too_large(what: str) -> IntakeError:
    return IntakeError(what, code="payload_too_large", status=413)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError("表单内容的编码无法识别，请使用 UTF-8。", code="bad_encoding", status=400) from None


async def read_form(
    request: web.Request, known: frozenset[str], *, max_file_bytes: int = 0, max_files: int = 0
) -> FormData:
    if request.content_type == "multipart/form-data":
        return await _read_multipart(request, known, max_file_bytes, max_files)
    if request.content_type == "application/x-www-form-urlencoded":
        raw = await request.content.read(MAX_URLENCODED_BYTES + 1)
        if len(raw) > MAX_URLENCODED_BYTES:
            raise _too_large("表单内容过长。")
        parsed = parse_qs(_text(raw), keep_blank_values=True, max_num_fields=64)
        return FormData({k: v[0] for k, v in parsed.items() if k in known})
    raise IntakeError("请通过页面上的表单提交。", code="unsupported_media_type", status=415)


async def _read_multipart(
    request: web.Request, known: frozenset[str], max_file_bytes: int, max_files: int
) -> FormData:
    form = FormData()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                await part.release()
                continue
            if part.name == "attachments" and max_files:
                await _read_file(part, form, max_file_bytes, max_files)
            elif part.name in known:
                form.fields[part.name] = _text(
                    await _read_limited(part, MAX_FIELD_BYTES, "某一项填写内容过长。")
                )
            else:
                await part.release()
    except (ValueError, AssertionError, RuntimeError):
        # aiohttp raises these for a body that is not well-formed multipart.
        raise IntakeError("表单格式不正确。", code="malformed_form", status=400) from None
    return form


async def _read_limited(part: BodyPartReader, limit: int, message: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:
            raise _too_large(message)
    return bytes(data)


async def _read_file(part: BodyPartReader, form: FormData, max_file_bytes: int, max_files: int) -> None:
    mb = max_file_bytes // (1024 * 1024)
    data = await _read_limited(part, max_file_bytes, f"每个附件不能超过 {mb} MB。")
    if not data and not part.filename:
        return  # the file input left empty
    if len(form.files) >= max_files:
        raise _too_large(f"最多上传 {max_files} 个附件。")
    name = clean_filename(part.filename or "")
    content_type = sniff(data, name)
    if content_type is None:
        form.refused_files += 1
        return
    form.files.append(Upload(name, content_type, data))
