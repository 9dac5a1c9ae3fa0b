"""The JSON APIs' request and response shapes, typed once: the models validate what comes in, build
what goes out, and generate the OpenAPI documents (:mod:`channels.openapi`), so the documents cannot
drift from the server.

Requests are parsed by the shared reader (:func:`channels.base.read_bounded_json`,
:func:`channels.base.parse_json_object`) and validated here with :func:`validated` (bodies) or
:func:`validated_query` (query strings). Pydantic's structured errors (type + location) become our
:class:`~intake.errors.ValidationError` codes in one place, :func:`intake_error`: messages in
Simplified Chinese naming the field, never repeating the value (it may be identity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import pydantic
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

from intake import domain
from intake.errors import ValidationError
from intake.limits import FIELD_LIMITS, MAX_CONTENT
from intake.text import check_text

M = TypeVar("M", bound=BaseModel)


class RequestModel(BaseModel):
    """A request body or query: unknown keys dropped, no coercion of JSON types ("5" is not 5)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class QueryModel(BaseModel):
    """Query parameters: text from the URL, so numbers are parsed ("30" is 30) but bounded."""

    model_config = ConfigDict(extra="ignore")


class ResponseModel(BaseModel):
    """A response: every field is always sent (null when empty), so the document says required."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def render(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` (built as a dict) checked against this model and sent as the model writes it: the
        server cannot send what its document does not say."""
        return cls.model_validate(data).body()


# --- field types ----------------------------------------------------------------------------------


def _blank_to_none(value: str | None) -> str | None:
    """Optional text is stripped; nothing but spaces counts as not given."""
    if value is None:
        return None
    return value.strip() or None


blank_to_none = _blank_to_none  # for the models of the channels' own folders


def _strip(value: str) -> str:
    return value.strip()


@dataclass(frozen=True)
class OneOf:
    """A text that must be one of ``values``: an ``enum`` in the document, ``code`` when not."""

    values: tuple[str, ...]
    code: str
    message: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        allowed = frozenset(self.values)

        def check(value: str) -> str:
            if value not in allowed:
                raise refusal(self.code, self.message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(schema)
        out["enum"] = list(self.values)
        return out


def refusal(code: str, message: str) -> PydanticCustomError:
    """An error a validator raises with our own code (``intake_error`` passes it through)."""
    return PydanticCustomError(code, message, {"intake_code": code})


NOT_BLANK = r"\S"  # a pattern: at least one character that is not a space

# Optional text: stripped, blank → null; bound it with ``Field(None, max_length=…)``.
OptionalText = Annotated[str | None, AfterValidator(_blank_to_none)]
# A report's or follow-up's text: required, not blank, stripped.
Content = Annotated[
    str,
    Field(max_length=MAX_CONTENT, pattern=NOT_BLANK, description="The facts (主要问题)"),
    AfterValidator(_strip),
]
# A query code (查询码) as people copy it (spaces allowed); a wrong one answers 404.
QueryCode = Annotated[
    str,
    Field(max_length=64, pattern=NOT_BLANK, description="The query code (查询码), 16 digits"),
]
# A calendar date, YYYY-MM-DD only (no timestamps, no week dates).
IsoDate = Annotated[
    str,
    Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", json_schema_extra={"format": "date"}),
]
# Times and dates in responses, as the server has always written them (``isoformat``).
DateTime = Annotated[
    datetime,
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Date = Annotated[
    date,
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date"}),
]


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("日期无效，应为 YYYY-MM-DD。", code="invalid_field") from None


# --- the report's parts (the app's report and the staff's letters and visits) --------------------


class Accused(RequestModel):
    """被反映人: the person the report is about."""

    name: OptionalText = Field(None, max_length=FIELD_LIMITS["accused.name"])
    unit: OptionalText = Field(None, max_length=FIELD_LIMITS["accused.unit"])
    position: OptionalText = Field(None, max_length=FIELD_LIMITS["accused.position"])

    @staticmethod
    def to_domain(given: Accused | None) -> domain.Accused:
        return domain.Accused(given.name, given.unit, given.position) if given else domain.Accused()


class Location(RequestModel):
    """Where it happened: a division of this deployment's jurisdiction, and/or words."""

    division_code: Annotated[str | None, AfterValidator(_blank_to_none)] = Field(
        None,
        pattern=r"^([0-9]{2,12})?$",
        description="行政区划代码: one of the jurisdiction's divisions (422 `unknown_division` "
        "otherwise); empty means not given",
    )
    text: OptionalText = Field(None, max_length=FIELD_LIMITS["location.text"])

    @staticmethod
    def to_domain(given: Location | None) -> domain.Location:
        return domain.Location(given.division_code, given.text) if given else domain.Location()


class Reporter(RequestModel):
    """The informant's identity: sealed in the vault at once, never shown to handlers."""

    name: OptionalText = Field(None, max_length=FIELD_LIMITS["reporter.name"])
    id_number: OptionalText = Field(None, max_length=FIELD_LIMITS["reporter.id_number"])
    phone: OptionalText = Field(None, max_length=FIELD_LIMITS["reporter.phone"])
    address: OptionalText = Field(None, max_length=FIELD_LIMITS["reporter.address"])

    @staticmethod
    def to_domain(given: Reporter | None) -> domain.Reporter:
        if given is None:
            return domain.Reporter()
        return domain.Reporter(given.name, given.id_number, given.phone, given.address)


class ErrorDetail(ResponseModel):
    code: str = Field(description="A stable code, e.g. `content_required`")
    message: str = Field(description="For people, in Simplified Chinese")


class Error(ResponseModel):
    """The error shape of every 4xx and 5xx answer."""

    error: ErrorDetail


# --- pydantic's errors → ours ----------------------------------------------------------------------

# Per field (dotted path, list indexes left out) and kind of error: the codes clients already know.
# A field without an entry takes its nearest parent's, then the default of the kind.
FIELD_CODES: dict[str, dict[str, str]] = {
    "content": {
        "missing": "content_required",
        "null": "content_required",
        "pattern": "content_required",
        "too_long": "content_too_long",
    },
    "query_code": {
        "missing": "query_code_required",
        "null": "query_code_required",
        "pattern": "query_code_required",
    },
    "location.division_code": {"pattern": "invalid_division_code"},
    "unit": {"pattern": "invalid_unit"},
    "action": {"missing": "action_required"},
    "hearing_days": {"range": "invalid_hearing_days"},
    "person_name": {"pattern": "invalid_relation"},
    "relation": {"pattern": "invalid_relation"},
    "category": {"pattern": "invalid_value"},
    "attachments": {"invalid": "invalid_attachment", "missing": "invalid_attachment"},
}
DEFAULT_CODES = {"missing": "field_required", "too_long": "field_too_long"}
# What people call the fields the informant fills in (the rest are named by their path).
LABELS = {"content": "举报内容", "query_code": "查询码", "title": "标题", "deadline": "期限"}

_KINDS = {
    "missing": "missing",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "string_pattern_mismatch": "pattern",
    "greater_than": "range",
    "greater_than_equal": "range",
    "less_than": "range",
    "less_than_equal": "range",
}
_EXPECTED = {
    "string_type": "字符串",
    "string_unicode": "有效的 Unicode 文本",
    "bool_type": "true 或 false",
    "bool_parsing": "true 或 false",
    "int_type": "整数",
    "int_parsing": "整数",
    "int_parsing_size": "整数",
    "int_from_float": "整数",
    "model_type": "JSON 对象",
    "model_attributes_type": "JSON 对象",
    "dict_type": "JSON 对象",
    "list_type": "数组",
}


def intake_error(error: Mapping[str, Any]) -> ValidationError:
    """One pydantic error as our 422: a stable code and a message naming the field."""
    ctx = error.get("ctx") or {}
    loc = [part for part in error["loc"] if part != "body"]
    path = ".".join(str(p) for p in loc if not isinstance(p, int))
    shown = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "请求体"
    if "intake_code" in ctx:
        return ValidationError(error["msg"], code=str(ctx["intake_code"]))
    kind = _KINDS.get(error["type"], "invalid")
    if kind == "invalid" and error["type"].endswith("_type") and error.get("input", ...) is None:
        kind = "null"
    return ValidationError(_message(kind, error["type"], shown, path, ctx), code=_code(kind, path))


def _code(kind: str, path: str) -> str:
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        code = FIELD_CODES.get(".".join(parts[:end]), {}).get(kind)
        if code:
            return code
    return DEFAULT_CODES.get(kind, "invalid_field")


def _message(kind: str, type_: str, shown: str, path: str, ctx: Mapping[str, Any]) -> str:
    name = f"{LABELS[path]}（{shown}）" if path in LABELS else f"{shown} "
    if kind == "missing" or (kind == "null" and path in LABELS):
        return f"请填写{name.rstrip()}。" if path in LABELS else f"请填写 {shown}。"
    if kind == "null":
        return f"{name}不能为空值（null）。"
    if kind == "too_long":
        if type_ == "too_long":
            return f"{name}最多 {ctx.get('max_length')} 项。"
        return f"{name}不能超过 {ctx.get('max_length')} 字。"
    if kind == "too_short" or (kind == "pattern" and ctx.get("pattern") == NOT_BLANK):
        return f"{name}不能为空。"
    if kind == "pattern":
        return f"{name}格式不正确。"
    if kind == "range":
        if "ge" in ctx or "gt" in ctx:
            return f"{name}不能小于 {ctx.get('ge', ctx.get('gt'))}。"
        return f"{name}不能大于 {ctx.get('le', ctx.get('lt'))}。"
    expected = _EXPECTED.get(type_)
    return f"{name}应为{expected}。" if expected else f"{name}的取值无效。"


def validated(model: type[M], doc: Mapping[str, Any]) -> M:
    """``doc`` (a parsed JSON object) as ``model``, or our 422 for the first thing wrong with it."""
    try:
        return model.model_validate(doc)
    except pydantic.ValidationError as exc:
        # The first error only, as the hand-written checks did; ``from None``: pydantic's text
        # repeats the input, which may be identity.
        raise intake_error(exc.errors(include_url=False)[0]) from None


def validated_query(model: type[M], request: web.Request) -> M:
    """The query string as ``model``: the first value of each key; an empty value is not given."""
    values: dict[str, str] = {}
    for key, value in request.query.items():
        if value != "":
            values.setdefault(key, value)
    check_text(*values.values())  # the edge's character policy comes before the field checks
    return validated(model, values)
