"""The shape every channel has: a ``SPEC`` naming it, and an adapter that serves its routes.

Adapters get a :class:`ChannelContext`: the channel's intake (file, look up by query code, follow
up; never the pipeline itself), their own settings, and what else a channel may do (register a job
handler or a sender for notifications, a cleanup hook, the web form's error pages). They never see
storage, the services or the application. An adapter may have a ``start()``
method: the root calls it once the channel is mounted, inside the running loop.
Every body is read with :func:`read_body` (or :func:`read_bounded_json`), every JSON body parsed with
:func:`parse_json_object`, and every text field goes through the control-character policy:
:func:`check_text` refuses (citizen and staff routes), :func:`strip_controls` removes (platform
pushes). They live in ``intake`` so that ``video_reception`` shares them; channels take them from here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from intake.channel_intake import ChannelIntake
from intake.clock import Clock
from intake.edge import HtmlErrorRenderer, parse_json_object, read_body, read_bounded_json
from intake.jobs import Handler as JobHandler
from intake.metrics import Metrics
from intake.notifier import Deliver
from intake.ratelimit import client_address
from intake.text import check_text, strip_controls

__all__ = [
    "Adapter",
    "ChannelContext",
    "ChannelSpec",
    "Cleanup",
    "check_text",
    "client_address",
    "configured_unit",
    "json_response",
    "parse_json_object",
    "read_body",
    "read_bounded_json",
    "strip_controls",
]


class Adapter(Protocol):
    def routes(self) -> list[web.AbstractRouteDef]: ...


Cleanup = Callable[[], Awaitable[None]]


def _unsupported(*_args: object) -> None:
    raise RuntimeError("not available to this channel")


@dataclass(frozen=True)
class ChannelContext:
    """What a channel may use and do: file reports, look them up by query code and add follow-ups
    (``intake``, a :class:`intake.channel_intake.ChannelIntake`, never the pipeline itself), read its
    own settings section, and hook into the application through the callables below."""

    name: str
    intake: ChannelIntake
    settings: Mapping[str, str]
    metrics: Metrics
    clock: Clock
    max_json_bytes: int
    max_upload_bytes: int
    max_file_bytes: int
    max_files: int
    trust_forwarded_for: bool
    # The deployment's web address and hotline, named in the platform channels' privacy notice.
    public_url: str = ""
    hotline: str = "12388"
    # register_job(kind, handler): a durable job kind this channel runs (media downloads …).
    register_job: Callable[[str, JobHandler], None] = _unsupported
    # register_sender(channel_tag, deliver): how the notifier reaches informants on this channel.
    register_sender: Callable[[str, Deliver], None] = _unsupported
    # on_cleanup(fn): awaited when the application shuts down (close clients, cancel tasks).
    on_cleanup: Callable[[Cleanup], None] = _unsupported
    # set_error_page(renderer): friendly error pages for browsers (the web form).
    set_error_page: Callable[[HtmlErrorRenderer], None] = _unsupported

    def client_key(self, request: web.Request) -> str:
        """A keyed hash of the client's address, for rate limits; the address itself is never kept."""
        return self.intake.mac("client", client_address(request, self.trust_forwarded_for).encode())

    def sign(self, purpose: str, data: bytes) -> str:
        return self.intake.mac(f"channel/{self.name}/{purpose}", data)


def configured_unit(ctx: ChannelContext, key: str, value: str | None = None) -> str | None:
    """The receiving unit a platform account is configured for (``INTAKE_<CHANNEL>_<key>``, or
    ``value`` parsed from it): None when not set; a unit not on this platform stops the server
    with the variable named, never a surprise at the first report."""
    unit = value if value is not None else (ctx.settings.get(key) or None)
    if unit is not None and unit not in ctx.intake.receiving_units:
        raise SystemExit(
            f"INTAKE_{ctx.name.upper()}_{key} names {unit}, which is not a unit of this platform"
        )
    return unit


@dataclass(frozen=True)
class ChannelSpec:
    """A channel: its tag, route prefix, settings section, the settings it cannot run without."""

    name: str
    title: str
    route_prefix: str
    settings_prefix: str
    required_settings: tuple[str, ...]
    factory: Callable[[ChannelContext], Adapter]

    def missing_settings(self, section: Mapping[str, str]) -> list[str]:
        return [self.settings_prefix + k for k in self.required_settings if not section.get(k)]


def json_response(
    doc: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        doc, status=status, headers=headers, dumps=lambda d: json.dumps(d, ensure_ascii=False)
    )
