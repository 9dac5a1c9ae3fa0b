"""The OpenAPI 3.1 document of the app API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_STR = {"type": "string"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "信访举报受理接口 (petition and reporting intake API)",
        "version": "1.0.0",
        "description": "File a report, follow it with the query code (查询码), add information. Identity "
        "fields under `reporter` are sealed in the vault and never shown to handlers.\n\n"
        "**Signed requests.** When the deployment sets `INTAKE_APP_HMAC_SECRET`, every request carries "
        '`X-Intake-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + Idempotency-Key '
        '+ "." + raw body)>` (the key empty when the request has none), with `t` within 300 seconds of '
        "the server's clock. Each signature is accepted once: sign every attempt, retries included, "
        "afresh (a retry with the same Idempotency-Key and a new `t` returns the same receipt). A bad "
        "or stale signature answers `401 invalid_signature`, a used one `401 signature_replayed`.",
    },
    "paths": {
        "/api/v1/reports": {
            "post": {
                "operationId": "createReport",
                "summary": "File a report (提交举报)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "A random value per report; a retry with the same key and body "
                        "returns the same case and query code (within 24 hours) instead of filing twice.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewReport"}}},
                },
                "responses": {
                    "201": {
                        "description": "Filed and committed",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
                    },
                    "200": {
                        "description": "A retry of an earlier request with the same Idempotency-Key",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}},
                    },
                    "400": _err("Malformed JSON or a bad Idempotency-Key"),
                    "401": _err(
                        "Missing, wrong or already used request signature (when the deployment requires one)"
                    ),
                    "409": _err("The Idempotency-Key was used for a different report"),
                    "413": _err("Body larger than the configured limit"),
                    "415": _err("Body is not application/json"),
                    "422": _err("A field is missing, of the wrong type or too long"),
                },
            },
        },
        "/api/v1/status": {
            "post": {
                "operationId": "getStatus",
                "summary": "Read a case's status and replies by query code (查询)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryCode"}}},
                },
                "responses": {
                    "200": {
                        "description": "The case",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
                    },
                    "404": _err("No case has this query code"),
                    "422": _err("query_code missing"),
                    "429": _err("Too many attempts; see Retry-After"),
                },
            },
        },
        "/api/v1/followups": {
            "post": {
                "operationId": "addFollowup",
                "summary": "Add information to a case (补充材料)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Followup"}}},
                },
                "responses": {
                    "201": {
                        "description": "Added",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["case_no", "status"],
                                    "properties": {"case_no": _STR, "status": {"const": "added"}},
                                }
                            }
                        },
                    },
                    "404": _err("No case has this query code"),
                    "422": _err("A field is missing or too long"),
                    "429": _err("Too many attempts; see Retry-After"),
                },
            },
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": _STR, "message": _STR},
                    }
                },
            },
            "NewReport": {
                "type": "object",
                "required": ["content"],
                "properties": {
                    "content": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 20000,
                        "description": "The facts (主要问题)",
                    },
                    "title": {"type": "string", "maxLength": 200},
                    "category": {"type": "string", "maxLength": 64},
                    "accused": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "maxLength": 100},
                            "unit": {"type": "string", "maxLength": 200},
                            "position": {"type": "string", "maxLength": 100},
                        },
                    },
                    "location": {
                        "type": "object",
                        "properties": {
                            "division_code": {"type": "string", "pattern": "^[0-9]{2,12}$"},
                            "text": {"type": "string", "maxLength": 200},
                        },
                    },
                    "reporter": {
                        "type": "object",
                        "description": "Identity: sealed in the vault",
                        "properties": {
                            "name": {"type": "string", "maxLength": 50},
                            "id_number": {"type": "string", "maxLength": 32},
                            "phone": {"type": "string", "maxLength": 32},
                            "address": {"type": "string", "maxLength": 200},
                        },
                    },
                    "anonymous": {"type": "boolean", "default": False},
                    "device_token": {
                        "type": "string",
                        "maxLength": 4096,
                        "description": "The app's push token: sealed in the vault; replies and status "
                        "changes are pushed to it through INTAKE_APP_PUSH_URL",
                    },
                },
            },
            "Receipt": {
                "type": "object",
                "required": ["case_no", "query_code", "channel", "status", "received_at"],
                "properties": {
                    "case_no": {"type": "string", "examples": ["2026-430121-000123"]},
                    "query_code": {
                        "type": ["string", "null"],
                        "pattern": "^[0-9]{16}$",
                        "description": "Shown once; null only for a retry after the 24-hour window",
                    },
                    "query_code_display": {"type": ["string", "null"]},
                    "channel": _STR,
                    "status": _STR,
                    "received_at": {"type": "string", "format": "date-time"},
                },
            },
            "QueryCode": {
                "type": "object",
                "required": ["query_code"],
                "properties": {"query_code": {"type": "string", "maxLength": 64}},
            },
            "Followup": {
                "type": "object",
                "required": ["query_code", "content"],
                "properties": {
                    "query_code": {"type": "string", "maxLength": 64},
                    "content": {"type": "string", "minLength": 1, "maxLength": 20000},
                },
            },
            "Status": {
                "type": "object",
                "required": ["case_no", "channel", "status", "status_label", "updated_at", "replies"],
                "properties": {
                    "case_no": _STR,
                    "channel": _STR,
                    "status": _STR,
                    "status_label": _STR,
                    "received_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "replies": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["at", "text"],
                            "properties": {"at": {"type": "string", "format": "date-time"}, "text": _STR},
                        },
                    },
                    "followups": {"type": "integer"},
                },
            },
        },
    },
}
