"""The issue's "done when" for statistics: a month of reports across units, places, categories and
channels with one injected spike — correct counts in each viewer's scope, small counts withheld
and not derivable, the spike in the alerts with its reports."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stats.conftest import OTHER_COUNTY, SPIKE_CATEGORY, SPIKE_PLACE, TODAY, Dataset

pytestmark = pytest.mark.asyncio

COUNTY_UNITS = {"430121", SPIKE_PLACE}  # what the county supervisor's cases are owned by here
ALL = {"430121", SPIKE_PLACE, OTHER_COUNTY}
MONTH = "from=2025-08-28&to=2025-09-26"


async def stats(data: Dataset, who: str, query: str) -> dict[str, Any]:
    status, body = await data.office.get(who, f"/api/v1/staff/stats?{MONTH}&{query}")
    assert status == 200, body
    return body


def check_table(body: dict[str, Any], truth: dict[tuple[Any, ...], int], by: list[str]) -> None:
    """Every shown count is true, every true count under 5 is withheld, no row is invented, the
    total is the truth's."""
    got = {tuple(r[f] for f in by): r["count"] for r in body["rows"]}
    assert set(got) == set(truth)
    for key, n in truth.items():
        if n < 5:
            assert got[key] == "<5", (key, n)
        else:
            assert got[key] in (n, "<5"), (key, n, got[key])
    assert body["total"] == sum(truth.values())


async def test_counts_in_each_scope(dataset: Dataset) -> None:
    o = dataset.office
    for who in ("county_sup", "city_sup", "nx_sup", "town_sup"):
        await o.login(who)
    city = await stats(dataset, "city_sup", "by=category")
    assert city["total"] == len(dataset.reports) == 278
    check_table(city, dataset.expected(ALL, "category"), ["category"])

    county = await stats(dataset, "county_sup", "by=category")
    assert county["total"] == 278 - 12
    assert "土地" not in {r["category"] for r in county["rows"]}  # the other county's cases
    check_table(county, dataset.expected(COUNTY_UNITS, "category"), ["category"])

    other = await stats(dataset, "nx_sup", "by=category,place")
    assert other["rows"] == [{"category": "土地", "place": "430121107", "count": 12}]
    assert other["total"] == 12
    status, body = await o.get("nx_sup", "/api/v1/staff/stats?unit=430121")
    assert status == 403 and body["error"]["code"] == "unit_out_of_scope"

    town = await stats(dataset, "town_sup", "by=category")
    assert town["rows"] == [{"category": SPIKE_CATEGORY, "count": 30}] and town["total"] == 30

    # The county supervisor narrowed to one township: the same as that township's own view.
    narrowed = await stats(dataset, "county_sup", f"by=category&unit={SPIKE_PLACE}")
    assert narrowed["rows"] == town["rows"]

    fine = await stats(dataset, "county_sup", "by=place,category")
    check_table(fine, dataset.expected(COUNTY_UNITS, "place", "category"), ["place", "category"])


async def test_periods_and_other_groupings(dataset: Dataset) -> None:
    o = dataset.office
    await o.login("county_sup")
    weeks = await stats(dataset, "county_sup", "by=week")
    truth: dict[tuple[Any, ...], int] = {}
    for r in dataset.reports:
        if r.owner in COUNTY_UNITS:
            year, week, _ = r.day.isocalendar()
            key = (f"{year}-W{week:02d}",)
            truth[key] = truth.get(key, 0) + 1
    check_table(weeks, truth, ["week"])
    months = await stats(dataset, "county_sup", "by=month,anonymous")
    got = {(r["month"], r["anonymous"]): r["count"] for r in months["rows"]}
    # The three real-name reports are withheld; so is September's anonymous count (the month's
    # total, by=month, would give them away), and then August's (the anonymous total, by=anonymous,
    # would give September's away): a 2 × 2 table with one small cell is withheld whole.
    assert got == {
        ("2025-08", "anonymous"): "<5",
        ("2025-09", "anonymous"): "<5",
        ("2025-09", "real_name"): "<5",
    }
    by_month = await stats(dataset, "county_sup", "by=month")
    assert [r["count"] for r in by_month["rows"]] == [
        sum(1 for r in dataset.reports if r.owner in COUNTY_UNITS and r.day.month == m) for m in (8, 9)
    ]
    assert months["total"] == 266
    owners = await stats(dataset, "county_sup", "by=owner_unit,channel")
    assert {r["owner_unit"] for r in owners["rows"]} == COUNTY_UNITS


def lines(
    rows: list[dict[str, Any]], by: list[str], along: str
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r[f] for f in by if f != along), []).append(r)
    return out


async def test_differencing_reveals_no_small_count(dataset: Dataset) -> None:
    """The attacker's two queries: the total (or a query by fewer fields) minus the shown cells of
    the same line. What is left must never be one withheld cell, nor a sum under 5."""
    o = dataset.office
    await o.login("county_sup")
    by = ["channel", "category"]
    fine = await stats(dataset, "county_sup", "by=channel,category")
    assert any(r["count"] == "<5" for r in fine["rows"])  # the letter, at least
    attacks = 0
    for along, coarse_by in (("category", "channel"), ("channel", "category")):
        coarse = await stats(dataset, "county_sup", f"by={coarse_by}")
        margins = {(r[coarse_by],): r["count"] for r in coarse["rows"]}
        for key, line in lines(fine["rows"], by, along).items():
            withheld = [r for r in line if r["count"] == "<5"]
            if not withheld or margins[key] == "<5":
                continue
            attacks += 1
            left = margins[key] - sum(r["count"] for r in line if r["count"] != "<5")
            assert len(withheld) >= 2 and left >= 5, (key, line, margins[key])
    for body in [fine, await stats(dataset, "county_sup", "by=channel")]:
        withheld = [r for r in body["rows"] if r["count"] == "<5"]
        left = body["total"] - sum(r["count"] for r in body["rows"] if r["count"] != "<5")
        assert not withheld or (len(withheld) >= 2 and left >= 5)
        attacks += 1
    assert attacks >= 3


async def test_the_spike_and_the_other_alerts(dataset: Dataset) -> None:
    o = dataset.office
    for who in ("county_sup", "town_sup", "nx_sup"):
        await o.login(who)
    status, body = await o.get("county_sup", f"/api/v1/staff/stats/alerts?date={TODAY}")
    assert status == 200, body
    spikes = [a for a in body["alerts"] if a["kind"] == "spike"]
    assert [(a["place"], a["category"]) for a in spikes] == [(SPIKE_PLACE, SPIKE_CATEGORY)]
    assert set(dataset.spike) <= set(spikes[0]["reports"]) and spikes[0]["count"] >= 30
    assert spikes[0]["p_value"] < 0.001
    accused = [a for a in body["alerts"] if a["kind"] == "accused"]
    assert len(accused) == 1 and sorted(accused[0]["reports"]) == sorted(dataset.spike)
    assert "王五" in accused[0]["reason"] and "3 个渠道" in accused[0]["reason"]
    repeat = [a for a in body["alerts"] if a["kind"] == "repeat_informant"]
    assert [sorted(a["reports"]) for a in repeat] == [sorted(dataset.repeat)]
    assert "13912345678" not in str(body) and "李四" not in str(body)

    # Hot words: the spike's accused, in the texts as stored (redacted) and indexed.
    hot = {a["reason"].split("「")[1].split("」")[0]: a for a in body["alerts"] if a["kind"] == "hot_word"}
    assert "王五" in hot and sorted(hot["王五"]["reports"]) == sorted(dataset.spike)
    assert len(hot) <= 10 and all(a["p_value"] < 0.001 and a["count"] >= 5 for a in hot.values())

    # The township sees its own spike; the other county nothing of it.
    _, town = await o.get("town_sup", f"/api/v1/staff/stats/alerts?date={TODAY}")
    assert [sorted(a["reports"]) for a in town["alerts"] if a["kind"] == "spike"] == [sorted(dataset.spike)]
    _, other = await o.get("nx_sup", f"/api/v1/staff/stats/alerts?date={TODAY}")
    assert other["alerts"] == []
    # A day without the spike: the background never alerts.
    _, before = await o.get("county_sup", f"/api/v1/staff/stats/alerts?date={TODAY.replace(day=25)}")
    assert [a for a in before["alerts"] if a["kind"] in ("spike", "hot_word")] == []
    print("\nhot words:", sorted(hot))
    status, body = await o.get("county_sup", "/api/v1/staff/stats/alerts?date=2025-09-27")
    assert status == 422 and body["error"]["code"] == "future_date"
