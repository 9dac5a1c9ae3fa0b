"""The OpenAPI 3.1 document of the staff API (``/api/v1/staff/...`` and ``/api/v1/recusals``),
served without login at ``/api/v1/staff/openapi.json``: it describes the routes, it reveals no data.
"""

from __future__ import annotations

from typing import Any

from intake.workflow import ACTIONS

_ERROR = {"$ref": "#/components/schemas/Error"}
_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_DATE = {"type": "string", "format": "date"}
_DATETIME = {"type": "string", "format": "date-time"}
_UNIT = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": _STR, "name": _STR_OR_NULL},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _obj(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, **extra}


def _str(limit: int, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "maxLength": limit}
    if description:
        out["description"] = description
    return out


# Errors every authenticated route can give.
_AUTH_ERRORS = {"401": _err("Missing, unknown, expired or revoked bearer token (`unauthorized`)")}
_BODY_ERRORS = {
    "400": _err("Malformed JSON (`malformed_json`)"),
    "413": _err("Body larger than the configured limit (`payload_too_large`)"),
    "415": _err("Body is not application/json (`unsupported_media_type`)"),
}
_CASE_NO = {
    "name": "case_no",
    "in": "path",
    "required": True,
    "description": "The case number (案件编号), e.g. 2025-430121-000001",
    "schema": {"type": "string"},
}
_OUT_OF_SCOPE = _err(
    "No such case, or the case is outside the caller's scope (`case_not_found`): both answer the same"
)

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "信访举报 staff API (工作人员接口)",
        "version": "1.0.0",
        "description": "The staff side of the petition and reporting intake (信访举报受理): login with "
        "password and TOTP (动态口令), scoped case queues (案件列表), the case view, filing letters "
        "and visits (登记来信/来访), workflow actions (受理、交办、转办、督办、答复、办结…), the "
        "deadline board (期限看板) and the manual triage queue (分流复核). Every route except login "
        "and the informant's recusal request (申请回避) needs `Authorization: Bearer <token>`. A "
        "case outside the caller's scope answers 404 exactly like a case that does not exist; an "
        "action the caller's role may not take answers 403. Staff never see an informant's "
        "identity, only the pseudonym (检举人XXXX). Errors are "
        '`{"error": {"code", "message"}}`, messages in Simplified Chinese.',
    },
    "security": [{"bearerAuth": []}],
    "paths": {
        "/api/v1/staff/login": {
            "post": {
                "operationId": "staffLogin",
                "summary": "Log in with password and TOTP (登录)",
                "description": "Failed logins are throttled per client address (20 by default) and "
                "per account from that address (5), refilled over 15 minutes; no account is ever "
                "locked. A used TOTP step is refused. The token lasts `INTAKE_STAFF_TOKEN_HOURS` "
                "(8 by default).",
                "security": [],
                "requestBody": _body(_ref("Login")),
                "responses": {
                    "200": _ok("Logged in; the bearer token (`Cache-Control: no-store`)", _ref("Session")),
                    **_BODY_ERRORS,
                    "401": _err(
                        "Wrong username, password or TOTP code, or an unknown username "
                        "(`login_failed`, one answer for all)"
                    ),
                    "429": _err(
                        "Too many failed logins from this address (`login_throttled`); see Retry-After"
                    ),
                    "422": _err("A field is not text or too long"),
                },
            }
        },
        "/api/v1/staff/logout": {
            "post": {
                "operationId": "staffLogout",
                "summary": "Revoke the caller's token (退出登录)",
                "responses": {"200": _ok("Logged out", _ref("Ok")), **_AUTH_ERRORS},
            }
        },
        "/api/v1/staff/me": {
            "get": {
                "operationId": "staffMe",
                "summary": "The caller's account and the units in sight (我的)",
                "responses": {"200": _ok("The account", _ref("Me")), **_AUTH_ERRORS},
            }
        },
        "/api/v1/staff/me/relations": {
            "post": {
                "operationId": "declareRelation",
                "summary": "Declare a relation to a person (申报利害关系, for 回避)",
                "description": "A handler with a declared relation to the accused cannot be assigned "
                "the case. An audit event; cannot be withdrawn.",
                "requestBody": _body(_ref("Relation")),
                "responses": {
                    "201": _ok("Declared", _ref("Ok")),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "422": _err("A field is missing, not text or too long"),
                },
            }
        },
        "/api/v1/staff/reports": {
            "get": {
                "operationId": "listReports",
                "summary": "The scoped case list (案件列表)",
                "description": "Cases of the caller's unit; supervisors and admins also the units "
                "below. A case sent up sealed (S1 art 15) is hidden from the receiving unit and below.",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "Only cases in this status (状态)",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "channel",
                        "in": "query",
                        "required": False,
                        "description": "Only cases filed through this channel (渠道): web, app, letter…",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "category",
                        "in": "query",
                        "required": False,
                        "description": "Only cases of this category (问题类别), as filed or as triaged",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "deadline",
                        "in": "query",
                        "required": False,
                        "description": "Only cases with an open deadline (期限) due within this many days",
                        "schema": {"type": "integer"},
                    },
                ],
                "responses": {
                    "200": _ok("The cases", _ref("ReportList")),
                    **_AUTH_ERRORS,
                    "422": _err("Unknown status (`invalid_status`) or a deadline that is not a number"),
                },
            },
            "post": {
                "operationId": "fileReport",
                "summary": "File a letter or a visit (登记来信 / 登记来访)",
                "description": "Registrars, triage officers and supervisors only. The identity under "
                "`reporter` is sealed in the vault before anything is stored; the case is registered "
                "to the caller's unit at once.",
                "requestBody": _body(_ref("Filing")),
                "responses": {
                    "201": _ok("Filed and registered (`Cache-Control: no-store`)", _ref("FilingReceipt")),
                    "200": _ok(
                        "A repeat of an earlier filing with the same `external_id`", _ref("FilingReceipt")
                    ),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "403": _err("The caller's role may not file (`role_not_allowed`)"),
                    "422": _err(
                        "Bad channel (`invalid_channel`), a field of the wrong type or too long, a bad "
                        "attachment (`invalid_attachment`, `unsupported_file_type`, `too_many_files`)"
                    ),
                },
            },
        },
        "/api/v1/staff/reports/{case_no}": {
            "get": {
                "operationId": "getReport",
                "summary": "The case view (案件详情)",
                "parameters": [_CASE_NO],
                "responses": {
                    "200": _ok("The case", _ref("Case")),
                    **_AUTH_ERRORS,
                    "404": _OUT_OF_SCOPE,
                },
            }
        },
        "/api/v1/staff/reports/{case_no}/actions": {
            "post": {
                "operationId": "actOnReport",
                "summary": "Take a workflow action on a case (办理)",
                "description": "One transaction per action, checked against the status it was decided "
                "from. Returns the case after the action, or — when the case left the caller's "
                "sight (sent up) — `{case_no, status: transferred, visible: false}`.",
                "parameters": [_CASE_NO],
                "requestBody": _body(_ref("Action")),
                "responses": {
                    "200": _ok(
                        "The case after the action",
                        {"oneOf": [_ref("Case"), _ref("SentUp")]},
                    ),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "403": _err("The caller's role may not take this action (`role_not_allowed`)"),
                    "404": _OUT_OF_SCOPE,
                    "409": _err(
                        "Not allowed from the case's status (`invalid_transition`), or the case "
                        "changed meanwhile (`stale_case`)"
                    ),
                    "422": _err(
                        "`action` missing (`action_required`) or unknown (`unknown_action`), or a "
                        "field it needs missing or invalid"
                    ),
                },
            }
        },
        "/api/v1/staff/reports/{case_no}/triage": {
            "post": {
                "operationId": "decideTriage",
                "summary": "Confirm or correct the triage suggestion (确认/修改分流结果)",
                "description": 'Registrars, triage officers and supervisors. `{"confirm": true}` '
                "records the suggestion as the staff decision; any of the fields corrects it. Before "
                "and after go into the audit chain.",
                "parameters": [_CASE_NO],
                "requestBody": _body(_ref("TriageDecision")),
                "responses": {
                    "200": _ok("The triage result after the decision", _ref("TriageResult")),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "403": _err("The caller's role may not decide triage (`role_not_allowed`)"),
                    "404": _OUT_OF_SCOPE,
                    "422": _err(
                        "Not triaged yet (`not_triaged`), a field that cannot be corrected or a value "
                        "outside its list (`not_correctable`, `invalid_value`, `unknown_unit`)"
                    ),
                },
            }
        },
        "/api/v1/staff/deadlines": {
            "get": {
                "operationId": "deadlineBoard",
                "summary": "The deadline board (期限看板): overdue, due soon, counts by unit",
                "parameters": [
                    {
                        "name": "within",
                        "in": "query",
                        "required": False,
                        "description": "Due within this many days (0–365)",
                        "schema": {"type": "integer", "default": 10},
                    }
                ],
                "responses": {
                    "200": _ok("The board", _ref("DeadlineBoard")),
                    **_AUTH_ERRORS,
                    "422": _err("`within` is not a number"),
                },
            }
        },
        "/api/v1/staff/triage/queue": {
            "get": {
                "operationId": "triageQueue",
                "summary": "Reports whose triage needs a person (分流复核队列), in scope",
                "responses": {"200": _ok("The queue", _ref("TriageQueue")), **_AUTH_ERRORS},
            }
        },
        "/api/v1/staff/openapi.json": {
            "get": {
                "operationId": "staffOpenapi",
                "summary": "This document (接口说明)",
                "description": "No login: it describes the API, it reveals no data.",
                "security": [],
                "responses": {"200": _ok("The OpenAPI 3.1 document", {"type": "object"})},
            }
        },
        "/api/v1/recusals": {
            "post": {
                "operationId": "informantRecusal",
                "summary": "The informant asks the handler to step aside (申请回避, S1 art 35)",
                "description": "No login: the informant's query code (查询码) identifies the case.",
                "security": [],
                "requestBody": _body(_ref("RecusalRequest")),
                "responses": {
                    "202": _ok(
                        "Received",
                        _obj(["case_no", "status"], {"case_no": _STR, "status": {"const": "received"}}),
                    ),
                    **_BODY_ERRORS,
                    "404": _err("No case has this query code"),
                    "422": _err("A field is missing or too long"),
                    "429": _err("Too many attempts; see Retry-After"),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The token from `POST /api/v1/staff/login` (工作人员令牌)",
            }
        },
        "schemas": {
            "Error": _obj(
                ["error"],
                {"error": _obj(["code", "message"], {"code": _STR, "message": _STR})},
            ),
            "Ok": _obj(["ok"], {"ok": {"const": True}}),
            "Login": _obj(
                ["username", "password", "totp"],
                {
                    "username": _str(256),
                    "password": _str(256),
                    "totp": _str(256, "The current 6-digit TOTP code (动态口令)"),
                },
            ),
            "Session": _obj(
                ["token", "token_type", "expires_at", "staff"],
                {
                    "token": _STR,
                    "token_type": {"const": "Bearer"},
                    "expires_at": _DATETIME,
                    "staff": _obj(
                        ["username", "unit", "role"],
                        {"username": _STR, "unit": _STR, "role": _ref("Role")},
                    ),
                },
            ),
            "Role": {
                "type": "string",
                "enum": ["registrar", "triage_officer", "handler", "supervisor", "custodian", "admin"],
                "description": "登记人员, 分流人员, 承办人, 督办/主管, 保管人, 管理员",
            },
            "Me": _obj(
                ["username", "unit", "role", "units"],
                {
                    "username": _STR,
                    "unit": _STR,
                    "role": _ref("Role"),
                    "units": {"type": "array", "items": _STR, "description": "The units in sight (管辖单位)"},
                },
            ),
            "Relation": _obj(
                ["person_name", "relation"],
                {
                    "person_name": _str(100, "The related person's name"),
                    "person_unit": _str(200),
                    "relation": _str(32, "The relation (亲属、同学…)"),
                },
            ),
            "ReportList": _obj(
                ["reports"],
                {
                    "reports": {
                        "type": "array",
                        "items": _obj(
                            [
                                "case_no",
                                "channel",
                                "status",
                                "status_label",
                                "title",
                                "category",
                                "owner_unit",
                                "handler",
                                "informant",
                                "received_at",
                                "next_due",
                            ],
                            {
                                "case_no": _STR,
                                "channel": _STR,
                                "status": _STR,
                                "status_label": _STR,
                                "title": _STR_OR_NULL,
                                "category": _STR_OR_NULL,
                                "owner_unit": _STR,
                                "handler": _STR_OR_NULL,
                                "informant": {"type": "string", "description": "The pseudonym (检举人XXXX)"},
                                "received_at": _DATETIME,
                                "next_due": {"type": ["string", "null"], "format": "date"},
                            },
                        ),
                    }
                },
            ),
            "Filing": _obj(
                ["channel", "content"],
                {
                    "channel": {"type": "string", "enum": ["letter", "visit"], "description": "来信 or 来访"},
                    "content": _str(20000, "The facts (主要问题)"),
                    "title": _str(200),
                    "category": _str(64),
                    "accused": {
                        "type": "object",
                        "description": "被反映人",
                        "properties": {"name": _str(100), "unit": _str(200), "position": _str(100)},
                    },
                    "location": {
                        "type": "object",
                        "properties": {"division_code": _str(12, "行政区划代码"), "text": _str(200)},
                    },
                    "reporter": {
                        "type": "object",
                        "description": "The visitor's or writer's identity: sealed in the vault",
                        "properties": {
                            "name": _str(50),
                            "id_number": _str(32),
                            "phone": _str(32),
                            "address": _str(200),
                        },
                    },
                    "anonymous": {"type": "boolean", "description": "Default: true when no reporter"},
                    "external_id": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 100,
                        "description": "The caller's key: a repeat with the same key files one case",
                    },
                    "attachments": {
                        "type": "array",
                        "description": "The letter's scans (images or PDF)",
                        "items": _obj(
                            ["data"],
                            {
                                "filename": _STR,
                                "data": {"type": "string", "contentEncoding": "base64"},
                                "identifying": {
                                    "type": "boolean",
                                    "description": "Identity proof (envelope, signed page): sealed",
                                },
                            },
                        ),
                    },
                },
            ),
            "FilingReceipt": _obj(
                ["case_no", "query_code", "channel", "status", "received_at"],
                {
                    "case_no": _STR,
                    "query_code": {
                        "type": ["string", "null"],
                        "description": "The query code (查询码) to hand to the visitor or writer; shown once",
                    },
                    "channel": {"type": "string", "enum": ["letter", "visit"]},
                    "status": {"const": "registered"},
                    "received_at": _DATETIME,
                },
            ),
            "Case": _obj(
                [
                    "case_no",
                    "channel",
                    "channels",
                    "status",
                    "status_label",
                    "content",
                    "informant",
                    "anonymous",
                    "received_at",
                    "updated_at",
                    "receiving_unit",
                    "owner_unit",
                    "sealed",
                    "deadlines",
                    "transfers",
                    "recusals",
                    "thread",
                    "timeline",
                ],
                {
                    "case_no": _STR,
                    "channel": _STR,
                    "channels": {
                        "type": "array",
                        "description": "This case and the cases merged into it (并案)",
                        "items": _obj(["case_no", "channel"], {"case_no": _STR, "channel": _STR}),
                    },
                    "status": _STR,
                    "status_label": _STR,
                    "title": _STR_OR_NULL,
                    "content": _STR,
                    "category": _STR_OR_NULL,
                    "accused": _obj(
                        ["name", "unit", "position"],
                        {"name": _STR_OR_NULL, "unit": _STR_OR_NULL, "position": _STR_OR_NULL},
                    ),
                    "location": _obj(
                        ["division_code", "text"], {"division_code": _STR_OR_NULL, "text": _STR_OR_NULL}
                    ),
                    "informant": {
                        "type": "string",
                        "description": "The pseudonym (检举人XXXX), never the identity",
                    },
                    "anonymous": _BOOL,
                    "received_at": _DATETIME,
                    "updated_at": _DATETIME,
                    "receiving_unit": _UNIT,
                    "owner_unit": _UNIT,
                    "handler": _STR_OR_NULL,
                    "sealed": _BOOL,
                    "merged_into": _STR_OR_NULL,
                    "review_stage": _INT,
                    "attachments": {"type": "integer", "description": "How many evidence attachments"},
                    "triage": {
                        "type": ["object", "null"],
                        "description": "The triage suggestion (分流建议): category, scope, level, unit, "
                        "priority, confidence, evidence, duplicate_of, needs_review, transfer, advice, "
                        "redirect_to",
                    },
                    "deadlines": {
                        "type": "array",
                        "items": _obj(
                            ["id", "rule", "label", "unit", "start_on", "due_on", "extensions", "status"],
                            {
                                "id": _INT,
                                "rule": _STR,
                                "label": _STR,
                                "unit": _STR,
                                "start_on": _DATE,
                                "due_on": _DATE,
                                "extensions": _INT,
                                "status": _STR,
                            },
                        ),
                    },
                    "transfers": {
                        "type": "array",
                        "description": "转办 / 交办 / 移送",
                        "items": _obj(
                            ["kind", "from_unit", "to_unit", "to_organ", "sealed", "actor", "at"],
                            {
                                "kind": _STR,
                                "from_unit": _STR_OR_NULL,
                                "to_unit": _STR_OR_NULL,
                                "to_organ": _STR_OR_NULL,
                                "sealed": _BOOL,
                                "actor": _STR,
                                "at": _DATETIME,
                            },
                        ),
                    },
                    "recusals": {
                        "type": "array",
                        "description": "回避申请",
                        "items": _obj(
                            ["id", "requested_by", "target", "status", "at"],
                            {
                                "id": _INT,
                                "requested_by": _STR,
                                "target": _STR_OR_NULL,
                                "status": _STR,
                                "at": _DATETIME,
                            },
                        ),
                    },
                    "thread": {
                        "type": "array",
                        "description": "The two-way thread: follow-ups (补充材料) and replies (答复)",
                        "items": _obj(
                            ["direction", "channel", "at", "text"],
                            {"direction": _STR, "channel": _STR_OR_NULL, "at": _DATETIME, "text": _STR},
                        ),
                    },
                    "timeline": {
                        "type": "array",
                        "description": "The case's audit events (全程留痕)",
                        "items": _obj(
                            ["seq", "kind", "actor", "at", "payload"],
                            {
                                "seq": _INT,
                                "kind": _STR,
                                "actor": _STR_OR_NULL,
                                "at": _DATETIME,
                                "payload": {},
                            },
                        ),
                    },
                },
            ),
            "SentUp": _obj(
                ["case_no", "status", "visible"],
                {"case_no": _STR, "status": {"const": "transferred"}, "visible": {"const": False}},
                description="The action sent the case out of the caller's sight (e.g. up the tree, sealed)",
            ),
            "Action": _obj(
                ["action"],
                {
                    "action": {
                        "type": "string",
                        "enum": list(ACTIONS),
                        "description": "登记, 受理, 告知/转送 (redirect: organ, reason), 交办/指定承办人 "
                        "(assign: handler or to_unit), 转办 (transfer: to_unit), 督办 (supervise: "
                        "reason, deadline), 答复 (reply: text), 办结, 重新办理 (reopen: kind, "
                        "hearing_days), 并案 (merge: target), 延长期限 (extend: deadline_id, approval, "
                        "reason, deadline), 回避 (request_recusal: kind, handler, reason; "
                        "decide_recusal: recusal_id, decision)",
                    },
                    "to_unit": _str(5000, "The unit to transfer or assign to (单位代码)"),
                    "handler": _str(5000, "The handler (承办人) username"),
                    "text": _str(5000, "The reply to the informant (答复)"),
                    "reason": _str(5000),
                    "deadline": _DATE,
                    "target": _str(5000, "merge: the case number to merge into"),
                    "kind": _str(
                        5000, "reopen: review | objection | new_evidence; request_recusal: informant | staff"
                    ),
                    "organ": _str(5000, "redirect: the organ to go to (有权处理的机关)"),
                    "deadline_id": _INT,
                    "approval": _str(5000, "extend: who approved (批准人)"),
                    "hearing_days": _INT,
                    "recusal_id": _INT,
                    "decision": _str(5000, "decide_recusal: the decision"),
                },
            ),
            "TriageDecision": {
                "type": "object",
                "properties": {
                    "confirm": {"type": "boolean", "description": "Confirm the suggestion as it is"},
                    "category": _STR,
                    "scope": _STR,
                    "level": _STR,
                    "priority": _STR,
                    "unit": {"type": "string", "description": "A unit code of the jurisdiction"},
                },
            },
            "TriageResult": _obj(
                ["case_no", "triage"],
                {"case_no": _STR, "triage": {"type": "object", "description": "The stored triage result"}},
            ),
            "DeadlineBoard": _obj(
                ["today", "overdue", "due_soon", "by_unit"],
                {
                    "today": _DATE,
                    "overdue": {"type": "array", "items": _ref("BoardDeadline")},
                    "due_soon": {"type": "array", "items": _ref("BoardDeadline")},
                    "by_unit": {
                        "type": "array",
                        "items": _obj(
                            ["unit", "unit_name", "overdue", "due_soon"],
                            {"unit": _STR, "unit_name": _STR_OR_NULL, "overdue": _INT, "due_soon": _INT},
                        ),
                    },
                },
            ),
            "BoardDeadline": _obj(
                ["id", "case_no", "rule", "label", "unit", "unit_name", "due_on", "days_left", "overdue"],
                {
                    "id": _INT,
                    "case_no": _STR,
                    "rule": _STR,
                    "label": _STR,
                    "unit": _STR,
                    "unit_name": _STR_OR_NULL,
                    "due_on": _DATE,
                    "days_left": _INT,
                    "overdue": _BOOL,
                },
            ),
            "TriageQueue": _obj(
                ["needs_review"],
                {
                    "needs_review": {
                        "type": "array",
                        "items": _obj(
                            ["case_no", "received_at"],
                            {
                                "case_no": _STR,
                                "received_at": _DATETIME,
                                "category": _STR_OR_NULL,
                                "scope": _STR_OR_NULL,
                                "level": _STR_OR_NULL,
                                "unit": {"type": ["object", "null"]},
                                "priority": _STR_OR_NULL,
                                "confidence": {"type": ["number", "null"]},
                            },
                        ),
                    }
                },
            ),
            "RecusalRequest": _obj(
                ["query_code", "reason"],
                {"query_code": _str(64, "The informant's query code (查询码)"), "reason": _str(2000)},
            ),
        },
    },
}
