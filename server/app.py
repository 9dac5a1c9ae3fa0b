"""The aiohttp application, the composition root: the error middleware, health and metrics, the
services and job worker lifecycle, the channels it is given (the command line passes
``channels.REGISTRY``), the staff console and video reception."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from aiohttp import web

import console
import video_reception
from channels.base import ChannelContext, ChannelSpec, Cleanup
from intake import given_identity, redaction
from intake import jurisdiction as jurisdiction_mod
from intake.channel_intake import ChannelIntake
from intake.clock import Clock, SystemClock
from intake.errors import IntakeError, Unavailable
from intake.held_scans import HeldScans
from intake.informant import InformantDesk
from intake.interchange.exporter import ExportService
from intake.jobs import JobWorker, builtin_handlers
from intake.metrics import Metrics
from intake.notifier import NOTIFY_JOB, AppPushSender, Notifier
from intake.pipeline import Pipeline
from intake.reception.room_bus import RoomBus
from intake.reception.service import ReceptionContext, ReceptionService, RoomHub, room_tokens
from intake.reception.tokens import RoomTokens
from intake.services import (
    HTML_ERRORS,
    SERVICES,
    Services,
    notifier_of,
    services_of,
    set_html_error_renderer,
    triage_text,
    warm_triage_text,
)
from intake.stats import StatsService
from intake.stats_measures import MeasuresService
from intake.stats_report import ReportService
from intake.triage_service import TriageService
from intake.urging import open_urging
from intake.workflow import open_workflow
from server.config import Settings
from storage import keys, search
from storage.conversations import PURGE_EVERY, PURGE_JOB
from storage.database import Database
from storage.engines import STATEMENTS
from storage.errors import DatabaseUnavailable
from storage.reception_rooms import SharedRooms
from storage.records import JobRecord

# The application's names the parts and tests reach through the root.
__all__ = [
    "Services",
    "build_app",
    "notifier_of",
    "open_services",
    "services_of",
    "set_html_error_renderer",
    "triage_text",
]

log = logging.getLogger("server.app")


WORKER_TASK: web.AppKey[asyncio.Task[None]] = web.AppKey("worker_task")
ROLLUP_TASK: web.AppKey[asyncio.Task[None]] = web.AppKey("rollup_task")
ROLLUP_SECONDS = 5.0  # how often the statistics roll-up folds pending reports in
ROLLUP_BATCH = 250  # reports folded in one transaction of the writer (about 50 ms on SQLite)
ROLLUP_PAUSE = 0.05  # between two full batches

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_response(
    request: web.Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    renderer = request.app.get(HTML_ERRORS)
    if renderer is not None and not request.path.startswith("/api/") and request.method in ("GET", "POST"):
        accept = request.headers.get("Accept", "")
        if "text/html" in accept:
            page = renderer(request, status, code, message)
            page.headers.update(headers or {})
            return page
    return web.json_response(
        {"error": {"code": code, "message": message}},
        status=status,
        headers=headers,
        dumps=lambda d: json.dumps(d, ensure_ascii=False),
    )


def _intake_error_response(request: web.Request, exc: IntakeError) -> web.StreamResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return _error_response(request, exc.status, exc.code, exc.message, headers)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
_HTTP_MESSAGES = {404: "没有这个地址。", 405: "不支持这种请求方法。", 413: "请求体过大。"}
# Headers of aiohttp's own errors that the answer must keep: a 405 names the allowed methods.
_HTTP_KEPT_HEADERS = ("Allow",)


def _http_error_response(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    code = _HTTP_CODES.get(exc.status, "http_error")
    message = _HTTP_MESSAGES.get(exc.status, exc.reason)
    headers = {name: exc.headers[name] for name in _HTTP_KEPT_HEADERS if name in exc.headers}
    return _error_response(request, exc.status, code, message, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as ``{"error": {"code", "message"}}`` (or a page for browsers).

    An unreachable database is a 503 with ``Retry-After`` (storage logs the outage, once per
    interval). An unexpected error is logged as its type, a stable code and its frames: never its
    message, which may quote client data (``intake.logs`` writes no exception text)."""
    metrics = request.app[SERVICES].metrics
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except IntakeError as exc:
        status = exc.status
        return _intake_error_response(request, exc)
    except DatabaseUnavailable:
        unavailable = Unavailable()
        status = unavailable.status
        return _intake_error_response(request, unavailable)
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        return _http_error_response(request, exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error", extra={"route": route, "reason": "internal_error"})
        return _error_response(request, 500, "internal_error", "服务器内部错误，请稍后再试。")
    finally:
        metrics.http_requests.labels(route, str(status)).inc()
        metrics.http_latency.labels(route).observe(time.perf_counter() - started)


async def healthz(request: web.Request) -> web.Response:
    """Up (200) when the database answers; 503 saying so when it does not (for monitors and load
    balancers, so the body is plain status words)."""
    services = request.app[SERVICES]
    try:
        await services.db.ping()
    except DatabaseUnavailable:
        return web.json_response(
            {"status": "unavailable", "database": "down"},
            status=503,
            headers={"Retry-After": str(Unavailable.RETRY_AFTER)},
        )
    return web.json_response({"status": "ok", "database": "up", "channels": services.mounted})


async def metrics_view(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    services.metrics.writer_commits.set(services.db.writer.commits)
    services.metrics.writer_operations.set(services.db.writer.operations)
    services.metrics.sql_statements.set(STATEMENTS.value)
    return web.Response(
        body=services.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


SERVER_HEADER = "intake"  # aiohttp's default names its version and Python's


async def _neutral_server_header(_request: web.Request, response: web.StreamResponse) -> None:
    # on_response_prepare runs for every answer of the application, errors aiohttp raises
    # included; aiohttp fills in its own Server value only where none is set.
    response.headers["Server"] = SERVER_HEADER


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


async def open_services(settings: Settings, clock: Clock | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyring = keys.load_or_create(settings.data_dir)
    clock = clock or SystemClock()
    jurisdiction = jurisdiction_mod.load(settings.jurisdiction_file)
    db = Database(settings.database_url, keyring, settings.data_dir)
    await db.start()
    await db.units.sync(jurisdiction.units)
    metrics = Metrics()
    pipeline = Pipeline(
        db,
        jurisdiction,
        clock,
        metrics,
        status_attempts_per_minute=settings.status_attempts_per_minute,
        reports_per_informant_per_hour=settings.reports_per_informant_per_hour,
        receipt_window=timedelta(hours=settings.receipt_window_hours),
    )
    worker = JobWorker(db, clock, metrics, lease=timedelta(seconds=settings.job_lease_seconds))
    for kind, handler in builtin_handlers(db).items():
        worker.register(kind, handler)
    triage = TriageService(
        db,
        clock,
        jurisdiction.document,
        model_path=settings.triage_model,
        processes=settings.triage_processes,
    )
    # Channels with an outbound API register their sender with it when they are mounted.
    notifier = Notifier(
        db,
        clock,
        per_hour=settings.notify_per_informant_per_hour,
        public_url=settings.public_url,
        hotline=settings.hotline,
    )
    if settings.app_push_url:
        notifier.register("app", AppPushSender(settings.app_push_url))
    worker.register(NOTIFY_JOB, notifier.run_job)
    staff, workflow = open_workflow(settings, db, clock, jurisdiction.units, notifier, worker)

    async def triage_jobs(jobs: list[JobRecord]) -> list[Exception | None]:
        # Triage stores each result and the report's words for search (whatever this misses,
        # SearchIndex.catch_up indexes before the next search); then the workflow acts on it: a
        # case about the receiving commission's own head goes up, sealed, at once; a real-name
        # informant's notice deadline opens, counted from receipt.
        case_nos = [job.payload["case_no"] for job in jobs]
        outcomes = await triage.triage_reports(case_nos)
        triaged = [c for c, o in zip(case_nos, outcomes, strict=True) if not isinstance(o, Exception)]
        after = dict(zip(triaged, await workflow.after_triage_many(triaged), strict=True))
        return [o if isinstance(o, Exception) else after[c] for c, o in zip(case_nos, outcomes, strict=True)]

    worker.register_batch("triage", triage_jobs)
    now = clock.now
    # The retention sweep of the platform channels' dialogue state: each run queues the next.
    seen_for = timedelta(hours=settings.seen_message_retention_hours)
    idle_for = timedelta(days=settings.dialogue_retention_days)

    async def purge_dialogue_state(job: JobRecord) -> None:
        at = now()
        await db.conversations.purge(at, seen_for=seen_for, idle_for=idle_for, next_run=at + PURGE_EVERY)
        if db.shared_limits is not None:  # full buckets and spent values past their window
            await db.shared_limits.sweep(at.timestamp())

    worker.register(PURGE_JOB, purge_dialogue_state)
    informant = InformantDesk(pipeline, workflow, db, clock)
    urging = open_urging(settings, db, clock, workflow, worker)
    return Services(
        settings,
        db,
        pipeline,
        worker,
        metrics,
        clock,
        [],
        triage,
        notifier,
        staff,
        workflow,
        informant,
        urging,
    )


class Feature(Protocol):
    """Video reception's part (issue 9): it makes its room hub, the root builds the service around
    it (in intake) and mounts the part with a narrow context."""

    name: str

    def make_hub(
        self, tokens: RoomTokens, clock: Clock, grace: float, bus: RoomBus | None = None
    ) -> RoomHub: ...

    def mount(self, app: web.Application, ctx: ReceptionContext) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


FeatureFactory = Callable[[], Feature]
# The parts that are neither channels nor the console: video reception.
FEATURES: tuple[FeatureFactory, ...] = (video_reception.feature,)


def mount_feature(app: web.Application, feature: Feature, services: Services, settings: Settings) -> None:
    assert services.staff is not None
    tokens = room_tokens(services, settings.reception_token_minutes)
    grace = float(settings.reception_reconnect_seconds)
    # On PostgreSQL the rooms are shared by every worker of the database (issue 21); on SQLite
    # (one process) they live in this process's memory.
    bus = (
        SharedRooms(services.db, grace=grace, lease=float(settings.reception_worker_lease_seconds))
        if services.db.dialect == "postgresql"
        else None
    )
    hub = feature.make_hub(tokens, services.clock, grace, bus)
    ctx = ReceptionContext(
        service=ReceptionService(
            services,
            tokens,
            hub,
            slots=settings.reception_slots,
            ice_servers=settings.reception_ice_servers,
            max_recording_mb=settings.reception_max_recording_mb,
            server_recording=settings.reception_server_recording,
        ),
        staff=services.staff,
        mac=services.pipeline.mac,
        trust_forwarded_for=settings.trust_forwarded_for,
        https=settings.public_url.startswith("https://"),
        register_job=services.worker.register,
    )
    feature.mount(app, ctx)
    services.mounted.append(feature.name)


async def _stats_rollup(services: Services) -> None:
    """Fold the reports changed since into the statistics roll-up every few seconds
    (``storage.stats_rollup``): the counts are exact without it, reads only get slower as the
    backlog grows. One refresher at a time across processes (an advisory lock)."""
    while True:
        folded = 0
        try:
            folded = await services.db.stats.refresh(limit=ROLLUP_BATCH, batch=ROLLUP_BATCH)
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable:
            pass  # an outage, logged by storage once per interval; the backlog is folded in later
        except Exception:
            log.exception("stats roll-up refresh failed", extra={"reason": "stats_rollup_failed"})
        # A full batch: more are pending, folded next after the writer has served what queued
        # meanwhile (a refresh is one transaction of the single writer: 5,000 reports at once held
        # every filing behind it for half a second under load, the intake's p99).
        await asyncio.sleep(ROLLUP_PAUSE if folded >= ROLLUP_BATCH else ROLLUP_SECONDS)


async def _warm_up(services: Services, freeze_gc: bool) -> None:
    await asyncio.to_thread(redaction.warm_up)
    await asyncio.to_thread(given_identity.warm_up)
    await asyncio.to_thread(search.warm_up)
    if "reception" in services.mounted:
        # Bookings are routed by triage in this process: loaded now, not in the first booking.
        await asyncio.to_thread(warm_triage_text, services)
    if freeze_gc:
        gc.collect()
        gc.freeze()


def _on_cleanup(app: web.Application, fn: Cleanup) -> None:
    """A channel's cleanup hook, run with the application's own cleanup (after the services close)."""

    async def run(_app: web.Application) -> None:
        await fn()

    app.on_cleanup.append(run)


def _edge(services: Services, settings: Settings) -> dict[str, Any]:
    """What the channels and the console are given alike: the metrics, the clock, the bounds on
    bodies and files, and whether the forwarded-for header is trusted."""
    return {
        "metrics": services.metrics,
        "clock": services.clock,
        "max_json_bytes": settings.max_json_bytes,
        "max_file_bytes": settings.max_file_bytes,
        "max_files": settings.max_files,
        "trust_forwarded_for": settings.trust_forwarded_for,
    }


def mount_console(app: web.Application, services: Services, settings: Settings) -> None:
    """The staff console, with the services it uses (mounted always: it needs no platform secret)."""
    assert services.staff is not None and services.workflow is not None
    stats = StatsService(
        services.db,
        services.clock,
        services.staff,
        min_cell=settings.stats_min_cell,
        spike_min=settings.stats_spike_min,
        cache_seconds=settings.stats_cache_seconds,
    )
    measures = MeasuresService(services.db, services.staff, stats)
    ctx = console.ConsoleContext(
        pipeline=services.pipeline,
        staff=services.staff,
        workflow=services.workflow,
        triage=services.triage,
        notifier=services.notifier,
        https=settings.public_url.startswith("https://"),
        **_edge(services, settings),
        exports=ExportService(
            services.db, services.clock, {u.code: u.name for u in services.pipeline.jurisdiction.units}
        ),
        held_scans=HeldScans(services.db),
        stats=stats,
        informant=services.informant,
        measures=measures,
        reports=ReportService(services.db, services.clock, services.staff, stats, measures),
        urging=services.urging,
    )
    app.router.add_routes(console.Console(ctx).routes())
    services.mounted.append(console.NAME)
    log.info(
        f"channel {console.NAME} mounted at {console.ROUTE_PREFIXES[0]}", extra={"channel": console.NAME}
    )


def build_app(
    settings: Settings,
    specs: Sequence[ChannelSpec],
    *,
    clock: Clock | None = None,
    run_worker: bool = True,
    features: Sequence[FeatureFactory] | None = None,
    freeze_gc: bool = False,
) -> web.Application:
    """The aiohttp application. ``freeze_gc`` (for ``intake serve``, one application per process)
    moves everything loaded at start-up out of the cyclic collector's sight once warm: jieba's
    dictionaries and the rest live as long as the process, and walking them made every full
    collection a ~40 ms pause for all requests in flight."""
    app = web.Application(
        middlewares=[security_headers, error_middleware], client_max_size=settings.max_upload_bytes
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services = await open_services(settings, clock)
        app[SERVICES] = services
        for spec in specs:
            section = settings.section(spec.settings_prefix)
            missing = spec.missing_settings(section)
            if missing:
                log.info(
                    f"channel {spec.name} not mounted: {', '.join(missing)} not set",
                    extra={"channel": spec.name},
                )
                continue
            ctx: ChannelContext = ChannelContext(
                name=spec.name,
                intake=ChannelIntake(services.pipeline),
                informant=services.informant,
                settings=section,
                max_upload_bytes=settings.max_upload_bytes,
                **_edge(services, settings),
                public_url=settings.public_url,
                hotline=settings.hotline,
                register_job=services.worker.register,
                register_sender=services.notifier.register,
                on_cleanup=partial(_on_cleanup, app),
                set_error_page=partial(set_html_error_renderer, app),
            )
            adapter = spec.factory(ctx)
            app.router.add_routes(adapter.routes())
            start = getattr(adapter, "start", None)
            if start is not None:
                start()
            services.mounted.append(spec.name)
            log.info(f"channel {spec.name} mounted at {spec.route_prefix}", extra={"channel": spec.name})
        mount_console(app, services, settings)
        mounted_features = [factory() for factory in (FEATURES if features is None else features)]
        for feature in mounted_features:
            mount_feature(app, feature, services, settings)
            await feature.start()
        warming: asyncio.Task[None] | None = None
        if run_worker:
            # The first retention sweep, unless another worker has one queued already.
            await services.db.conversations.schedule_purge(services.clock.now(), services.clock.now())
            if services.urging is not None:
                await services.urging.start()  # the first deadline scan, unless one is queued
            app[WORKER_TASK] = asyncio.create_task(services.worker.run_forever(), name="job-worker")
            app[ROLLUP_TASK] = asyncio.create_task(_stats_rollup(services), name="stats-rollup")
        if run_worker or freeze_gc:
            # jieba's tagger (and triage, for reception bookings) loads in the background, so no
            # request waits for it; then what start-up made is frozen out of the collector.
            warming = asyncio.create_task(_warm_up(services, freeze_gc), name="warm-up")
        yield
        if warming is not None:
            warming.cancel()
        if run_worker:
            for task in (app[WORKER_TASK], app[ROLLUP_TASK]):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for feature in mounted_features:
            await feature.close()
        await services.triage.close()
        await services.db.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(_neutral_server_header)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    return app
