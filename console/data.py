"""Data in and out for staff (issue 22): exporting the cases in sight, and the proposed text of a
scanned letter (OCR), shared by the staff API and the console pages.

An export holds the cases of the caller's scope only (a sealed case hidden from the unit stays
hidden), never an identity, and writes one audit event. OCR stores nothing: the officer corrects
the proposed text and files the letter as usual, and the pipeline seals the informant's details
it finds in the text; the scan itself is attached to the filing (evidence, or sealed as identity)
as before.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from aiohttp import web

from intake import ocr, redaction
from intake.clock import Clock
from intake.errors import ValidationError
from intake.interchange.exporter import CONTENT_TYPES, ExportService
from intake.staff import Scope
from intake.workflow import china_date

SPOOL_BYTES = 8 * 1024 * 1024  # an export larger than this waits on disk (mode 0600), not in memory
CHUNK = 256 * 1024
# One page at a time per process: tesseract takes a core for seconds.
_OCR_SLOTS = asyncio.Semaphore(1)


@dataclass
class ExportFile:
    file: IO[bytes]
    filename: str
    content_type: str
    count: int


def parse_case_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [c for c in value.split(",") if c]


async def export_cases(
    service: ExportService,
    clock: Clock,
    scope: Scope,
    actor: str,
    fmt: str,
    *,
    status: str | None = None,
    channel: str | None = None,
    case_nos: list[str] | None = None,
) -> ExportFile:
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - handed to the response
    try:
        count = await service.export(
            fmt,
            out,
            actor=actor,
            units=scope.units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            status=status,
            channel=channel,
            case_nos=case_nos,
        )
    except BaseException:
        out.close()
        raise
    out.seek(0)
    filename = f"cases-{china_date(clock.now()):%Y%m%d}.{fmt}"
    return ExportFile(out, filename, CONTENT_TYPES[fmt], count)


async def send_export(request: web.Request, export: ExportFile) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": export.content_type,
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
            "X-Export-Count": str(export.count),
        }
    )
    try:
        await response.prepare(request)
        async for chunk in _chunks(export.file):
            await response.write(chunk)
        await response.write_eof()
    finally:
        export.file.close()
    return response


async def _chunks(f: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def decode_scan(data: str, max_bytes: int) -> bytes:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("扫描件应为 base64 编码。", code="invalid_attachment") from None
    if not raw:
        raise ValidationError("扫描件是空的。", code="unreadable_scan")
    if len(raw) > max_bytes:
        raise ValidationError("扫描件过大。", code="scan_too_large", status=413)
    return raw


@dataclass(frozen=True)
class Proposal:
    text: str
    pages: int
    identity_found: int


async def propose_text(scan: bytes) -> Proposal:
    """OCR of a scan off the event loop; how many of the writer's details the text seems to hold."""
    if not ocr.status().available:
        raise ocr.OcrUnavailable()

    def run() -> Proposal:
        result = ocr.recognise(scan)
        found = redaction.find_identity(result.text) if result.text else []
        return Proposal(result.text, result.pages, len(found))

    async with _OCR_SLOTS:
        return await asyncio.to_thread(run)
