"""The mobile-app and generic JSON API: file a report, read its status, add information."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from channels.app import openapi, schema
from channels.base import ChannelContext, client_address, json_response, parse_json_object, read_bounded_json
from channels.schema import M, validated
from channels.verify import APP_SIGNATURE_WINDOW, SignatureNonces, signature_nonce, verify_app_signature
from intake.domain import CaseStatus, format_query_code
from intake.errors import IntakeError
from intake.informant import InformantDesk
from intake.ratelimit import clock_seconds

IDEMPOTENCY_HEADER = "Idempotency-Key"


class AppAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        # With a signing secret configured every request must be signed; without one the API is
        # open like the web form (citizens' apps cannot keep a secret anyway).
        self.secret = ctx.settings.get("HMAC_SECRET")
        # Each signature is accepted once, on whichever worker it reaches (issue 21).
        self.replays = ctx.intake.nonces("app-signature", SignatureNonces(clock_seconds(ctx.clock)))

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        """This deployment's OpenAPI document, made on first request (not at every start)."""
        divisions = self.ctx.intake.jurisdiction.divisions()
        return openapi.document(signed=self.secret is not None, divisions=divisions)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post("/api/v1/reports", self.create_report),
            web.post("/api/v1/status", self.status),
            web.post("/api/v1/followups", self.followup),
            web.post("/api/v1/feedback", self.feedback),
            web.post("/api/v1/reviews", self.review),
            web.get("/api/v1/openapi.json", self.openapi),
            web.get("/api/v1/receipt-key", self.receipt_key),
        ]

    async def _body(self, request: web.Request, model: type[M]) -> M:
        raw = await read_bounded_json(request, self.ctx.max_json_bytes)
        if self.secret is not None:
            await self._check_signature(request, raw)
        return validated(model, parse_json_object(raw))

    async def _check_signature(self, request: web.Request, raw: bytes) -> None:
        """The signature covers the time, the Idempotency-Key and the body, and is accepted once."""
        now = self.ctx.clock.now().timestamp()
        header, key = request.headers.get("X-Intake-Signature"), request.headers.get(IDEMPOTENCY_HEADER, "")
        signed = verify_app_signature(self.secret or "", header, key, raw, now)
        verdict = "invalid"
        if signed is not None:
            verdict = await self.replays.spend(signature_nonce(*signed), signed[0] + APP_SIGNATURE_WINDOW)
        if verdict == "fresh":
            return
        self.ctx.metrics.channel_events.labels("app", "rejected").inc()
        if verdict == "replayed":
            raise IntakeError("该请求签名已使用过，请重新签名后发送。", code="signature_replayed", status=401)
        if verdict == "full":
            raise IntakeError("服务繁忙，请稍后再试。", code="busy", status=503, retry_after=1)
        raise IntakeError("请求签名无效。", code="invalid_signature", status=401)

    async def create_report(self, request: web.Request) -> web.Response:
        key = schema.idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
        report = await self._body(request, schema.NewReport)
        receipt = await self.ctx.intake.accept(
            report.submission(key, client_address(request, self.ctx.trust_forwarded_for))
        )
        signed = receipt.signed
        assert signed is not None  # every new report is signed; only imported cases are not
        body = schema.Receipt(
            case_no=receipt.case_no,
            query_code=receipt.query_code,
            query_code_display=format_query_code(receipt.query_code) if receipt.query_code else None,
            channel=receipt.channel,
            status=receipt.status,
            received_at=receipt.received_at,
            receipt=schema.SignedReceipt(**signed.as_dict()),
        ).body()
        if receipt.created:
            return json_response(body, status=201)
        return json_response(body, status=200, headers={"Idempotent-Replayed": "true"})

    async def status(self, request: web.Request) -> web.Response:
        asked = await self._body(request, schema.StatusRequest)
        found = await self.ctx.intake.status(asked.query_code, self.ctx.client_key(request))
        return json_response(render_status(found), headers={"Cache-Control": "no-store"})

    async def followup(self, request: web.Request) -> web.Response:
        added = await self._body(request, schema.Followup)
        case_no = await self.ctx.intake.add_followup(
            added.query_code, added.content, "app", self.ctx.client_key(request)
        )
        return json_response(schema.FollowupAdded(case_no=case_no).body(), status=201)

    async def feedback(self, request: web.Request) -> web.Response:
        """满意度评价 of the answer: once per answer (409 before one, or when rated already)."""
        given = await self._body(request, schema.FeedbackRequest)
        desk = self._desk()
        found = await desk.rate(
            given.query_code, given.rating, given.comment, "app", self.ctx.client_key(request)
        )
        body = schema.FeedbackGiven(case_no=found.case_no, rating=found.rating)
        return json_response(body.body(), status=201)

    async def review(self, request: web.Request) -> web.Response:
        """复查 / 复核 (to the next level up), 异议 or 回避, by query code."""
        asked = await self._body(request, schema.ReviewRequest)
        desk = self._desk()
        done = await desk.request(
            asked.query_code, asked.kind, asked.reason, "app", self.ctx.client_key(request)
        )
        body = schema.ReviewReceived(
            case_no=done.case_no,
            kind=done.kind,
            level=desk.level_name(done.to_unit) if done.kind in ("review", "re_review") else None,
            due_on=done.due_on.isoformat() if done.due_on else None,
        )
        return json_response(body.body(), status=201)

    def _desk(self) -> InformantDesk:
        if self.ctx.informant is None:
            raise IntakeError("暂不能办理。", code="unavailable", status=503)
        return self.ctx.informant

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(self.document)

    async def receipt_key(self, request: web.Request) -> web.Response:
        """The public key receipts are signed with, for checking them anywhere, offline too."""
        key = schema.ReceiptKey(alg="Ed25519", public_key=self.ctx.intake.receipt_key)
        return json_response(key.body(), headers={"Cache-Control": "public, max-age=3600"})


def render_status(found: CaseStatus) -> dict[str, Any]:
    return schema.Status(
        case_no=found.case_no,
        channel=found.channel,
        status=found.status,
        status_label=found.status_label,
        received_at=found.received_at,
        updated_at=found.updated_at,
        replies=[schema.StatusReply(at=r.at, text=r.text) for r in found.replies],
        followups=found.followups,
        timeline=[schema.TimelineStep(at=e.at, event=e.event, text=e.text) for e in found.timeline],
    ).body()
