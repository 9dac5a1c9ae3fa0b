"""Per-unit platform accounts (issue 16): a WeChat official account, a Weibo account or a Twilio
number configured for a unit files to that unit, on SQLite and PostgreSQL; a setting naming no
unit of the platform stops the server at start with the variable named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import channels
from server.app import build_app
from server.config import Settings
from tests.fakes import twilio
from tests.fakes.server import platform_env, receipt_of, start_platforms
from tests.fakes.twilio import start_hotline, twilio_env

OPENID, UID = "oWx_UnitAccount_0001", 2489518299
WECHAT_UNIT, WEIBO_UNIT, NUMBER_UNIT, HOTLINE_UNIT = "430121102", "430121104", "430181102", "430181001"
# The tree is a test file (长沙市 with two of its counties), whatever the embedded default.
TREE = {
    "INTAKE_JURISDICTION_FILE": str(
        Path(__file__).parent.parent / "fixtures" / "jurisdiction" / "two_counties.json"
    )
}
OTHER_NUMBER = "+8673112388001"


def unit_of(case_no: str) -> str:
    return case_no.split("-")[1]


async def test_wechat_and_weibo_accounts_file_to_their_units(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    p = await start_platforms(
        aiohttp_client,
        aiohttp_server,
        make_settings,
        db_url,
        INTAKE_WECHAT_UNIT=WECHAT_UNIT,
        INTAKE_WEIBO_UNIT=WEIBO_UNIT,
        **TREE,
    )
    case_no, _ = receipt_of(await p.wx.text(OPENID, "举报 黄兴镇某村村委会主任挪用扶贫资金"))
    assert unit_of(case_no) == WECHAT_UNIT
    assert (await p.services.db.reports.get(case_no)).receiving_unit == WECHAT_UNIT
    # The guided dialogue files to the same unit.
    await p.wx.text(OPENID, "举报")
    await p.wx.text(OPENID, "村会计虚报冒领补贴")
    await p.wx.text(OPENID, "跳过")
    await p.wx.text(OPENID, "没有")
    await p.wx.text(OPENID, "匿名")
    guided, _ = receipt_of(await p.wx.text(OPENID, "确认"))
    assert unit_of(guided) == WECHAT_UNIT
    case_no, _ = receipt_of(await p.wb.text(UID, "举报 江背镇某站站长违规收受购物卡"))
    assert unit_of(case_no) == WEIBO_UNIT
    assert (await p.services.db.reports.get(case_no)).receiving_unit == WEIBO_UNIT


async def test_without_a_unit_setting_the_accounts_file_to_the_receiving_unit(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Path
) -> None:
    url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    p = await start_platforms(aiohttp_client, aiohttp_server, make_settings, url, **TREE)
    case_no, _ = receipt_of(await p.wx.text(OPENID, "举报 某镇干部违规收受礼金"))
    assert unit_of(case_no) == "4301"


async def test_twilio_numbers_file_to_their_units(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> None:
    h = await start_hotline(
        aiohttp_client,
        aiohttp_server,
        make_settings,
        db_url,
        INTAKE_TWILIO_UNIT=HOTLINE_UNIT,
        INTAKE_TWILIO_NUMBER_UNITS=f"{twilio.HOTLINE}={NUMBER_UNIT}, {OTHER_NUMBER}={WECHAT_UNIT}",
        **TREE,
    )
    _, replies = await h.driver.sms("举报 黄花镇某村支书优亲厚友")
    assert unit_of(twilio.receipt_of(replies[0])[0]) == NUMBER_UNIT
    params = h.driver.sms_params("举报 黄兴镇某站长收受礼金") | {"To": OTHER_NUMBER}
    resp = await h.driver.post("/channels/twilio/sms", params)
    assert unit_of(twilio.receipt_of(twilio.messages(await resp.text())[0])[0]) == WECHAT_UNIT
    params = h.driver.sms_params("举报 春华镇某干部违规操办婚宴") | {"To": "+8673112388999"}
    resp = await h.driver.post("/channels/twilio/sms", params)
    assert unit_of(twilio.receipt_of(twilio.messages(await resp.text())[0])[0]) == HOTLINE_UNIT

    call = h.driver.call()  # to the hotline number: that number's unit
    await call.start()
    await call.press("1")
    assert await call.partial("乡财政所会计挪用低保资金", 1) == 200
    assert await call.hang_up() == 200
    phoned = [r for r in await h.services.db.reports.recent() if r.channel == "phone"]
    assert [r.receiving_unit for r in phoned] == [NUMBER_UNIT]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"INTAKE_WECHAT_UNIT": "999999"}, "INTAKE_WECHAT_UNIT"),
        ({"INTAKE_WEIBO_UNIT": "43"}, "INTAKE_WEIBO_UNIT"),  # above the platform's receiving unit
        ({"INTAKE_TWILIO_UNIT": "999999"}, "INTAKE_TWILIO_UNIT"),
        ({"INTAKE_TWILIO_NUMBER_UNITS": "+8673112388000=999999"}, "INTAKE_TWILIO_NUMBER_UNITS"),
        ({"INTAKE_TWILIO_NUMBER_UNITS": "12388=430121102"}, "INTAKE_TWILIO_NUMBER_UNITS"),
    ],
)
async def test_a_unit_setting_naming_no_unit_stops_the_server(
    aiohttp_client: Any, make_settings: Callable[..., Settings], env: dict[str, str], named: str
) -> None:
    settings = make_settings(**(platform_env() | twilio_env("http://127.0.0.1:9") | TREE | env))
    with pytest.raises(SystemExit) as stopped:
        await aiohttp_client(build_app(settings, channels.REGISTRY, run_worker=False))
    assert named in str(stopped.value)
