"""Scanned letters: OCR proposes the text (≥ 95% of characters right on a printed scan), the officer
corrects it and files the letter; the writer's details in it are sealed; bad scans are 4xx."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from intake import ocr
from storage import models
from tests.console.conftest import console_login, csrf_of
from tests.interchange.conftest import Office, need_ocr
from tests.interchange.scans import LETTERS, char_accuracy, render, render_pdf

LETTER = LETTERS[0]  # names its writer: 李秀英, 430121198503051234, 13907310042


@pytest.fixture(scope="module")
def printed() -> bytes:
    need_ocr()
    return render(LETTER, seed=0)


def test_printed_and_pdf_scans_read_to_95_percent(printed: bytes) -> None:
    got = ocr.recognise(printed)
    assert got.pages == 1
    assert char_accuracy(LETTER, got.text) >= 0.95, got.text
    pdf = ocr.recognise(render_pdf(LETTERS[1], seed=1))
    assert char_accuracy(LETTERS[1], pdf.text) >= 0.95, pdf.text


def test_accuracy_measure_can_fail() -> None:
    assert char_accuracy("反映村支书的问题", "反映村支书的问题") == 1.0
    assert char_accuracy("反映村支书的问题", "反映的问题") < 0.7
    assert char_accuracy("abc", "") == 0.0


def test_tidy_takes_out_tesseracts_spaces() -> None:
    assert ocr.tidy("反 映 村 支 书 , 电 话 139 0731") == "反映村支书，电话139 0731"
    assert ocr.tidy("第一行\n\n\n\n第二行\f") == "第一行\n第二行"
    wide = "我叫李秀英，身份证号码430121198503051234，联系电话"
    assert (
        ocr.tidy(f"{wide}\n\n13907310042，住星沙镇。\n此致\n敬礼")
        == f"{wide}13907310042，住星沙镇。\n此致\n敬礼"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing after it
        b"%PDF-1.4\n%broken",
        b"\xff\xd8\xff\xe0" + b"\x00" * 10,
    ],
)
def test_bad_scans_are_4xx(data: bytes) -> None:
    with pytest.raises(ocr.ValidationError) as err:
        ocr.pages_of(data)
    assert 400 <= err.value.status < 500 and err.value.code == "unreadable_scan"


def test_oversized_scans_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (3000, 3000), 255).save(buf, format="PNG")
    monkeypatch.setattr(ocr, "MAX_PIXELS", 1_000_000)
    with pytest.raises(ocr.ValidationError) as err:
        ocr.pages_of(buf.getvalue())
    assert err.value.status == 413
    monkeypatch.setattr(ocr, "MAX_SCAN_BYTES", 100)
    with pytest.raises(ocr.ValidationError) as err:
        ocr.pages_of(buf.getvalue())
    assert err.value.code == "scan_too_large"


async def test_api_proposes_text_and_counts_the_writers_details(office: Office, printed: bytes) -> None:
    await office.login("county_reg")
    await office.login("county_handler")
    body = {"filename": "letter.png", "data": base64.b64encode(printed).decode()}
    status, doc = await office.post("county_reg", "/api/v1/staff/letters/ocr", body)
    assert status == 200, doc
    assert char_accuracy(LETTER, doc["text"]) >= 0.95 and doc["pages"] == 1
    assert doc["identity_found"] >= 2  # at least the ID number and the phone

    status, doc = await office.post("county_handler", "/api/v1/staff/letters/ocr", body)
    assert status == 403 and doc["error"]["code"] == "role_not_allowed"
    for bad, code in (
        ({"data": "%%%"}, "invalid_attachment"),
        ({"data": base64.b64encode(b"garbage").decode()}, "unreadable_scan"),
        ({}, "field_required"),
    ):
        status, doc = await office.post("county_reg", "/api/v1/staff/letters/ocr", bad)
        assert 400 <= status < 500 and doc["error"]["code"] == code


async def test_console_reads_the_scan_keeps_it_and_files_the_corrected_letter(
    office: Office, printed: bytes
) -> None:
    from aiohttp import FormData

    csrf = await console_login(office, "county_reg")
    resp = await office.client.get("/console/file?channel=letter", headers={"Accept": "text/html"})
    page = await resp.text()
    assert 'id="ocr-submit"' in page and "识别扫描件" in page
    csrf = csrf_of(page)
    form = FormData()
    for k, v in {"csrf": csrf, "channel": "letter", "nonce": "n1", "content": ""}.items():
        form.add_field(k, v)
    form.add_field("attachments", printed, filename="来信.png", content_type="image/png")
    resp = await office.client.post("/console/file/ocr", data=form, headers={"Accept": "text/html"})
    page = await resp.text()
    assert resp.status == 200, page
    assert 'id="ocr-notice"' in page and 'id="held-scans"' in page
    proposed = re.search(r'<textarea id="content"[^>]*>(.*?)</textarea>', page, re.S)
    assert proposed is not None
    import html

    text = html.unescape(proposed.group(1))
    assert char_accuracy(LETTER, text) >= 0.95
    held = re.search(r'name="held" value="([^"]+)"', page)
    assert held is not None

    # The officer corrects the text and files; the scan kept from the OCR step goes with it.
    corrected = LETTER
    form = FormData()
    for k, v in {
        "csrf": csrf_of(page),
        "channel": "letter",
        "nonce": "n1",
        "content": corrected,
        "held": html.unescape(held.group(1)),
        "accused_name": "王建国",
    }.items():
        form.add_field(k, v)
    resp = await office.client.post("/console/file", data=form, headers={"Accept": "text/html"})
    page = await resp.text()
    assert resp.status == 200 and "查询码" in page, page
    case_no = re.search(r"\d{4}-\d+-\d{6}", page)
    assert case_no is not None
    report = await office.services.db.reports.get(case_no.group())
    assert report is not None and report.channel == "letter" and report.attachments == 1
    # The writer's details in the letter are sealed, not stored in the text.
    for secret in ("430121198503051234", "13907310042"):
        assert secret not in report.content
    async with office.services.db.read_engine.connect() as conn:
        kinds = (
            (
                await conn.execute(
                    sa.select(models.VaultEntry.kind).where(models.VaultEntry.report_id == report.id)
                )
            )
            .scalars()
            .all()
        )
    assert "in_text" in kinds

    # A forged held field is refused.
    form = FormData()
    for k, v in {"csrf": csrf_of(page), "channel": "letter", "content": "x", "held": "00:0.abc"}.items():
        form.add_field(k, v)
    resp = await office.client.post("/console/file", data=form, headers={"Accept": "text/html"})
    assert resp.status == 403


def test_cli_prints_the_proposed_text(printed: bytes, tmp_path: Path) -> None:
    scan = tmp_path / "letter.png"
    scan.write_bytes(printed)
    done = subprocess.run(
        [sys.executable, "-m", "server", "letters", "ocr", str(scan)],
        capture_output=True,
        timeout=300,
        check=False,
        env={
            "INTAKE_DATA_DIR": str(tmp_path / "var"),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path.cwd()),
        },
    )
    assert done.returncode == 0, done.stderr.decode()
    assert char_accuracy(LETTER, done.stdout.decode()) >= 0.95
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    done = subprocess.run(
        [sys.executable, "-m", "server", "letters", "ocr", str(bad)],
        capture_output=True,
        timeout=120,
        check=False,
        env={
            "INTAKE_DATA_DIR": str(tmp_path / "var"),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path.cwd()),
        },
    )
    assert done.returncode == 2 and "扫描件无法读取" in done.stderr.decode()


def test_missing_tesseract_disables_ocr_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("INTAKE_TESSERACT", "/nonexistent/tesseract")
    ocr.status.cache_clear()
    try:
        with caplog.at_level("INFO", logger="intake.ocr"):
            found = ocr.log_status()
        assert not found.available
        assert "letter OCR disabled" in caplog.text
        with pytest.raises(ocr.OcrUnavailable) as err:
            ocr.recognise(b"whatever")
        assert err.value.status == 501 and err.value.code == "ocr_unavailable"
    finally:
        monkeypatch.undo()
        ocr.status.cache_clear()
