"""One row of an import file → the case to file, or the reason it cannot be (row, column, reason).

A reason names the row and the column, never the value: the identity columns' values must not
reach a terminal, a log or an error message, and the others are no business of an error either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from importlib import resources
from typing import Any

from intake.domain import Accused, Location, Reporter
from intake.interchange.mapping import (
    FIELD_LABELS,
    FIELDS,
    IDENTITY_FIELDS,
    JOINED_FIELDS,
    ColumnMapping,
)
from intake.interchange.readers import BadLine

CHINA = timezone(timedelta(hours=8))
EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)
FORMAT_ID = "xinfang-case/1"


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # the file's heading (or the JSON field); "" for the row as a whole
    reason: str

    def line(self) -> str:
        where = f"第 {self.row} 行" + (f"“{self.column}”列" if self.column else "")
        return f"{where}：{self.reason}"


@dataclass(frozen=True)
class ImportRecord:
    row: int
    channel: str
    received_at: datetime
    status: str
    content: str
    title: str | None = None
    category: str | None = None
    accused: Accused = field(default_factory=Accused)
    location: Location = field(default_factory=Location)
    reporter: Reporter = field(default_factory=Reporter)
    anonymous: bool | None = None
    # What the old system knew, kept in the ``imported`` history event.
    source: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


class _Bad(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


# --- values ------------------------------------------------------------------------------------

_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2})(?:\.\d+)?)?\s*秒?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_when(value: Any, now: datetime) -> datetime:
    """A date or time from a cell: a spreadsheet date, ``2021-03-05``, ``2021/3/5 14:20``,
    ``2021年3月5日``, ``20210305``, ISO 8601 with a zone. Without a zone it is China time."""
    if isinstance(value, datetime):
        at = value if value.tzinfo else value.replace(tzinfo=CHINA)
    elif isinstance(value, date):
        at = datetime.combine(value, time(9, 0), CHINA)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 20_000 < value < 80_000:
        # An Excel serial day number that the sheet did not format as a date.
        at = datetime(1899, 12, 30, 9, 0, tzinfo=CHINA) + timedelta(days=float(value))
    elif isinstance(value, str):
        at = _parse_date_text(value.strip())
    else:
        raise ValueError("not a date")
    at = at.astimezone(UTC)
    if at < EARLIEST or at > now + timedelta(days=1):
        raise OverflowError("date out of range")
    return at


def _parse_date_text(text: str) -> datetime:
    m = _DATE.fullmatch(text)
    if m is not None:
        y, mo, d, hh, mm, ss, zone = m.groups()
        return datetime(int(y), int(mo), int(d), int(hh or 9), int(mm or 0), int(ss or 0), tzinfo=_zone(zone))
    c = _COMPACT.fullmatch(text)
    if c is None:
        raise ValueError("unrecognised date")
    return datetime(int(c.group(1)), int(c.group(2)), int(c.group(3)), 9, 0, tzinfo=CHINA)


def _zone(zone: str | None) -> tzinfo:
    """``Z``, ``+08:00`` or ``-0500`` as a zone; none written is China time."""
    if not zone:
        return CHINA
    if zone == "Z":
        return UTC
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _text(value: Any, target: str, column: str) -> str | None:
    """A cell as text. Numbers are what spreadsheets make of phone and ID numbers: whole ones are
    kept; an ID number stored as a floating-point number has lost its last digits."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if target == "reporter.id_number" or (value.is_integer() and abs(value) >= 2**53):
            raise _Bad(column, "号码被表格存成了数字，末几位已丢失；请把该列设为文本格式后重新导出。")
        text = str(int(value)) if value.is_integer() else str(value)
    elif isinstance(value, (datetime, date)):
        text = value.isoformat()
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _label(target: str) -> str:
    return FIELD_LABELS.get(target, target)


# --- tabular rows (CSV, XLSX) -------------------------------------------------------------------


def from_cells(
    number: int,
    cells: Mapping[str, Any],
    mapping: ColumnMapping,
    *,
    divisions: Collection[str],
    now: datetime,
) -> ImportRecord | RowError:
    try:
        return _from_cells(number, cells, mapping, divisions, now)
    except _Bad as bad:
        return RowError(number, bad.column, bad.reason)


def _from_cells(
    number: int, cells: Mapping[str, Any], mapping: ColumnMapping, divisions: Collection[str], now: datetime
) -> ImportRecord:
    row = _Row(mapping, _cell_values(cells, mapping))
    content = row.get("content")
    if not content:
        raise _Bad(row.column("content"), "反映内容为空。")
    if len(content) > FIELDS["content"]:
        raise _Bad(row.column("content"), f"反映内容不能超过 {FIELDS['content']} 字。")
    received_at, closed_at = _row_dates(row, now)
    channel = _row_channel(row)
    status = _row_status(row, closed_at)
    code = row.get("location.division_code")
    if code is not None and not (code.isascii() and code.isdigit() and code in divisions):
        raise _Bad(row.column("location.division_code"), "不是本辖区的行政区划代码。")
    source: dict[str, Any] = {}
    if (status_text := row.get("status")) is not None:
        source["status_text"] = status_text
    if result := row.get("result"):
        source["result"] = result
    if closed_at is not None:
        source["closed_at"] = closed_at.isoformat()
    if (source_no := row.get("source_case_no")) is not None:
        source["source_case_no"] = source_no
    get = row.get
    return ImportRecord(
        row=number,
        channel=channel,
        received_at=received_at,
        status=status,
        content=content,
        title=get("title"),
        category=get("category"),
        accused=Accused(get("accused.name"), get("accused.unit"), get("accused.position")),
        location=Location(code, get("location.text")),
        reporter=Reporter(
            get("reporter.name"), get("reporter.id_number"), get("reporter.phone"), get("reporter.address")
        ),
        source=source,
    )


def _cell_values(cells: Mapping[str, Any], mapping: ColumnMapping) -> dict[str, tuple[str, Any]]:
    """field → (the column it came from, value): dates as they are, text bounded by the field's
    limit, repeated columns of a joined field (several 反映内容 columns) joined by lines."""
    values: dict[str, tuple[str, Any]] = {}
    for heading, target in mapping.columns.items():
        if heading not in cells:
            continue
        raw = cells[heading]
        if target in ("received_at", "closed_at"):
            if raw not in (None, "") and target not in values:
                values[target] = (heading, raw)
            continue
        text = _text(raw, target, heading)
        if text is None:
            continue
        if len(text) > FIELDS[target]:
            raise _Bad(heading, f"内容过长（{_label(target)}不能超过 {FIELDS[target]} 字）。")
        if target in values and target in JOINED_FIELDS:
            first, before = values[target]
            values[target] = (first, f"{before}\n{text}")
        elif target not in values:
            values[target] = (heading, text)
    return values


class _Row:
    """One row's values by field, and the column to blame for a field (its heading, the mapped
    heading when the cell was empty, or the field's label when no column maps to it)."""

    def __init__(self, mapping: ColumnMapping, values: dict[str, tuple[str, Any]]) -> None:
        self.mapping = mapping
        self.values = values

    def get(self, target: str) -> str | None:
        found = self.values.get(target)
        text: str | None = found[1] if found else None  # dates are read by _row_dates only
        return text

    def column(self, target: str) -> str:
        found = self.values.get(target)
        if found:
            return found[0]
        for heading, t in self.mapping.columns.items():
            if t == target:
                return heading
        return _label(target)


def _row_dates(row: _Row, now: datetime) -> tuple[datetime, datetime | None]:
    if "received_at" not in row.values:
        raise _Bad(row.column("received_at"), "缺少登记日期。")
    received_at = _when(row.values["received_at"], now)
    closed_at = _when(row.values["closed_at"], now) if "closed_at" in row.values else None
    if closed_at is not None and closed_at < received_at:
        raise _Bad(row.column("closed_at"), "办结日期早于登记日期。")
    return received_at, closed_at


def _row_channel(row: _Row) -> str:
    channel_text = row.get("channel")
    if channel_text is None:
        channel = row.mapping.defaults.get("channel")
        if channel is None:
            raise _Bad(row.column("channel"), "缺少来源（来信、来访、网络、电话等）。")
        return channel
    found_channel = row.mapping.channel_of(channel_text)
    if found_channel is None:
        raise _Bad(row.column("channel"), "来源无法识别；可在映射文件的 channels 中补充对应关系。")
    return found_channel


def _row_status(row: _Row, closed_at: datetime | None) -> str:
    status_text = row.get("status")
    if status_text is not None:
        found_status = row.mapping.status_of(status_text)
        if found_status is None:
            raise _Bad(row.column("status"), "办理状态无法识别；可在映射文件的 statuses 中补充对应关系。")
        return found_status
    # An old register without a status column: a case with a result or an end date is done.
    return row.mapping.defaults.get("status") or (
        "closed" if (row.get("result") or closed_at) else "registered"
    )


def _when(found: tuple[str, Any], now: datetime) -> datetime:
    heading, raw = found
    try:
        return parse_when(raw, now)
    except OverflowError:
        raise _Bad(heading, "日期不在合理范围内（1980 年以后、不晚于今天）。") from None
    except ValueError:
        raise _Bad(heading, "日期格式无法识别（可用 2024-03-05、2024/3/5、2024年3月5日）。") from None


# --- JSON Lines in the interchange format --------------------------------------------------------


@cache
def interchange_schema() -> dict[str, Any]:
    """The JSON Schema of one case in the interchange format (``intake/interchange/case.schema.json``)."""
    text = resources.files("intake.interchange").joinpath("case.schema.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def _validator() -> Any:
    import jsonschema

    schema = interchange_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


_REASONS = {
    "required": "缺少必填字段。",
    "type": "类型不对。",
    "maxLength": "内容过长。",
    "minLength": "内容为空。",
    "enum": "不是允许的值。",
    "const": "不是允许的值。",
    "pattern": "格式不对。",
    "format": "格式不对。",
    "additionalProperties": "有不认识的字段。",
    "maxItems": "条目过多。",
}


def schema_error(doc: Any) -> tuple[str, str] | None:
    """The first way ``doc`` breaks the interchange schema, as (field path, reason), or None."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return None
    e = errors[0]
    path = ".".join(str(p) for p in e.absolute_path)
    if e.validator == "required":
        # The missing property's name is in the schema, not in the value.
        missing = [p for p in e.validator_value if isinstance(e.instance, dict) and p not in e.instance]
        if missing:
            path = ".".join(filter(None, [path, str(missing[0])]))
    elif e.validator == "additionalProperties" and isinstance(e.instance, dict):
        allowed = set((e.schema or {}).get("properties", {}))
        extra = sorted(str(k) for k in e.instance if k not in allowed)
        if extra and len(extra[0]) <= 40 and extra[0].isascii():
            path = ".".join(filter(None, [path, extra[0]]))
    return path, _REASONS.get(str(e.validator), "不符合交换格式。")


def from_interchange(
    number: int, doc: Any, *, divisions: Collection[str], now: datetime
) -> ImportRecord | RowError:
    if isinstance(doc, dict) and isinstance(doc.get(""), BadLine):
        return RowError(number, "", doc[""].reason)
    problem = schema_error(doc)
    if problem is not None:
        return RowError(number, problem[0], problem[1])
    try:
        received_at = parse_when(doc["received_at"], now)
    except OverflowError:
        return RowError(number, "received_at", "日期不在合理范围内（1980 年以后、不晚于今天）。")
    except ValueError:
        return RowError(number, "received_at", "时间格式不对（应为 ISO 8601）。")
    location = doc.get("location") or {}
    code = location.get("division_code")
    if code is not None and code not in divisions:
        return RowError(number, "location.division_code", "不是本辖区的行政区划代码。")
    accused = doc.get("accused") or {}
    reporter = doc.get("reporter") or {}
    source: dict[str, Any] = {"format": FORMAT_ID}
    for key in ("case_no", "result", "closed_at"):
        if doc.get(key):
            source["source_case_no" if key == "case_no" else key] = doc[key]
    if isinstance(doc.get("receiving_unit"), dict) and doc["receiving_unit"].get("id"):
        source["source_unit"] = doc["receiving_unit"]["id"]
    history = [
        {"at": h["at"], "event": h["event"], **({"detail": h["detail"]} if h.get("detail") else {})}
        for h in doc.get("history") or []
    ]
    return ImportRecord(
        row=number,
        channel=doc["channel"],
        received_at=received_at,
        status=doc.get("status") or "registered",
        content=doc["content"],
        title=doc.get("title"),
        category=doc.get("category"),
        accused=Accused(accused.get("name"), accused.get("unit"), accused.get("position")),
        location=Location(code, location.get("text")),
        reporter=Reporter(
            reporter.get("name"), reporter.get("id_number"), reporter.get("phone"), reporter.get("address")
        ),
        anonymous=doc.get("anonymous"),
        source=source,
        history=history,
    )


__all__ = [
    "FORMAT_ID",
    "IDENTITY_FIELDS",
    "ImportRecord",
    "RowError",
    "from_cells",
    "from_interchange",
    "interchange_schema",
    "parse_when",
    "schema_error",
]
