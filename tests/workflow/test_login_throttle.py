"""The staff login throttle: failures count per address and per (account, address), never lock an
account, and answer the same for known and unknown usernames. Time is the injected clock."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from intake.staff import totp_now
from tests.console.conftest import csrf_of
from tests.workflow.conftest import PASSWORD, Office

STRANGER, COLLEAGUE = "198.51.100.7", "203.0.113.5"


async def login(o: Office, address: str, username: str, password: str, totp: str = "000000") -> Any:
    resp = await o.client.post(
        "/api/v1/staff/login",
        json={"username": username, "password": password, "totp": totp},
        headers={"X-Forwarded-For": address},
    )
    return resp.status, await resp.json(), resp.headers


def good_code(o: Office, name: str) -> str:
    o.clock.at += timedelta(seconds=31)  # a fresh TOTP step for each good login
    return totp_now(o.secrets[name], o.clock.now())


async def test_a_strangers_wrong_passwords_do_not_lock_the_real_user_out(office_behind_proxy: Office) -> None:
    o = office_behind_proxy
    answers = [(await login(o, STRANGER, "county_handler", "wrong password!"))[:2] for _ in range(20)]
    assert [status for status, _ in answers] == [401] * 5 + [429] * 15
    assert answers[-1][1]["error"]["code"] == "login_throttled"
    # The account itself is untouched: its owner, elsewhere, logs in at once.
    status, doc, _ = await login(o, COLLEAGUE, "county_handler", PASSWORD, good_code(o, "county_handler"))
    assert status == 200, doc
    # The stranger's address may try another account (its own budget is not spent yet) …
    assert (await login(o, STRANGER, "county_sup", "wrong password!"))[0] == 401
    # … and this account again once the pair budget refills (5 per 15 minutes).
    _, _, headers = await login(o, STRANGER, "county_handler", "wrong password!")
    o.clock.at += timedelta(seconds=int(headers["Retry-After"]))
    assert (await login(o, STRANGER, "county_handler", "wrong password!"))[0] == 401
    await o.audit_ok()


async def test_one_address_walking_through_usernames_is_throttled(office_behind_proxy: Office) -> None:
    o = office_behind_proxy
    names = [f"user{i}" for i in range(17)] + ["county_reg", "county_sup", "town_sup"]
    assert [(await login(o, STRANGER, n, "wrong password!"))[0] for n in names] == [401] * 20
    status, doc, headers = await login(o, STRANGER, "user99", "wrong password!")
    assert status == 429 and doc["error"] == {
        "code": "login_throttled",
        "message": "登录尝试过于频繁，请稍后再试。",
    }
    wait = int(headers["Retry-After"])
    assert wait >= 1
    # Even the right password waits: the address is over its budget, whoever types at it.
    status, _, _ = await login(o, STRANGER, "county_handler", PASSWORD, good_code(o, "county_handler"))
    assert status == 429
    # Other addresses are not slowed; good logins cost nothing (more of them than the budget).
    for _ in range(21):
        status, doc, _ = await login(o, COLLEAGUE, "town_officer", PASSWORD, good_code(o, "town_officer"))
        assert status == 200, doc
    o.clock.at += timedelta(seconds=wait)
    status, doc, _ = await login(o, STRANGER, "county_handler", PASSWORD, good_code(o, "county_handler"))
    assert status == 200, doc


async def test_unknown_and_existing_usernames_get_the_same_answers_after_the_same_work(
    office_behind_proxy: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = office_behind_proxy
    scrypt_runs = []
    real_scrypt = hashlib.scrypt

    def counting_scrypt(*args: Any, **kwargs: Any) -> bytes:
        scrypt_runs.append(kwargs.get("n"))
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting_scrypt)

    async def answers(username: str, address: str) -> list[tuple[int, Any, str | None]]:
        out = []
        for _ in range(7):
            status, doc, headers = await login(o, address, username, "wrong password!")
            out.append((status, doc, headers.get("Retry-After")))
        return out

    existing = await answers("county_handler", STRANGER)
    existing_work = list(scrypt_runs)
    scrypt_runs.clear()
    unknown = await answers("no.such.person", COLLEAGUE)
    assert existing == unknown
    assert [s for s, _, _ in existing] == [401] * 5 + [429] * 2
    assert scrypt_runs == existing_work and len(existing_work) == 5  # a full scrypt per failure


async def test_console_login_page_is_throttled_the_same_way(office_behind_proxy: Office) -> None:
    o = office_behind_proxy

    async def post(address: str, password: str, totp: str = "000000") -> Any:
        page = await o.client.get("/console/login", headers={"X-Forwarded-For": address})
        form = {
            "csrf": csrf_of(await page.text()),
            "username": "county_handler",
            "password": password,
            "totp": totp,
        }
        resp = await o.client.post(
            "/console/login", data=form, allow_redirects=False, headers={"X-Forwarded-For": address}
        )
        return resp.status, await resp.text(), resp.headers

    statuses = [(await post(STRANGER, "wrong password!"))[0] for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    status, html, headers = await post(STRANGER, "wrong password!")
    assert status == 429 and "登录尝试过于频繁" in html and int(headers["Retry-After"]) >= 1
    # The API and the console share the budget: one address, one count.
    assert (await login(o, STRANGER, "county_handler", "wrong password!"))[0] == 429
    status, _, _ = await post(COLLEAGUE, PASSWORD, good_code(o, "county_handler"))
    assert status == 303
