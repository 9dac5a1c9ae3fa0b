"""The mobile-app and generic JSON API: file a report, read its status, add information."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels.app import openapi, schema
from channels.base import ChannelContext, client_address, json_response, parse_json_object, read_bounded_json
from channels.schema import M, validated
from channels.verify import SignatureReplays, verify_app_signature
from intake.domain import CaseStatus, format_query_code
from intake.errors import IntakeError

IDEMPOTENCY_HEADER = "Idempotency-Key"


class AppAdapter:
    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        # With a signing secret configured every request must be signed; without one the API is
        # open like the web form (citizens' apps cannot keep a secret anyway).
        self.secret = ctx.settings.get("HMAC_SECRET")
        self.replays = SignatureReplays()
        self.document = openapi.document(
            signed=self.secret is not None, divisions=ctx.intake.jurisdiction.divisions()
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post("/api/v1/reports", self.create_report),
            web.post("/api/v1/status", self.status),
            web.post("/api/v1/followups", self.followup),
            web.get("/api/v1/openapi.json", self.openapi),
            web.get("/api/v1/receipt-key", self.receipt_key),
        ]

    async def _body(self, request: web.Request, model: type[M]) -> M:
        raw = await read_bounded_json(request, self.ctx.max_json_bytes)
        if self.secret is not None:
            self._check_signature(request, raw)
        return validated(model, parse_json_object(raw))

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
    ).body()
