"""Video reception sessions (视频接访): township rooms, county officers and county oversight.

Mounted by the composition root (:func:`server.app.build_app`) as a *feature*: :func:`feature`
makes one per application. It files ``video`` reports through :mod:`intake.pipeline`; see
``docs/reception.md``.
"""

from __future__ import annotations

from aiohttp import web

from intake.clock import Clock
from intake.reception import ReceptionContext, ReceptionService, RoomTokens
from intake.reception.room_bus import RoomBus
from video_reception.rooms import RoomHub
from video_reception.shared_rooms import SharedRoomHub


class ReceptionFeature:
    """Video reception's pages, API and signaling. The composition root asks it for the room hub
    (:meth:`make_hub`), builds the service around it and mounts it with a :class:`ReceptionContext`."""

    name = "reception"

    def __init__(self) -> None:
        self.service: ReceptionService | None = None
        self.hub: RoomHub | None = None

    def make_hub(self, tokens: RoomTokens, clock: Clock, grace: float, bus: RoomBus | None = None) -> RoomHub:
        """The rooms of this process in memory, or, given the bus of several workers sharing one
        PostgreSQL database, rooms shared by all of them (:mod:`video_reception.shared_rooms`)."""
        self.hub = (
            SharedRoomHub(tokens, clock, bus, grace=grace)
            if bus is not None
            else RoomHub(tokens, clock, grace=grace)
        )
        return self.hub

    async def start(self) -> None:
        """Once mounted: a shared hub starts listening to the other workers."""
        if isinstance(self.hub, SharedRoomHub):
            await self.hub.start()

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
