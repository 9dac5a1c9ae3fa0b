"""An office for the statistics: the workflow tests' server (SQLite and PostgreSQL, a settable
clock, staff with real TOTP secrets) over the 长沙县 fixture jurisdiction plus a second county (宁乡市, under
长沙市), and a month of reports filed through the pipeline with one injected spike: thirty reports
about 黄兴镇's 低保 on one day."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake.clock import CHINA
from intake.domain import Accused, Location, Reporter, Submission
from server.config import Settings
from tests.conftest import COUNTY_JURISDICTION
from tests.workflow.conftest import PASSWORD, Office, open_office

__all__ = ["TODAY", "Dataset", "Filed", "Office", "dataset", "office"]

TODAY = date(2025, 9, 26)  # the office's clock: 2025-09-26 10:00 China time
OTHER_COUNTY = "430182"
PLACES = ("430121102", "430121104", "430121001", "430121107")  # 黄兴镇, 江背镇, 星沙街道, 果园镇
CATEGORIES = ("低保", "工程建设", "征地拆迁", "作风问题")
CHANNELS = ("web", "app", "wechat", "phone")
SPIKE_PLACE, SPIKE_CATEGORY = "430121102", "低保"


@dataclass(frozen=True)
class Filed:
    case_no: str
    day: date
    channel: str
    category: str
    place: str
    owner: str  # the unit that owns the case once the test's transfers are done
    anonymous: bool


@dataclass
class Dataset:
    office: Office
    reports: list[Filed] = field(default_factory=list)
    spike: list[str] = field(default_factory=list)
    repeat: list[str] = field(default_factory=list)

    def expected(self, units: set[str], *fields: str) -> Counter[tuple[Any, ...]]:
        """The true counts of the reports owned by ``units``, by ``fields`` of :class:`Filed`."""
        return Counter(tuple(getattr(r, f) for f in fields) for r in self.reports if r.owner in units)


def _jurisdiction(path: Path) -> Path:
    doc = json.loads(COUNTY_JURISDICTION.read_text("utf-8"))
    doc["units"] += [
        {
            "code": OTHER_COUNTY,
            "name": "宁乡市纪委监委",
            "level": "county",
            "kind": "commission",
            "parent": "4301",
            "division_code": OTHER_COUNTY,
            "division_name": "宁乡市",
        },
        {
            "code": "430182100",
            "name": "玉潭街道纪工委",
            "level": "township",
            "kind": "work_committee",
            "parent": OTHER_COUNTY,
            "division_code": "430182100",
            "division_name": "玉潭街道",
        },
    ]
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture
async def office(
    aiohttp_client: Any, make_settings: Callable[..., Settings], db_url: str, tmp_path: Path
) -> Office:
    """On SQLite and on PostgreSQL, with a supervisor of the second county (``nx_sup``) and one
    of the province, the tree's root (``prov_sup``)."""
    settings = make_settings(
        INTAKE_DATABASE_URL=db_url,
        INTAKE_JURISDICTION_FILE=str(_jurisdiction(tmp_path / "jurisdiction.json")),
    )
    o = await open_office(aiohttp_client, settings)
    _, o.secrets["nx_sup"] = await o.services.staff.add("nx_sup", OTHER_COUNTY, "supervisor", PASSWORD)
    _, o.secrets["prov_sup"] = await o.services.staff.add("prov_sup", "43", "supervisor", PASSWORD)
    return o


async def file(
    o: Office,
    day: date,
    *,
    channel: str,
    category: str,
    place: str,
    accused: str,
    phone: str | None = None,
    hour: int = 10,
) -> str:
    o.clock.at = datetime(day.year, day.month, day.day, hour, 0, tzinfo=CHINA)
    sub = Submission(
        channel=channel,
        content=f"反映{accused}在{category}工作中存在问题，请调查处理。",
        category=category,
        accused=Accused(accused, "某单位", "干部"),
        location=Location(division_code=place),
        reporter=Reporter("李四", None, phone, None) if phone else Reporter(),
        anonymous=phone is None,
    )
    receipt = await o.services.pipeline.accept(sub)
    return receipt.case_no


@pytest.fixture
async def dataset(office: Office) -> Dataset:
    """278 reports over the 29 days up to TODAY: 8 a day spread over 4 places × 4 categories ×
    4 channels, one letter, 12 about 土地 transferred to the other county, three real-name reports
    from one phone, and the spike (30 about 黄兴镇's 低保 today, one accused, transferred down to
    黄兴镇)."""
    o, data = office, Dataset(office)
    county = "430121"

    async def add(day: date, owner: str = county, **kw: Any) -> str:
        case_no = await file(o, day, **kw)
        data.reports.append(
            Filed(case_no, day, kw["channel"], kw["category"], kw["place"], owner, kw.get("phone") is None)
        )
        return case_no

    n = 0
    for d in range(29):
        day = TODAY - timedelta(days=d)
        for j in range(8):
            n += 1
            await add(
                day,
                channel=CHANNELS[(d + j) % 4],
                category=CATEGORIES[(d * 3 + j) % 4],
                place=PLACES[(d + j) % 4],
                accused=f"干部{n}",
            )
    await add(
        TODAY - timedelta(days=5), channel="letter", category="作风问题", place="430121001", accused="赵六"
    )
    moved = [
        await add(
            TODAY - timedelta(days=d),
            OTHER_COUNTY,
            channel="web",
            category="土地",
            place="430121107",
            accused=f"村干部{d}",
        )
        for d in range(1, 13)
    ]
    for d in (2, 3, 4):
        data.repeat.append(
            await add(
                TODAY - timedelta(days=d),
                channel="phone",
                category="作风问题",
                place="430121001",
                accused=f"站长{d}",
                phone="13912345678",
            )
        )
    for i in range(30):
        data.spike.append(
            await add(
                TODAY,
                SPIKE_PLACE,
                channel=CHANNELS[i % 3],
                category=SPIKE_CATEGORY,
                place=SPIKE_PLACE,
                accused="王五",
                hour=8 + i % 8,
            )
        )
    o.clock.at = datetime(2025, 9, 26, 18, 0, tzinfo=CHINA)
    # The search index, as the triage job writes it after each acknowledgement (no worker here).
    assert await o.services.db.search.catch_up(o.clock.now()) == len(data.reports)
    await o.login("county_reg")
    for case_no, to_unit in [(c, OTHER_COUNTY) for c in moved] + [(c, SPIKE_PLACE) for c in data.spike]:
        status, body = await o.act("county_reg", case_no, action="transfer", to_unit=to_unit)
        assert status == 200, body
    return data
