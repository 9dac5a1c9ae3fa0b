"""Video reception sessions (视频接访): township rooms, county officers and county oversight.

Mounted by the composition root (:func:`server.app.build_app`) as a *feature*: :func:`feature`
makes one per application. It files ``video`` reports through :mod:`intake.pipeline`; see
``docs/reception.md``.
"""

from __future__ import annotations

from aiohttp import web

from intake.clock import Clock
from intake.reception import ReceptionContext, ReceptionService, RoomTokens
from video_reception.rooms import RoomHub


class ReceptionFeature:
    """Video reception's pages, API and signaling. The composition root asks it for the room hub
    (:meth:`make_hub`), builds the service around it and mounts it with a :class:`ReceptionContext`."""

    name = "reception"

    def __init__(self) -> None:
        self.service: ReceptionService | None = None
        self.hub: RoomHub | None = None

    def make_hub(self, tokens: RoomTokens, clock: Clock, grace: float) -> RoomHub:
        self.hub = RoomHub(tokens, clock, grace=grace)
        return self.hub

    def mount(self, app: web.Application, ctx: ReceptionContext) -> None:
        from video_reception.views import ReceptionViews

        assert self.hub is not None, "make_hub comes first"
        self.service = ctx.service
        app.router.add_routes(ReceptionViews(ctx, self.hub.handle).routes())
        ctx.register_job("reception_reminder", ctx.service.reminder_job)
        app[RECEPTION] = self

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.close()


RECEPTION = web.AppKey("reception", ReceptionFeature)


def feature() -> ReceptionFeature:
    return ReceptionFeature()
