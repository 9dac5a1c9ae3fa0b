"""Export of cases as CSV, XLSX or JSON Lines (the interchange format), never with identity.

The CSV and XLSX headings are the ones :data:`intake.interchange.mapping.DEFAULT_COLUMNS` reads,
and the JSON Lines records follow ``case.schema.json``: an export imports again as it is. Every
export writes one ``cases_exported`` audit event (who, which format, which scope, how many).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from intake.case_fields import case_fields
from intake.clock import Clock
from intake.domain import STATUS_LABELS
from intake.errors import ValidationError
from intake.interchange.mapping import CHANNEL_NAMES
from intake.interchange.readers import FORMULA_START  # a spreadsheet runs such a cell as a formula
from intake.interchange.records import CHINA, FORMAT_ID
from storage.database import Database
from storage.export_store import ExportCase
from triage.explain import PRIORITY_NAMES

FORMATS = ("csv", "xlsx", "jsonl")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson",
}

# (heading, what goes in it) for CSV and XLSX.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("案件编号", "case_no"),
    ("登记日期", "received_at"),
    ("来源", "channel"),
    ("办理状态", "status"),
    ("标题", "title"),
    ("反映内容", "content"),
    ("问题类别", "category"),
    ("被反映人", "accused_name"),
    ("被反映人单位", "accused_unit"),
    ("职务", "accused_position"),
    ("问题发生地", "location_text"),
    ("区划代码", "location_code"),
    ("办理结果", "result"),
    ("办结日期", "closed_at"),
    ("检举人化名", "informant"),
    ("接收单位", "receiving_unit"),
    ("承办单位", "owner_unit"),
    ("分流类别", "triage_category"),
    ("紧急程度", "priority"),
    ("疑似重复", "duplicate_of"),
    ("更新时间", "updated_at"),
)


def china_time(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _old_details(case: ExportCase) -> dict[str, Any]:
    for item in case.history:
        if item.event == "imported":
            return dict(item.detail)
    return {}


def interchange_record(case: ExportCase, unit_names: Mapping[str, str]) -> dict[str, Any]:
    """One case in the interchange format (``case.schema.json``)."""
    triage = case.triage or {}
    unit = triage.get("unit") if isinstance(triage.get("unit"), dict) else None
    old = _old_details(case)
    doc: dict[str, Any] = {
        "format": FORMAT_ID,
        "case_no": case.case_no,
        "channel": case.channel,
        "received_at": case.received_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        **case_fields(case),
        "anonymous": case.anonymous,
        "informant": case.informant_alias,
        "receiving_unit": {"id": case.receiving_unit, "name": unit_names.get(case.receiving_unit)},
        "owner_unit": {"id": case.owner_unit, "name": unit_names.get(case.owner_unit)},
        "triage": {
            "category": triage.get("category"),
            "scope": triage.get("scope"),
            "level": triage.get("level"),
            "priority": triage.get("priority"),
            "unit": {"id": unit.get("id"), "name": unit.get("name")} if unit else None,
            "duplicate_of": triage.get("duplicate_of"),
            "confidence": triage.get("confidence"),
        }
        if triage
        else None,
        "history": [
            {
                "at": h.at.isoformat(),
                "event": h.event,
                **({"detail": {k: v for k, v in h.detail.items() if _scalar(v)}} if h.detail else {}),
            }
            for h in case.history[:500]
        ],
    }
    if old.get("result"):
        doc["result"] = old["result"]
    if old.get("closed_at"):
        doc["closed_at"] = old["closed_at"]
    return doc


def _scalar(v: Any) -> bool:
    if isinstance(v, str):
        return len(v) <= 2000
    return v is None or isinstance(v, (int, float, bool))


def table_row(case: ExportCase, unit_names: Mapping[str, str]) -> list[str]:
    triage = case.triage or {}
    old = _old_details(case)
    closed = old.get("closed_at")
    values = {
        "case_no": case.case_no,
        "received_at": china_time(case.received_at),
        "channel": CHANNEL_NAMES.get(case.channel, case.channel),
        "status": STATUS_LABELS.get(case.status, case.status),
        "title": case.title,
        "content": case.content,
        "category": case.category,
        "accused_name": case.accused_name,
        "accused_unit": case.accused_unit,
        "accused_position": case.accused_position,
        "location_text": case.location_text,
        "location_code": case.location_code,
        "result": old.get("result"),
        "closed_at": china_time(datetime.fromisoformat(closed)) if isinstance(closed, str) else None,
        "informant": case.informant_alias,
        "receiving_unit": unit_names.get(case.receiving_unit, case.receiving_unit),
        "owner_unit": unit_names.get(case.owner_unit, case.owner_unit),
        "triage_category": triage.get("category"),
        "priority": PRIORITY_NAMES.get(str(triage.get("priority"))),
        "duplicate_of": triage.get("duplicate_of"),
        "updated_at": china_time(case.updated_at),
    }
    return ["" if values[key] is None else str(values[key]) for _, key in COLUMNS]


class _Writer:
    def __init__(self, out: IO[bytes], unit_names: Mapping[str, str]) -> None:
        self.out = out
        self.names = unit_names

    def write(self, case: ExportCase) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        pass


class _CsvWriter(_Writer):
    def __init__(self, out: IO[bytes], unit_names: Mapping[str, str]) -> None:
        super().__init__(out, unit_names)
        self.text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        self.csv = csv.writer(self.text)
        self.csv.writerow([h for h, _ in COLUMNS])

    def write(self, case: ExportCase) -> None:
        # A cell a spreadsheet would run as a formula gets a leading apostrophe (the import
        # takes it off again).
        self.csv.writerow(
            ["'" + v if v.startswith(FORMULA_START) else v for v in table_row(case, self.names)]
        )

    def finish(self) -> None:
        self.text.flush()
        self.text.detach()


class _XlsxWriter(_Writer):
    def __init__(self, out: IO[bytes], unit_names: Mapping[str, str]) -> None:
        import openpyxl

        super().__init__(out, unit_names)
        self.book = openpyxl.Workbook(write_only=True)
        self.sheet = self.book.create_sheet("案件")
        self.sheet.append([h for h, _ in COLUMNS])

    def write(self, case: ExportCase) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        cells = []
        for value in table_row(case, self.names):
            cell = WriteOnlyCell(self.sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value) or None)
            if cell.value is not None:
                cell.data_type = "s"  # text, never a formula, whatever it starts with
            cells.append(cell)
        self.sheet.append(cells)

    def finish(self) -> None:
        self.book.save(self.out)


class _JsonlWriter(_Writer):
    def write(self, case: ExportCase) -> None:
        line = json.dumps(interchange_record(case, self.names), ensure_ascii=False, separators=(",", ":"))
        self.out.write(line.encode() + b"\n")


WRITERS: dict[str, type[_Writer]] = {"csv": _CsvWriter, "xlsx": _XlsxWriter, "jsonl": _JsonlWriter}


def check_format(fmt: str | None) -> str:
    if fmt not in FORMATS:
        raise ValidationError("导出格式应为 csv、xlsx 或 jsonl。", code="invalid_format")
    return fmt


class ExportService:
    def __init__(self, db: Database, clock: Clock, unit_names: Mapping[str, str]) -> None:
        self._db = db
        self._clock = clock
        self._names = dict(unit_names)

    async def export(
        self,
        fmt: str,
        out: IO[bytes],
        *,
        actor: str,
        units: Sequence[str] | None,
        hide_sealed_received_by: Sequence[str] = (),
        status: str | None = None,
        channel: str | None = None,
        case_nos: Sequence[str] | None = None,
    ) -> int:
        """Write the cases in scope to ``out``; returns how many. One audit event per export."""
        writer = WRITERS[check_format(fmt)](out, self._names)
        count = 0
        async for case in self._db.exports.cases(
            units=units,
            hide_sealed_received_by=hide_sealed_received_by,
            status=status,
            channel=channel,
            case_nos=case_nos,
        ):
            writer.write(case)
            count += 1
        writer.finish()
        await self._db.exports.record(
            "cases_exported",
            actor,
            self._clock.now(),
            {
                "format": fmt,
                "cases": count,
                "units": list(units) if units is not None else "all",
                **({"status": status} if status else {}),
                **({"channel": channel} if channel else {}),
                **({"selected": len(case_nos)} if case_nos is not None else {}),
            },
        )
        return count
