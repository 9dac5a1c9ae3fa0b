"""The web form's signed receipt (受理回执): its fields for the receipt page, and the check of a
pasted one for the /verify page (a signature check only: nothing is looked up or stored)."""

from __future__ import annotations

import json
from typing import Any

from intake import receipts
from intake.channel_intake import ChannelIntake
from intake.domain import SignedReceipt

VERIFY_FIELDS = frozenset({"csrf", "receipt"})
NOT_JSON = "回执应为 JSON 格式的文本。"


def receipt_context(intake: ChannelIntake, signed: SignedReceipt | None) -> dict[str, Any]:
    """The receipt's fields for the page, in print and as the JSON the /verify page takes."""
    if signed is None:
        return {"receipt": None}
    unit = intake.jurisdiction.unit(signed.unit)
    return {
        "receipt": signed,
        "receipt_unit": unit.name if unit else signed.unit,
        "receipt_json": json.dumps(signed.as_dict(), ensure_ascii=False, indent=1),
    }


def verdict_of(intake: ChannelIntake, pasted: str) -> dict[str, Any]:
    """What the /verify page says of a pasted receipt (or of a whole filing answer)."""
    doc: Any = receipts.pasted(pasted)
    reason = intake.check_receipt(doc) if doc is not None else NOT_JSON
    if reason is not None:
        return {"valid": False, "reason": reason}
    unit = intake.jurisdiction.unit(doc["unit"])
    when = receipts.received_shown(doc["received_at"])
    return {
        "valid": True,
        "case_no": doc["case_no"],
        "unit": unit.name if unit else doc["unit"],
        "when": when,
    }
