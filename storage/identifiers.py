"""Normalising identifiers for blind indexes: one canonical form per phone number (E.164), resident
ID number (18 characters, the 15-digit form converted), e-mail address and channel handle, so the
same informant gives the same index however they wrote it. Index kinds and the names channels may
use for them are here too."""

from __future__ import annotations

import re
import unicodedata

# Index kinds, strongest first: the pseudonym follows the strongest identifier an informant gave.
INDEX_KINDS = (
    "id_number",
    "phone",
    "email",
    "wechat_openid",
    "telegram_chat_id",
    "weibo_uid",
    "app_device",
)
# Names the channels may use for the same handles (``Submission.handles`` keys).
KIND_ALIASES = {
    "mobile": "phone",
    "landline": "phone",
    "tel": "phone",
    "openid": "wechat_openid",
    "wechat": "wechat_openid",
    "chat_id": "telegram_chat_id",
    "telegram": "telegram_chat_id",
    "weibo": "weibo_uid",
    "device": "app_device",
    "device_token": "app_device",
}

_SEPARATORS = re.compile(r"[\s\-–—()（）.·/]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _fold(value: str) -> str:
    """Full-width digits, letters and symbols to ASCII (NFKC), trimmed."""
    return unicodedata.normalize("NFKC", value).strip()


def normalize_phone(raw: str) -> str | None:
    """A phone number in E.164 (``+8613912345678``, ``+861012345678``), or None.

    Mainland mobiles (11 digits from 13–19) and landlines with their area code (``010-12345678``,
    ``0731-84567890``) get ``+86``; numbers given with ``+`` / ``00`` and a country code keep it.
    Extensions (``转123``, ``ext. 9``) are dropped. A bare local number without area code cannot be
    made unique and gives None.
    """
    text = _fold(raw)
    text = re.split(r"(?:转|分机|ext\.?|x)\s*\d+\s*$", text, flags=re.IGNORECASE)[0]
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit() or not 8 <= len(digits) <= 15:
            return None
        if digits.startswith("86"):
            return _china(digits[2:], international=True)
        return "+" + digits
    if not text.isdigit():
        return None
    if len(text) == 13 and text.startswith("86") and _MOBILE.fullmatch(text[2:]):
        return "+" + text
    return _china(text, international=False)


def _china(national: str, *, international: bool) -> str | None:
    if _MOBILE.fullmatch(national):
        return "+86" + national
    if national.startswith("0"):
        national = national[1:]  # the trunk prefix is not dialled from abroad
    elif not international:
        return None
    # Area code (2–3 digits, not starting with 0) and a 7–8 digit subscriber number.
    if national.isdigit() and not national.startswith("0") and 9 <= len(national) <= 11:
        return "+86" + national
    return None


def normalize_id_number(raw: str) -> str | None:
    """A resident ID number: 18 characters, check character upper case; the old 15-digit form is
    converted (``19`` inserted, check character computed). None when it is not one."""
    text = _SEPARATORS.sub("", _fold(raw)).upper()
    if len(text) == 15 and text.isdigit():
        base = text[:6] + "19" + text[6:]
        return base + _id_check(base)
    if len(text) == 18 and text[:17].isdigit() and (text[17].isdigit() or text[17] == "X"):
        return text
    return None


def _id_check(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_number_checksum_ok(number: str) -> bool:
    return len(number) == 18 and number[:17].isdigit() and _id_check(number[:17]) == number[17]


def normalize_email(raw: str) -> str | None:
    text = _fold(raw).lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode()
        except UnicodeError:
            return None
    return f"{local}@{domain}"


def normalize_handle(kind: str, raw: str) -> str | None:
    """A channel handle as the platform compares it: WeChat openids are case-sensitive tokens,
    Weibo uids and Telegram chat ids are integers, app device tokens are opaque."""
    text = _fold(raw)
    if not text or any(c.isspace() for c in text) or len(text) > 256:
        return None
    if kind in ("weibo_uid", "telegram_chat_id"):
        sign = "-" if kind == "telegram_chat_id" and text.startswith("-") else ""
        digits = text[len(sign) :]
        return sign + str(int(digits)) if digits.isdigit() else None
    return text


def canonical_kind(kind: str) -> str | None:
    kind = KIND_ALIASES.get(kind, kind)
    return kind if kind in INDEX_KINDS else None


def normalize(kind: str, raw: str) -> str | None:
    """The canonical form of an identifier of ``kind`` (aliases accepted), or None when the kind is
    not indexed (names, addresses, IP addresses) or the value is not a valid one of its kind."""
    canonical = canonical_kind(kind)
    if canonical is None or not raw:
        return None
    if canonical == "phone":
        return normalize_phone(raw)
    if canonical == "id_number":
        return normalize_id_number(raw)
    if canonical == "email":
        return normalize_email(raw)
    return normalize_handle(canonical, raw)
