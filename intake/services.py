"""The services one application holds, as the composition root (``server.app``) builds them, and how
the parts above intake find them on the aiohttp application.

Nothing here builds anything: :func:`server.app.open_services` does, from the server's settings.
The settings are seen through :class:`ServiceSettings`, the few deployment-wide values the parts
read, so that intake never imports the root.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from intake.clock import Clock
from intake.edge import HtmlErrorRenderer
from intake.informant import InformantDesk
from intake.jobs import JobWorker
from intake.metrics import Metrics
from intake.notifier import Notifier
from intake.pipeline import Pipeline
from intake.staff import StaffService
from intake.triage_service import TriageService
from intake.urging import UrgingService
from intake.workflow import Workflow
from storage.database import Database


class ServiceSettings(Protocol):
    """The deployment-wide settings the parts above intake read (``server.config.Settings``)."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def public_url(self) -> str: ...
    @property
    def hotline(self) -> str: ...
    @property
    def trust_forwarded_for(self) -> bool: ...


@dataclass
class Services:
    settings: ServiceSettings
    db: Database
    pipeline: Pipeline
    worker: JobWorker
    metrics: Metrics
    clock: Clock
    mounted: list[str]
    triage: TriageService
    notifier: Notifier
    # The case workflow and staff accounts (issue 8).
    staff: StaffService | None = None
    workflow: Workflow | None = None
    # What an informant does with a query code besides reading it: rate, ask for review (issue 17).
    informant: InformantDesk | None = None
    # Colour-coded deadlines, the staff inbox and mail (issue 18).
    urging: UrgingService | None = None


SERVICES = web.AppKey("services", Services)

HTML_ERRORS: web.AppKey[HtmlErrorRenderer] = web.AppKey("html_errors")


async def triage_text(services: Services, text: str, channel: str = "video") -> dict[str, Any]:
    """Triage a text that is not (yet) a report, e.g. a video reception booking routed by the
    accused's rank. Runs in a worker thread (jieba); nothing is stored or indexed."""
    import triage

    def run() -> dict[str, Any]:
        jurisdiction = _triage_jurisdiction(services)
        result: dict[str, Any] = triage.triage(text, channel=channel, jurisdiction=jurisdiction).to_json()
        return result

    return await asyncio.to_thread(run)


def warm_triage_text(services: Services) -> None:
    """Load what :func:`triage_text` needs in this process — triage's jieba dictionary, the
    gazetteer, the category rules, the jurisdiction's index — now, at server start-up (off the
    loop), instead of in the first video reception booking: that took about two seconds (issue 20,
    ``bench/reception_first_call.py``). About 110 MiB of this process's memory, which the first
    booking would take anyway."""
    import triage

    triage.warm_up(_triage_jurisdiction(services))


def _triage_jurisdiction(services: Services) -> Any:
    import triage

    document = services.pipeline.jurisdiction.document
    with _TRIAGE_LOCK:  # the start-up warming and a first booking's thread build one, not two
        cached = _TRIAGE_JURISDICTIONS.get(id(document))
        if cached is None:
            cached = _TRIAGE_JURISDICTIONS[id(document)] = triage.Jurisdiction.from_dict(document)
    return cached


_TRIAGE_JURISDICTIONS: dict[int, Any] = {}
_TRIAGE_LOCK = threading.Lock()


def services_of(app: web.Application) -> Services:
    return app[SERVICES]


def notifier_of(app: web.Application) -> Notifier:
    """The notifier that sends replies and status changes to informants over their channel."""
    return services_of(app).notifier


def set_html_error_renderer(app: web.Application, renderer: HtmlErrorRenderer) -> None:
    """Channels serving pages (the web form) register a renderer for friendly error pages."""
    app[HTML_ERRORS] = renderer
