"""The app API's operations and its OpenAPI 3.1 document, served at ``/api/v1/openapi.json``,
generated from the models in :mod:`channels.app.schema`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from channels import openapi
from channels.app import schema
from channels.openapi import BODY_ERRORS, THROTTLED, UNAVAILABLE, Answer, Operation, Param
from intake.limits import MAX_EXTERNAL_ID

INFO = {
    "title": "信访举报受理接口 (petition and reporting intake API)",
    "version": "1.0.0",
    "description": "File a report, follow it with the query code (查询码), add information. Identity "
    "fields under `reporter` are sealed in the vault and never shown to handlers. Errors are "
    '`{"error": {"code", "message"}}`, messages in Simplified Chinese.',
}

IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    "A random value per report; a retry with the same key and body returns the same case and "
    "query code (within 24 hours) instead of filing twice",
    {"type": "string", "pattern": schema.IDEMPOTENCY_KEY, "minLength": 1, "maxLength": MAX_EXTERNAL_ID},
    required=False,
)
SIGNATURE = Param(
    "X-Intake-Signature",
    "header",
    '`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + Idempotency-Key + "." + raw body)>` '
    "with the deployment's app secret (the key empty when the request has none), `t` within 300 "
    "seconds of the server's clock; each signature is accepted once, so sign every attempt afresh",
    {"type": "string"},
)
MISS = Answer("No case has this query code (`not_found`); every wrong code gets the same answer")
INVALID = Answer("A field is missing, of the wrong type, too long or not one of its values")

OPERATIONS = (
    Operation(
        "POST",
        "/api/v1/reports",
        "createReport",
        "File a report (提交举报)",
        body=schema.NewReport,
        params=(IDEMPOTENCY_KEY,),
        answers={
            201: Answer("Filed and committed", schema.Receipt),
            200: Answer(
                "A retry of an earlier request with the same Idempotency-Key (`Idempotent-Replayed: true`)",
                schema.Receipt,
                headers={"Idempotent-Replayed": {"schema": {"const": "true"}, "required": True}},
            ),
            **BODY_ERRORS,
            400: Answer(
                "Malformed JSON (`malformed_json`) or a bad Idempotency-Key (`invalid_idempotency_key`)"
            ),
            409: Answer("The Idempotency-Key was used for a different report (`idempotency_key_reused`)"),
            422: Answer(
                "A field is missing, of the wrong type or too long (`content_required`, `content_too_long`, "
                "`field_too_long`, `invalid_field`, `invalid_division_code`, `invalid_unit`), or the "
                "division is not one of the jurisdiction's (`unknown_division`), or `unit` is not one "
                "of the platform's units (`unknown_unit`)"
            ),
            429: Answer("Too many reports from one informant; see Retry-After", headers=openapi.RETRY_AFTER),
            **UNAVAILABLE,
        },
    ),
    Operation(
        "POST",
        "/api/v1/status",
        "getStatus",
        "Read a case's status and replies by query code (查询)",
        body=schema.StatusRequest,
        answers={
            200: Answer("The case (`Cache-Control: no-store`)", schema.Status),
            **BODY_ERRORS,
            404: MISS,
            422: Answer("query_code missing or empty (`query_code_required`) or too long (`field_too_long`)"),
            **THROTTLED,
            **UNAVAILABLE,
        },
    ),
    Operation(
        "POST",
        "/api/v1/followups",
        "addFollowup",
        "Add information to a case (补充材料)",
        body=schema.Followup,
        answers={
            201: Answer("Added", schema.FollowupAdded),
            **BODY_ERRORS,
            404: MISS,
            422: INVALID,
            **THROTTLED,
            **UNAVAILABLE,
        },
    ),
    Operation(
        "GET",
        "/api/v1/receipt-key",
        "receiptKey",
        "The public key receipts are signed with (回执核验公钥)",
        answers={200: Answer("The Ed25519 public key, base64", schema.ReceiptKey)},
    ),
    Operation(
        "GET",
        "/api/v1/openapi.json",
        "appOpenapi",
        "This document (接口说明)",
        answers={200: Answer("The OpenAPI 3.1 document", openapi.OpenApiDocument)},
    ),
)


def document(*, signed: bool, divisions: Sequence[str]) -> dict[str, Any]:
    """The document of this deployment: with a signing secret every request needs the signature
    header (and may answer 401); a division code must be one of ``divisions`` (or empty)."""
    operations = [_signed(op) for op in OPERATIONS] if signed else list(OPERATIONS)
    return openapi.document(
        INFO,
        operations,
        overrides={"Location.division_code": {"enum": ["", *divisions]}},
    )


def _signed(op: Operation) -> Operation:
    if op.body is None:
        return op
    refused = Answer(
        "Missing, wrong or stale request signature (`invalid_signature`), or one already used "
        "(`signature_replayed`)"
    )
    busy = Answer(
        "The database is unavailable for a moment (`service_unavailable`), or the replay window holds "
        "too many signatures (`busy`); see Retry-After",
        headers=openapi.RETRY_AFTER,
    )
    return replace(op, answers={**op.answers, 401: refused, 503: busy}, params=(*op.params, SIGNATURE))
