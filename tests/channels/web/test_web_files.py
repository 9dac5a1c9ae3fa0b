"""Known answers for what the web form takes as an attachment: the bytes decide, not the name."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.web.views import china_time
from intake.files import clean_filename, human_size, sniff

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "channels" / "web"


def ooxml(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(name, "<x/>")
    return buf.getvalue()


def iso(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x20ftyp" + brand + b"\x00\x00\x02\x00" + b"\x00" * 16


ACCEPTED = [
    ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    ("x.png", (FIXTURES / "report__with_attachment.png").read_bytes(), "image/png"),
    ("x.gif", b"GIF89a\x01\x00\x01\x00", "image/gif"),
    ("x.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    ("x.pdf", (FIXTURES / "report__with_attachment.pdf").read_bytes(), "application/pdf"),
    ("x.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    ("x.amr", b"#!AMR\n\x3c", "audio/amr"),
    ("x.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
    ("x.mp3", b"\xff\xfb\x90\x64\x00", "audio/mpeg"),  # an MPEG-1 layer III frame, no tag
    ("x.m4a", iso(b"M4A "), "audio/mp4"),
    ("x.mp4", iso(b"isom"), "video/mp4"),
    ("x.mp4", iso(b"mp42"), "video/mp4"),
    ("x.mov", iso(b"qt  "), "video/quicktime"),
    ("x.3gp", iso(b"3gp5"), "video/3gpp"),
    (
        "x.docx",
        (FIXTURES / "report__with_attachment.docx").read_bytes(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "x.xlsx",
        ooxml("[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("说明.txt", "第一行\r\n第二行\t完".encode(), "text/plain; charset=utf-8"),
    ("说明.TXT", "国标编码的文字".encode("gbk"), "text/plain; charset=gb18030"),
    # The name does not matter for anything that has a signature.
    ("picture.exe", (FIXTURES / "report__with_attachment.png").read_bytes(), "image/png"),
]

REFUSED = [
    ("tool.exe", (FIXTURES / "report__disallowed_type.exe").read_bytes()),
    ("tool.png", (FIXTURES / "report__disallowed_type.exe").read_bytes()),  # nor the name
    ("a.docx", (FIXTURES / "report__disallowed_zip.docx").read_bytes()),  # a zip, not OOXML
    ("a.docm", ooxml("[Content_Types].xml", "word/document.xml", "word/vbaProject.bin")),
    ("a.docx", ooxml("word/document.xml")),  # no content types part
    ("a.docx", b"PK\x03\x04 truncated"),
    ("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),  # OLE: also the shape of .msi
    ("a.heic", iso(b"heic")),
    ("a.mp3", b"\xff\xff\xff\xff"),  # sync bits but reserved version/layer
    ("a.mp3", b"\xff\xe0"),
    ("a.txt", b"text\x00with a NUL"),
    ("a.txt", b"text with \x1b[31m escapes"),
    ("a.txt", b"\xff\xfe\xfd"),
    ("a.txt", b""),
    ("notes.md", b"plain text but not a .txt name"),
    ("empty.bin", b""),
    ("a.html", b"<html><script>alert(1)</script></html>"),
]


@pytest.mark.parametrize(("name", "data", "expected"), ACCEPTED)
def test_sniff_accepts(name: str, data: bytes, expected: str) -> None:
    assert sniff(data, name) == expected


@pytest.mark.parametrize(("name", "data"), REFUSED)
def test_sniff_refuses(name: str, data: bytes) -> None:
    assert sniff(data, name) is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("照片.png", "照片.png"),
        ("C:\\Users\\某\\Desktop\\证据.pdf", "证据.pdf"),
        ("../../etc/passwd", "passwd"),
        ("%E6%9D%90%E6%96%99.pdf", "材料.pdf"),
        ("a\x00b\r\n.txt", "ab.txt"),
        ("", "附件"),
        ("/", "附件"),
        ("长" * 300, "长" * 100),
    ],
)
def test_clean_filename(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean


@pytest.mark.parametrize(
    ("n", "shown"), [(10 * 1024 * 1024, "10 MB"), (1536 * 1024, "1.5 MB"), (1024, "1 KB"), (10, "1 KB")]
)
def test_limits_are_shown_in_plain_units(n: int, shown: str) -> None:
    assert human_size(n) == shown


def test_pages_show_beijing_time() -> None:
    assert china_time(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == "2027-01-01 00:30"
