"""The staff API's operations (``/api/v1/staff/...`` and ``/api/v1/recusals``) and its OpenAPI 3.1
document, generated from the models in :mod:`console.schema` and served without login at
``/api/v1/staff/openapi.json``: it describes the routes, it reveals no data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import channels.openapi as openapi
from channels.openapi import BODY_ERRORS, THROTTLED, UNAVAILABLE, Answer, Operation, Param
from console import clue_schema, inbox_schema, schema, stats_schema
from console.stats_openapi import operations as stats_operations

P = "/api/v1/staff"
INFO = {
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
}
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "The token from `POST /api/v1/staff/login` (工作人员令牌)",
    }
}
CASE_NO = Param(
    "case_no",
    "path",
    "The case number (案件编号), e.g. 2025-430121-000001",
    {"type": "string"},
    example="2025-430121-000001",
)
UNAUTHORIZED = {401: Answer("Missing, unknown, expired or revoked bearer token (`unauthorized`)")}
OUT_OF_SCOPE = Answer(
    "No such case, or the case is outside the caller's scope (`case_not_found`): both answer the same"
)
# What every route with a token may answer besides its own.
AUTHED = {**UNAUTHORIZED, **UNAVAILABLE}


def _authed(
    ok: Answer, errors: Mapping[int, Answer] | None = None, *, status: int = 200, body: bool = False
) -> dict[int, Answer]:
    """The answers of a route behind the bearer token: its own, a JSON body's errors when it reads
    one, the token's and the database's, then its own errors."""
    return {status: ok, **(BODY_ERRORS if body else {}), **AUTHED, **(errors or {})}


def _op(method: str, path: str, operation_id: str, summary: str, **kw: Any) -> Operation:
    return Operation(method, path, operation_id, summary, **kw)


OPERATIONS = (
    _op(
        "POST",
        f"{P}/login",
        "staffLogin",
        "Log in with password and TOTP (登录)",
        description="Failed logins are throttled per client address (20 by default) and per account "
        "from that address (5), refilled over 15 minutes; no account is ever locked. A used TOTP step "
        "is refused. The token lasts `INTAKE_STAFF_TOKEN_HOURS` (8 by default).",
        public=True,
        body=schema.Login,
        answers={
            200: Answer("Logged in; the bearer token (`Cache-Control: no-store`)", schema.Session),
            **BODY_ERRORS,
            401: Answer(
                "Wrong username, password or TOTP code, or an unknown username (`login_failed`, one "
                "answer for all)"
            ),
            422: Answer("A field is missing, not text or too long"),
            **THROTTLED,
            **UNAVAILABLE,
        },
    ),
    _op(
        "POST",
        f"{P}/logout",
        "staffLogout",
        "Revoke the caller's token (退出登录)",
        answers=_authed(Answer("Logged out", schema.Ok)),
    ),
    _op(
        "GET",
        f"{P}/me",
        "staffMe",
        "The caller's account and the units in sight (我的)",
        answers=_authed(Answer("The account", schema.Me)),
    ),
    _op(
        "POST",
        f"{P}/me/relations",
        "declareRelation",
        "Declare a relation to a person (申报利害关系, for 回避)",
        description="A handler with a declared relation to the accused cannot be assigned the case. "
        "An audit event; cannot be withdrawn.",
        body=schema.Relation,
        answers=_authed(
            Answer("Declared", schema.Ok),
            {422: Answer("A field is missing, empty, not text or too long")},
            status=201,
            body=True,
        ),
    ),
    _op(
        "GET",
        f"{P}/reports",
        "listReports",
        "The scoped case list (案件列表)",
        description="Cases of the caller's unit; supervisors and admins also the units below. A case "
        "sent up sealed (S1 art 15) is hidden from the receiving unit and below. An empty parameter "
        "counts as not given.",
        query=schema.ReportsQuery,
        answers=_authed(
            Answer("The cases", schema.ReportList),
            {
                422: Answer(
                    "Unknown status (`invalid_status`) or channel (`invalid_channel`), or a deadline that "
                    "is not a whole number of days from 0 to 365 (`invalid_field`)"
                )
            },
        ),
    ),
    _op(
        "POST",
        f"{P}/reports",
        "fileReport",
        "File a letter or a visit (登记来信 / 登记来访)",
        description="Registrars, triage officers and supervisors only. The identity under `reporter` "
        "is sealed in the vault before anything is stored; the case is registered to the caller's "
        "unit at once.",
        body=schema.Filing,
        answers=_authed(
            Answer("Filed and registered (`Cache-Control: no-store`)", schema.FilingReceipt),
            {
                200: Answer(
                    "A repeat of an earlier filing with the same `external_id`", schema.FilingReceipt
                ),
                403: Answer("The caller's role may not file (`role_not_allowed`)"),
                409: Answer("The `external_id` was used for a different filing (`idempotency_key_reused`)"),
                422: Answer(
                    "Bad channel (`invalid_channel`), a field of the wrong type or too long, a division not "
                    "of the jurisdiction (`unknown_division`), a bad attachment (`invalid_attachment`, "
                    "`unsupported_file_type`, `too_many_files`)"
                ),
                429: Answer(
                    "Too many reports from one informant; see Retry-After", headers=openapi.RETRY_AFTER
                ),
            },
            status=201,
            body=True,
        ),
    ),
    _op(
        "GET",
        f"{P}/reports/{{case_no}}",
        "getReport",
        "The case view (案件详情)",
        params=(CASE_NO,),
        answers=_authed(Answer("The case", schema.Case), {404: OUT_OF_SCOPE}),
    ),
    _op(
        "POST",
        f"{P}/reports/{{case_no}}/actions",
        "actOnReport",
        "Take a workflow action on a case (办理)",
        description="One transaction per action, checked against the status it was decided from. "
        "Returns the case after the action, or — when the case left the caller's sight (sent up) — "
        "`{case_no, status: transferred, visible: false}`.",
        params=(CASE_NO,),
        body=schema.ActionRequest,
        answers=_authed(
            Answer("The case after the action", (schema.Case, schema.SentUp)),
            {
                403: Answer(
                    "The caller's role may not take this action (`role_not_allowed`, `recusal_required`)"
                ),
                404: OUT_OF_SCOPE,
                409: Answer(
                    "Not allowed from the case's status (`invalid_transition`), or the case changed "
                    "meanwhile (`stale_case`)"
                ),
                422: Answer(
                    "`action` missing (`action_required`) or unknown (`unknown_action`), or a field it "
                    "needs missing or invalid"
                ),
            },
            body=True,
        ),
    ),
    _op(
        "POST",
        f"{P}/reports/{{case_no}}/triage",
        "decideTriage",
        "Confirm or correct the triage suggestion (确认/修改分流结果)",
        description='Registrars, triage officers and supervisors. `{"confirm": true}` records the '
        "suggestion as the staff decision; any of the fields corrects it. Before and after go into "
        "the audit chain.",
        params=(CASE_NO,),
        body=schema.TriageDecision,
        answers=_authed(
            Answer("The triage result after the decision", schema.TriageResult),
            {
                403: Answer("The caller's role may not decide triage (`role_not_allowed`)"),
                404: OUT_OF_SCOPE,
                422: Answer(
                    "Not triaged yet (`not_triaged`), a field that cannot be corrected or a value outside "
                    "its list (`not_correctable`, `invalid_value`, `unknown_unit`)"
                ),
            },
            body=True,
        ),
    ),
    _op(
        "GET",
        f"{P}/deadlines",
        "deadlineBoard",
        "The deadline board (期限看板): overdue, due soon, counts by unit",
        query=schema.DeadlinesQuery,
        answers=_authed(
            Answer("The board", schema.DeadlineBoard),
            {422: Answer("`within` is not a whole number of days from 0 to 365 (`invalid_field`)")},
        ),
    ),
    _op(
        "GET",
        f"{P}/clues/reported",
        "clueResults",
        "Clue results reported back to the receiving unit (线索处置结果反馈)",
        description="The problem clues received by the caller's unit (supervisors: and the units "
        "below) and handled by another unit, once their disposal ended: the case number, the "
        "handling unit, the method and the result (S1 art 18), also when the case itself is out "
        "of the caller's sight; never a case sent up sealed (S1 art 15).",
        answers=_authed(Answer("The results, newest first", clue_schema.ClueResultList)),
    ),
    _op(
        "GET",
        f"{P}/inbox",
        "staffInbox",
        "The unit's alerts (待办提醒): deadlines turning yellow or red, supervision notices, walk-ins",
        description="The alerts of the caller's unit, newest first, with the caller's own read state "
        "and unread count (the console's inbox and header): a deadline that turned yellow (≤ 5 "
        "working days, 临期) or red (超期) with its case, a 督办函 received, answered, returned or "
        "closed, and for reception officers a walk-in waiting at a township. `mail` says whether the "
        "alert's e-mail went out when a mail server is configured (503 `urging_unavailable`, with "
        "Retry-After, while the alert service is not running).",
        answers=_authed(Answer("The alerts", inbox_schema.Inbox)),
    ),
    _op(
        "POST",
        f"{P}/inbox/read",
        "staffInboxRead",
        "Mark alerts read (标记已读)",
        description="`alert_ids` (up to 200) or `all: true`, not both. Only alerts of the caller's "
        "unit are marked, for the caller only; others are left alone and not counted.",
        body=inbox_schema.InboxRead,
        answers=_authed(
            Answer("How many were newly marked", inbox_schema.InboxMarked),
            {422: Answer("Neither or both of `alert_ids` and `all`, or an id not a positive integer")},
            body=True,
        ),
    ),
    _op(
        "GET",
        f"{P}/stats",
        "staffStats",
        "Statistics of the reports in sight (统计分析), small counts withheld",
        description="Counts of the reports received from `from` to `to` (China dates, inclusive) in the "
        "caller's scope (as the case list; `unit` narrows to one unit's subtree), grouped by the fields "
        'of `by`. A count under `INTAKE_STATS_MIN_CELL` (5) is withheld as `"<5"`, and so are the '
        "cells that would let it be worked out from the total or from a query with fewer fields "
        '(complementary suppression, docs/stats.md); the total is `"<5"` when under the threshold.',
        query=stats_schema.StatsQuery,
        answers=_authed(
            Answer("The table", stats_schema.StatsTableBody),
            {
                403: Answer("`unit` is not in the caller's sight (`unit_out_of_scope`)"),
                422: Answer(
                    "Unknown grouping field (`unknown_grouping`, `invalid_grouping`), a malformed date "
                    "(`invalid_date`, `invalid_field`), `from` after `to` (`reversed_dates`), `to` after "
                    "today (`future_date`), a range over ten years (`range_too_long`) or a table over "
                    "5,000 rows (`too_many_rows`: a coarser grouping or a shorter range)"
                ),
            },
        ),
    ),
    _op(
        "GET",
        f"{P}/stats/alerts",
        "staffStatsAlerts",
        "Early warning (风向标): spikes, repeated accused, repeat informants",
        description="Spikes by place × category (Poisson test against the cell's own history), the "
        "same accused named in several reports, and repeat informants (by blind index: a count and "
        "the cases, never an identity); each with the case numbers in the caller's scope.",
        query=stats_schema.AlertsQuery,
        answers=_authed(
            Answer("The alerts", stats_schema.AlertList),
            {
                422: Answer(
                    "A malformed date (`invalid_field`, `invalid_date`), a date after today "
                    "(`future_date`) or an unknown period (`invalid_period`)"
                )
            },
        ),
    ),
    _op(
        "GET",
        f"{P}/triage/queue",
        "triageQueue",
        "Reports whose triage needs a person (分流复核队列), in scope",
        answers=_authed(Answer("The queue", schema.TriageQueue)),
    ),
    _op(
        "GET",
        f"{P}/reports/export",
        "exportReports",
        "Export the cases in sight (导出案件) as CSV, XLSX or JSON Lines",
        description="The cases of the caller's scope (as the case list), optionally only those of one "
        "status or channel, or only the selected case numbers (`cases`, comma-separated; numbers "
        "outside the scope are left out). Never an informant's identity: the pseudonym only. CSV and "
        "XLSX carry the headings `intake reports import` reads; JSON Lines is the interchange format "
        "(`intake/interchange/case.schema.json`, docs/data.md). Each export is an audit event "
        "(`cases_exported`). `X-Export-Count` gives the number of cases.",
        query=schema.ExportQuery,
        answers=_authed(
            Answer(
                "The file (`Content-Disposition: attachment`, `Cache-Control: no-store`)",
                content={
                    "text/csv": {"type": "string"},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "type": "string",
                        "contentEncoding": "binary",
                    },
                    "application/x-ndjson": {"type": "string"},
                },
                headers={
                    "X-Export-Count": {
                        "description": "How many cases the file holds",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                },
            ),
            {
                422: Answer(
                    "Unknown format (`invalid_format`), status (`invalid_status`) or channel "
                    "(`invalid_channel`), or a malformed case list (`invalid_field`)"
                )
            },
        ),
    ),
    _op(
        "POST",
        f"{P}/letters/ocr",
        "ocrLetter",
        "Propose the text of a scanned letter (识别来信扫描件)",
        description="OCR (Tesseract, Simplified Chinese) of an image or PDF scan, for the registrar to "
        "correct before filing the letter with `POST /api/v1/staff/reports` (the scan goes with it as "
        "an attachment, as before). Nothing is stored. The informant's details in the text are found "
        "and sealed when the letter is filed; `identity_found` says how many the text seems to hold. "
        "Registrars, triage officers and supervisors only.",
        body=schema.LetterScan,
        answers={
            200: Answer("The proposed text (`Cache-Control: no-store`)", schema.OcrProposal),
            **BODY_ERRORS,
            403: Answer("The caller's role may not file letters (`role_not_allowed`)"),
            422: Answer(
                "Not base64 (`invalid_attachment`), not an image or PDF, or damaged (`unreadable_scan`), "
                "too many pages (`too_many_pages`), or OCR failed or timed out (`ocr_failed`, `ocr_timeout`)"
            ),
            **UNAUTHORIZED,
            501: Answer("OCR is not installed on this server (`ocr_unavailable`): type the letter in"),
            **UNAVAILABLE,
        },
    ),
    _op(
        "GET",
        f"{P}/openapi.json",
        "staffOpenapi",
        "This document (接口说明)",
        description="No login: it describes the API, it reveals no data.",
        public=True,
        answers={200: Answer("The OpenAPI 3.1 document", openapi.OpenApiDocument)},
    ),
    _op(
        "POST",
        "/api/v1/recusals",
        "informantRecusal",
        "The informant asks the handler to step aside (申请回避, S1 art 35)",
        description="No login: the informant's query code (查询码) identifies the case. The same "
        "request as `POST /api/v1/reviews` with `kind: recusal`.",
        public=True,
        body=schema.RecusalRequest,
        answers={
            202: Answer("Received", schema.RecusalReceived),
            **BODY_ERRORS,
            404: Answer("No case has this query code (`not_found`)"),
            409: Answer(
                "The case is closed (`case_closed`) or merged (`merged`), or it changed meanwhile; "
                "try again (`stale_case`)"
            ),
            422: Answer("A field is missing, empty or too long"),
            **THROTTLED,
            **UNAVAILABLE,
        },
    ),
    *stats_operations(_op, _authed, P),
)


def document(*, divisions: Sequence[str], units: Sequence[str], max_files: int) -> dict[str, Any]:
    """The document of this deployment: its divisions and units, its limit on attachments."""
    return openapi.document(
        INFO,
        OPERATIONS,
        security_schemes=SECURITY_SCHEMES,
        security=[{"bearerAuth": []}],
        overrides={
            "Location.division_code": {"enum": ["", *divisions]},
            "Filing.attachments": {"maxItems": max_files},
            "TriageDecision.unit": {"enum": list(units)},
        },
    )
