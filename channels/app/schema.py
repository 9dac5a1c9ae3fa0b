"""The app API's requests and responses as models: they validate the bodies and generate the
document (:mod:`channels.app.openapi`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from channels.schema import (
    Accused,
    Content,
    DateTime,
    Location,
    OptionalText,
    QueryCode,
    Reporter,
    RequestModel,
    ResponseModel,
    blank_to_none,
)
from intake import domain
from intake.errors import IntakeError
from intake.limits import FIELD_LIMITS, MAX_EXTERNAL_ID

# Printable ASCII, 1–200 characters, no space at either end (HTTP would strip it).
IDEMPOTENCY_KEY = rf"^[!-~](?:[ -~]{{0,{MAX_EXTERNAL_ID - 2}}}[!-~])?$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)


class NewReport(RequestModel):
    """A report (举报) from the app. Unknown keys are ignored; the channel comes from the route."""

    content: Content
    title: OptionalText = Field(None, max_length=FIELD_LIMITS["title"])
    category: OptionalText = Field(None, max_length=FIELD_LIMITS["category"])
    accused: Accused | None = None
    location: Location | None = None
    reporter: Reporter | None = Field(None, description="Identity: sealed in the vault")
    anonymous: bool = False
    unit: Annotated[str | None, AfterValidator(blank_to_none)] = Field(
        None,
        pattern=r"^([0-9]{2,12})?$",
        description="The receiving unit (受理单位): the code of one of this platform's units, intake "
        "points (villages) included — the case number carries it; 422 `unknown_unit` when there is "
        "no such unit; empty or absent: the deployment's receiving unit",
        examples=["430121102"],
    )
    device_token: OptionalText = Field(
        None,
        max_length=4096,
        pattern=r"^[ -~]*$",
        description="The app's push token (printable ASCII): sealed in the vault; replies and status "
        "changes are pushed to it through INTAKE_APP_PUSH_URL",
    )

    def submission(self, external_id: str | None, ip: str) -> domain.Submission:
        handles = {"ip": ip}
        if self.device_token:
            handles["app_device"] = self.device_token
        return domain.Submission(
            channel="app",
            content=self.content,
            title=self.title,
            category=self.category,
            accused=Accused.to_domain(self.accused),
            location=Location.to_domain(self.location),
            reporter=Reporter.to_domain(self.reporter),
            anonymous=self.anonymous,
            external_id=external_id,
            handles=handles,
            receiving_unit=self.unit,
        )


class StatusRequest(RequestModel):
    query_code: QueryCode


class Followup(RequestModel):
    query_code: QueryCode
    content: Content


class SignedReceipt(ResponseModel):
    """受理回执: anyone can check it with the key at ``GET /api/v1/receipt-key``."""

    case_no: str = Field(examples=["2026-430121-000123"])
    unit: str = Field(description="The receiving unit's code", examples=["430121"])
    received_at: str = Field(
        description="When it was received: ISO 8601 in UTC, exactly the text that is signed",
        examples=["2026-12-02T06:30:01.123456+00:00"],
    )
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the report's text as stored: title, a line break and content "
        "when there is a title, else the content; the informant's own details redacted",
    )
    signature: str = Field(
        description="Ed25519 signature (base64) over the UTF-8 JSON of the four fields above, keys "
        "sorted, no spaces"
    )


class ReceiptKey(ResponseModel):
    alg: Literal["Ed25519"]
    public_key: str = Field(description="The raw 32-byte public key, base64")


class Receipt(ResponseModel):
    case_no: str = Field(examples=["2026-430121-000123"])
    query_code: str | None = Field(
        pattern=r"^[0-9]{16}$", description="Shown once; null only for a retry after the 24-hour window"
    )
    query_code_display: str | None = Field(description="The query code in groups of four, to read out")
    channel: str
    status: str
    received_at: DateTime
    receipt: SignedReceipt


class StatusReply(ResponseModel):
    at: DateTime
    text: str


class Status(ResponseModel):
    case_no: str
    channel: str
    status: str
    status_label: str
    received_at: DateTime
    updated_at: DateTime
    replies: list[StatusReply]
    followups: int = Field(description="How many follow-ups the informant added")


class FollowupAdded(ResponseModel):
    case_no: str
    status: Literal["added"] = "added"


def idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: absent, or as the document's pattern says (400 otherwise)."""
    if value is not None and not _IDEMPOTENCY_KEY.fullmatch(value):
        raise IntakeError(
            f"Idempotency-Key 应为 1 至 {MAX_EXTERNAL_ID} 个可打印 ASCII 字符。",
            code="invalid_idempotency_key",
            status=400,
        )
    return value
