"""Staff accounts and the scoped API: TOTP login, the login throttle, expiry, roles, queues per unit, the
deadline board, merging duplicates, and the ``intake staff add`` command."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import date, timedelta
from pathlib import Path

import pytest

from intake.staff import hash_password, match_totp, totp_at, totp_now, verify_password
from server.cli import main
from tests.workflow.conftest import PASSWORD, Office


def test_totp_matches_rfc_6238_vectors() -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # b"12345678901234567890"
    assert totp_at(secret, 59 // 30) == "287082"
    assert totp_at(secret, 1111111109 // 30) == "081804"
    assert totp_at(secret, 2000000000 // 30) == "279037"


def test_password_hash_is_salted_scrypt() -> None:
    a, b = hash_password("x" * 12, n=2**10), hash_password("x" * 12, n=2**10)
    assert a != b and a.startswith("scrypt$1024$")
    assert verify_password("x" * 12, a) and not verify_password("y" * 12, a)


async def test_login_throttle_replay_and_expiry(office: Office) -> None:
    o = office

    async def login(totp: str, password: str = PASSWORD) -> tuple[int, dict]:
        resp = await o.client.post(
            "/api/v1/staff/login", json={"username": "county_handler", "password": password, "totp": totp}
        )
        return resp.status, await resp.json()

    good = totp_now(o.secrets["county_handler"], o.clock.now())
    status, doc = await login(good)
    assert status == 200 and doc["staff"]["role"] == "handler"
    token = doc["token"]
    # The same code again (a replay) is refused.
    status, doc = await login(good)
    assert status == 401 and doc["error"]["code"] == "login_failed"
    headers = {"Authorization": f"Bearer {token}"}
    assert (await o.client.get("/api/v1/staff/me", headers=headers)).status == 200
    # Wrong password or wrong code: the same answer; after five failures (the replay was the
    # first), this address must wait.
    for _ in range(3):
        o.clock.at += timedelta(seconds=31)
        status, doc = await login(totp_now(o.secrets["county_handler"], o.clock.now()), "wrong password!")
        assert status == 401 and doc["error"]["message"] == "用户名、密码或动态口令错误。"
    o.clock.at += timedelta(seconds=31)
    status, doc = await login("000000")
    assert status == 401
    o.clock.at += timedelta(seconds=31)
    status, doc = await login(totp_now(o.secrets["county_handler"], o.clock.now()))
    assert status == 429 and doc["error"]["code"] == "login_throttled"
    o.clock.at += timedelta(minutes=16)
    status, doc = await login(totp_now(o.secrets["county_handler"], o.clock.now()))
    assert status == 200
    # Tokens expire (8 hours by default) and can be revoked.
    o.clock.at += timedelta(hours=9)
    assert (await o.client.get("/api/v1/staff/me", headers=headers)).status == 401
    fresh = {"Authorization": f"Bearer {await o.login('county_handler')}"}
    assert (await o.client.post("/api/v1/staff/logout", headers=fresh)).status == 200
    assert (await o.client.get("/api/v1/staff/me", headers=fresh)).status == 401
    status, doc = await login("123456", "")
    assert status == 401
    resp = await o.client.post(
        "/api/v1/staff/login", json={"username": "nobody", "password": PASSWORD, "totp": "1"}
    )
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "login_failed"
    await o.audit_ok()
    events = [e.kind async for e in o.services.db.audit.iter_events()]
    assert events.count("staff_login_failed") >= 7 and "staff_logout" in events


async def test_totp_drift_window() -> None:
    from datetime import UTC, datetime

    secret = "JBSWY3DPEHPK3PXP"
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    code = totp_now(secret, at - timedelta(seconds=30))
    assert match_totp(secret, code, at) is not None
    assert match_totp(secret, totp_now(secret, at - timedelta(seconds=90)), at) is None


async def test_queues_are_scoped_by_unit_and_role(office: Office) -> None:
    o = office
    for name in STAFF_ALL:
        await o.login(name)
    county, _ = await o.file()
    down, _ = await o.file()
    await o.triaged(county)
    await o.triaged(down)
    await o.act("county_reg", county, action="accept")
    await o.act("county_reg", down, action="accept")
    status, doc = await o.act("county_sup", down, action="assign", to_unit="430121102")
    assert status == 200, doc

    async def seen(name: str) -> set[str]:
        status, doc = await o.get(name, "/api/v1/staff/reports")
        assert status == 200
        return {r["case_no"] for r in doc["reports"]}

    assert await seen("county_handler") == {county}
    assert await seen("town_officer") == {down}
    assert await seen("county_sup") == {county, down}  # 督办: the units below too
    assert await seen("city_sup") == {county, down}
    assert (await o.get("town_officer", f"/api/v1/staff/reports/{county}"))[0] == 404
    assert (await o.get("county_handler", f"/api/v1/staff/reports/{down}"))[0] == 404
    status, err = await o.act("town_officer", county, action="accept")
    assert status == 404 and err["error"]["code"] == "case_not_found"
    # Filters.
    status, doc = await o.get("county_sup", "/api/v1/staff/reports?status=assigned")
    assert {r["case_no"] for r in doc["reports"]} == {down}
    status, doc = await o.get("county_sup", "/api/v1/staff/reports?channel=letter")
    assert doc["reports"] == []
    status, doc = await o.get("county_sup", "/api/v1/staff/reports?category=群众纪律")
    assert {r["case_no"] for r in doc["reports"]} == {county, down}
    status, doc = await o.get("county_sup", "/api/v1/staff/reports?deadline=10")
    assert doc["reports"] == []
    status, doc = await o.get("county_sup", "/api/v1/staff/reports?deadline=120")
    # the 交办 deadline, and both clues' one-month disposal opinion (issue 18)
    assert {r["case_no"] for r in doc["reports"]} == {county, down}
    # Roles: a handler cannot 督办, a registrar cannot reply.
    status, err = await o.act("county_handler", county, action="supervise", reason="逾期")
    assert status == 403 and err["error"]["code"] == "role_not_allowed"
    status, err = await o.act("county_reg", county, action="reply", text="x")
    assert status == 403
    status, err = await o.act("county_reg", county, action="register")
    assert status == 409 and err["error"]["code"] == "invalid_transition"
    status, err = await o.act("county_reg", county, action="fly")
    assert status == 422 and err["error"]["code"] == "unknown_action"
    assert (await o.client.get("/api/v1/staff/reports")).status == 401
    resp = await o.client.get("/api/v1/staff/reports", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    await o.audit_ok()


STAFF_ALL = ("county_reg", "county_handler", "county_sup", "town_officer", "city_sup")


async def test_deadline_board_supervision_and_reminders(office: Office) -> None:
    o = office
    o.clock.set(2025, 9, 26)
    for name in ("county_reg", "county_sup", "town_sup"):
        await o.login(name)
    late, _ = await o.file(real_name=True)
    soon, _ = await o.file()
    await o.triaged(late)
    await o.triaged(soon, level="township")
    await o.act("county_reg", late, action="accept")  # notice due 23 Oct 2025
    await o.act("county_reg", soon, action="transfer", to_unit="430121102")  # due 10 Oct 2025
    o.clock.set(2025, 10, 20)
    await o.login("county_sup")
    await o.login("town_sup")
    status, board = await o.get("county_sup", "/api/v1/staff/deadlines")
    assert status == 200
    assert [(d["case_no"], d["rule"]) for d in board["overdue"]] == [
        (soon, "jjkg_downward_accept_or_transfer")
    ]
    # the notice (23 Oct) and the clue's disposal opinion (27 Oct, issue 18)
    assert [(d["case_no"], d["days_left"]) for d in board["due_soon"]] == [(late, 3), (late, 7)]
    assert {u["unit"]: (u["overdue"], u["due_soon"]) for u in board["by_unit"]} == {
        "430121": (0, 2),
        "430121102": (1, 0),
    }
    _, town = await o.get("town_sup", "/api/v1/staff/deadlines")
    assert [d["case_no"] for d in town["overdue"]] == [soon] and town["due_soon"] == []
    status, doc = await o.act(
        "county_sup", soon, action="supervise", reason="逾期未受理", deadline="2025-10-24"
    )
    assert status == 200, doc
    assert doc["status"] == "supervised"
    # Reminders run from the job queue: the overdue deadline's reminder is due and writes an event.
    ran = await o.services.worker.run_once()
    assert ran >= 1
    _, doc = await o.get("county_sup", f"/api/v1/staff/reports/{soon}")
    assert "deadline_reminder" in [e["kind"] for e in doc["timeline"]]
    await o.audit_ok()


async def test_deadline_board_reaches_past_the_latest_cases_and_counts_what_it_cuts(office: Office) -> None:
    """The board reads the scope's deadlines in SQL: an overdue deadline of a case older than the
    200 latest in scope is on it (it used to look only among those), and the lists are cut at
    their most urgent ``limit`` while the counts by unit cover every deadline (issue 21)."""
    o = office
    o.clock.set(2025, 9, 26)
    await o.login("county_reg")
    old, _ = await o.file(real_name=True)
    await o.triaged(old)
    await o.act("county_reg", old, action="accept")  # the notice, due 23 Oct 2025
    for i in range(201):  # newer cases in the same scope, without deadlines
        await o.file(f"反映某村会计挪用集体资金，第{i}件。")
    o.clock.set(2025, 10, 30)
    await o.login("county_sup")
    status, board = await o.get("county_sup", "/api/v1/staff/deadlines")
    assert status == 200, board
    assert (old, "jjkg_realname_accept_notice") in [(d["case_no"], d["rule"]) for d in board["overdue"]]
    assert (board["overdue_total"], board["due_soon_total"]) == (2, 0)

    member = await o.services.staff.member("county_sup")
    scope = o.services.staff.scope(member)
    full, cut = [
        await o.services.db.workflow.board(
            units=scope.units,
            hide_sealed_received_by=scope.hide_sealed_received_by,
            today=date(2025, 10, 30),
            due_by=date(2025, 11, 9),
            limit=limit,
        )
        for limit in (200, 1)
    ]
    assert len(full[0]) == 2  # the notice (23 Oct) and the clue's disposal opinion (27 Oct)
    assert cut[0] == full[0][:1] and [d.due_on for d in cut[0]] == [date(2025, 10, 23)]
    assert cut[2] == full[2] == [("430121", 2, 0)]


async def test_merge_lists_every_channel_and_visits_are_filed_by_staff(office: Office) -> None:
    o = office
    for name in ("county_reg", "county_handler"):
        await o.login(name)
    first, _ = await o.file()
    status, filed = await o.post(
        "county_reg",
        "/api/v1/staff/reports",
        {
            "channel": "visit",
            "content": "来访反映村支书张三优亲厚友。",
            "reporter": {"name": "孙七", "phone": "13700000000"},
        },
    )
    assert status == 201 and filed["query_code"]
    status, doc = await o.act("county_reg", filed["case_no"], action="merge", target=first)
    assert status == 200, doc
    assert doc["status"] == "closed" and doc["merged_into"] == first
    _, main_case = await o.get("county_reg", f"/api/v1/staff/reports/{first}")
    assert [c["channel"] for c in main_case["channels"]] == ["web", "visit"]
    assert "孙七" not in json.dumps(main_case, ensure_ascii=False)
    status, err = await o.post(
        "county_handler", "/api/v1/staff/reports", {"channel": "visit", "content": "x"}
    )
    assert status == 403
    status, err = await o.post("county_reg", "/api/v1/staff/reports", {"channel": "web", "content": "x"})
    assert status == 422 and err["error"]["code"] == "invalid_channel"
    await o.audit_ok()


def test_cli_staff_add_prints_the_totp_secret(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("INTAKE_DATABASE_URL", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(
            [
                "staff",
                "add",
                "wang.wu",
                "--unit",
                "430121102",
                "--role",
                "handler",
                "--password-stdin",
                "--json",
            ]
        )
    assert code == 0
    doc = json.loads(out.getvalue())
    assert doc["username"] == "wang.wu" and doc["unit"] == "430121102" and len(doc["totp_secret"]) == 32
    assert doc["otpauth_uri"].startswith("otpauth://totp/")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["staff", "add", "wang.wu", "--unit", "430121", "--role", "handler", "--password-stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["staff", "add", "li", "--unit", "430121", "--role", "handler", "--password-stdin"]) == 1
    with redirect_stdout(io.StringIO()):
        assert main(["audit", "verify"]) == 0


def test_cli_calendar_load(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))
    f = tmp_path / "2099.json"
    f.write_text(
        json.dumps({"year": 2099, "holidays": [["2099-10-01", "2099-10-07"]], "workdays": ["2099-10-10"]})
    )
    with redirect_stdout(io.StringIO()):
        assert main(["calendar", "load", str(f)]) == 0
    assert (data_dir / "calendar" / "2099.json").exists()
    f.write_text(json.dumps({"year": 2099, "holidays": []}))
    assert main(["calendar", "load", str(f)]) == 1


async def test_a_year_loaded_while_the_server_runs_is_used_without_a_restart(
    office: Office, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A three-month assignment from November 2026 ends in 2027, which the bundled calendar does
    not know: refused until ``intake calendar load``, then computed on the loaded year at once."""
    o = office
    o.clock.set(2026, 11, 20)
    for name in ("county_reg", "county_sup"):
        await o.login(name)
    case_no, _ = await o.file()
    await o.triaged(case_no)
    assert (await o.act("county_reg", case_no, action="accept"))[0] == 200
    status, err = await o.act("county_sup", case_no, action="assign", to_unit="430121102")
    assert status == 409 and err["error"]["code"] == "calendar_gap"

    monkeypatch.setenv("INTAKE_DATA_DIR", str(data_dir))  # the CLI on the server's data directory
    notice = tmp_path / "2027.json"
    notice.write_text(
        json.dumps(
            {
                "year": 2027,
                "holidays": ["2027-01-01", ["2027-02-06", "2027-02-13"]],
                "workdays": ["2027-02-20"],
            }
        )
    )
    with redirect_stdout(io.StringIO()):
        assert main(["calendar", "load", str(notice)]) == 0
    status, doc = await o.act("county_sup", case_no, action="assign", to_unit="430121102")
    assert status == 200, doc
    (due,) = [d["due_on"] for d in doc["deadlines"] if d["rule"] == "jiaoban_conclude"]
    assert due == "2027-02-20"  # the loaded make-up Saturday, not the Monday after
    await o.audit_ok()
