"""What the web form accepts as attachments: decided by the bytes, never by the name or the
browser's claimed type."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from urllib.parse import unquote

# Shown on the form; keep in step with ``sniff``.
ALLOWED_DESCRIPTION = (
    "图片（JPG、PNG、GIF、WEBP）、PDF、Word/Excel 文档、音频（MP3、M4A、WAV、AMR）、视频（MP4）、纯文本"
)


def sniff(data: bytes, filename: str) -> str | None:
    """The content type of an allowed file, or None when the file is of a type we do not take."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "audio/mp4" if brand.startswith(b"M4A") else "video/mp4"
    if head.startswith(b"PK\x03\x04"):
        return _office(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/msword" if filename.lower().endswith(".doc") else "application/vnd.ms-excel"
    if filename.lower().endswith(".txt") and _is_text(data):
        return "text/plain; charset=utf-8"
    return None


def _office(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError):
        return None
    if any(n.startswith("word/") for n in names):
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if any(n.startswith("xl/") for n in names):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return None  # other zip files may hide anything


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 100 characters."""
    # Browsers send UTF-8 names as they are; some clients percent-encode them.
    base = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:100] or "附件"
