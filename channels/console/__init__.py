"""The ``console`` channel: how staff reach the system — the staff JSON API under
``/api/v1/staff/`` (bearer tokens after a password + TOTP login), the informant's recusal
request, and the server-rendered console pages under ``/console`` (a session cookie carrying the
same kind of token). Mounted always: it needs no platform secret, and every route but login checks
a token."""

from aiohttp import web

from channels.base import ChannelContext, ChannelSpec
from channels.console.api import ConsoleAdapter
from channels.console.pages import ConsolePages


class Console:
    """The staff API and the console pages, mounted together."""

    def __init__(self, ctx: ChannelContext) -> None:
        self.api = ConsoleAdapter(ctx)
        self.pages = ConsolePages(ctx)

    def routes(self) -> list[web.AbstractRouteDef]:
        return self.api.routes() + self.pages.routes()


SPEC = ChannelSpec(
    name="console",
    title="工作人员平台",
    route_prefix="/api/v1/staff",
    settings_prefix="INTAKE_CONSOLE_",
    required_settings=(),
    factory=Console,
)
