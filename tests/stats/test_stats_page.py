"""``/console/stats`` over HTTP: the table, the SVG chart and the alerts with links to the cases,
in Chinese, without JavaScript; bad input shows the form again with the reason."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import console_get, console_login
from tests.stats.conftest import TODAY, Dataset

pytestmark = pytest.mark.asyncio


async def test_stats_page(dataset: Dataset) -> None:
    o = dataset.office
    await console_login(o, "county_sup")
    status, html = await console_get(o, "/console/stats?from=2025-08-28&to=2025-09-26&by1=category")
    assert status == 200, html
    assert '<a href="/console/stats">统计与预警</a>' in html  # the nav link
    assert "统计分析与风向标" in html and "<script" not in html
    assert re.search(r'<span id="total">266</span>', html)
    chart = html[html.index("<svg") : html.index("</svg>")]
    assert chart.count('<g class="bar') == 4 and "低保" in chart and "土地" not in chart
    # The spike, with a link to each of its thirty cases.
    alerts = html[html.index('id="alerts"') :]
    assert "突增" in alerts and "黄兴镇" in alerts and "泊松检验" in alerts
    for case_no in dataset.spike:
        assert f'href="/console/cases/{case_no}"' in alerts
    assert "13912345678" not in html

    status, html = await console_get(o, "/console/stats?by1=channel&by2=category&to=2025-09-26")
    assert status == 200 and "&lt;5" in html and 'class="bar withheld"' in html  # the letter

    for query, message in [
        ("from=2025-09-20&to=2025-09-10", "开始日期不能晚于结束日期"),
        ("to=2025-09-27", "结束日期不能晚于今天"),
        ("by=colour", "未知的统计维度"),
        ("from=2025-02-30", "日期无效"),
    ]:
        status, html = await console_get(o, f"/console/stats?{query}")
        assert status == 422 and message in html and 'id="error"' in html, query
        assert "<svg" not in html and "没有收到信访举报" not in html  # never an empty table

    await console_login(o, "nx_sup")
    status, html = await console_get(o, f"/console/stats?by1=category&to={TODAY}")
    assert status == 200 and '<span id="total">12</span>' in html and "低保" not in html
    assert "暂无预警" in html
