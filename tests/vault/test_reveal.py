"""The reveal workflow: custodians only, a second custodian approves, time-limited, single use,
anonymous tracing needs a commission's approval, and every attempt is in the audit chain."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import cast

import pytest
import sqlalchemy as sa

from intake.errors import NotFound, ValidationError
from intake.vault_service import DeliveryHandles, VaultPolicy, VaultRefused, VaultService
from storage import models
from storage.database import Database
from tests.vault.conftest import IDENTITY, FileReport, SteppingClock

E = cast(sa.Table, models.ReportEvent.__table__)


async def _events(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    async with db.read_engine.connect() as conn:
        rows = await conn.execute(sa.select(E.c.kind, E.c.actor, E.c.payload).order_by(E.c.seq))
        return [(r.kind, r.actor, json.loads(r.payload)) for r in rows]


async def _refused(coro: object, code: str) -> None:
    with pytest.raises(VaultRefused) as raised:
        await coro  # type: ignore[misc]
    assert raised.value.code == code


async def test_two_custodians_reveal_an_identity_once(
    database: Database, service: VaultService, file_report: FileReport
) -> None:
    filed = await file_report(identity=IDENTITY, handles={"ip": "203.0.113.9", "phone": "13912345678"})
    req = await service.request(filed.case_no, "identity", "alice", "核查是否诬告陷害，经室务会研究")
    assert (req.status, req.approvals_needed, req.case_no) == ("pending", 1, filed.case_no)
    await _refused(service.approve(req.id, "alice"), "self_approval")
    await _refused(service.open(req.id, "alice"), "not_approved")
    await _refused(service.approve(req.id, "mallory"), "not_custodian")
    approved = await service.approve(req.id, "bob")
    assert approved.status == "approved" and approved.approvers == ["bob"]
    await _refused(service.approve(req.id, "carol"), "not_pending")
    await _refused(service.open(req.id, "bob"), "not_requester")  # the approver cannot read it

    revealed = await service.open(req.id, "alice")
    assert revealed.entries == {"identity": IDENTITY}  # handles are not part of an identity reveal
    await _refused(service.open(req.id, "alice"), "already_opened")

    events = await _events(database)
    vault_events = [(k, a, p.get("why")) for k, a, p in events if k.startswith("vault_reveal")]
    assert vault_events == [
        ("vault_reveal_requested", "alice", None),
        ("vault_reveal_refused", "alice", "self_approval"),
        ("vault_reveal_refused", "alice", "not_approved"),
        ("vault_reveal_refused", "mallory", "not_custodian"),
        ("vault_reveal_approved", "bob", None),
        ("vault_reveal_refused", "carol", "not_pending"),
        ("vault_reveal_refused", "bob", "not_requester"),
        ("vault_reveal_opened", "alice", None),
        ("vault_reveal_refused", "alice", "already_opened"),
    ]
    opened = next(p for k, _, p in events if k == "vault_reveal_opened")
    assert opened["fields"] == ["identity.address", "identity.id_number", "identity.name", "identity.phone"]
    assert opened["reason"] == "核查是否诬告陷害，经室务会研究"
    # The audit trail names the fields, never their values.
    assert all(v not in json.dumps(events, ensure_ascii=False) for v in IDENTITY.values())
    ok, n, detail = await database.audit.verify()
    assert ok and n == len(events), detail


async def test_non_custodians_cannot_ask(
    database: Database, service: VaultService, file_report: FileReport
) -> None:
    filed = await file_report(identity=IDENTITY)
    await _refused(service.request(filed.case_no, "identity", "mallory", "好奇"), "not_custodian")
    await service.remove_custodian("carol", "cli:root")
    await _refused(service.request(filed.case_no, "identity", "carol", "核查"), "not_custodian")
    with pytest.raises(NotFound):
        await service.request("2026-430121-999999", "identity", "alice", "核查")
    with pytest.raises(ValidationError):
        await service.request(filed.case_no, "identity", "alice", "   ")
    with pytest.raises(ValidationError):
        await service.request(filed.case_no, "everything", "alice", "核查")
    with pytest.raises(NotFound):
        await service.approve(uuid.uuid4(), "bob")
    refused = [(a, p["why"]) for k, a, p in await _events(database) if k == "vault_reveal_refused"]
    assert refused == [("mallory", "not_custodian"), ("carol", "not_custodian")]


async def test_approvals_and_openings_expire(
    database: Database, service: VaultService, file_report: FileReport, clock: SteppingClock
) -> None:
    filed = await file_report(identity=IDENTITY)
    late = await service.request(filed.case_no, "identity", "alice", "核查")
    clock.advance(hours=25)
    await _refused(service.approve(late.id, "bob"), "expired")
    await _refused(service.approve(late.id, "carol"), "not_pending")

    unopened = await service.request(filed.case_no, "identity", "alice", "核查")
    await service.approve(unopened.id, "bob")
    clock.advance(hours=24, seconds=1)
    await _refused(service.open(unopened.id, "alice"), "expired")

    swept = await service.request(filed.case_no, "identity", "alice", "核查")
    clock.advance(hours=30)
    assert await service.expire_due() == 1
    assert [r.status for r in await service.requests()] == ["expired", "expired", "expired"]
    expired = [(a, p["attempt"]) for k, a, p in await _events(database) if k == "vault_reveal_expired"]
    assert expired == [("bob", "approve"), ("alice", "open"), ("system:vault", "sweep")]
    ok, _, detail = await database.audit.verify()
    assert ok, detail
    assert swept.id


async def test_k_of_n_distinct_approvers(
    database: Database, service: VaultService, file_report: FileReport, clock: SteppingClock
) -> None:
    strict = VaultService(database, clock, VaultPolicy(approvals=2))
    filed = await file_report(identity=IDENTITY)
    req = await strict.request(filed.case_no, "identity", "alice", "核查")
    assert (await strict.approve(req.id, "bob")).status == "pending"
    await _refused(strict.approve(req.id, "bob"), "already_decided")
    await _refused(strict.open(req.id, "alice"), "not_approved")
    assert (await strict.approve(req.id, "carol")).status == "approved"
    assert (await strict.open(req.id, "alice")).entries["identity"]["name"] == IDENTITY["name"]
    # Three approvals cannot be had from three custodians when one of them is asking.
    stricter = VaultService(database, clock, VaultPolicy(approvals=3))
    await _refused(stricter.request(filed.case_no, "identity", "alice", "核查"), "not_enough_custodians")
    with pytest.raises(ValueError):
        VaultPolicy(approvals=0)
    assert VaultPolicy.from_env(
        {"INTAKE_VAULT_APPROVALS": "2", "INTAKE_VAULT_APPROVAL_HOURS": "4"}
    ) == VaultPolicy(2, timedelta(hours=4))


async def test_denial_and_withdrawal(
    database: Database, service: VaultService, file_report: FileReport
) -> None:
    filed = await file_report(identity=IDENTITY)
    req = await service.request(filed.case_no, "identity", "alice", "核查")
    assert (await service.deny(req.id, "bob", "理由不充分")).status == "denied"
    await _refused(service.open(req.id, "alice"), "denied")
    await _refused(service.approve(req.id, "carol"), "not_pending")
    again = await service.request(filed.case_no, "identity", "alice", "补充理由后再次申请")
    await service.approve(again.id, "bob")
    withdrawn = await service.deny(again.id, "alice")
    assert withdrawn.status == "denied"
    denied = [(a, p["withdrawn"]) for k, a, p in await _events(database) if k == "vault_reveal_denied"]
    assert denied == [("bob", False), ("alice", True)]


async def test_tracing_an_anonymous_report_needs_a_commission_reference(
    database: Database, service: VaultService, file_report: FileReport
) -> None:
    anonymous = await file_report(handles={"ip": "203.0.113.9", "phone": "13912345678"}, channel="sms")
    await _refused(service.request(anonymous.case_no, "ip", "alice", "涉嫌诬告"), "commission_ref_required")
    await _refused(
        service.request(anonymous.case_no, "handle", "alice", "涉嫌诬告"), "commission_ref_required"
    )
    await _refused(service.request(anonymous.case_no, "identity", "alice", "涉嫌诬告"), "nothing_sealed")
    req = await service.request(
        anonymous.case_no, "ip", "alice", "涉嫌诬告陷害", commission_ref="长纪发〔2026〕12号 市纪委监委批准"
    )
    assert req.commission_ref == "长纪发〔2026〕12号 市纪委监委批准"
    await service.approve(req.id, "bob")
    assert (await service.open(req.id, "alice")).entries == {"ip": "203.0.113.9"}

    handle = await service.request(
        anonymous.case_no, "handle", "alice", "涉嫌诬告陷害", commission_ref="长纪发〔2026〕12号"
    )
    await service.approve(handle.id, "carol")
    assert (await service.open(handle.id, "alice")).entries == {"handle": {"phone": "13912345678"}}
    requested = [p for k, _, p in await _events(database) if k == "vault_reveal_requested"]
    assert [p["commission_ref"] for p in requested] == [
        "长纪发〔2026〕12号 市纪委监委批准",
        "长纪发〔2026〕12号",
    ]
    # A real-name report's handles need no commission reference.
    named = await file_report(identity=IDENTITY, handles={"ip": "198.51.100.7"})
    assert (await service.request(named.case_no, "ip", "alice", "核查")).status == "pending"


async def test_the_notifier_gets_the_handle_and_nothing_else(
    database: Database, file_report: FileReport, clock: SteppingClock
) -> None:
    notifier = DeliveryHandles(database, clock)
    sms = await file_report(handles={"ip": "203.0.113.9", "phone": "13912345678"}, channel="sms")
    wechat = await file_report(handles={"openid": "oAbC123"}, channel="wechat")
    web = await file_report(identity=IDENTITY, handles={"ip": "203.0.113.10"}, channel="web")
    anonymous_web = await file_report(handles={"ip": "203.0.113.11"}, channel="web")
    assert await notifier.handle_for_delivery(sms.report_id) == ("sms", "13912345678")
    assert await notifier.handle_for_delivery(wechat.report_id) == ("wechat", "oAbC123")
    # The web has no address of its own: a real-name informant's mobile number, for SMS (issue 17);
    # an anonymous one has none.
    assert await notifier.handle_for_delivery(web.report_id) == ("sms", "+8613912345678")
    assert await notifier.handle_for_delivery(anonymous_web.report_id) is None
    used = [(a, p) for k, a, p in await _events(database) if k == "vault_handle_used"]
    assert used == [
        ("system:notifier", {"channel": "sms", "handle": "phone", "purpose": "reply"}),
        ("system:notifier", {"channel": "wechat", "handle": "openid", "purpose": "reply"}),
        ("system:notifier", {"channel": "sms", "handle": "phone", "purpose": "reply"}),
    ]
