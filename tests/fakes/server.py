"""The whole server with the WeChat and Weibo channels configured against the local fakes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import channels
from server.app import Services, build_app, services_of
from server.config import Settings
from tests.fakes import wechat, weibo

WEB_URL = "https://jb.example.gov.cn"
CODE = re.compile(r"查询码：(\d{16})")
CASE = re.compile(r"案件编号：(\S+)")


def receipt_of(reply: str | None) -> tuple[str, str]:
    """(case number, query code) from a platform channel's filing reply."""
    assert reply is not None
    case, code = CASE.search(reply), CODE.search(reply)
    assert case and code, reply
    return case.group(1), code.group(1)


async def count_rows(services: Services, table: str) -> int:
    async with services.db.read_engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608


class SteppedClock:
    """The time the test started, moved on only by the test (past a job's backoff), so that a
    retry comes due when the test says and never while it runs. The platforms' signed timestamps
    (real time) stay within their windows of minutes."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class Platforms:
    client: Any
    services: Services
    wechat_api: wechat.FakeWeChatApi
    weibo_api: weibo.FakeWeiboApi
    wx: wechat.WeChatDriver
    wb: weibo.WeiboDriver


def platform_env(wechat_base: str = "", weibo_base: str = "", *, outbound: bool = True) -> dict[str, str]:
    env = {
        "INTAKE_WECHAT_TOKEN": wechat.TOKEN,
        "INTAKE_WECHAT_ENCODING_AES_KEY": wechat.AES_KEY,
        "INTAKE_WECHAT_APP_ID": wechat.APP_ID,
        "INTAKE_WEIBO_APP_SECRET": weibo.APP_SECRET,
        "INTAKE_PUBLIC_URL": WEB_URL,
    }
    if outbound:
        env |= {
            "INTAKE_WECHAT_APP_SECRET": wechat.APP_SECRET,
            "INTAKE_WECHAT_API_BASE": wechat_base,
            "INTAKE_WEIBO_ACCESS_TOKEN": weibo.ACCESS_TOKEN,
            "INTAKE_WEIBO_API_BASE": weibo_base,
        }
    return env


async def start_platforms(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    db_url: str,
    *,
    outbound: bool = True,
    clock: Any = None,
    **extra: str,
) -> Platforms:
    wechat_api, weibo_api = wechat.FakeWeChatApi(), weibo.FakeWeiboApi()
    wx_server = await aiohttp_server(wechat_api.app())
    wb_server = await aiohttp_server(weibo_api.app())
    env = platform_env(str(wx_server.make_url("")), str(wb_server.make_url("")), outbound=outbound)
    settings = make_settings(INTAKE_DATABASE_URL=db_url, **env, **extra)
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return Platforms(
        client,
        services_of(client.app),
        wechat_api,
        weibo_api,
        wechat.WeChatDriver(client),
        weibo.WeiboDriver(client),
    )
