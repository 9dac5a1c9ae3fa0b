"""Video reception sessions (视频接访): township rooms, county officers and county oversight.

Mounted by the composition root (:func:`server.app.build_app`) as a *feature*: :func:`feature`
makes one per application. It files ``video`` reports through :mod:`intake.pipeline`; see
``docs/reception.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from intake.services import Services

if TYPE_CHECKING:
    from video_reception.service import ReceptionService


class ReceptionFeature:
    name = "reception"

    def __init__(self) -> None:
        self.service: ReceptionService | None = None

    def mount(self, app: web.Application, services: Services) -> None:
        from video_reception.service import ReceptionService
        from video_reception.views import ReceptionViews

        self.service = ReceptionService(services, services.settings)
        app.router.add_routes(ReceptionViews(services, self.service).routes())
        services.worker.register("reception_reminder", self.service.reminder_job)
        app[RECEPTION] = self

    async def close(self) -> None:
        if self.service is not None:
            await self.service.hub.close()


RECEPTION = web.AppKey("reception", ReceptionFeature)


def feature() -> ReceptionFeature:
    return ReceptionFeature()
