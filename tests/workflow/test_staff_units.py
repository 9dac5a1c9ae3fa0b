"""intake.staff piece by piece (found by mutation testing, issue 23): password hashes, RFC 6238 TOTP
with its known answers and drift, the org tree and scopes (who sees which unit's cases, whose
sealed cases are hidden), the login throttle on an injected clock, and the account checks."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake import jurisdiction
from intake.errors import Conflict, RateLimited, ValidationError
from intake.staff import (
    LOGIN_FAILED,
    USERNAME_CHARS,
    LoginThrottle,
    OrgTree,
    Scope,
    StaffMember,
    StaffService,
    Unauthorized,
    hash_password,
    match_totp,
    new_totp_secret,
    provisioning_uri,
    scope_of,
    token_hash,
    totp_at,
    totp_now,
    verify_password,
)
from server.config import Settings
from storage import keys
from storage.database import Database
from storage.records import UnitRecord
from storage.staff_store import StaffRecord
from tests.conftest import COUNTY_JURISDICTION
from tests.workflow.conftest import PASSWORD, Office
from triage.jurisdiction import INTAKE_POINT

TREE = OrgTree(jurisdiction.load(COUNTY_JURISDICTION).units)
COUNTY, CITY, PROVINCE, TOWN = "430121", "4301", "43", "430121102"
TOWNS = sorted(u.code for u in jurisdiction.load(COUNTY_JURISDICTION).units if u.parent_code == COUNTY)

# RFC 6238 appendix B, SHA-1: the secret "12345678901234567890", 8 digits there, the last 6 here.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC = [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"),
       (2000000000, "279037"), (20000000000, "353130")]  # fmt: skip


# --- passwords ------------------------------------------------------------------------------------


def test_password_hashes() -> None:
    stored = hash_password("correct horse battery", n=2**10)
    alg, n, r, p, salt, digest = stored.split("$")
    assert (alg, n, r, p) == ("scrypt", "1024", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 64
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery", n=2**10) != stored  # a fresh salt each time
    assert hash_password("x" * 12).split("$")[1] == str(2**15)  # the default cost


def test_the_work_factor_setting_defaults_to_2_15_and_has_a_floor_and_a_ceiling_scrypt_can_hash() -> None:
    assert Settings.from_env({}).staff_scrypt_log_n == 15
    assert Settings.from_env({"INTAKE_STAFF_SCRYPT_LOG_N": "12"}).staff_scrypt_log_n == 12
    assert Settings.from_env({"INTAKE_STAFF_SCRYPT_LOG_N": "16"}).staff_scrypt_log_n == 16
    # 2^17 and above need more than the 128 MiB scrypt is allowed: an account could not be made.
    for low_or_high in ("9", "17", "21", "x"):
        with pytest.raises(SystemExit):
            Settings.from_env({"INTAKE_STAFF_SCRYPT_LOG_N": low_or_high})


async def test_accounts_are_hashed_at_the_configured_work_factor(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    db = service._db  # the same store under both services
    cheap = StaffService(db, clock, TREE, scrypt_n=2**11)
    await cheap.add("cheap_one", COUNTY, "handler", PASSWORD)
    await service.add("default_one", COUNTY, "handler", PASSWORD)
    stored = {}
    for name in ("cheap_one", "default_one"):
        record = await db.staff.staff(name)
        assert record is not None
        stored[name] = record.password_hash
    costs = {name: h.split("$")[1] for name, h in stored.items()}
    assert costs == {"cheap_one": "2048", "default_one": "32768"}
    # Either cost verifies under either service: the cost travels in the stored hash.
    assert verify_password(PASSWORD, stored["cheap_one"]) and verify_password(PASSWORD, stored["default_one"])


@pytest.mark.parametrize(
    "stored",
    ["", "scrypt$1024$8$1$c2FsdA==", "bcrypt$1024$8$1$c2FsdA==$ZGlnZXN0", "scrypt$x$8$1$c2FsdA==$ZGlnZXN0",
     "scrypt$1024$8$1$!!!$ZGlnZXN0", "scrypt$1023$8$1$c2FsdA==$ZGlnZXN0"],
)  # fmt: skip
def test_a_malformed_stored_hash_verifies_nothing(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_a_hash_under_another_algorithm_name_is_refused_even_when_the_digest_matches() -> None:
    stored = hash_password("pw-pw-pw-pw-pw", n=2**10)
    assert not verify_password("pw-pw-pw-pw-pw", stored.replace("scrypt", "Scrypt", 1))


# --- TOTP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("t", "code"), RFC)
def test_rfc_6238_known_answers(t: int, code: str) -> None:
    at = datetime.fromtimestamp(t, UTC)
    assert totp_now(RFC_SECRET, at) == code
    assert totp_at(RFC_SECRET, t // 30) == code
    assert totp_at(RFC_SECRET.lower().rstrip("="), t // 30) == code  # case and padding do not matter


def test_match_totp_within_one_step_of_drift() -> None:
    at = datetime.fromtimestamp(1111111109, UTC)
    now = 1111111109 // 30
    for step in (now - 1, now, now + 1):
        assert match_totp(RFC_SECRET, totp_at(RFC_SECRET, step), at) == step
    for step in (now - 2, now + 2):
        assert match_totp(RFC_SECRET, totp_at(RFC_SECRET, step), at) is None
    assert match_totp(RFC_SECRET, totp_at(RFC_SECRET, now + 2), at, drift=2) == now + 2
    assert match_totp(RFC_SECRET, " 081804 ", at) == now  # spaces around are fine


@pytest.mark.parametrize("code", ["", "08180", "0818044", "08180a", "０８１８０４"])
def test_match_totp_refuses_codes_of_the_wrong_shape(code: str) -> None:
    assert match_totp(RFC_SECRET, code, datetime.fromtimestamp(1111111109, UTC)) is None


def test_match_totp_without_a_secret() -> None:
    assert match_totp("", "081804", datetime.fromtimestamp(1111111109, UTC)) is None


def test_new_totp_secrets_are_160_bits_of_base32() -> None:
    secret = new_totp_secret()
    assert len(base64.b32decode(secret)) == 20 and secret != new_totp_secret()


def test_provisioning_uri() -> None:
    assert provisioning_uri("county_reg", "ABC") == (
        "otpauth://totp/%E4%BF%A1%E8%AE%BF%E4%B8%BE%E6%8A%A5%E5%8F%97%E7%90%86%E7%B3%BB%E7%BB%9F:county_reg"
        "?secret=ABC&issuer=%E4%BF%A1%E8%AE%BF%E4%B8%BE%E6%8A%A5%E5%8F%97%E7%90%86%E7%B3%BB%E7%BB%9F"
        "&algorithm=SHA1&digits=6&period=30"
    )


# --- the tree and scopes --------------------------------------------------------------------------


def test_the_org_tree() -> None:
    assert TREE.name(COUNTY) == "长沙县纪委监委"
    assert TREE.name("999") == "999" and TREE.name(None) == ""
    assert TREE.descendants(TOWN) == []
    assert TREE.descendants(COUNTY) == TOWNS
    assert TREE.descendants(CITY) == sorted([COUNTY, *TOWNS])  # grandchildren too, sorted
    assert TREE.ancestors(TOWN) == [COUNTY, CITY, PROVINCE]
    assert TREE.ancestors(PROVINCE) == []
    assert TREE.ancestors("999") == []
    assert TREE.direction(COUNTY, CITY) == "upward"
    assert TREE.direction(COUNTY, TOWN) == "downward"
    assert TREE.direction(TOWN, TOWNS[0] if TOWNS[0] != TOWN else TOWNS[1]) == "sideways"
    assert TREE.direction(COUNTY, COUNTY) == "sideways"


@pytest.mark.parametrize(
    ("unit", "role", "units"),
    [
        (COUNTY, "registrar", (COUNTY,)),
        (COUNTY, "handler", (COUNTY,)),
        (COUNTY, "triage_officer", (COUNTY,)),
        (COUNTY, "custodian", (COUNTY,)),
        (COUNTY, "supervisor", (COUNTY, *TOWNS)),
        (COUNTY, "admin", (COUNTY, *TOWNS)),
        (CITY, "supervisor", (CITY, *sorted([COUNTY, *TOWNS]))),
        (TOWN, "supervisor", (TOWN,)),
    ],
)
def test_scopes(unit: str, role: str, units: tuple[str, ...]) -> None:
    member = StaffMember("someone", unit, role)
    hidden = (unit, *TREE.ancestors(unit))
    assert scope_of(member, TREE) == Scope(units, hidden)


def test_sealed_cases_are_hidden_from_the_unit_and_everything_above_it_in_its_own_line() -> None:
    assert scope_of(StaffMember("a", TOWN, "handler"), TREE).hide_sealed_received_by == (
        TOWN,
        COUNTY,
        CITY,
        PROVINCE,
    )
    assert scope_of(StaffMember("a", CITY, "supervisor"), TREE).hide_sealed_received_by == (CITY, PROVINCE)


def test_actor_and_token_hash() -> None:
    assert StaffMember("alice", COUNTY, "handler").actor == "staff:alice"
    assert token_hash("t") == hashlib.sha256(b"t").hexdigest()


# --- the login throttle ---------------------------------------------------------------------------


class Seconds:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_the_pair_budget_and_its_refill(shared_limits: Any) -> None:
    clock = Seconds()
    t = LoginThrottle(
        per_pair=2, per_address=10, window=timedelta(minutes=10), seconds=clock, shared=shared_limits
    )
    await t.attempt("alice", "addr")
    await t.attempt("alice", "addr")
    with pytest.raises(RateLimited) as raised:
        await t.attempt("alice", "addr")
    assert raised.value.code == "login_throttled" and str(raised.value) == "登录尝试过于频繁，请稍后再试。"
    assert raised.value.retry_after == 300  # 2 per 10 minutes: one back every 5 minutes
    await t.attempt("bob", "addr")  # another account from the same address
    await t.attempt("alice", "elsewhere")  # the same account from elsewhere
    clock.t += 299
    with pytest.raises(RateLimited) as raised:
        await t.attempt("alice", "addr")
    assert raised.value.retry_after == 1  # rounded up, never 0
    clock.t += 1
    await t.attempt("alice", "addr")


async def test_a_refused_pair_attempt_does_not_spend_the_address_budget(shared_limits: Any) -> None:
    t = LoginThrottle(
        per_pair=1, per_address=3, window=timedelta(minutes=1), seconds=Seconds(), shared=shared_limits
    )
    await t.attempt("alice", "addr")
    for _ in range(5):
        with pytest.raises(RateLimited):
            await t.attempt("alice", "addr")
    await t.attempt("bob", "addr")
    await t.attempt("carol", "addr")  # the address had 3: alice, bob, carol
    with pytest.raises(RateLimited):
        await t.attempt("dave", "addr")


async def test_a_good_login_gives_its_attempt_back_and_resets_the_pair(shared_limits: Any) -> None:
    t = LoginThrottle(
        per_pair=2, per_address=2, window=timedelta(minutes=15), seconds=Seconds(), shared=shared_limits
    )
    await t.attempt("alice", "addr")
    pair = await t.attempt("alice", "addr")
    assert pair == hashlib.sha256(b"addr\0alice").hexdigest()
    await t.succeeded("addr", pair)
    await t.attempt("alice", "addr")  # the pair starts afresh and the address got one back
    with pytest.raises(RateLimited):
        await t.attempt("bob", "addr")


async def test_a_zero_window_counts_as_one_second(shared_limits: Any) -> None:
    clock = Seconds()
    t = LoginThrottle(per_pair=1, per_address=5, window=timedelta(0), seconds=clock, shared=shared_limits)
    await t.attempt("alice", "addr")
    with pytest.raises(RateLimited) as raised:
        await t.attempt("alice", "addr")
    assert raised.value.retry_after == 1


# --- accounts -------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def staff(tmp_path: Path) -> AsyncIterator[tuple[StaffService, Clock]]:
    (tmp_path / "data").mkdir()
    db = Database(
        f"sqlite+aiosqlite:///{tmp_path / 'data' / 'i.db'}", keys.load_or_create(tmp_path / "k"), tmp_path
    )
    await db.start()
    await db.units.sync(jurisdiction.load(COUNTY_JURISDICTION).units)
    clock = Clock()
    try:
        yield StaffService(db, clock, TREE, token_ttl=timedelta(hours=1)), clock
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("username", "unit", "role", "password", "code"),
    [
        ("a", COUNTY, "handler", "x" * 12, "invalid_username"),
        ("a" * 65, COUNTY, "handler", "x" * 12, "invalid_username"),
        ("bad name", COUNTY, "handler", "x" * 12, "invalid_username"),
        ("alice", COUNTY, "boss", "x" * 12, "invalid_role"),
        ("alice", "999", "handler", "x" * 12, "unknown_unit"),
        ("alice", COUNTY, "handler", "x" * 11, "weak_password"),
        ("alice", COUNTY, "handler", "x" * 257, "weak_password"),
    ],
)
async def test_account_checks(
    staff: tuple[StaffService, Clock], username: str, unit: str, role: str, password: str, code: str
) -> None:
    service, _ = staff
    with pytest.raises(ValidationError) as raised:
        await service.add(username, unit, role, password)
    assert raised.value.code == code


async def test_accounts_at_the_limits_and_the_messages(staff: tuple[StaffService, Clock]) -> None:
    service, _ = staff
    member, secret = await service.add(" AB ", COUNTY, "handler", "x" * 12)
    assert member == StaffMember("ab", COUNTY, "handler") and len(base64.b32decode(secret)) == 20
    await service.add("a" * 64, COUNTY, "registrar", "y" * 256)
    with pytest.raises(Conflict) as conflict:
        await service.add("ab", COUNTY, "handler", "x" * 12)
    assert conflict.value.code == "staff_exists"
    with pytest.raises(ValidationError) as raised:
        await service.add("a", COUNTY, "handler", "x" * 12)
    assert str(raised.value) == "用户名应为 2 至 64 位小写字母、数字、点、下划线或连字符。"
    with pytest.raises(ValidationError) as raised:
        await service.add("cd", COUNTY, "boss", "x" * 12)
    assert (
        str(raised.value) == "角色只能是：登记员（registrar）、分流员（triage_officer）、承办人（handler）、"
        "督办负责人（supervisor）、主要负责人（leader）、身份信息保管人（custodian）、系统管理员（admin）。"
    )
    with pytest.raises(ValidationError) as raised:
        await service.add("cd", "999", "handler", "x" * 12)
    assert str(raised.value) == "辖区内没有单位 999。"
    with pytest.raises(ValidationError) as raised:
        await service.add("cd", COUNTY, "handler", "x")
    assert str(raised.value) == "密码应为 12 至 256 个字符。"
    assert await service.member("ab") == member
    assert await service.member("nobody") is None
    assert service.scope(member) == scope_of(member, TREE)


async def test_login_factors_replay_and_sessions(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    _, secret = await service.add("alice", COUNTY, "handler", "correct horse battery")

    async def failed(username: str, password: str, code: str) -> None:
        with pytest.raises(Unauthorized) as raised:
            await service.login(username, password, code, client="c")
        assert (raised.value.code, str(raised.value)) == ("login_failed", LOGIN_FAILED)

    await failed("nobody", "correct horse battery", totp_now(secret, clock.now()))
    await failed("", "correct horse battery", totp_now(secret, clock.now()))
    # A longer name is nobody's, not the account its first 64 characters name.
    long_name = "l" * 64
    _, long_secret = await service.add(long_name, COUNTY, "handler", "correct horse battery")
    await failed(long_name + "x", "correct horse battery", totp_now(long_secret, clock.now()))
    await failed(long_name + "l" * 10_000, "correct horse battery", totp_now(long_secret, clock.now()))
    clock.at += timedelta(seconds=30)
    assert (
        await service.login(
            long_name, "correct horse battery", totp_now(long_secret, clock.now()), client="c"
        )
    )[2].username == long_name
    await failed("alice", "wrong horse battery", totp_now(secret, clock.now()))
    await failed(
        "alice", "correct horse battery", "000000" if totp_now(secret, clock.now()) != "000000" else "111111"
    )
    token, expires, member = await service.login(
        " ALICE ", "correct horse battery", totp_now(secret, clock.now()), client="c"
    )
    assert member == StaffMember("alice", COUNTY, "handler") and expires == clock.now() + timedelta(hours=1)
    assert await service.authenticate(token) == member
    # The same code (the same step) again is a replay, even inside its 30 seconds.
    await failed("alice", "correct horse battery", totp_now(secret, clock.now()))
    clock.at += timedelta(seconds=30)
    second, _, _ = await service.login(
        "alice", "correct horse battery", totp_now(secret, clock.now()), client="c"
    )
    await service.logout(second, member)
    for bad in (None, "", "x" * 201, second, "not a token"):
        with pytest.raises(Unauthorized):
            await service.authenticate(bad)
    clock.at += timedelta(hours=1)
    with pytest.raises(Unauthorized) as raised:
        await service.authenticate(token)
    assert str(raised.value) == "登录已过期或无效，请重新登录。"
    with pytest.raises(Unauthorized) as raised:
        await service.authenticate(None)
    assert str(raised.value) == "请先登录。"


async def test_declared_relations(staff: tuple[StaffService, Clock]) -> None:
    service, _ = staff
    member, _ = await service.add("alice", COUNTY, "handler", "correct horse battery")
    for name, unit, relation in [("", None, "亲属"), ("甲" * 101, None, "亲属"), ("张三", None, ""),
                                 ("张三", None, "关" * 33), ("张三", "单" * 201, "亲属")]:  # fmt: skip
        with pytest.raises(ValidationError) as raised:
            await service.declare_relation(member, name, unit, relation)
        assert raised.value.code == "invalid_relation"
    await service.declare_relation(member, " 张三 ", "", " 亲属 ")
    await service.declare_relation(member, "甲" * 100, "单" * 200, "关" * 32)
    relations = await service.relations("alice")
    assert [(r.person_name, r.person_unit, r.relation) for r in relations][:1] == [("张三", None, "亲属")]
    assert len(relations) == 2


async def test_a_full_width_totp_code_is_a_401_not_a_500(office: Office) -> None:
    resp = await office.client.post(
        "/api/v1/staff/login",
        json={"username": "county_reg", "password": PASSWORD, "totp": "０８１８０４"},
    )
    assert resp.status == 401, await resp.text()
    assert (await resp.json())["error"]["code"] == "login_failed"


def test_an_unpadded_secret_of_any_length() -> None:
    raw = bytes(range(11))  # 18 base32 characters: six "=" of padding left off
    secret = base64.b32encode(raw).decode().rstrip("=")
    assert len(secret) % 8 != 0
    import hmac as _hmac
    import struct as _struct

    mac = _hmac.new(raw, _struct.pack(">Q", 5), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = _struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    assert totp_at(secret, 5) == f"{value % 10**6:06d}"


def test_a_tree_built_here_links_children_to_their_parents() -> None:
    tree = OrgTree(jurisdiction.load(COUNTY_JURISDICTION).units)  # built in the test, not at import
    assert tree.descendants(COUNTY) == TOWNS
    assert tree.descendants(PROVINCE) == sorted([CITY, COUNTY, *TOWNS])
    assert None not in tree.children


async def test_token_length_limit_and_codes(staff: tuple[StaffService, Clock]) -> None:
    service, _ = staff
    with pytest.raises(Unauthorized) as raised:
        await service.authenticate("x" * 200)  # looked up, and unknown
    assert (raised.value.code, str(raised.value)) == ("unauthorized", "登录已过期或无效，请重新登录。")
    with pytest.raises(Unauthorized) as raised:
        await service.authenticate("x" * 201)  # refused before any lookup
    assert (raised.value.code, str(raised.value)) == ("unauthorized", "请先登录。")


async def test_logout_is_on_the_record_under_the_members_name(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    _, secret = await service.add("alice", COUNTY, "handler", "correct horse battery")
    token, _, member = await service.login(
        "alice", "correct horse battery", totp_now(secret, clock.now()), client="c"
    )
    await service.logout(token, member)
    events = [(e.kind, e.actor) async for e in service._db.audit.iter_events()]
    assert events[-1] == ("staff_logout", "staff:alice")


async def test_relation_limits_and_messages(staff: tuple[StaffService, Clock]) -> None:
    service, _ = staff
    member, _ = await service.add("alice", COUNTY, "handler", "correct horse battery")
    await service.declare_relation(member, "张", None, "亲")  # one character each is enough
    await service.declare_relation(member, "李四", "单" * 200, "同学")
    with pytest.raises(ValidationError) as raised:
        await service.declare_relation(member, "", None, "亲属")
    assert str(raised.value) == "请填写关系人姓名（100 字以内）和关系（32 字以内）。"
    with pytest.raises(ValidationError) as raised:
        await service.declare_relation(member, "张三", "单" * 201, "亲属")
    assert str(raised.value) == "单位名称不能超过 200 字。"
    got = sorted((r.person_name, r.person_unit, r.relation) for r in await service.relations("alice"))
    assert got == [("张", None, "亲"), ("李四", "单" * 200, "同学")]


# --- found by the second mutation run (issue 23) --------------------------------------------------


def test_scrypt_may_take_128_mib_and_no_more() -> None:
    # N=2^16 (INTAKE_STAFF_SCRYPT_LOG_N's ceiling, 64 MiB) hashes; N=2^17 needs 128 MiB and a few
    # kilobytes, over the limit: refused when hashing, and a stored hash at that cost verifies
    # nothing (a planted hash cannot make the server take more memory).
    with pytest.raises(ValueError):
        hash_password("x" * 12, n=2**17)
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"x" * 12, salt=salt, n=2**17, r=8, p=1, maxmem=256 * 1024 * 1024)
    b64 = base64.b64encode
    stored = f"scrypt${2**17}$8$1${b64(salt).decode()}${b64(digest).decode()}"
    assert not verify_password("x" * 12, stored)


def test_a_stored_digest_of_another_length_verifies() -> None:
    salt = b"fedcba9876543210"
    digest = hashlib.scrypt(b"pw-pw-pw-pw-pw", salt=salt, n=2**10, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    stored = f"scrypt$1024$8$1${b64(salt).decode()}${b64(digest).decode()}"
    assert verify_password("pw-pw-pw-pw-pw", stored)
    assert not verify_password("pw-pw-pw-pw-pX", stored)


def test_no_secret_matches_no_code_not_even_the_empty_keys() -> None:
    at = datetime.fromtimestamp(1111111109, UTC)
    code = totp_at("", 1111111109 // 30)  # what an HMAC under an empty key gives
    assert match_totp("", code, at) is None


VILLAGE = "430121102201"
TREE_WITH_POINT = OrgTree(
    [
        *jurisdiction.load(COUNTY_JURISDICTION).units,
        UnitRecord(VILLAGE, "某村受理点", "village", INTAKE_POINT, TOWN, VILLAGE, "某村"),
    ]
)


def test_an_intake_point_in_the_tree() -> None:
    assert TREE_WITH_POINT.is_intake_point(VILLAGE)
    assert not TREE_WITH_POINT.is_intake_point(TOWN) and not TREE_WITH_POINT.is_intake_point("999")
    # The town's own staff take up what its village point registered; the county's do not.
    assert scope_of(StaffMember("a", TOWN, "handler"), TREE_WITH_POINT).units == (TOWN, VILLAGE)
    assert scope_of(StaffMember("a", COUNTY, "handler"), TREE_WITH_POINT).units == (COUNTY,)


async def test_an_intake_point_has_registrars_only(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    await service._db.units.sync(list(TREE_WITH_POINT.units.values()))
    points = StaffService(service._db, clock, TREE_WITH_POINT, scrypt_n=2**10)
    with pytest.raises(ValidationError) as raised:
        await points.add("village_handler", VILLAGE, "handler", PASSWORD)
    assert (raised.value.code, str(raised.value)) == (
        "intake_point_role",
        "村（社区）受理点只能设登记员账号。",
    )
    member, _ = await points.add("village_reg", VILLAGE, "registrar", PASSWORD)
    assert member == StaffMember("village_reg", VILLAGE, "registrar")
    await points.add("town_handler", TOWN, "handler", PASSWORD)  # the rule is the point's only


async def test_usernames_of_every_allowed_character_and_the_defaults(
    staff: tuple[StaffService, Clock],
) -> None:
    service, _ = staff
    every = "".join(sorted(USERNAME_CHARS))
    member, _ = await service.add(every, COUNTY, "handler", PASSWORD)
    assert member.username == every
    with pytest.raises(Conflict) as raised:
        await service.add(every, COUNTY, "handler", PASSWORD)
    assert str(raised.value) == "该用户名已存在。"
    events = [(e.kind, e.actor) async for e in service._db.audit.iter_events() if e.kind == "staff_added"]
    assert events == [("staff_added", "cli")]  # the default actor: the command line


async def test_an_email_address_is_checked_and_kept(staff: tuple[StaffService, Clock]) -> None:
    service, _ = staff
    for bad in ("not an address", "a@b", "@example.org"):
        with pytest.raises(ValidationError) as raised:
            await service.add("mailer", COUNTY, "handler", PASSWORD, email=bad)
        assert (raised.value.code, str(raised.value)) == ("invalid_email", "电子邮箱地址格式不正确。")
    await service.add("mailer", COUNTY, "handler", PASSWORD, email=" duty@example.org ")
    await service.add("no_mail", COUNTY, "handler", PASSWORD, email="  ")
    assert await service._db.urging.unit_addresses(COUNTY) == ["duty@example.org"]


async def failed_login(service: StaffService, username: str, password: str, code: str, client: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        await service.login(username, password, code, client=client)
    assert (raised.value.code, str(raised.value)) == ("login_failed", LOGIN_FAILED)


async def test_each_failed_login_is_on_the_record_with_its_reason(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    _, secret = await service.add("alice", COUNTY, "handler", "correct horse battery")
    code = totp_now(secret, clock.now())
    await failed_login(service, "nobody", "correct horse battery", code, "c")
    await failed_login(service, "alice", "wrong horse battery", code, "c")
    await failed_login(
        service, "alice", "correct horse battery", "000000" if code != "000000" else "111111", "c"
    )
    await service.login("alice", "correct horse battery", code, client="c")
    await failed_login(service, "alice", "correct horse battery", code, "c")
    reasons = [
        (json.loads(e.payload)["username"], json.loads(e.payload)["reason"])
        async for e in service._db.audit.iter_events()
        if e.kind == "staff_login_failed"
    ]
    assert reasons == [
        ("nobody", "unknown_user"),
        ("alice", "password"),
        ("alice", "totp"),
        ("alice", "totp_replay"),
    ]


async def test_a_replayed_step_is_refused_before_the_store_is_asked(
    staff: tuple[StaffService, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, clock = staff
    _, secret = await service.add("alice", COUNTY, "handler", "correct horse battery")
    code = totp_now(secret, clock.now())
    await service.login("alice", "correct horse battery", code, client="c")
    asked: list[int] = []
    succeeded = service._db.staff.login_succeeded

    async def spy(username: str, step: int, *args: object) -> bool:
        asked.append(step)
        return await succeeded(username, step, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(service._db.staff, "login_succeeded", spy)
    await failed_login(service, "alice", "correct horse battery", code, "c")
    assert asked == []  # the service's own check, not only the store's


async def test_a_login_racing_another_with_the_same_code_fails_in_the_store(
    staff: tuple[StaffService, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two logins with one code read the account before either records the step; the second
    # to record it is refused by the login transaction. The race is set up by handing the
    # second login the account as it was read before the first one's step was recorded.
    service, clock = staff
    _, secret = await service.add("alice", COUNTY, "handler", "correct horse battery")
    before = await service._db.staff.staff("alice")
    assert before is not None and before.totp_last_step is None
    code = totp_now(secret, clock.now())
    await service.login("alice", "correct horse battery", code, client="c")

    async def read_before(username: str) -> StaffRecord | None:
        return before

    monkeypatch.setattr(service._db.staff, "staff", read_before)
    await failed_login(service, "alice", "correct horse battery", code, "c")


async def test_names_of_two_and_of_more_than_64_characters(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    _, secret = await service.add("ab", COUNTY, "handler", "correct horse battery")
    assert (await service.login("ab", "correct horse battery", totp_now(secret, clock.now()), client="c"))[
        2
    ].username == "ab"
    # An account the store holds under a longer name (not made by add) cannot sign in either.
    long_name = "m" * 65
    long_secret = new_totp_secret()
    await service._db.staff.add_staff(
        long_name,
        COUNTY,
        "handler",
        hash_password("correct horse battery", n=2**10),
        long_secret,
        "test",
        clock.now(),
    )
    await failed_login(service, long_name, "correct horse battery", totp_now(long_secret, clock.now()), "c")
    # Refused as nobody's, before its password or code is looked at.
    failures = [
        json.loads(e.payload) async for e in service._db.audit.iter_events() if e.kind == "staff_login_failed"
    ]
    assert failures[-1] == {"username": long_name[:64], "reason": "unknown_user"}


async def test_the_service_throttles_by_pair_and_address(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    cheap = StaffService(service._db, clock, TREE, scrypt_n=2**10)  # the default budgets: 5 and 20
    assert cheap._dummy_hash.split("$")[1] == "1024"  # an unknown name costs the same scrypt work
    _, secret = await cheap.add("alice", COUNTY, "handler", "correct horse battery")
    for _ in range(5):
        await failed_login(cheap, "alice", "wrong horse battery", "000000", "c1")
    with pytest.raises(RateLimited):
        await cheap.login("alice", "correct horse battery", totp_now(secret, clock.now()), client="c1")
    # Neither another account from that address nor that account from another address is slowed.
    await failed_login(cheap, "bob", "wrong horse battery", "000000", "c1")
    await cheap.login("alice", "correct horse battery", totp_now(secret, clock.now()), client="c2")
    # The address budget: 20 failures, whatever the names (c1 spent 6 above, one refused).
    for i in range(14):
        await failed_login(cheap, f"user{i}", "wrong horse battery", "000000", "c1")
    with pytest.raises(RateLimited):
        await cheap.login("carol", "wrong horse battery", "000000", client="c1")


async def test_names_past_64_characters_share_the_throttle_of_the_first_64(
    staff: tuple[StaffService, Clock],
) -> None:
    service, clock = staff
    cheap = StaffService(service._db, clock, TREE, scrypt_n=2**10)
    long_name = "l" * 64
    _, secret = await cheap.add(long_name, COUNTY, "handler", "correct horse battery")
    for tail in "abcde":  # five different 65-character names, one pair budget
        await failed_login(
            cheap, long_name + tail, "correct horse battery", totp_now(secret, clock.now()), "c"
        )
    with pytest.raises(RateLimited):
        await cheap.login(long_name, "correct horse battery", totp_now(secret, clock.now()), client="c")


async def test_a_good_login_resets_its_pair_and_refunds_its_address(
    staff: tuple[StaffService, Clock],
) -> None:
    service, clock = staff
    tight = StaffService(service._db, clock, TREE, max_failures=2, address_failures=2, scrypt_n=2**10)
    _, secret = await tight.add("alice", COUNTY, "handler", "correct horse battery")
    await failed_login(tight, "alice", "wrong horse battery", "000000", "c")
    for _ in range(3):  # each good login gives back what it spent, and clears the failure
        clock.at += timedelta(seconds=30)
        await tight.login("alice", "correct horse battery", totp_now(secret, clock.now()), client="c")
    await failed_login(tight, "alice", "wrong horse battery", "000000", "c")
    with pytest.raises(RateLimited):
        await tight.login("alice", "wrong horse battery", "000000", client="c")


async def test_the_address_budget_refills_on_the_injected_clock(shared_limits: Any) -> None:
    clock = Seconds()
    t = LoginThrottle(
        per_pair=10, per_address=2, window=timedelta(minutes=2), seconds=clock, shared=shared_limits
    )
    await t.attempt("alice", "addr")
    await t.attempt("bob", "addr")
    with pytest.raises(RateLimited) as raised:
        await t.attempt("carol", "addr")
    assert raised.value.retry_after == 60  # 2 per 2 minutes: one back a minute
    clock.t += 30
    with pytest.raises(RateLimited):
        await t.attempt("carol", "addr")
    clock.t += 30
    await t.attempt("carol", "addr")


async def test_an_address_budget_of_one(shared_limits: Any) -> None:
    t = LoginThrottle(
        per_pair=10, per_address=1, window=timedelta(minutes=1), seconds=Seconds(), shared=shared_limits
    )
    await t.attempt("alice", "addr")
    with pytest.raises(RateLimited):
        await t.attempt("bob", "addr")


async def test_a_session_token_is_32_random_bytes_url_safe(staff: tuple[StaffService, Clock]) -> None:
    service, clock = staff
    _, secret = await service.add("alice", COUNTY, "handler", "correct horse battery")
    token, _, _ = await service.login(
        "alice", "correct horse battery", totp_now(secret, clock.now()), client="c"
    )
    assert len(base64.urlsafe_b64decode(token + "=")) == 32 and len(token) == 43
