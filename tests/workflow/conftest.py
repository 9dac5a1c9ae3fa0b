"""A whole server with a settable clock, staff accounts in the demo jurisdiction, and helpers that
log in with a real TOTP code and file reports through the pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import channels
from intake.clock import CHINA
from intake.domain import Accused, Reporter, Submission
from intake.staff import totp_now
from server.app import build_app, services_of
from server.config import Settings

PASSWORD = "correct horse battery"
STAFF = {
    "county_reg": ("430121", "registrar"),
    "county_handler": ("430121", "handler"),
    "county_handler2": ("430121", "handler"),
    "county_sup": ("430121", "supervisor"),
    "town_officer": ("430121102", "handler"),
    "town_sup": ("430121102", "supervisor"),
    "city_sup": ("4301", "supervisor"),
}


class SetClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at.astimezone(UTC)  # as the system clock gives it

    def set(self, y: int, m: int, d: int, hh: int = 10) -> None:
        self.at = datetime(y, m, d, hh, 0, tzinfo=CHINA)


@dataclass
class Office:
    client: TestClient  # type: ignore[type-arg]
    clock: SetClock
    secrets: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Any:
        return services_of(self.client.app)

    async def add_staff(self) -> None:
        for name, (unit, role) in STAFF.items():
            _, secret = await self.services.staff.add(name, unit, role, PASSWORD)
            self.secrets[name] = secret

    async def login(self, name: str) -> str:
        # Each login needs a fresh TOTP step: step the clock past the last one used.
        self.clock.at = self.clock.at.replace(second=0) + timedelta(seconds=31)
        resp = await self.client.post(
            "/api/v1/staff/login",
            json={
                "username": name,
                "password": PASSWORD,
                "totp": totp_now(self.secrets[name], self.clock.now()),
            },
        )
        assert resp.status == 200, await resp.text()
        self.tokens[name] = (await resp.json())["token"]
        return self.tokens[name]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def get(self, name: str, path: str) -> tuple[int, Any]:
        resp = await self.client.get(path, headers=self.auth(name))
        return resp.status, await resp.json()

    async def post(self, name: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        resp = await self.client.post(path, json=body, headers=self.auth(name))
        return resp.status, await resp.json()

    async def act(self, name: str, case_no: str, **body: Any) -> tuple[int, Any]:
        return await self.post(name, f"/api/v1/staff/reports/{case_no}/actions", body)

    async def file(
        self,
        content: str = "村支书张三在低保评定中优亲厚友，2025年3月把低保名额给了亲属。",
        *,
        channel: str = "web",
        real_name: bool = False,
        accused: Accused | None = None,
    ) -> tuple[str, str]:
        sub = Submission(
            channel=channel,
            content=content,
            accused=accused or Accused("张三", "黄兴镇某村", "村支书"),
            reporter=Reporter("李四", None, "13800000000", None) if real_name else Reporter(),
            anonymous=not real_name,
            handles={"ip": "203.0.113.9"},
        )
        receipt = await self.services.pipeline.accept(sub)
        assert receipt.query_code
        return receipt.case_no, receipt.query_code

    async def triaged(self, case_no: str, **fields: Any) -> None:
        """Store a triage result as the triage job would (a fake at the seam: no child process)."""
        report = await self.services.db.reports.get(case_no)
        doc = {
            "category": "群众纪律",
            "scope": "accusation",
            "level": "county",
            "unit": {"id": "430121", "name": "长沙县纪委监委"},
            "priority": "normal",
            "confidence": 0.9,
            "evidence": ["优亲厚友"],
            "duplicate_of": None,
            "needs_review": False,
            "sealed": False,
        } | fields
        columns = {k: doc[k] for k in ("scope", "level", "priority", "confidence", "duplicate_of")}
        await self.services.db.reports.set_triage(report.id, {**columns, "triage": doc}, self.clock.now())
        await self.services.workflow.after_triage(case_no)  # as the triage job does next

    async def audit_ok(self) -> None:
        ok, _, detail = await self.services.db.audit.verify()
        assert ok, detail


async def open_office(aiohttp_client: Any, settings: Settings) -> Office:
    clock = SetClock(datetime(2025, 9, 26, 10, 0, tzinfo=CHINA))
    app = build_app(settings, channels.REGISTRY, clock=clock, run_worker=False)
    o = Office(await aiohttp_client(app), clock)
    await o.add_staff()
    return o


@pytest.fixture
async def office(aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str) -> Office:
    """On SQLite and on PostgreSQL (the ``db_url`` fixture)."""
    return await open_office(aiohttp_client, make_settings(INTAKE_DATABASE_URL=db_url))


@pytest.fixture
async def office_behind_proxy(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> Office:
    """On SQLite, trusting ``X-Forwarded-For``: a test speaks from any address it names."""
    return await open_office(aiohttp_client, make_settings(INTAKE_TRUST_FORWARDED_FOR="1"))


@pytest.fixture
def new_id() -> Callable[[], str]:
    return lambda: uuid.uuid4().hex
