"""The vault service: the only way back from a sealed identity to a person, and the one way out to
the code that answers an informant over their own channel.

**Reveal workflow** (《纪检监察机关处理检举控告工作规则》 arts 29, 47; DESIGN "vault custodians"):

1. a *custodian* (a username registered with ``intake vault custodian add``) asks to reveal one
   report's ``identity``, ``handle`` (phone number, openid … the channel address) or ``ip``, giving
   a reason: :meth:`VaultService.request`;
2. ``k`` *other* custodians approve (``INTAKE_VAULT_APPROVALS``, default 1: the requester plus one
   more person, i.e. dual control); any custodian may deny, the requester may withdraw;
3. approvals must come within the window (``INTAKE_VAULT_APPROVAL_HOURS``, default 24) of the
   request, and the requester must open within the same window after the last approval; a request
   opens once;
4. for an **anonymous** report, tracing its IP address or other channel handles additionally needs
   the reference of an approval by a 设区的市级 or higher commission (art 29 ¶2), recorded with the
   request.

Every attempt — requested, approved, denied, expired, opened, and every refusal (not a custodian,
self-approval, no commission reference, …) — is an event in the audit hash chain, written in the same
transaction as the state change; a refusal is committed before the error is raised. Decryption
happens inside the ``opened`` transaction, so an identity is returned only if its audit event
committed.

**Delivery** (:class:`DeliveryHandles`): the notifier that answers an informant reads the handle it
needs to send, and nothing else; each read is a ``vault_handle_used`` system event.

**Blind indexes and pseudonyms**: :func:`submission_indexes` and :func:`informant_alias` are what
the accept path calls (see docs/vault.md for the wiring).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from intake.clock import Clock
from intake.domain import Submission
from intake.errors import IntakeError, NotFound, ValidationError
from storage import vault
from storage.database import Database
from storage.db import Batch
from storage.keys import Keyring
from storage.reveal import (
    Refusal,
    Revealed,
    approve_reveal_txn,
    deny_reveal_txn,
    expire_reveals_txn,
    open_reveal_txn,
    request_reveal_txn,
)
from storage.vault import BlindIndex, VaultIntegrityError
from storage.vault_store import (
    CustodianRecord,
    RevealRequestRecord,
    ShredResult,
    VaultStore,
    entries_txn,
    report_ref_txn,
)

log = logging.getLogger("intake.vault")
T = TypeVar("T")

REQUEST_KINDS = ("identity", "handle", "ip")
MAX_REASON = 1000
MAX_REF = 200
MAX_NAME = 64

# Which handle a reply over each channel is sent to (``Submission.handles`` keys, aliases included).
DELIVERY_HANDLES: dict[str, tuple[str, ...]] = {
    "sms": ("phone", "mobile"),
    "phone": ("phone", "mobile"),
    "wechat": ("wechat_openid", "openid"),
    "weibo": ("weibo_uid", "weibo"),
    "telegram": ("telegram_chat_id", "chat_id"),
    "app": ("app_device", "device_token", "device"),
}
# Channels with no address of their own: a real-name informant who gave a phone number is told by
# SMS, the number read from the sealed identity inside the sending job only (issue 17).
SMS_BY_IDENTITY = ("web", "letter", "visit", "video")
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")


def sms_number(phone: str) -> str | None:
    """A mainland mobile number as Twilio takes it (E.164, ``+86…``), or None for anything that
    cannot receive SMS (a landline, a number abroad we cannot tell, a typo)."""
    digits = re.sub(r"[\s\-()（）]", "", phone)
    m = _MOBILE.fullmatch(digits)
    return "+86" + m.group(1) if m else None


# --- errors ----------------------------------------------------------------------------------------


class VaultRefused(IntakeError, status=403, code="vault_refused"):
    """The reveal workflow said no; ``code`` says why. The refusal is already in the audit chain."""


class VaultGone(IntakeError, status=410, code="identity_shredded"):
    """The identity was crypto-shredded at the end of its retention period."""


class VaultIntegrity(IntakeError, status=500, code="vault_integrity"):
    """A sealed entry failed authentication (wrong key, tampered row). Logged and audited."""


MESSAGES = {
    "not_custodian": "只有登记的保管人才能申请、批准或查看身份信息。",
    "commission_ref_required": (
        "追查匿名举报的 IP 地址或联络方式，须经设区的市级以上纪委监委批准（第二十九条）："
        "请填写批准文号（--commission-ref）。"
    ),
    "nothing_sealed": "该举报没有这一类密封信息。",
    "not_enough_custodians": "申请人以外的保管人不足，无法完成批准。",
    "self_approval": "申请人不能批准自己的申请。",
    "already_decided": "你已对这个申请作出过决定。",
    "not_pending": "这个申请已不在待批准状态。",
    "expired": "这个申请已过期，请重新申请。",
    "not_requester": "只有申请人本人可以打开已批准的申请。",
    "not_approved": "这个申请尚未获得足够的批准。",
    "denied": "这个申请已被拒绝。",
    "already_opened": "这个申请已经使用过；每次查看都要重新申请。",
    "closed": "这个申请已结束。",
}


# --- policy and results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VaultPolicy:
    """``approvals``: distinct custodians *besides the requester* who must approve (k of the n
    other custodians); ``window``: how long approvals may take, and then how long the requester
    has to open."""

    approvals: int = 1
    window: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.approvals < 1:
            raise ValueError("a reveal needs at least one approval besides the requester")
        if self.window <= timedelta(0):
            raise ValueError("the approval window must be positive")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VaultPolicy:
        def whole(name: str, default: int, low: int) -> int:
            raw = env.get(name) or str(default)
            if not raw.isdigit() or int(raw) < low:
                raise SystemExit(f"{name} must be a whole number of at least {low}")
            return int(raw)

        return cls(
            approvals=whole("INTAKE_VAULT_APPROVALS", 1, 1),
            window=timedelta(hours=whole("INTAKE_VAULT_APPROVAL_HOURS", 24, 1)),
        )


# --- the service -----------------------------------------------------------------------------------


class VaultService:
    def __init__(self, db: Database, clock: Clock, policy: VaultPolicy | None = None) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy or VaultPolicy()
        self.store = VaultStore(db)

    # custodians ---------------------------------------------------------------------------------

    async def add_custodian(self, username: str, actor: str) -> bool:
        return await self.store.add_custodian(
            _name(username, "custodian"), _name(actor, "actor"), self._clock.now()
        )

    async def remove_custodian(self, username: str, actor: str) -> bool:
        return await self.store.remove_custodian(
            _name(username, "custodian"), _name(actor, "actor"), self._clock.now()
        )

    async def custodians(self) -> list[CustodianRecord]:
        return await self.store.custodians()

    async def requests(self, status: str | None = None) -> list[RevealRequestRecord]:
        return await self.store.requests(status=status)

    # the workflow -------------------------------------------------------------------------------

    async def request(
        self, case_no: str, kind: str, actor: str, reason: str, commission_ref: str | None = None
    ) -> RevealRequestRecord:
        """A custodian asks to reveal ``kind`` of one report, with a reason."""
        actor = _name(actor, "actor")
        if kind not in REQUEST_KINDS:
            raise ValidationError(f"kind 应为 {'、'.join(REQUEST_KINDS)} 之一。", code="invalid_kind")
        reason, ref = _reveal_grounds(reason, commission_ref)
        step = self._windowed(
            request_reveal_txn,
            request_id=uuid.uuid4(),
            case_no=case_no,
            kind=kind,
            actor=actor,
            reason=reason,
            ref=ref,
            approvals=self.policy.approvals,
        )
        outcome = await self._run(step)
        if outcome is None:
            raise NotFound("没有这个案件编号。", code="no_such_case")
        return _raise_refusal(outcome, RevealRequestRecord)

    async def approve(self, request_id: uuid.UUID, actor: str) -> RevealRequestRecord:
        """A custodian other than the requester approves; the k-th approval grants the request."""
        actor = _name(actor, "actor")
        return _raise_refusal(
            await self._run_existing(self._windowed(approve_reveal_txn, request_id=request_id, actor=actor)),
            RevealRequestRecord,
        )

    async def deny(self, request_id: uuid.UUID, actor: str, note: str | None = None) -> RevealRequestRecord:
        """Any custodian denies (the requester withdraws); the request is closed."""
        actor = _name(actor, "actor")
        note = (note or "").strip()[:MAX_REASON] or None
        now = self._clock.now()

        return _raise_refusal(
            await self._run_existing(
                partial(deny_reveal_txn, request_id=request_id, actor=actor, note=note, now=now)
            ),
            RevealRequestRecord,
        )

    async def open(self, request_id: uuid.UUID, actor: str) -> Revealed:
        """The requester opens an approved request, once, within its window: ``vault.open``.

        Decrypts inside the transaction that marks the request opened and writes the audit event,
        so nothing is revealed unless the event committed."""
        actor = _name(actor, "actor")
        now = self._clock.now()
        keyring = self._db.keyring

        return _raise_refusal(
            await self._run_existing(
                partial(open_reveal_txn, request_id=request_id, actor=actor, keyring=keyring, now=now)
            ),
            Revealed,
        )

    async def expire_due(self) -> int:
        """Mark every request whose window passed as expired (an audit event each)."""
        now = self._clock.now()

        async def run(batch: Batch) -> int:
            return await expire_reveals_txn(batch, now=now)

        n: int = await self._db.writer.run(run)
        return n

    # retention ----------------------------------------------------------------------------------

    async def shred(self, older_than: timedelta, actor: str) -> ShredResult:
        """Crypto-shred every entry sealed more than ``older_than`` ago."""
        if older_than < timedelta(0):
            raise ValidationError("保存期限不能为负数。", code="invalid_retention")
        now = self._clock.now()
        return await self.store.shred(now - older_than, _name(actor, "actor"), now)

    # plumbing -----------------------------------------------------------------------------------

    def _windowed(self, txn: Callable[..., Awaitable[T]], **kw: Any) -> Callable[[Batch], Awaitable[T]]:
        """A reveal step judged against the policy's approval window, as of now."""
        return partial(txn, **kw, window=self.policy.window, now=self._clock.now())

    async def _run(self, fn: Callable[[Batch], Awaitable[T]]) -> T:
        return await self._db.writer.run(fn)

    async def _run_existing(self, fn: Callable[[Batch], Awaitable[T | None]]) -> T:
        outcome = await self._db.writer.run(fn)
        if outcome is None:
            raise NotFound("没有这个查看申请。", code="no_such_request")
        return outcome


class DeliveryHandles:
    """The narrow interface of the notifier: the handle a reply must be sent to, handed to the
    sending code and never to a person. Each read is audited as a system event."""

    def __init__(self, db: Database, clock: Clock, *, actor: str = "system:notifier") -> None:
        self._db = db
        self._clock = clock
        self._actor = actor

    async def handle_for_delivery(
        self, report_id: uuid.UUID, purpose: str = "reply"
    ) -> tuple[str, str] | None:
        """``(channel, handle)`` to send over, or None when there is no address: the report's own
        channel's handle, else (web, letter, visit, video) ``("sms", phone)`` from a real-name
        informant's sealed identity; None for an anonymous one, no phone, or shredded entries."""
        now = self._clock.now()
        keyring = self._db.keyring
        actor = self._actor

        async def read_handle_txn(batch: Batch) -> tuple[str, str] | str | None:
            report = await report_ref_txn(batch, report_id=report_id)
            if report is None:
                return None
            keys = DELIVERY_HANDLES.get(report.channel, ())
            kind, channel = "handle", report.channel
            if not keys and report.channel in SMS_BY_IDENTITY and not report.anonymous:
                kind, channel, keys = "identity", "sms", ("phone",)
            if not keys:
                return None
            for entry in await entries_txn(batch, report_id, [kind]):
                if entry.sealed is None:
                    continue
                try:
                    handles = vault.unseal(keyring, entry.sealed)
                except VaultIntegrityError:
                    batch.event(
                        report_id,
                        "vault_integrity_failure",
                        actor,
                        now,
                        {"entry": str(entry.id), "purpose": purpose},
                    )
                    return "integrity"
                for key in keys:
                    value = handles.get(key)
                    if kind == "identity" and isinstance(value, str):
                        value = sms_number(value)
                    if isinstance(value, str) and value:
                        batch.event(
                            report_id,
                            "vault_handle_used",
                            actor,
                            now,
                            {"channel": channel, "handle": key, "purpose": purpose},
                        )
                        return channel, value
            return None

        found = await self._db.writer.run(read_handle_txn)
        if found == "integrity":
            raise VaultIntegrity("密封数据校验失败（密钥不符或数据被篡改），已记录。")
        return found if isinstance(found, tuple) else None


# --- blind indexes and pseudonyms for the accept path ----------------------------------------------


def identifiers_of(
    sub: Submission, *, anonymous: bool, extra: Iterable[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The informant's identifiers as ``(kind, value)``: ID number and phone of a real-name report,
    and every channel handle except the IP address (never indexed). ``extra``: identifiers the
    in-text redaction found and sealed (e.g. ``("phone", "139…")``)."""
    found: list[tuple[str, str]] = []
    if not anonymous:
        if sub.reporter.id_number:
            found.append(("id_number", sub.reporter.id_number))
        if sub.reporter.phone:
            found.append(("phone", sub.reporter.phone))
    found.extend((k, v) for k, v in sub.handles.items() if k != "ip" and v)
    found.extend(extra)
    return found


def submission_indexes(
    keyring: Keyring, sub: Submission, *, anonymous: bool, extra: Iterable[tuple[str, str]] = ()
) -> list[BlindIndex]:
    """Blind indexes of a submission's identifiers (strongest first), for the accept transaction."""
    return vault.blind_indexes(keyring, identifiers_of(sub, anonymous=anonymous, extra=extra))


def informant_alias(keyring: Keyring, indexes: Sequence[BlindIndex], report_id: uuid.UUID) -> str:
    """The 检举人XXXX pseudonym staff see: per informant when identifiable, else per report."""
    return vault.pseudonym(keyring, indexes, report_id)


def index_lookup(keyring: Keyring, kind: str, value: str) -> list[str]:
    """The MACs to look an identifier up by (under every profile), e.g. for a per-person rate limit."""
    return [i.mac for i in vault.blind_index_variants(keyring, kind, value)]


# --- helpers ---------------------------------------------------------------------------------------


def _name(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_NAME or any(c.isspace() for c in value):
        raise ValidationError(
            f"{what} 应为 1 至 {MAX_NAME} 个字符、不含空格的用户名。", code="invalid_username"
        )
    return value


def _reveal_grounds(reason: str, commission_ref: str | None) -> tuple[str, str | None]:
    """A reveal request's reason (required) and the commission's approval reference, bounded."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationError(f"请填写查看理由（不超过 {MAX_REASON} 字）。", code="reason_required")
    ref = (commission_ref or "").strip() or None
    if ref is not None and len(ref) > MAX_REF:
        raise ValidationError(f"批准文号不能超过 {MAX_REF} 字。", code="field_too_long")
    return reason, ref


def _raise_refusal(outcome: object, expected: type[T]) -> T:
    if isinstance(outcome, Refusal) and outcome.code == "shredded":
        raise VaultGone("该身份信息已按保存期限销毁（crypto-shredded），无法再打开。")
    if isinstance(outcome, Refusal) and outcome.code == "integrity":
        raise VaultIntegrity("密封数据校验失败（密钥不符或数据被篡改），已记录。")
    if isinstance(outcome, Refusal):
        message = MESSAGES.get(outcome.code, "请求被拒绝。")
        if outcome.detail:
            message = f"{message}（{outcome.detail}）"
        raise VaultRefused(message, code=outcome.code)
    assert isinstance(outcome, expected)
    return outcome
