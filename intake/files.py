"""What the web form accepts as attachments: decided by the bytes, never by the name or the
browser's claimed type. Plain text, which has no signature, is the one case where the name counts:
a ``.txt`` name is needed *and* the bytes must read as text."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from urllib.parse import unquote

# Shown on the form; keep in step with ``sniff``.
ALLOWED_DESCRIPTION = (
    "图片（JPG、PNG、GIF、WEBP）、PDF、Word/Excel 文档（DOCX、XLSX）、"
    "音频（MP3、M4A、WAV、AMR）、视频（MP4、MOV、3GP）、纯文本（TXT）"
)

# ISO base media files (``....ftyp<brand>``): the brands phones and cameras write. Others of the
# family (HEIC stills, AVIF, Flash video …) are not on the list.
_ISO_BRANDS = {
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"qt  ": "video/quicktime",
    b"isom": "video/mp4",
    b"iso2": "video/mp4",
    b"iso4": "video/mp4",
    b"iso5": "video/mp4",
    b"iso6": "video/mp4",
    b"mp41": "video/mp4",
    b"mp42": "video/mp4",
    b"avc1": "video/mp4",
    b"M4V ": "video/mp4",
    b"MSNV": "video/mp4",
    b"dash": "video/mp4",
}

# Text may carry tabs, line breaks and form feeds; any other control character means binary.
_TEXT_CONTROLS = frozenset("\t\n\r\f")


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
    if head.startswith(b"ID3") or _mpeg_audio_frame(head):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith((b"3gp", b"3g2")):
            return "video/3gpp"
        return _ISO_BRANDS.get(brand)
    if head.startswith(b"PK\x03\x04"):
        return _office(data)
    if filename.lower().endswith(".txt"):
        return _text_type(data)
    return None


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header (an MP3 without ID3 tag): 11 sync bits, then a version and a
    layer that are not the reserved values, and a bitrate index that is not "bad"."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11, head[2] >> 4
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111


def _office(data: bytes) -> str | None:
    """DOCX and XLSX (OOXML zips). Macro-enabled ones and any other zip are refused."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())  # reads the directory only
    except (zipfile.BadZipFile, ValueError, EOFError):
        return None
    if "[Content_Types].xml" not in names or any(n.endswith("vbaProject.bin") for n in names):
        return None
    if "word/document.xml" in names:
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if "xl/workbook.xml" in names:
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return None  # other zip files may hide anything


def _text_type(data: bytes) -> str | None:
    """``text/plain`` in UTF-8 or, as Chinese Windows tools still write it, GB18030 (GBK)."""
    if not data or b"\x00" in data:
        return None
    for codec, label in (("utf-8-sig", "utf-8"), ("gb18030", "gb18030")):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if any(unicodedata.category(ch) == "Cc" and ch not in _TEXT_CONTROLS for ch in text):
            return None
        return f"text/plain; charset={label}"
    return None


def human_size(n: int) -> str:
    """``10485760`` → ``10 MB``; ``1024`` → ``1 KB``: for the limits shown to citizens."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB"
    return f"{max(1, round(n / 1024))} KB"


def clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 100 characters."""
    # Browsers send UTF-8 names as they are; some clients percent-encode them.
    base = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:100] or "附件"
