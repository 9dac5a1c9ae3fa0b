"""Reading scanned letters: Tesseract with its Simplified Chinese data proposes the text.

The ``tesseract`` program (Debian: ``tesseract-ocr``, ``tesseract-ocr-chi-sim``) is run on each
page: an image (PNG, JPEG, GIF, WebP, TIFF, BMP) or each page of a PDF, rendered with pdfium.
The result is only a proposal: the officer corrects it before filing, and the filed text goes
through the pipeline like any other (the informant's details in it are found and sealed). When
the program or its Chinese data is missing, :func:`status` says so and one log line at start
says the feature is off; the rest of the system works as before.

Bad input (not an image, a damaged PDF, a decompression bomb, too many pages) is a 4xx
:class:`~intake.errors.ValidationError`; nothing of the scan reaches a log.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from typing import Any

from intake.errors import IntakeError, ValidationError

log = logging.getLogger("intake.ocr")

LANGUAGE = "chi_sim"
MAX_PIXELS = 40_000_000  # per page, after rendering (an A4 page at 300 dpi is 8.7 million)
MAX_PAGES = 20
PDF_DPI = 300
TIMEOUT_SECONDS = 120  # per page
MAX_SCAN_BYTES = 20 * 1024 * 1024

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "image/bmp")
PDF_TYPE = "application/pdf"


class OcrUnavailable(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            "本机未安装文字识别组件（tesseract-ocr、tesseract-ocr-chi-sim），无法识别扫描件，请手工录入。",
            code="ocr_unavailable",
            # Not a passing outage (no Retry-After): this server lacks the program until it is installed.
            status=501,
        )


@dataclass(frozen=True)
class OcrStatus:
    available: bool
    detail: str


@dataclass(frozen=True)
class OcrResult:
    text: str
    pages: int


def _binary() -> str | None:
    return os.environ.get("INTAKE_TESSERACT") or shutil.which("tesseract")


@cache
def status() -> OcrStatus:
    """Whether OCR can run here (checked once per process)."""
    binary = _binary()
    if binary is None:
        return OcrStatus(False, "the tesseract program is not installed (Debian: tesseract-ocr)")
    try:
        done = subprocess.run(  # noqa: S603 - our own fixed arguments, no shell
            [binary, "--list-langs"], capture_output=True, timeout=30, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired):
        return OcrStatus(False, "the tesseract program does not run")
    langs = {line.strip() for line in (done.stdout + done.stderr).splitlines()}
    if LANGUAGE not in langs:
        return OcrStatus(False, "tesseract has no Simplified Chinese data (Debian: tesseract-ocr-chi-sim)")
    return OcrStatus(True, "tesseract with chi_sim")


def log_status() -> OcrStatus:
    """One line at start: letter OCR on, or off and why."""
    found = status()
    if found.available:
        log.info("letter OCR enabled (tesseract, chi_sim)")
    else:
        log.warning(f"letter OCR disabled: {found.detail}; scans are filed without proposed text")
    return found


def sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return PDF_TYPE
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[:2] == b"BM":
        return "image/bmp"
    return None


def _unreadable() -> ValidationError:
    return ValidationError("扫描件无法读取：请上传图片（PNG、JPEG 等）或 PDF 文件。", code="unreadable_scan")


def pages_of(data: bytes) -> list[bytes]:
    """Each page as a grayscale PNG for tesseract."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_SCAN_BYTES:
        raise ValidationError(
            f"扫描件过大（超过 {MAX_SCAN_BYTES // (1024 * 1024)} MB）。", code="scan_too_large", status=413
        )
    kind = sniff(data)
    if kind is None:
        raise _unreadable()
    images: list[Any] = []
    if kind == PDF_TYPE:
        images = _pdf_pages(data)
    else:
        try:
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise ValidationError("扫描件分辨率过高。", code="scan_too_large", status=413)
                frames = getattr(probe, "n_frames", 1)
                if frames > MAX_PAGES:
                    raise ValidationError(f"扫描件超过 {MAX_PAGES} 页。", code="too_many_pages")
                for i in range(frames):
                    probe.seek(i)
                    images.append(probe.convert("L"))
        except ValidationError:
            raise
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            EOFError,
            SyntaxError,
            Image.DecompressionBombError,
        ):
            raise _unreadable() from None
    out = []
    for image in images:
        if image.width < 1200:
            # Small scans read better a little larger (tesseract wants ~20 px tall characters).
            scale = 1200 / max(1, image.width)
            image = image.resize((1200, max(1, round(image.height * scale))), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _pdf_pages(data: bytes) -> list[Any]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception:  # pdfium's PdfiumError and friends: a damaged or encrypted file
        raise _unreadable() from None
    try:
        if len(pdf) == 0:
            raise _unreadable()
        if len(pdf) > MAX_PAGES:
            raise ValidationError(f"扫描件超过 {MAX_PAGES} 页。", code="too_many_pages")
        images = []
        for i in range(len(pdf)):
            page = pdf[i]
            width, height = page.get_size()
            scale = PDF_DPI / 72
            if width * height * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / max(1.0, width * height)) ** 0.5
            try:
                bitmap = page.render(scale=scale, grayscale=True)
                images.append(bitmap.to_pil().convert("L"))
            except Exception:
                raise _unreadable() from None
        return images
    finally:
        pdf.close()


_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_SPACE_BETWEEN = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")
_SPACE_AROUND_DIGITS = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[0-9A-Za-z])|(?<=[0-9A-Za-z])[ \t]+(?=[{_CJK}])")
_HALF_TO_FULL = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
_HALF_PUNCT = re.compile(rf"(?<=[{_CJK}])[ \t]*([,;:?!()])[ \t]*|[ \t]*([,;:?!()])[ \t]*(?=[{_CJK}])")


def tidy(text: str) -> str:
    """Tesseract's Chinese output with the spaces it puts between characters taken out, ASCII
    punctuation inside Chinese text made full width, and the page's line breaks inside a
    paragraph joined (a line as wide as the page that does not end a sentence goes on)."""
    lines = []
    for line in text.replace("\f", "\n").splitlines():
        line = _SPACE_BETWEEN.sub("", line.strip())
        line = _HALF_PUNCT.sub(lambda m: _HALF_TO_FULL[m.group(1) or m.group(2)], line)
        line = _SPACE_BETWEEN.sub("", line)
        line = _SPACE_AROUND_DIGITS.sub("", line)
        lines.append(line)
    paragraphs: list[str] = []
    current = ""
    last = ""  # the last line added to ``current``
    for line in lines:
        goes_on = bool(current) and len(last) >= WIDE_LINE and current[-1] not in SENTENCE_ENDS
        if not line:
            if current and not goes_on:
                paragraphs.append(current)
                current = last = ""
            continue
        if goes_on:
            current += line
        else:
            if current:
                paragraphs.append(current)
            current = line
        last = line
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs).strip()


WIDE_LINE = 15  # characters: a line this long was cut by the page's edge, not by the writer
SENTENCE_ENDS = "。！？：；…”’）」』!?:;"


def _tesseract(png: bytes) -> str:
    binary = _binary()
    if binary is None:
        raise OcrUnavailable()
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per page: the server shares the machine
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, the scan on stdin, no shell
            [binary, "stdin", "stdout", "-l", LANGUAGE, "--psm", "6"],
            input=png,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise ValidationError("扫描件识别超时，请手工录入。", code="ocr_timeout", status=422) from None
    except OSError:
        raise OcrUnavailable() from None
    if done.returncode != 0:
        log.warning("tesseract failed", extra={"reason": f"exit {done.returncode}"})
        raise ValidationError("扫描件无法识别，请手工录入。", code="ocr_failed", status=422)
    return done.stdout.decode("utf-8", "replace")


def recognise(data: bytes) -> OcrResult:
    """The proposed text of a scan (blocking: run it in a worker thread from the event loop)."""
    if not status().available:
        raise OcrUnavailable()
    pages = pages_of(data)
    texts = [tidy(_tesseract(png)) for png in pages]
    return OcrResult("\n\n".join(t for t in texts if t), len(pages))
