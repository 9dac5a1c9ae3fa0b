"""What the staff console may use: the services of the back office, handed over once when the
composition root (``server.app``) mounts it, never looked up per request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from intake.clock import Clock
from intake.errors import IntakeError
from intake.held_scans import HeldScans
from intake.informant import InformantDesk
from intake.interchange.exporter import ExportService
from intake.metrics import Metrics
from intake.notifier import Notifier
from intake.pipeline import Pipeline
from intake.ratelimit import client_address
from intake.staff import StaffService
from intake.stats import StatsService
from intake.stats_measures import MeasuresService
from intake.stats_report import ReportService
from intake.triage_service import TriageService
from intake.urging import UrgingService
from intake.workflow import Workflow

NAME = "console"


@dataclass(frozen=True)
class ConsoleContext:
    """The console's services: staff accounts, the case workflow (search included), triage review,
    the notifier's dead letters, and the pipeline through which letters and visits are filed."""

    pipeline: Pipeline
    staff: StaffService
    workflow: Workflow
    triage: TriageService
    notifier: Notifier
    metrics: Metrics
    clock: Clock
    max_json_bytes: int
    max_file_bytes: int
    max_files: int
    trust_forwarded_for: bool
    # The deployment is served over HTTPS (``INTAKE_PUBLIC_URL``): cookies are marked Secure.
    https: bool
    # Data out (exports of the cases in sight) and the scans kept between OCR and filing (issue 22).
    exports: ExportService
    held_scans: HeldScans
    # Statistics and early warning (issue 18).
    stats: StatsService
    # The informant's ratings and review requests, shown on the case (issue 17).
    informant: InformantDesk | None = None
    # Measures beyond counts and the periodic reports upward (issue 18).
    measures: MeasuresService | None = None
    reports: ReportService | None = None
    # Colour-coded deadlines, the staff inbox and supervision notices (issue 18).
    urging: UrgingService | None = None

    def require_urging(self) -> UrgingService:
        """The alert service, or a 503 (with Retry-After, as every 503) while it is not running:
        for the console's inbox and the staff API's alike."""
        if self.urging is None:
            raise IntakeError(
                "提醒服务暂不可用，请稍后再试。", code="urging_unavailable", status=503, retry_after=60
            )
        return self.urging

    def client_key(self, request: web.Request) -> str:
        """A keyed hash of the client's address, for rate limits; the address itself is never kept."""
        return self.pipeline.mac("client", client_address(request, self.trust_forwarded_for).encode())

    def sign(self, purpose: str, data: bytes) -> str:
        return self.pipeline.mac(f"channel/{NAME}/{purpose}", data)
