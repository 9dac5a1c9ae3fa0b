"""Verifiable receipts: the signature covers the four fields exactly as the contract says, and any
changed byte or foreign key makes it invalid."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from intake import receipts
from storage.keys import Keyring

AT = datetime(2026, 12, 2, 6, 30, 1, 123456, tzinfo=UTC)


def book(seed: bytes = b"k" * 32) -> receipts.ReceiptBook:
    return receipts.ReceiptBook(Keyring(keks={1: seed}))


def test_the_signature_is_over_sorted_compact_json_of_the_four_fields() -> None:
    r = book().sign("XF2026-430121-000001", "430121", AT, "ab" * 32)
    signed = json.dumps(
        {"case_no": r.case_no, "unit": r.unit, "received_at": r.received_at, "sha256": r.sha256},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(book().public_key))
    public.verify(base64.b64decode(r.signature), signed)  # raises when not
    assert r.received_at == "2026-12-02T06:30:01.123456+00:00"


def test_a_receipt_verifies_and_any_changed_field_or_byte_does_not() -> None:
    b = book()
    good = b.sign("XF2026-430121-000001", "430121", AT, receipts.report_sha256("标题", "正文")).as_dict()
    assert b.check(good) is None
    for name in ("case_no", "unit", "received_at", "sha256"):
        changed = dict(good, **{name: good[name][:-1] + ("0" if good[name][-1] != "0" else "1")})
        assert b.check(changed) is not None, name
    raw = bytearray(base64.b64decode(good["signature"]))
    raw[5] ^= 1
    assert b.check(dict(good, signature=base64.b64encode(bytes(raw)).decode())) is not None


def test_another_deployments_key_does_not_verify_and_the_key_is_stable() -> None:
    mine, theirs = book(b"a" * 32), book(b"b" * 32)
    r = mine.sign("XF2026-430121-000002", "430121", AT, "cd" * 32).as_dict()
    assert theirs.check(r) is not None
    assert receipts.check(r, mine.public_key) is None
    assert book(b"a" * 32).public_key == mine.public_key  # every worker derives the same key
    assert mine.public_key != theirs.public_key


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "x",
        {},
        {"case_no": "1"},
        {"case_no": 1, "unit": "u", "received_at": "t", "sha256": "s", "signature": "x"},
    ],
)
def test_malformed_receipts_are_invalid_with_a_reason_in_chinese(bad: object) -> None:
    reason = book().check(bad)
    assert reason is not None and "回执" in reason


def test_a_signature_that_is_not_base64_is_invalid() -> None:
    r = book().sign("XF2026-430121-000003", "430121", AT, "ef" * 32).as_dict()
    assert book().check(dict(r, signature="不是签名")) == "签名不是有效的编码，回执无效。"


def test_times_are_written_in_utc_whatever_zone_they_come_in() -> None:
    china = AT.astimezone(timezone(timedelta(hours=8)))
    assert receipts.received_text(china) == receipts.received_text(AT)


def test_the_report_hash_is_of_the_stored_text() -> None:
    assert receipts.report_sha256(None, "正文") == receipts.report_sha256("", "正文")
    assert receipts.report_sha256("标题", "正文") != receipts.report_sha256(None, "正文")
