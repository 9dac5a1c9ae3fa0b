"""Normalising identifiers, blind indexes in the accept transaction, and pseudonyms."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from intake.domain import Reporter, Submission
from intake.vault_service import identifiers_of, index_lookup, informant_alias, submission_indexes
from storage import keys, vault
from storage.database import Database
from storage.db import Batch
from storage.vault_store import VaultStore, insert_blind_indexes_txn
from tests.vault.conftest import FileReport, SteppingClock


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13912345678", "+8613912345678"),
        ("139 1234 5678", "+8613912345678"),
        ("139-1234-5678", "+8613912345678"),
        ("１３９１２３４５６７８", "+8613912345678"),
        ("+86 139 1234 5678", "+8613912345678"),
        ("+86-13912345678", "+8613912345678"),
        ("0086 13912345678", "+8613912345678"),
        ("8613912345678", "+8613912345678"),
        ("(+86) 139 1234 5678", "+8613912345678"),
        ("010-12345678", "+861012345678"),
        ("(010) 1234 5678", "+861012345678"),
        ("+86 10 1234 5678", "+861012345678"),
        ("0731-84567890", "+8673184567890"),
        ("0731-84567890转123", "+8673184567890"),
        ("+1 (202) 555-0100", "+12025550100"),
        ("12345678", None),
        ("1391234567", None),
        ("23912345678", None),
        ("电话", None),
        ("", None),
    ],
)
def test_phone_numbers_to_e164(raw: str, expected: str | None) -> None:
    assert vault.normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("43012119800101123x", "43012119800101123X"),
        ("430121 19800101 123X", "43012119800101123X"),
        ("４３０１２１１９８００１０１１２３Ｘ", "43012119800101123X"),
        ("430121800101123", "430121198001011232"),  # the 15-digit form, check character computed
        ("4301211980010112", None),
        ("43012119800101123Y", None),
    ],
)
def test_id_numbers(raw: str, expected: str | None) -> None:
    assert vault.normalize_id_number(raw) == expected


def test_id_number_checksum() -> None:
    assert vault.id_number_checksum_ok("11010519491231002X")
    assert not vault.id_number_checksum_ok("110105194912310021")


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("email", " Informant@Example.COM ", "informant@example.com"),
        ("email", "no-at-sign", None),
        ("openid", " oAbC-123_x ", "oAbC-123_x"),  # openids are case-sensitive
        ("wechat_openid", "oabc-123_x", "oabc-123_x"),
        ("telegram_chat_id", "00123", "123"),
        ("chat_id", "-100200300", "-100200300"),
        ("weibo_uid", "5012345678", "5012345678"),
        ("weibo_uid", "abc", None),
        ("device_token", "tok en", None),
        ("landline", "0731-84567890", "+8673184567890"),  # the in-text redaction's kind names
        ("mobile", "13912345678", "+8613912345678"),
        ("bank_card", "6222021234567890123", None),
        ("ip", "203.0.113.9", None),  # never indexed
        ("name", "张三", None),
    ],
)
def test_handles(kind: str, raw: str, expected: str | None) -> None:
    assert vault.normalize(kind, raw) == expected


def test_equal_identifiers_give_equal_indexes(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})
    a = vault.blind_index(ring, "phone", "139 1234 5678")
    b = vault.blind_index(ring, "mobile", "+86-13912345678")
    assert a is not None and a == b and a.kind == "phone" and len(a.mac) == 64
    assert vault.blind_index(ring, "phone", "13912345679") != a
    # Kinds are keyed apart: the same digits as a Weibo uid are a different index.
    assert vault.blind_index(ring, "weibo_uid", "13912345678") != a
    assert vault.blind_index(ring, "ip", "203.0.113.9") is None
    other = keys.load_or_create(tmp_path / "other", env={})
    assert vault.blind_index(other, "phone", "13912345678") != a  # keyed: useless without the key


def test_pseudonyms(tmp_path: Path) -> None:
    ring = keys.load_or_create(tmp_path, env={})

    def sub(**reporter: str) -> Submission:
        return Submission(channel="app", content="x", reporter=Reporter(**reporter), anonymous=False)

    first = submission_indexes(
        ring, sub(id_number="43012119800101123x", phone="13912345678"), anonymous=False
    )
    assert [i.kind for i in first] == ["id_number", "phone"]
    again = submission_indexes(
        ring, sub(id_number="43012119800101123X", phone="+86 139 0000 0000"), anonymous=False
    )
    phone_only = submission_indexes(ring, sub(phone="139-1234-5678"), anonymous=False)
    r1, r2, r3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    alias = informant_alias(ring, first, r1)
    assert re.fullmatch("检举人[0-9A-F]{4}", alias)
    # The same ID number: the same pseudonym, whatever phone came with it and whichever report.
    assert informant_alias(ring, again, r2) == alias
    # With a phone alone, the phone decides (however it was written).
    assert informant_alias(ring, phone_only, r3) == informant_alias(ring, first[1:], r1)
    # Nobody identifiable: a per-report alias, the one the pipeline always gave.
    assert informant_alias(ring, [], r1) == "检举人" + ring.mac("alias", r1.bytes)[:4].upper()
    assert informant_alias(ring, [], r1) != informant_alias(ring, [], r2)


def test_anonymous_reports_index_only_their_handles() -> None:
    sub = Submission(
        channel="sms",
        content="x",
        reporter=Reporter(name="张三", phone="13912345678"),
        anonymous=True,
        handles={"ip": "203.0.113.9", "phone": "13800000000"},
    )
    assert identifiers_of(sub, anonymous=True) == [("phone", "13800000000")]
    assert identifiers_of(sub, anonymous=False) == [("phone", "13912345678"), ("phone", "13800000000")]


async def test_indexes_in_the_accept_transaction_flag_repeat_reporters(
    database: Database, file_report: FileReport, clock: SteppingClock
) -> None:
    ring = database.keyring
    phone = vault.blind_index(ring, "phone", "13912345678")
    openid = vault.blind_index(ring, "openid", "oXyZ")
    assert phone is not None and openid is not None
    reports = [await file_report() for _ in range(3)]

    async def accept_txn(batch: Batch) -> dict[uuid.UUID, int]:
        return await insert_blind_indexes_txn(
            batch,
            [
                (reports[0].report_id, clock.now(), [phone]),
                (reports[1].report_id, clock.now(), [openid]),
            ],
        )

    assert await database.writer.run(accept_txn) == {reports[0].report_id: 0, reports[1].report_id: 0}
    clock.advance(days=2)

    async def repeat_txn(batch: Batch) -> dict[uuid.UUID, int]:
        return await insert_blind_indexes_txn(batch, [(reports[2].report_id, clock.now(), [phone, openid])])

    assert await database.writer.run(repeat_txn) == {reports[2].report_id: 1}
    store = VaultStore(database)
    sharing = await store.reports_sharing(index_lookup(ring, "phone", "+86 139 1234 5678"))
    assert [case for _, case, _ in sharing] == [reports[0].case_no, reports[2].case_no]
    assert (
        await store.count_reports_since(
            index_lookup(ring, "phone", "13912345678"), clock.now() - timedelta(days=1)
        )
        == 1
    )
    assert await store.indexes_of(reports[2].report_id) == [phone, openid]
