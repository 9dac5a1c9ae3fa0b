"""Staff accounts: roles, passwords, the TOTP second factor, lockout, bearer tokens, and scoping.

* Passwords are hashed with scrypt (memory-hard; ``hashlib.scrypt``, N=2¹⁵, r=8, p=1, 32 MiB) and
  a random salt; verification runs off the event loop and compares in constant time.
* The second factor is TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits, ±1 step of clock
  drift); a step once used cannot be used again (checked in the login transaction). GB/T 22239
  level 3 asks for two factors, one of them cryptographic.
* Failed logins are throttled (:class:`LoginThrottle`) per client address, and per account *from
  that address*: nobody can lock another person out (an account lock let anyone do that by
  failing five times), and an unknown username gets the same answer, after the same scrypt work,
  as a known one. A throttled attempt answers 429 with Retry-After; every failure is an audit
  event. The message never says which factor was wrong.
* A login returns a random bearer token (only its SHA-256 is stored) with an absolute expiry.

**Scoping** (issue 8): a unit's staff see the cases its unit owns; supervisors (and admins) also
see the units below theirs (for 督办); nobody in the receiving commission or below sees a case
that went up sealed because it is about that commission's head (S1 art 15).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import re
import secrets
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import quote

from intake.clock import Clock
from intake.errors import Conflict, IntakeError, RateLimited, ValidationError
from intake.ratelimit import bucket, clock_seconds
from storage.database import Database
from storage.records import UnitRecord
from storage.shared_limits import SharedLimits
from storage.staff_store import RelationRecord, StaffExists, StaffRecord
from triage.jurisdiction import INTAKE_POINT

ROLES = {
    "registrar": "登记员",
    "triage_officer": "分流员",
    "handler": "承办人",
    "supervisor": "督办负责人",
    "leader": "主要负责人",
    "custodian": "身份信息保管人",
    "admin": "系统管理员",
}
# Who may take a video reception session's officer seat (not a custodian): those alerted of a
# walk-in in their unit's inbox too.
RECEPTION_OFFICER_ROLES = ("registrar", "triage_officer", "handler", "supervisor", "leader", "admin")
# Who oversees the unit and everything below it: the 督办负责人 and the commission's 主要负责人 (who
# may do all a supervisor may, and alone approves what the rules reserve to the main leader).
SUPERVISING_ROLES = ("supervisor", "leader")
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,185}\.[A-Za-z]{2,63}")
MIN_PASSWORD = 12
MAX_PASSWORD = 256

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
TOTP_STEP = 30
# One sign-on (issue 20): the cookie a staff session token travels in for the video reception
# pages, set by the console's login beside its own and read by ``video_reception`` (name, path).
RECEPTION_COOKIE = ("xf_reception", "/reception")
TOTP_DIGITS = 6


class Unauthorized(IntakeError, status=401, code="unauthorized"):
    pass


class Forbidden(IntakeError, status=403, code="forbidden"):
    pass


LOGIN_FAILED = "用户名、密码或动态口令错误。"
LOGIN_THROTTLED = "登录尝试过于频繁，请稍后再试。"


# --- passwords -------------------------------------------------------------------------------------


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=128 * 1024 * 1024
    )
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        alg, n, r, p, salt, digest = stored.split("$")
        if alg != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=128 * 1024 * 1024,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


# --- TOTP (RFC 6238) -------------------------------------------------------------------------------


def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()


def totp_at(secret: str, step: int) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**TOTP_DIGITS:0{TOTP_DIGITS}d}"


def totp_now(secret: str, at: datetime) -> str:
    return totp_at(secret, int(at.timestamp()) // TOTP_STEP)


def match_totp(secret: str, code: str, at: datetime, *, drift: int = 1) -> int | None:
    """The time step ``code`` belongs to (within ±``drift`` steps), or None."""
    code = code.strip()
    # ASCII digits only: "０８１８０４".isdigit() is true, and comparing it raised (a 500, not a 401).
    if not secret or len(code) != TOTP_DIGITS or not (code.isascii() and code.isdigit()):
        return None
    now = int(at.timestamp()) // TOTP_STEP
    found = None
    for step in range(now - drift, now + drift + 1):
        if hmac.compare_digest(totp_at(secret, step), code):
            found = step
    return found


def provisioning_uri(username: str, secret: str, issuer: str = "信访举报受理系统") -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code)."""
    return (
        f"otpauth://totp/{quote(issuer)}:{quote(username)}?secret={secret}"
        f"&issuer={quote(issuer)}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}"
    )


# --- the org tree and scoping -----------------------------------------------------------------------

LEVEL_RANK = {"central": 0, "province": 1, "city": 2, "county": 3, "township": 4, "village": 5}


class OrgTree:
    def __init__(self, units: Iterable[UnitRecord]) -> None:
        self.units = {u.code: u for u in units}
        self.children: dict[str, list[str]] = {}
        for u in self.units.values():
            if u.parent_code:
                self.children.setdefault(u.parent_code, []).append(u.code)

    def is_intake_point(self, code: str) -> bool:
        """A village or community point (level ``village``): it registers and forwards, never handles."""
        unit = self.units.get(code)
        return unit is not None and unit.kind == INTAKE_POINT

    def name(self, code: str | None) -> str:
        unit = self.units.get(code or "")
        return unit.name if unit else (code or "")

    def descendants(self, code: str) -> list[str]:
        out, todo = [], list(self.children.get(code, []))
        while todo:
            c = todo.pop()
            out.append(c)
            todo.extend(self.children.get(c, []))
        return sorted(out)

    def ancestors(self, code: str) -> list[str]:
        out, unit = [], self.units.get(code)
        while unit is not None and unit.parent_code:
            out.append(unit.parent_code)
            unit = self.units.get(unit.parent_code)
        return out

    def direction(self, source: str, target: str) -> str:
        """``upward``, ``downward`` or ``sideways`` from one unit to another."""
        a, b = self.units[source], self.units[target]
        if LEVEL_RANK[b.level] < LEVEL_RANK[a.level]:
            return "upward"
        if LEVEL_RANK[b.level] > LEVEL_RANK[a.level]:
            return "downward"
        return "sideways"


@dataclass(frozen=True)
class StaffMember:
    username: str
    unit: str
    role: str

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"


@dataclass(frozen=True)
class Scope:
    """The units whose cases a staff member sees, and the receiving units whose sealed cases they
    must not see."""

    units: tuple[str, ...]
    hide_sealed_received_by: tuple[str, ...]


def scope_of(member: StaffMember, tree: OrgTree) -> Scope:
    units = [member.unit]
    if member.role in (*SUPERVISING_ROLES, "admin"):
        units += tree.descendants(member.unit)
    else:
        # What the unit's own intake points (its villages) registered is the unit's to take up.
        units += sorted(c for c in tree.children.get(member.unit, []) if tree.is_intake_point(c))
    # A sealed case about a commission's head is hidden from that commission and everything below.
    hidden = [member.unit, *tree.ancestors(member.unit)]
    return Scope(tuple(units), tuple(hidden))


# --- the service -----------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """Login attempts, budgeted per client address and per (account, address) pair.

    Each attempt spends a token from both budgets before any password is checked, so parallel
    attempts cannot outrun the count, and a good login gives them back (:meth:`succeeded`): only
    failures add up, and colleagues behind one office address are not slowed by each other's
    logins. A budget refills evenly over ``window``. The pair budget stops one address guessing
    one account; the address budget stops it walking through many. Neither depends on whether
    the account exists, and neither reaches the account from another address. Keys are the
    caller's keyed hash of the address, and a hash of the pair; nothing is stored.
    """

    def __init__(
        self,
        *,
        per_pair: int,
        per_address: int,
        window: timedelta,
        seconds: Callable[[], float],
        shared: SharedLimits | None = None,
    ) -> None:
        minutes = max(window.total_seconds(), 1.0) / 60
        self._pair = bucket(shared, "login-pair", per_pair / minutes, max(1, per_pair), seconds)
        self._address = bucket(shared, "login-address", per_address / minutes, max(1, per_address), seconds)

    async def attempt(self, username: str, client: str) -> str:
        """Spend the attempt; returns the pair key for :meth:`succeeded`. 429 when over budget."""
        pair = hashlib.sha256(f"{client}\0{username}".encode()).hexdigest()
        wait = await self._address.take(client)
        if not wait and (wait := await self._pair.take(pair)):
            await self._address.refund(client)
        if wait:
            raise RateLimited(LOGIN_THROTTLED, code="login_throttled", retry_after=max(1, math.ceil(wait)))
        return pair

    async def succeeded(self, client: str, pair: str) -> None:
        """A good login: its attempt is given back to the address, and the pair starts afresh
        (whoever logs in knows the password and holds the second factor)."""
        await self._address.refund(client)
        await self._pair.forget(pair)


class StaffService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        tree: OrgTree,
        *,
        token_ttl: timedelta = timedelta(hours=8),
        max_failures: int = 5,
        address_failures: int = 20,
        failure_window: timedelta = timedelta(minutes=15),
        scrypt_n: int = SCRYPT_N,
    ) -> None:
        self._db = db
        self._scrypt_n = scrypt_n
        # A hash to verify against when the username is unknown: the answer takes as long either way.
        self._dummy_hash = hash_password(secrets.token_urlsafe(16), n=scrypt_n)
        self._clock = clock
        self.tree = tree
        self.token_ttl = token_ttl
        self.throttle = LoginThrottle(
            per_pair=max_failures,
            per_address=address_failures,
            window=failure_window,
            seconds=clock_seconds(clock),
            shared=db.shared_limits,
        )

    async def add(
        self, username: str, unit: str, role: str, password: str, actor: str = "cli", email: str | None = None
    ) -> tuple[StaffMember, str]:
        """Create an account; returns it and its TOTP secret (shown once, to enrol the app).
        ``email``: where urging alerts are mailed (optional)."""
        username = username.strip().lower()
        if not (2 <= len(username) <= 64) or not set(username) <= USERNAME_CHARS:
            raise ValidationError(
                "用户名应为 2 至 64 位小写字母、数字、点、下划线或连字符。", code="invalid_username"
            )
        if role not in ROLES:
            names = "、".join(f"{label}（{code}）" for code, label in ROLES.items())
            raise ValidationError(f"角色只能是：{names}。", code="invalid_role")
        if unit not in self.tree.units:
            raise ValidationError(f"辖区内没有单位 {unit}。", code="unknown_unit")
        if self.tree.is_intake_point(unit) and role != "registrar":
            # An intake point registers and forwards; it has no handlers, supervisors or custodians.
            raise ValidationError("村（社区）受理点只能设登记员账号。", code="intake_point_role")
        if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
            raise ValidationError(f"密码应为 {MIN_PASSWORD} 至 {MAX_PASSWORD} 个字符。", code="weak_password")
        email = (email or "").strip() or None
        if email is not None and not EMAIL.fullmatch(email):
            raise ValidationError("电子邮箱地址格式不正确。", code="invalid_email")
        secret = new_totp_secret()
        hashed = await asyncio.to_thread(hash_password, password, n=self._scrypt_n)
        try:
            await self._db.staff.add_staff(
                username, unit, role, hashed, secret, actor, self._clock.now(), email=email
            )
        except StaffExists:
            raise Conflict("该用户名已存在。", code="staff_exists") from None
        return StaffMember(username, unit, role), secret

    async def login(
        self, username: str, password: str, totp: str, *, client: str
    ) -> tuple[str, datetime, StaffMember]:
        """Check the password and the TOTP code. ``client``: a keyed hash of the client's address
        (``ChannelContext.client_key``), for :class:`LoginThrottle`. Every failure, for a known
        or an unknown name, is the same 401 after the same scrypt work."""
        name = username.strip().lower()
        username = name[:64]  # the throttle's and the record's key; no account has a longer name
        pair = await self.throttle.attempt(username, client)
        now = self._clock.now()
        record = await self._db.staff.staff(name) if 2 <= len(name) <= 64 else None
        if record is None or record.disabled:
            await asyncio.to_thread(verify_password, password, self._dummy_hash)  # the same work
            return await self._failed(username, "unknown_user", now)
        if not await asyncio.to_thread(verify_password, password, record.password_hash):
            return await self._failed(username, "password", now)
        step = match_totp(record.totp_secret, totp, now)
        if step is None:
            return await self._failed(username, "totp", now)
        if record.totp_last_step is not None and step <= record.totp_last_step:
            return await self._failed(username, "totp_replay", now)
        token = secrets.token_urlsafe(32)
        expires = now + self.token_ttl
        if not await self._db.staff.login_succeeded(username, step, token_hash(token), expires, now):
            raise Unauthorized(LOGIN_FAILED, code="login_failed")
        await self.throttle.succeeded(client, pair)
        return token, expires, StaffMember(record.username, record.unit_code, record.role)

    async def _failed(self, username: str, reason: str, now: datetime) -> NoReturn:
        await self._db.staff.login_failed(username, reason, now)
        raise Unauthorized(LOGIN_FAILED, code="login_failed")

    async def authenticate(self, token: str | None) -> StaffMember:
        if not token or len(token) > 200:
            raise Unauthorized("请先登录。", code="unauthorized")
        record: StaffRecord | None = await self._db.staff.session_user(token_hash(token), self._clock.now())
        if record is None:
            raise Unauthorized("登录已过期或无效，请重新登录。", code="unauthorized")
        return StaffMember(record.username, record.unit_code, record.role)

    async def logout(self, token: str, member: StaffMember) -> None:
        await self._db.staff.revoke_session(token_hash(token), member.username, self._clock.now())

    async def declare_relation(
        self, member: StaffMember, person_name: str, person_unit: str | None, relation: str
    ) -> None:
        person_name = person_name.strip()
        if not (1 <= len(person_name) <= 100) or not (1 <= len(relation.strip()) <= 32):
            raise ValidationError(
                "请填写关系人姓名（100 字以内）和关系（32 字以内）。", code="invalid_relation"
            )
        if person_unit is not None and len(person_unit) > 200:
            raise ValidationError("单位名称不能超过 200 字。", code="invalid_relation")
        await self._db.staff.add_relation(
            member.username, person_name, person_unit or None, relation.strip(), self._clock.now()
        )

    async def relations(self, username: str) -> list[RelationRecord]:
        return await self._db.staff.relations(username)

    async def member(self, username: str) -> StaffMember | None:
        record = await self._db.staff.staff(username)
        if record is None or record.disabled:
            return None
        return StaffMember(record.username, record.unit_code, record.role)

    def scope(self, member: StaffMember) -> Scope:
        return scope_of(member, self.tree)
