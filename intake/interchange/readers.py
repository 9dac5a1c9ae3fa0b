"""Readers of import files: CSV, XLSX and JSON Lines, row by row, with the file's own row numbers.

A reader yields :class:`Row` s: the row number an officer sees in the file (the spreadsheet's row,
the line of a CSV or JSON Lines file) and its cells by heading. A file that cannot be read at all
(not a workbook, a zip bomb, no heading row, too large) is an :class:`ImportFileError`; its
message never quotes the file's content.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intake.errors import ValidationError
from intake.interchange.mapping import normalise_heading

MAX_FILE_BYTES = 256 * 1024 * 1024  # the file itself
MAX_XLSX_UNPACKED = 1024 * 1024 * 1024  # what a workbook's parts add up to once unzipped
MAX_ROWS = 1_000_000
MAX_COLUMNS = 256
MAX_LINE_CHARS = 1024 * 1024  # one JSON Lines record, one CSV field
HEADER_SEARCH_ROWS = 20  # a title line or two above the headings is common in office registers

FORMATS = ("csv", "xlsx", "jsonl")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(ValidationError):
    def __init__(self, message: str, code: str = "unreadable_file") -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class Row:
    number: int
    cells: dict[str, Any]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in ("csv", "txt", "tsv"):
        return "csv"
    raise ImportFileError("无法识别文件类型：请使用 .csv、.xlsx 或 .jsonl 文件。", code="unsupported_format")


def check_size(path: Path) -> int:
    try:
        size = path.stat().st_size
    except OSError:
        raise ImportFileError("无法读取导入文件。") from None
    if size > MAX_FILE_BYTES:
        raise ImportFileError(
            f"文件过大（超过 {MAX_FILE_BYTES // (1024 * 1024)} MB），请分成几个文件导入。",
            code="file_too_large",
        )
    if size == 0:
        raise ImportFileError("文件是空的。", code="empty_file")
    return size


def _headings(values: list[Any]) -> list[str]:
    if len(values) > MAX_COLUMNS:
        raise ImportFileError(f"列数过多（超过 {MAX_COLUMNS} 列）。", code="too_many_columns")
    return [normalise_heading(str(v)) if v is not None else "" for v in values]


def _find_header(
    rows: Iterator[tuple[int, list[Any]]], known: frozenset[str] | None
) -> tuple[int, list[str]]:
    """The heading row: the first row with a known heading (or the first non-empty row)."""
    first: tuple[int, list[str]] | None = None
    for seen, (number, values) in enumerate(rows):
        if seen >= HEADER_SEARCH_ROWS:
            break
        if not any(v not in (None, "") for v in values):
            continue
        headings = _headings(values)
        if first is None:
            first = (number, headings)
        if known is None or any(h in known for h in headings):
            return number, headings
    if first is None:
        raise ImportFileError("文件中没有表头行。", code="no_header")
    return first


def _cells(headings: list[str], values: list[Any]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for heading, value in zip(headings, values, strict=False):
        if heading and heading not in cells:
            cells[heading] = value
    return cells


# --- XLSX ----------------------------------------------------------------------------------------


def _xlsx(path: Path, known: frozenset[str] | None = None) -> tuple[list[str], Iterator[Row], int | None]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
            if unpacked > MAX_XLSX_UNPACKED:
                raise ImportFileError("工作簿解压后过大，拒绝读取。", code="file_too_large")
            if "xl/workbook.xml" not in z.namelist():
                raise ImportFileError("文件不是有效的 XLSX 工作簿。", code="invalid_xlsx")
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except ImportFileError:
        raise
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError):
        raise ImportFileError("文件不是有效的 XLSX 工作簿。", code="invalid_xlsx") from None
    except Exception:  # openpyxl raises many kinds on damaged XML; none of them is the caller's fault
        raise ImportFileError("文件不是有效的 XLSX 工作簿。", code="invalid_xlsx") from None
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        raise ImportFileError("工作簿中没有工作表。", code="invalid_xlsx")
    total = sheet.max_row if isinstance(sheet.max_row, int) and sheet.max_row > 0 else None
    if total is not None and total > MAX_ROWS + HEADER_SEARCH_ROWS:
        raise ImportFileError(f"行数过多（超过 {MAX_ROWS} 行），请分成几个文件导入。", code="too_many_rows")

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, list(values[: MAX_COLUMNS + 1])
        except ImportFileError:
            raise
        except Exception:
            raise ImportFileError("工作簿内容损坏，无法继续读取。", code="invalid_xlsx") from None
        finally:
            book.close()

    rows = numbered()
    header_row, headings = _find_header(rows, known)

    def data() -> Iterator[Row]:
        count = 0
        for number, values in rows:
            if not any(v not in (None, "") for v in values):
                continue
            count += 1
            if count > MAX_ROWS:
                raise ImportFileError(
                    f"行数过多（超过 {MAX_ROWS} 行），请分成几个文件导入。", code="too_many_rows"
                )
            yield Row(number, _cells(headings, values))

    return headings, data(), (total - header_row if total is not None else None)


# --- CSV -----------------------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    # Offices' spreadsheets save CSV as UTF-8 (often with a BOM) or as GB18030/GBK.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("无法识别 CSV 文件的编码（应为 UTF-8 或 GB18030）。", code="invalid_encoding")


def _csv(path: Path, known: frozenset[str] | None = None) -> tuple[list[str], Iterator[Row], int | None]:
    text = _decode(path.read_bytes())
    if "\x00" in text:
        raise ImportFileError("文件不是文本格式的 CSV。", code="invalid_csv")
    sample = text[:8192]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    csv.field_size_limit(MAX_LINE_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        try:
            for values in reader:
                yield reader.line_num, list(values[: MAX_COLUMNS + 1])
        except csv.Error:
            raise ImportFileError(
                f"CSV 文件第 {reader.line_num} 行格式有误，无法继续读取。", code="invalid_csv"
            ) from None

    rows = numbered()
    _, headings = _find_header(rows, known)
    total = sum(1 for line in text.splitlines() if line.strip()) - 1

    def data() -> Iterator[Row]:
        count = 0
        for number, values in rows:
            if not any(v.strip() for v in values):
                continue
            count += 1
            if count > MAX_ROWS:
                raise ImportFileError(
                    f"行数过多（超过 {MAX_ROWS} 行），请分成几个文件导入。", code="too_many_rows"
                )
            # Our export guards cells a spreadsheet would run as formulas with an apostrophe.
            values = [v[1:] if v.startswith("'") and v[1:2] in FORMULA_START else v for v in values]
            yield Row(number, _cells(headings, values))

    return headings, data(), max(0, total)


# --- JSON Lines (the interchange format) ------------------------------------------------------------


class BadLine:
    """A JSON Lines record that is not a JSON object: reported as a bad row."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _jsonl(path: Path) -> tuple[list[str], Iterator[Row], int | None]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("JSON Lines 文件应为 UTF-8 编码。", code="invalid_encoding") from None
    lines = text.splitlines()
    total = sum(1 for line in lines if line.strip())
    if total > MAX_ROWS:
        raise ImportFileError(f"行数过多（超过 {MAX_ROWS} 行），请分成几个文件导入。", code="too_many_rows")

    def data() -> Iterator[Row]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_CHARS:
                yield Row(number, {"": BadLine("这一行过长。")})
                continue
            try:
                doc = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                yield Row(number, {"": BadLine("这一行不是有效的 JSON。")})
                continue
            if not isinstance(doc, dict):
                yield Row(number, {"": BadLine("这一行应为 JSON 对象。")})
                continue
            yield Row(number, doc)

    return [], data(), total


def open_rows(
    path: Path, fmt: str, known: frozenset[str] | None = None
) -> tuple[list[str], Iterator[Row], int | None]:
    """As :func:`read_rows`, with the headings of the mapping to find the heading row by."""
    check_size(path)
    if fmt == "xlsx":
        return _xlsx(path, known)
    if fmt == "csv":
        return _csv(path, known)
    return _jsonl(path)


__all__ = ["FORMATS", "BadLine", "ImportFileError", "Row", "detect_format", "open_rows"]
