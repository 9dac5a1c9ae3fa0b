"""The app API's request bodies, typed at the edge: known keys only, bounded strings, clear errors."""

from __future__ import annotations

from typing import Any

from intake.domain import Accused, Location, Reporter
from intake.errors import ValidationError


def _str(doc: dict[str, Any], key: str, where: str, limit: int) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where}{key} 应为字符串。", code="invalid_field")
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{where}{key} 不能超过 {limit} 字。", code="field_too_long")
    return value or None


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{key} 应为 JSON 对象。", code="invalid_field")
    return value


def content(doc: dict[str, Any], limit: int) -> str:
    value = doc.get("content")
    if value is None:
        raise ValidationError("请填写举报内容（content）。", code="content_required")
    if not isinstance(value, str):
        raise ValidationError("content 应为字符串。", code="invalid_field")
    if not value.strip():
        raise ValidationError("举报内容（content）不能为空。", code="content_required")
    if len(value) > limit:
        raise ValidationError(f"content 不能超过 {limit} 字。", code="content_too_long")
    return value.strip()


def accused(doc: dict[str, Any]) -> Accused:
    a = _obj(doc, "accused")
    return Accused(
        _str(a, "name", "accused.", 100),
        _str(a, "unit", "accused.", 200),
        _str(a, "position", "accused.", 100),
    )


def location(doc: dict[str, Any]) -> Location:
    loc = _obj(doc, "location")
    code = _str(loc, "division_code", "location.", 12)
    if code is not None and not (code.isascii() and code.isdigit() and len(code) >= 2):
        raise ValidationError(
            "location.division_code 应为 2 至 12 位数字的行政区划代码。", code="invalid_division_code"
        )
    return Location(code, _str(loc, "text", "location.", 200))


def reporter(doc: dict[str, Any]) -> Reporter:
    r = _obj(doc, "reporter")
    return Reporter(
        _str(r, "name", "reporter.", 50),
        _str(r, "id_number", "reporter.", 32),
        _str(r, "phone", "reporter.", 32),
        _str(r, "address", "reporter.", 200),
    )


def handles(doc: dict[str, Any], ip: str) -> dict[str, str]:
    """The app's addresses, sealed as identity: the client IP and, when the app sends one, its push
    token (``device_token``), so that replies reach the informant as notifications."""
    out = {"ip": ip}
    token = _str(doc, "device_token", "", 4096)
    if token:
        if not token.isascii() or not token.isprintable():
            raise ValidationError("device_token 应为可打印的 ASCII 字符。", code="invalid_field")
        out["app_device"] = token
    return out


def anonymous(doc: dict[str, Any]) -> bool:
    value = doc.get("anonymous", False)
    if not isinstance(value, bool):
        raise ValidationError("anonymous 应为 true 或 false。", code="invalid_field")
    return value


def query_code(doc: dict[str, Any]) -> str:
    value = doc.get("query_code")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("请提供查询码（query_code）。", code="query_code_required")
    return value[:64]


def optional_str(doc: dict[str, Any], key: str, limit: int) -> str | None:
    return _str(doc, key, "", limit)
