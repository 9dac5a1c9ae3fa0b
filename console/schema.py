"""The staff API's requests and responses as models: they validate the bodies and query strings,
shape what is sent back, and generate the document (:mod:`console.openapi`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from channels.schema import (
    NOT_BLANK,
    Accused,
    Content,
    Date,
    DateTime,
    IsoDate,
    Location,
    OneOf,
    OptionalText,
    QueryCode,
    QueryModel,
    Reporter,
    RequestModel,
    ResponseModel,
)
from console.clue_schema import CLUE_ACTIONS_DOC, CLUE_METHOD_DOC, CLUE_OUTCOMES_DOC, ClueView
from intake.domain import CHANNELS, STATUS_LABELS
from intake.limits import FIELD_LIMITS
from intake.triage_service import CORRECTABLE
from intake.workflow import ACTIONS
from intake.workflow.outcomes import OUTCOMES

FILING_CHANNELS = ("letter", "visit")
ACTION_TEXT = 5000  # the longest free text an action carries (a reply, a reason)
Line = Annotated[str, Field(max_length=256)]
ActionText = Annotated[str | None, Field(max_length=ACTION_TEXT)]
Days = Annotated[int, Field(ge=0, le=365)]

# --- requests -------------------------------------------------------------------------------------


class Login(RequestModel):
    username: Line
    password: Line
    totp: Line = Field(description="The current 6-digit TOTP code (动态口令)")


class Relation(RequestModel):
    person_name: str = Field(max_length=100, pattern=NOT_BLANK, description="The person (关系人)")
    person_unit: str | None = Field(None, max_length=200)
    relation: str = Field(max_length=32, pattern=NOT_BLANK, description="e.g. 配偶, 同学")


class Attachment(RequestModel):
    filename: str | None = Field(None, max_length=255)
    data: str = Field(json_schema_extra={"contentEncoding": "base64"})
    identifying: bool = Field(False, description="Identity proof (envelope, signed page): sealed")


class Filing(RequestModel):
    """A letter (来信) or a visit (来访) as the registrar takes it down."""

    channel: Annotated[str, OneOf(FILING_CHANNELS, "invalid_channel", "channel 只能是 letter 或 visit。")]
    content: Content
    title: OptionalText = Field(None, max_length=FIELD_LIMITS["title"])
    category: OptionalText = Field(None, max_length=FIELD_LIMITS["category"])
    accused: Accused | None = None
    location: Location | None = None
    reporter: Reporter | None = Field(None, description="The visitor's or writer's identity: sealed")
    anonymous: bool | None = Field(None, description="Default: true when no reporter is given")
    external_id: str | None = Field(
        None, min_length=1, max_length=100, description="The caller's key: a repeat files one case"
    )
    attachments: list[Attachment] | None = Field(None, description="The letter's scans (images or PDF)")


class ActionRequest(RequestModel):
    action: Annotated[str, OneOf(ACTIONS, "unknown_action", f"action 只能是 {'、'.join(ACTIONS)}。")] = Field(
        description="登记, 受理, 告知/转送 (redirect: organ, reason), 交办/指定承办人 (assign: handler or "
        "to_unit), 转办 (transfer: to_unit), 督办 (supervise: reason, deadline), 答复 (reply: text), "
        "办结 (close: outcome, text — the final reply, needed unless already answered — and "
        "confirm: true; no more replies after it but the explanation of an objection), "
        "重新办理 (reopen: kind, hearing_days), 并案 (merge: target), 延长期限 (extend: "
        "deadline_id, approval, reason, deadline), 回避 (request_recusal: kind, handler, reason; "
        "decide_recusal: recusal_id, decision), 答复督办函 (answer_supervision: text, notice_id), "
        "审核督办函 (close_supervision: decision close|return, reason and deadline to return, notice_id), "
        + CLUE_ACTIONS_DOC
    )
    to_unit: ActionText = Field(None, description="The unit to transfer or assign to (单位代码)")
    handler: ActionText = Field(None, description="The handler (承办人) username")
    text: ActionText = Field(None, description="The reply to the informant (答复)")
    reason: ActionText = None
    deadline: IsoDate | None = None
    target: ActionText = Field(None, description="merge: the case number to merge into")
    kind: ActionText = Field(
        None, description="reopen: review | objection | new_evidence; request_recusal: informant | staff"
    )
    organ: ActionText = Field(None, description="redirect: the organ to go to (有权处理的机关)")
    deadline_id: int | None = None
    approval: ActionText = Field(
        None,
        description="extend: who approved (批准人); clue_approve at the level of the same-level Party "
        "committee's main leader: the approval's reference (批件文号或批示)",
    )
    hearing_days: Days | None = None
    recusal_id: int | None = None
    notice_id: int | None = Field(
        None, description="answer_supervision, close_supervision: the notice (督办函); default: the open one"
    )
    decision: ActionText = Field(
        None, description="decide_recusal: the decision; close_supervision: close (办结) or return (退回)"
    )
    outcome: ActionText = Field(
        None,
        description="close: "
        + "; ".join(f"{o.code} {o.label} ({o.track}, {o.basis})" for o in OUTCOMES)
        + CLUE_OUTCOMES_DOC,
    )
    confirm: bool | None = Field(None, description="close: true — the officer confirms the closing")
    method: ActionText = Field(None, description=CLUE_METHOD_DOC)
    leader_case: bool | None = Field(
        None,
        description="clue_propose, clue_report: true — the accused is a main leader (主要负责人) of a "
        "unit under the commission: the clue needs the main leader's approval for a talk or letter "
        "(规则第二十七条), also the same-level Party committee's for 初步核实 (第三十三条), and is reported "
        "to the commission above (第二十二条); once said it stays with the clue",
    )


def _correctable(name: str) -> OneOf:
    values = CORRECTABLE[name] or ()
    return OneOf(values, "invalid_value", f"{name} 只能是 {'、'.join(values)}。")


class TriageDecision(RequestModel):
    confirm: bool | None = Field(None, description="Confirm the suggestion as it is")
    category: str | None = Field(
        None, max_length=64, pattern=NOT_BLANK, description="The category (问题类别)"
    )
    scope: Annotated[str, _correctable("scope")] | None = None
    level: Annotated[str, _correctable("level")] | None = None
    priority: Annotated[str, _correctable("priority")] | None = None
    unit: str | None = Field(None, max_length=64, description="A unit code of the jurisdiction")


class RecusalRequest(RequestModel):
    query_code: QueryCode
    reason: str = Field(max_length=2000)


class ReportsQuery(QueryModel):
    status: Annotated[str, OneOf(tuple(STATUS_LABELS), "invalid_status", "未知的状态。")] | None = Field(
        None, description="Only cases in this status (状态)"
    )
    channel: Annotated[str, OneOf(CHANNELS, "invalid_channel", "未知的渠道。")] | None = Field(
        None, description="Only cases filed through this channel (渠道)"
    )
    category: str | None = Field(
        None, max_length=64, description="Only cases of this category (问题类别), as filed or as triaged"
    )
    deadline: Days | None = Field(
        None, description="Only cases with an open deadline (期限) due within this many days"
    )


class DeadlinesQuery(QueryModel):
    within: Days = Field(10, description="Due within this many days")


# --- responses ------------------------------------------------------------------------------------


class Ok(ResponseModel):
    ok: Literal[True] = True


class StaffInfo(ResponseModel):
    username: str
    unit: str
    role: str


class Session(ResponseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the scheme, not a secret)
    expires_at: DateTime
    staff: StaffInfo


class Me(StaffInfo):
    units: list[str] = Field(description="The units in the caller's sight")


class ReportRow(ResponseModel):
    case_no: str
    channel: str
    status: str
    status_label: str
    title: str | None
    category: str | None
    owner_unit: str = Field(description="The unit handling the case (承办单位)")
    receiving_unit: str = Field(description="The unit that received it (受理单位): its case number's code")
    handler: str | None
    informant: str = Field(description="The pseudonym (检举人XXXX)")
    received_at: DateTime
    next_due: Date | None


class ReportList(ResponseModel):
    reports: list[ReportRow]


class SignedReceipt(ResponseModel):
    """受理回执: checkable by anyone with the key at ``GET /api/v1/receipt-key``."""

    case_no: str
    unit: str = Field(description="The receiving unit's code")
    received_at: str = Field(description="ISO 8601 in UTC, exactly the text that is signed")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the text as stored")
    signature: str = Field(
        description="Ed25519 (base64) over the UTF-8 JSON of the four fields, keys sorted, no spaces"
    )


class FilingReceipt(ResponseModel):
    case_no: str
    query_code: str | None = Field(description="The query code (查询码) to hand over; shown once")
    channel: str = Field(json_schema_extra={"enum": list(FILING_CHANNELS)})
    status: Literal["registered"] = "registered"
    received_at: DateTime
    receipt: SignedReceipt


class CaseRef(ResponseModel):
    case_no: str
    channel: str


class UnitRef(ResponseModel):
    id: str
    name: str | None


class AccusedView(ResponseModel):
    name: str | None
    unit: str | None
    position: str | None


class LocationView(ResponseModel):
    division_code: str | None
    text: str | None


class DeadlineView(ResponseModel):
    id: int
    rule: str
    label: str
    unit: str
    start_on: Date
    due_on: Date
    extensions: int
    status: str
    colour: Literal["green", "yellow", "red"] = Field(
        description="green 正常; yellow 临期 (at most 5 working days left); red 超期 (overdue)"
    )
    colour_label: str = Field(description="正常, 临期 or 超期")


class NoticeView(ResponseModel):
    """A supervision notice (督办函): pending 待答复, answered 已答复, closed 已办结."""

    id: int
    from_unit: UnitRef
    to_unit: UnitRef
    reason: str
    reply_due: Date | None
    status: Literal["pending", "answered", "closed"]
    status_label: str
    answer: str | None
    created_by: str
    created_at: DateTime
    answered_at: DateTime | None
    closed_at: DateTime | None


class TransferView(ResponseModel):
    kind: str
    from_unit: str | None
    to_unit: str | None
    to_organ: str | None
    sealed: bool
    actor: str
    at: DateTime


class RecusalView(ResponseModel):
    id: int
    requested_by: str
    target: str | None
    status: str
    at: DateTime


class FeedbackView(ResponseModel):
    rating: str = Field(description="satisfied 满意 · basically_satisfied 基本满意 · dissatisfied 不满意")
    comment: str | None = Field(description="The informant's words, redacted of their own details")
    channel: str
    reply_at: DateTime = Field(description="The answer rated (the case's reply time then)")
    at: DateTime


class ReviewView(ResponseModel):
    id: int
    kind: str = Field(description="review 复查 · re_review 复核 · objection 异议")
    reason: str
    from_unit: str
    to_unit: str
    channel: str
    at: DateTime
    due_on: str


class ThreadMessage(ResponseModel):
    direction: str
    channel: str | None
    at: DateTime
    text: str


class TimelineEvent(ResponseModel):
    seq: int
    kind: str
    actor: str | None
    at: DateTime
    payload: Any


class Case(ResponseModel):
    case_no: str
    channel: str
    channels: list[CaseRef] = Field(description="This case and the cases merged into it (并案)")
    status: str
    status_label: str
    title: str | None
    content: str
    category: str | None
    accused: AccusedView
    location: LocationView
    informant: str = Field(description="The pseudonym (检举人XXXX), never the identity")
    anonymous: bool
    received_at: DateTime
    updated_at: DateTime
    receiving_unit: UnitRef
    owner_unit: UnitRef
    handler: str | None
    sealed: bool
    merged_into: str | None
    review_stage: int
    attachments: int = Field(description="How many evidence attachments")
    triage: dict[str, Any] | None = Field(
        description="The triage suggestion (分流建议): category, scope, level, unit, priority, "
        "confidence, explanations (every decision in plain Chinese: {decision, text, words: [{text, "
        "start, end}], confidence, confidence_label 高/中/低, confidence_text}), duplicate_of, "
        "needs_review, transfer, advice, redirect_to"
    )
    deadlines: list[DeadlineView]
    supervision_notices: list[NoticeView] = Field(default_factory=list, description="督办函")
    transfers: list[TransferView] = Field(description="转办 / 交办 / 移送")
    recusals: list[RecusalView] = Field(description="回避申请")
    feedback: list[FeedbackView] = Field(default_factory=list, description="满意度评价, once per answer")
    reviews: list[ReviewView] = Field(default_factory=list, description="复查 / 复核 / 异议 requests")
    thread: list[ThreadMessage] = Field(description="Follow-ups (补充材料) and replies (答复)")
    clue: ClueView | None = Field(None, description="The problem clue (问题线索) of an accepted accusation")
    timeline: list[TimelineEvent] = Field(description="The case's audit events (全程留痕)")


class SentUp(ResponseModel):
    """The action sent the case out of the caller's sight (e.g. up the tree, sealed)."""

    case_no: str
    status: Literal["transferred"] = "transferred"
    visible: Literal[False] = False


class TriageResult(ResponseModel):
    case_no: str
    triage: dict[str, Any] = Field(description="The stored triage result")


class BoardDeadline(ResponseModel):
    id: int
    case_no: str
    rule: str
    label: str
    unit: str
    unit_name: str | None
    due_on: Date
    days_left: int
    overdue: bool
    colour: Literal["green", "yellow", "red"]
    colour_label: str


class UnitCount(ResponseModel):
    unit: str
    unit_name: str | None
    overdue: int
    due_soon: int


class DeadlineBoard(ResponseModel):
    today: Date
    overdue: list[BoardDeadline]  # the first 200, most urgent first
    due_soon: list[BoardDeadline]  # the first 200, most urgent first
    overdue_total: int
    due_soon_total: int
    by_unit: list[UnitCount]


class QueueItem(ResponseModel):
    case_no: str
    received_at: DateTime
    category: str | None
    scope: str | None
    level: str | None
    unit: dict[str, Any] | None
    priority: str | None
    confidence: float | None


class TriageQueue(ResponseModel):
    needs_review: list[QueueItem]


class RecusalReceived(ResponseModel):
    case_no: str
    status: Literal["received"] = "received"


# --- data in and out (issue 22) -------------------------------------------------------------------

EXPORT_FORMATS = ("csv", "xlsx", "jsonl")


class ExportQuery(QueryModel):
    format: Annotated[str, OneOf(EXPORT_FORMATS, "invalid_format", "导出格式应为 csv、xlsx 或 jsonl。")] = (
        Field(description="csv, xlsx (the headings the import reads) or jsonl (the interchange format)")
    )
    status: Annotated[str, OneOf(tuple(STATUS_LABELS), "invalid_status", "未知的状态。")] | None = Field(
        None, description="Only cases in this status (状态)"
    )
    channel: Annotated[str, OneOf(CHANNELS, "invalid_channel", "未知的渠道。")] | None = Field(
        None, description="Only cases filed through this channel (渠道)"
    )
    cases: str | None = Field(
        None,
        max_length=6600,
        pattern=r"^[0-9A-Za-z-]{1,32}(,[0-9A-Za-z-]{1,32}){0,199}$",
        description="Only these cases (the selected ones): up to 200 case numbers, comma-separated",
    )


class LetterScan(RequestModel):
    """A scanned letter (image or PDF) for OCR: nothing is stored."""

    filename: str | None = Field(None, max_length=255)
    data: str = Field(json_schema_extra={"contentEncoding": "base64"})


class OcrProposal(ResponseModel):
    text: str = Field(description="The proposed text, for the officer to correct before filing")
    pages: int
    identity_found: int = Field(
        description="How many of the informant's details (name, phone, ID number, address) the text "
        "seems to hold: sealed when the letter is filed"
    )
