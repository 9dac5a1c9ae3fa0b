"""The console pages over HTTP: the workflow tests' office (SQLite and PostgreSQL, a settable
clock, staff with real TOTP secrets) plus a helper that logs in through the login form."""

from __future__ import annotations

import re
from datetime import timedelta

from intake.staff import totp_now
from tests.workflow.conftest import PASSWORD, Office, new_id, office

__all__ = ["CSRF", "console_get", "console_login", "csrf_of", "new_id", "office"]

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no anti-forgery field on the page"
    return found.group(1)


async def console_login(o: Office, name: str) -> str:
    """Log ``name`` in through the form (the client's cookie jar keeps the session); returns the
    anti-forgery token of the first page."""
    o.client.session.cookie_jar.clear()
    resp = await o.client.get("/console/login")
    assert resp.status == 200
    token = csrf_of(await resp.text())
    o.clock.at += timedelta(seconds=31)  # a fresh TOTP step (a used one is refused)
    resp = await o.client.post(
        "/console/login",
        data={
            "csrf": token,
            "username": name,
            "password": PASSWORD,
            "totp": totp_now(o.secrets[name], o.clock.now()),
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/console/queue"
    status, html = await console_get(o, "/console/queue")
    assert status == 200 and name in html
    return csrf_of(html)


async def console_get(o: Office, path: str) -> tuple[int, str]:
    resp = await o.client.get(path, allow_redirects=False, headers={"Accept": "text/html"})
    return resp.status, await resp.text()
