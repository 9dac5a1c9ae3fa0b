"""The query-code throttle on every route that takes a query code: the app's status and follow-ups,
the web pages' status and follow-up, the informant's recusal request. Each client has its own
budget (one client's guesses do not lock out another), lookups and follow-ups share it (a guess
is a guess, whichever route it comes by), and it refills on the service clock: the test moves the
clock, nothing waits."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import channels
from server.app import build_app
from server.config import Settings

HTML = {"Accept": "text/html"}
WRONG = "1" * 16
A, B = "198.51.100.7", "203.0.113.5"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


Attempt = Callable[[Any, str], Awaitable[Any]]


async def _csrf(client: Any, address: str) -> str:
    html = await (await client.get("/", headers={**HTML, "X-Forwarded-For": address})).text()
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def app_status(client: Any, address: str) -> Any:
    return await client.post(
        "/api/v1/status", json={"query_code": WRONG}, headers={"X-Forwarded-For": address}
    )


async def app_followup(client: Any, address: str) -> Any:
    return await client.post(
        "/api/v1/followups",
        json={"query_code": WRONG, "content": "补充"},
        headers={"X-Forwarded-For": address},
    )


async def web_status(client: Any, address: str) -> Any:
    data = {"csrf": await _csrf(client, address), "query_code": WRONG}
    return await client.post("/status", data=data, headers={**HTML, "X-Forwarded-For": address})


async def web_followup(client: Any, address: str) -> Any:
    data = {"csrf": await _csrf(client, address), "query_code": WRONG, "content": "补充"}
    return await client.post("/status/followup", data=data, headers={**HTML, "X-Forwarded-For": address})


async def recusal(client: Any, address: str) -> Any:
    return await client.post(
        "/api/v1/recusals",
        json={"query_code": WRONG, "reason": "承办人与被举报人是亲属"},
        headers={"X-Forwarded-For": address},
    )


ROUTES: dict[str, Attempt] = {
    "app-status": app_status,
    "app-followup": app_followup,
    "web-status": web_status,
    "web-followup": web_followup,
    "recusal": recusal,
}


@pytest.fixture
async def office(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[Any, Clock]:
    clock = Clock()
    settings = make_settings(INTAKE_STATUS_ATTEMPTS_PER_MINUTE="2", INTAKE_TRUST_FORWARDED_FOR="1")
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return client, clock


async def _throttled(resp: Any) -> int:
    assert resp.status == 429, (resp.status, await resp.text())
    wait = int(resp.headers["Retry-After"])
    assert wait >= 1
    if resp.content_type == "application/json":
        assert (await resp.json())["error"]["code"] == "rate_limited"
    else:
        assert "查询过于频繁" in await resp.text()
    return wait


@pytest.mark.parametrize("route", list(ROUTES))
async def test_each_route_is_throttled_per_client_and_refills_on_the_clock(
    office: tuple[Any, Clock], route: str
) -> None:
    client, clock = office
    attempt = ROUTES[route]
    assert [(await attempt(client, A)).status for _ in range(2)] == [404, 404]
    wait = await _throttled(await attempt(client, A))
    assert wait == 30  # 2 a minute: one token back every 30 s
    # Another client is not locked out by A's guesses.
    assert (await attempt(client, B)).status == 404
    # A little short of the wait, still throttled; at the wait, one more guess.
    clock.at += timedelta(seconds=wait - 1)
    await _throttled(await attempt(client, A))
    clock.at += timedelta(seconds=1)
    assert (await attempt(client, A)).status == 404
    await _throttled(await attempt(client, A))


@pytest.mark.parametrize("route", [r for r in ROUTES if r != "app-status"])
async def test_every_route_spends_the_same_budget_as_status_lookups(
    office: tuple[Any, Clock], route: str
) -> None:
    client, _ = office
    assert [(await app_status(client, A)).status for _ in range(2)] == [404, 404]
    await _throttled(await ROUTES[route](client, A))
    assert (await ROUTES[route](client, B)).status == 404
