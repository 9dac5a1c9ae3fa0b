"""The staff console (the back office): the staff JSON API under ``/api/v1/staff/`` (bearer tokens
after a password + TOTP login), the informant's recusal request, and the server-rendered console
pages under ``/console`` (a session cookie carrying the same kind of token). Not a channel: it is
mounted always by the composition root (``server.app``) with a :class:`ConsoleContext` of the
services it uses; every route but login checks a token. Letters and visits it registers are filed
through the intake pipeline like any report."""

from aiohttp import web

from console.api import ConsoleAdapter
from console.context import NAME, ConsoleContext
from console.pages import ConsolePages

__all__ = ["NAME", "ROUTE_PREFIXES", "Console", "ConsoleContext"]

# Where the console's routes live: the staff API, the informant's recusal request, the pages.
ROUTE_PREFIXES = ("/api/v1/staff", "/api/v1/recusals", "/console")


class Console:
    """The staff API and the console pages, mounted together."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.api = ConsoleAdapter(ctx)
        self.pages = ConsolePages(ctx)

    def routes(self) -> list[web.AbstractRouteDef]:
        return self.api.routes() + self.pages.routes()
