"""What every rendering of a case shows of its matter, in one place: the staff API's case view
(:func:`console.case_doc.case_doc`) and the interchange format's record
(:func:`intake.interchange.exporter.interchange_record`) both carry these fields, in this order."""

from __future__ import annotations

from typing import Any

from intake.domain import STATUS_LABELS
from storage.export_store import ExportCase
from storage.records import ReportSummary


def case_fields(case: ReportSummary | ExportCase) -> dict[str, Any]:
    """Status (with its label), title, content, category, the accused and the place."""
    return {
        "status": case.status,
        "status_label": STATUS_LABELS.get(case.status, case.status),
        "title": case.title,
        "content": case.content,
        "category": case.category,
        "accused": {"name": case.accused_name, "unit": case.accused_unit, "position": case.accused_position},
        "location": {"division_code": case.location_code, "text": case.location_text},
    }
