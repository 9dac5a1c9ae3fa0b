"""Reports filed and handled through the app, for the measures beyond counts and the periodic
reports: 12 in 2025Q3 at the county (accepted, closed, rated, transferred, marked duplicate,
merged), 6 in 2025Q2 and 5 in 2024Q3, with the clock then at 2025-10-10 so that Q3 has ended.

The hand-computed figures of 2025Q3 (:data:`EXPECTED`): 12 reports; 9 accepted, six a day after
and three four days after receipt (median 1.0, mean 2.0 calendar days); 5 closed ten days after
(10.0, 10.0); 2 transferred (16.7 %); 2 marked duplicates by triage (16.7 %); 1 merged (8.3 %);
5 rated, 4 satisfied or basically (80.0 %); 6 real-name (50.0 %). 环比 Q2 has 6 reports (+100.0 %),
同比 2024Q3 has 5 (+140.0 %)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from intake.clock import CHINA
from tests.workflow.conftest import Office

TOWN = "430121102"
EXPECTED: dict[str, Any] = {
    "reports": 12,
    "accept_days_median": 1.0,
    "accept_days_mean": 2.0,
    "close_days_median": 10.0,
    "close_days_mean": 10.0,
    "transfer_rate": 16.7,
    "repeat_rate": 16.7,
    "merged_rate": 8.3,
    "satisfaction_rate": 80.0,
    "real_name_rate": 50.0,
}
RATINGS = ("satisfied", "basically_satisfied", "satisfied", "satisfied", "dissatisfied")


@dataclass
class Handled:
    office: Office
    q3: list[str] = field(default_factory=list)


def at(o: Office, y: int, m: int, d: int, hh: int = 10) -> None:
    o.clock.at = datetime(y, m, d, hh, 0, tzinfo=CHINA)


async def act(o: Office, who: str, case_no: str, **body: Any) -> None:
    status, doc = await o.act(who, case_no, **body)
    assert status == 200, doc


async def file_many(o: Office, n: int, y: int, m: int, d: int) -> list[tuple[str, str]]:
    at(o, y, m, d)
    return [await o.file() for _ in range(n)]


async def handle(o: Office) -> Handled:
    data = Handled(o)
    await file_many(o, 5, 2024, 8, 5)
    await file_many(o, 6, 2025, 6, 10)
    at(o, 2025, 9, 1)
    await o.login("county_reg")
    await o.login("county_sup")
    filed = [await o.file(real_name=i % 2 == 0) for i in range(12)]
    data.q3 = [c for c, _ in filed]
    for i, (case_no, _) in enumerate(filed):
        await o.triaged(case_no, duplicate_of=data.q3[0] if i in (9, 10) else None)
        await act(o, "county_reg", case_no, action="register")
    for i in (9, 10):
        await act(o, "county_reg", data.q3[i], action="transfer", to_unit=TOWN)
    await act(o, "county_reg", data.q3[11], action="merge", target=data.q3[0])
    for day, which in ((2, range(6)), (5, range(6, 9))):
        at(o, 2025, 9, day)
        await o.login("county_reg")
        for i in which:
            await act(o, "county_reg", data.q3[i], action="accept")
    at(o, 2025, 9, 11)
    await o.login("county_sup")
    for i in range(5):
        await act(
            o,
            "county_sup",
            data.q3[i],
            action="close",
            outcome="checked_conclusion",
            confirm=True,
            text="经核查，已处理。",
        )
    at(o, 2025, 9, 12)
    for (_, code), rating in zip(filed, RATINGS, strict=False):
        resp = await o.client.post("/api/v1/feedback", json={"query_code": code, "rating": rating})
        assert resp.status == 201, await resp.text()
    at(o, 2025, 10, 10)
    return data
