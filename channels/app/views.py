"""The mobile-app and generic JSON API: file a report, read its status, add information."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels.app import schema
from channels.app.openapi import OPENAPI
from channels.base import ChannelContext, json_response, parse_json_object, read_bounded_json
from channels.verify import SignatureReplays, verify_app_signature
from intake.domain import CaseStatus, Submission, format_query_code
from intake.errors import IntakeError
from intake.pipeline import MAX_CONTENT

IDEMPOTENCY_HEADER = "Idempotency-Key"


class AppAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        # With a signing secret configured every request must be signed; without one the API is
        # open like the web form (citizens' apps cannot keep a secret anyway).
        self.secret = ctx.settings.get("HMAC_SECRET")
        self.replays = SignatureReplays()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post("/api/v1/reports", self.create_report),
            web.post("/api/v1/status", self.status),
            web.post("/api/v1/followups", self.followup),
            web.get("/api/v1/openapi.json", self.openapi),
        ]

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await read_bounded_json(request, self.ctx.max_json_bytes)
        if self.secret is not None:
            self._check_signature(request, raw)
        return parse_json_object(raw)

    def _check_signature(self, request: web.Request, raw: bytes) -> None:
        """The signature covers the time, the Idempotency-Key and the body, and is accepted once."""
        now = self.ctx.clock.now().timestamp()
        header, key = request.headers.get("X-Intake-Signature"), request.headers.get(IDEMPOTENCY_HEADER, "")
        signed = verify_app_signature(self.secret or "", header, key, raw, now)
        verdict = "invalid" if signed is None else self.replays.admit(*signed, now)
        if verdict == "fresh":
            return
        self.ctx.metrics.channel_events.labels("app", "rejected").inc()
        if verdict == "replayed":
            raise IntakeError("该请求签名已使用过，请重新签名后发送。", code="signature_replayed", status=401)
        if verdict == "full":
            raise IntakeError("服务繁忙，请稍后再试。", code="busy", status=503, retry_after=1)
        raise IntakeError("请求签名无效。", code="invalid_signature", status=401)

    async def create_report(self, request: web.Request) -> web.Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
            raise IntakeError(
                "Idempotency-Key 应为 1 至 200 个可打印 ASCII 字符。",
                code="invalid_idempotency_key",
                status=400,
            )
        doc = await self._body(request)
        sub = Submission(
            channel="app",
            content=schema.content(doc, MAX_CONTENT),
            title=schema.optional_str(doc, "title", 200),
            category=schema.optional_str(doc, "category", 64),
            accused=schema.accused(doc),
            location=schema.location(doc),
            reporter=schema.reporter(doc),
            anonymous=schema.anonymous(doc),
            external_id=key,
            handles=schema.handles(doc, request.remote or "unknown"),
        )
        receipt = await self.ctx.pipeline.accept(sub)
        body = {
            "case_no": receipt.case_no,
            "query_code": receipt.query_code,
            "query_code_display": format_query_code(receipt.query_code) if receipt.query_code else None,
            "channel": receipt.channel,
            "status": receipt.status,
            "received_at": receipt.received_at.isoformat(),
        }
        if receipt.created:
            return json_response(body, status=201)
        return json_response(body, status=200, headers={"Idempotent-Replayed": "true"})

    async def status(self, request: web.Request) -> web.Response:
        doc = await self._body(request)
        found = await self.ctx.pipeline.status(schema.query_code(doc), self.ctx.client_key(request))
        return json_response(render_status(found), headers={"Cache-Control": "no-store"})

    async def followup(self, request: web.Request) -> web.Response:
        doc = await self._body(request)
        code = schema.query_code(doc)
        text = schema.content(doc, MAX_CONTENT)
        case_no = await self.ctx.pipeline.add_followup(code, text, "app", self.ctx.client_key(request))
        return json_response({"case_no": case_no, "status": "added"}, status=201)

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(OPENAPI)


def render_status(found: CaseStatus) -> dict[str, object]:
    return {
        "case_no": found.case_no,
        "channel": found.channel,
        "status": found.status,
        "status_label": found.status_label,
        "received_at": found.received_at.isoformat(),
        "updated_at": found.updated_at.isoformat(),
        "replies": [{"at": r.at.isoformat(), "text": r.text} for r in found.replies],
        "followups": found.followups,
    }
