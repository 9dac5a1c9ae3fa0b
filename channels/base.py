"""The shape every channel has: a ``SPEC`` naming it, and an adapter that serves its routes.

Adapters get a :class:`ChannelContext` (the pipeline and their own settings) and never see storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from intake.clock import Clock
from intake.errors import IntakeError
from intake.metrics import Metrics
from intake.pipeline import Pipeline
from intake.ratelimit import client_address


class Adapter(Protocol):
    def routes(self) -> list[web.AbstractRouteDef]: ...


@dataclass(frozen=True)
class ChannelContext:
    name: str
    pipeline: Pipeline
    settings: Mapping[str, str]
    metrics: Metrics
    clock: Clock
    max_json_bytes: int
    max_upload_bytes: int
    max_file_bytes: int
    max_files: int
    trust_forwarded_for: bool

    def client_key(self, request: web.Request) -> str:
        """A keyed hash of the client's address, for rate limits; the address itself is never kept."""
        return self.pipeline.mac("client", client_address(request, self.trust_forwarded_for).encode())

    def sign(self, purpose: str, data: bytes) -> str:
        return self.pipeline.mac(f"channel/{self.name}/{purpose}", data)


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


async def read_bounded_json(request: web.Request, max_bytes: int) -> bytes:
    """Read a JSON body of at most ``max_bytes``: 415 for another type, 413 when too large."""
    if request.content_type != "application/json":
        raise IntakeError("请求体应为 application/json。", code="unsupported_media_type", status=415)
    if request.content_length is not None and request.content_length > max_bytes:
        raise IntakeError(f"请求体超过 {max_bytes} 字节的上限。", code="payload_too_large", status=413)
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise IntakeError(f"请求体超过 {max_bytes} 字节的上限。", code="payload_too_large", status=413)
    return raw


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """400 for malformed JSON, 422 for JSON that is not an object."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise IntakeError("请求体不是有效的 JSON。", code="malformed_json", status=400) from None
    if not isinstance(doc, dict):
        raise IntakeError("请求体应为 JSON 对象。", code="invalid_body", status=422)
    return doc


def json_response(
    doc: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        doc, status=status, headers=headers, dumps=lambda d: json.dumps(d, ensure_ascii=False)
    )
