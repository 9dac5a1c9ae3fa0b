"""Verifiable receipts (受理回执): what a citizen can show, later and to anyone, to prove they reported
and when.

A receipt names the case number, the receiving unit's code, the time of receipt and the SHA-256 of
the report as the office stores it, and carries the deployment's Ed25519 signature over the UTF-8
JSON of those four fields with sorted keys and no spaces (the contract in DESIGN.md). The public key
is published at ``GET /api/v1/receipt-key``; :func:`check` verifies with it, offline as well.
Nothing in a receipt identifies the informant: the hash is of the text as stored, after the
informant's own details were redacted, and cannot be turned back into it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from intake.clock import china_time
from intake.domain import SignedReceipt
from storage.keys import Keyring
from storage.receipt_signing import ReceiptSigner, signature_valid

__all__ = [
    "ALGORITHM",
    "FIELDS",
    "ReceiptBook",
    "SignedReceipt",
    "check",
    "message",
    "pasted",
    "received_shown",
    "report_sha256",
]

FIELDS = ("case_no", "unit", "received_at", "sha256")
ALGORITHM = "Ed25519"


def report_sha256(title: str | None, content: str) -> str:
    """The hash a receipt carries: SHA-256 (hex) of the UTF-8 text as stored — the title, a line
    break and the content when there is a title, else the content alone."""
    text = f"{title}\n{content}" if title else content
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pasted(text: str) -> object | None:
    """A receipt as a citizen pastes it: its JSON, or a whole filing answer carrying it under
    ``receipt``; None when the text is not JSON at all."""
    try:
        doc: object = json.loads(text)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("receipt"), dict):
        inner: object = doc["receipt"]
        return inner
    return doc


def received_shown(text: str) -> str:
    """A receipt's time as people read it (China time), or the text itself when it is no time."""
    try:
        return china_time(text)
    except ValueError:
        return text


def received_text(at: datetime) -> str:
    """The receipt's time: ISO 8601 in UTC, as the filing APIs write ``received_at``."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def message(fields: Mapping[str, str]) -> bytes:
    """The signed bytes: the four fields as compact JSON with sorted keys."""
    body = {name: fields[name] for name in FIELDS}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


class ReceiptBook:
    """Signs receipts with the deployment's key (derived from the keyring, the same in every worker)."""

    def __init__(self, keyring: Keyring) -> None:
        self._signer = ReceiptSigner(keyring)

    @property
    def public_key(self) -> str:
        """The raw public key, base64: what ``GET /api/v1/receipt-key`` publishes."""
        return base64.b64encode(self._signer.public_key).decode("ascii")

    def sign(self, case_no: str, unit: str, received_at: datetime, sha256: str) -> SignedReceipt:
        fields = {
            "case_no": case_no,
            "unit": unit,
            "received_at": received_text(received_at),
            "sha256": sha256,
        }
        signature = base64.b64encode(self._signer.sign(message(fields))).decode("ascii")
        return SignedReceipt(signature=signature, **fields)

    def check(self, receipt: object) -> str | None:
        return check(receipt, self.public_key)


def check(receipt: object, public_key: str) -> str | None:
    """None when ``receipt`` (the parsed JSON) is a valid receipt under ``public_key`` (base64),
    else why not, in words for the citizen."""
    if not isinstance(receipt, Mapping):
        return "回执应为一个包含案件编号、受理单位、受理时间、摘要和签名的 JSON 对象。"
    missing = [name for name in (*FIELDS, "signature") if not isinstance(receipt.get(name), str)]
    if missing:
        return "回执缺少以下内容：" + "、".join(FIELD_LABELS[name] for name in missing) + "。"
    try:
        signature = base64.b64decode(receipt["signature"], validate=True)
        key = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError):
        return "签名不是有效的编码，回执无效。"
    if not signature_valid(key, message(receipt), signature):
        return "签名与回执内容不符：回执被改动过，或不是本系统签发的。"
    return None


FIELD_LABELS = {
    "case_no": "案件编号",
    "unit": "受理单位",
    "received_at": "受理时间",
    "sha256": "举报内容摘要",
    "signature": "签名",
}
