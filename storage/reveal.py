"""The reveal workflow's transactions: each function is one step the vault service runs on the
group-commit writer (it awaits only ``batch.conn``), writing its audit events, refusals included,
in the same transaction as the state change. The rules' inputs (the approval count and window) are
the service's (:class:`intake.vault_service.VaultPolicy`); a refusal comes back as a
:class:`Refusal` for the service to turn into an error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage import vault
from storage.db import Batch
from storage.keys import Keyring
from storage.vault import VaultIntegrityError
from storage.vault_steps import (
    RevealRequestRecord,
    StoredEntry,
    count_custodians_txn,
    due_requests_txn,
    entries_txn,
    insert_decision_txn,
    insert_request_txn,
    is_custodian_txn,
    report_ref_txn,
    request_txn,
    update_request_txn,
)

log = logging.getLogger("intake.vault")  # the vault service's log, where these refusals always went

HANDLE_KINDS = ("handle", "ip")  # vault entry kinds that hold channel addresses


@dataclass(frozen=True)
class Refusal:
    """Why a step refused (``why`` of its audit event) and a detail for the message."""

    code: str
    detail: str = ""


@dataclass(frozen=True)
class Revealed:
    """What an opened request reveals: per vault entry kind, the sealed values."""

    request_id: uuid.UUID
    case_no: str
    kind: str
    entries: dict[str, Any]
    shredded: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": str(self.request_id),
            "case_no": self.case_no,
            "kind": self.kind,
            "entries": self.entries,
            "shredded": self.shredded,
        }


async def request_reveal_txn(
    batch: Batch,
    *,
    request_id: uuid.UUID,
    case_no: str,
    kind: str,
    actor: str,
    reason: str,
    ref: str | None,
    approvals: int,
    window: timedelta,
    now: datetime,
) -> RevealRequestRecord | Refusal | None:
    """A custodian's request to reveal ``kind`` of one report (None: no such case)."""
    report = await report_ref_txn(batch, case_no=case_no)
    attempt = {"attempt": "request", "kind": kind, "case_no": case_no}
    if not await is_custodian_txn(batch, actor):
        return _refuse(batch, report.id if report else None, actor, now, attempt, "not_custodian")
    if report is None:
        return None
    if report.anonymous and kind in HANDLE_KINDS and ref is None:
        return _refuse(batch, report.id, actor, now, attempt, "commission_ref_required")
    entries = _relevant(await entries_txn(batch, report.id), kind)
    if not entries:
        return _refuse(batch, report.id, actor, now, attempt, "nothing_sealed")
    if all(e.sealed is None for e in entries):
        return _refuse(batch, report.id, actor, now, attempt, "shredded")
    others = await count_custodians_txn(batch) - 1
    if others < approvals:
        return _refuse(
            batch,
            report.id,
            actor,
            now,
            attempt,
            "not_enough_custodians",
            f"需要 {approvals} 名，现有 {max(others, 0)} 名",
        )
    expires = now + window
    await insert_request_txn(
        batch,
        request_id=request_id,
        report_id=report.id,
        kind=kind,
        requester=actor,
        reason=reason,
        commission_ref=ref,
        approvals_needed=approvals,
        at=now,
        expires_at=expires,
    )
    batch.event(
        report.id,
        "vault_reveal_requested",
        actor,
        now,
        {
            "request": str(request_id),
            "kind": kind,
            "reason": reason,
            "commission_ref": ref,
            "approvals_needed": approvals,
            "expires_at": expires.isoformat(),
        },
    )
    return await request_txn(batch, request_id, lock=False)


async def approve_reveal_txn(
    batch: Batch, *, request_id: uuid.UUID, actor: str, window: timedelta, now: datetime
) -> RevealRequestRecord | Refusal | None:
    """One custodian's approval; the k-th grants the request (None: no such request)."""
    req = await request_txn(batch, request_id)
    if req is None:
        return None
    attempt = {"attempt": "approve", "request": str(request_id)}
    if not await is_custodian_txn(batch, actor):
        return _refuse(batch, req.report_id, actor, now, attempt, "not_custodian")
    if req.status == "pending" and now > req.expires_at:
        return await _expire(batch, req, actor, now, "approve")
    if req.status != "pending":
        return _refuse(batch, req.report_id, actor, now, attempt, "not_pending", req.status)
    if actor == req.requester:
        return _refuse(batch, req.report_id, actor, now, attempt, "self_approval")
    if actor in req.decisions:
        return _refuse(batch, req.report_id, actor, now, attempt, "already_decided")
    await insert_decision_txn(batch, request_id, actor, "approve", now)
    approvals = len(req.approvers) + 1
    granted = approvals >= req.approvals_needed
    payload: dict[str, Any] = {
        "request": str(request_id),
        "approvals": approvals,
        "approvals_needed": req.approvals_needed,
        "granted": granted,
    }
    if granted:
        open_until = now + window
        await update_request_txn(batch, request_id, status="approved", approved_at=now, open_until=open_until)
        payload["open_until"] = open_until.isoformat()
    batch.event(req.report_id, "vault_reveal_approved", actor, now, payload)
    return await request_txn(batch, request_id, lock=False)


async def deny_reveal_txn(
    batch: Batch, *, request_id: uuid.UUID, actor: str, note: str | None, now: datetime
) -> RevealRequestRecord | Refusal | None:
    """A custodian's denial, or the requester's withdrawal (None: no such request)."""
    req = await request_txn(batch, request_id)
    if req is None:
        return None
    attempt = {"attempt": "deny", "request": str(request_id)}
    if not await is_custodian_txn(batch, actor):
        return _refuse(batch, req.report_id, actor, now, attempt, "not_custodian")
    if req.status not in ("pending", "approved"):
        return _refuse(batch, req.report_id, actor, now, attempt, "closed", req.status)
    withdrawn = actor == req.requester
    if not withdrawn:
        if actor in req.decisions:
            return _refuse(batch, req.report_id, actor, now, attempt, "already_decided")
        await insert_decision_txn(batch, request_id, actor, "deny", now)
    await update_request_txn(batch, request_id, status="denied", closed_at=now)
    batch.event(
        req.report_id,
        "vault_reveal_denied",
        actor,
        now,
        {"request": str(request_id), "withdrawn": withdrawn, "note": note},
    )
    return await request_txn(batch, request_id, lock=False)


async def open_reveal_txn(
    batch: Batch, *, request_id: uuid.UUID, actor: str, keyring: Keyring, now: datetime
) -> Revealed | Refusal | None:
    """The requester opens an approved request: decrypted inside the transaction that marks it
    opened and writes the audit event (None: no such request)."""
    req = await request_txn(batch, request_id)
    if req is None:
        return None
    attempt = {"attempt": "open", "request": str(request_id)}
    if not await is_custodian_txn(batch, actor):
        return _refuse(batch, req.report_id, actor, now, attempt, "not_custodian")
    if actor != req.requester:
        return _refuse(batch, req.report_id, actor, now, attempt, "not_requester")
    if req.status == "approved" and req.open_until is not None and now > req.open_until:
        return await _expire(batch, req, actor, now, "open")
    if req.status == "pending" and now > req.expires_at:
        return await _expire(batch, req, actor, now, "open")
    if req.status != "approved":
        why = {"pending": "not_approved", "denied": "denied", "opened": "already_opened"}
        return _refuse(batch, req.report_id, actor, now, attempt, why.get(req.status, "expired"))
    entries = _relevant(await entries_txn(batch, req.report_id), req.kind)
    live = [e for e in entries if e.sealed is not None]
    shredded = sorted({e.kind for e in entries if e.sealed is None})
    if not live:
        batch.event(
            req.report_id,
            "vault_reveal_refused",
            actor,
            now,
            {**attempt, "why": "shredded", "shredded": shredded},
        )
        return Refusal("shredded")
    values: list[tuple[str, dict[str, Any]]] = []
    for e in live:
        assert e.sealed is not None
        try:
            values.append((e.kind, vault.unseal(keyring, e.sealed)))
        except VaultIntegrityError:
            batch.event(req.report_id, "vault_integrity_failure", actor, now, {**attempt, "entry": str(e.id)})
            return Refusal("integrity")
    revealed = _shape(req.kind, values)
    await update_request_txn(batch, request_id, status="opened", closed_at=now)
    batch.event(
        req.report_id,
        "vault_reveal_opened",
        actor,
        now,
        {
            "request": str(request_id),
            "kind": req.kind,
            "reason": req.reason,
            "fields": sorted({f"{k}.{f}" for k, v in revealed.items() for f in _fields(v)}),
        },
    )
    return Revealed(request_id, req.case_no, req.kind, revealed, shredded)


async def expire_reveals_txn(batch: Batch, *, now: datetime) -> int:
    """Every request whose window passed, marked expired (an audit event each)."""
    due = await due_requests_txn(batch, now)
    for req in due:
        await _expire(batch, req, "system:vault", now, "sweep")
    return len(due)


def _refuse(
    batch: Batch,
    report_id: uuid.UUID | None,
    actor: str,
    at: datetime,
    attempt: dict[str, Any],
    why: str,
    detail: str = "",
) -> Refusal:
    batch.event(report_id, "vault_reveal_refused", actor, at, {**attempt, "why": why})
    log.warning("vault request refused", extra={"actor": actor, "why": why})
    return Refusal(why, detail)


async def _expire(batch: Batch, req: RevealRequestRecord, actor: str, at: datetime, attempt: str) -> Refusal:
    await update_request_txn(batch, req.id, status="expired", closed_at=at)
    batch.event(
        req.report_id,
        "vault_reveal_expired",
        actor,
        at,
        {"request": str(req.id), "attempt": attempt, "was": req.status},
    )
    return Refusal("expired")


def _relevant(entries: Sequence[StoredEntry], kind: str) -> list[StoredEntry]:
    """The vault entries a reveal of ``kind`` opens: ``identity`` every identity-bearing entry
    (the reporter's fields and details redacted from the text), ``handle``/``ip`` the handles."""
    if kind == "identity":
        return [e for e in entries if e.kind not in HANDLE_KINDS]
    return [e for e in entries if e.kind in HANDLE_KINDS]


def _shape(kind: str, values: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per entry kind, the values to show: an IP reveal shows only the address; a handle reveal
    everything but it (the address needs its own, commission-approved request)."""
    out: dict[str, Any] = {}
    for entry_kind, value in values:
        if kind == "ip":
            if "ip" in value:
                out["ip"] = value["ip"]
            continue
        if kind == "handle":
            value = {k: v for k, v in value.items() if k != "ip"}
            if not value:
                continue
        if entry_kind in out:
            existing = out[entry_kind]
            out[entry_kind] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[entry_kind] = value
    return out


def _fields(value: Any) -> list[str]:
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, list):
        return sorted({k for v in value if isinstance(v, dict) for k in v})
    return ["value"]
