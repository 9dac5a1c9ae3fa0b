"""WeChat's XML: parsing (``defusedxml``, no DTDs or entities, bounded fields, control characters
removed), the safe-mode envelope around it, and the passive reply. The signature and the cipher are
in ``channels.verify``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from channels.base import strip_controls
from channels.verify import WeChatCipher, WeChatCryptoError, wechat_msg_signature
from intake.errors import IntakeError

MAX_FIELD = 20_000  # WeChat text messages are at most 2048 bytes; keep a margin, bound the rest
FIELDS = (
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "Content",
    "MediaId",
    "PicUrl",
    "Format",
    "Recognition",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "Event",
    "EventKey",
    "Encrypt",
)


# The C0 controls XML 1.0 forbids outright, as bytes (no UTF-8 sequence contains one). A push
# holding one is not XML, but WeChat needs its answer: they are removed before parsing.
_XML_FORBIDDEN = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def bad_xml() -> IntakeError:
    return IntakeError("请求体不是可接受的 XML。", code="invalid_xml", status=400)


def parse_xml(raw: bytes | str) -> dict[str, str]:
    """The ``<xml>`` document's known child elements as text. DTDs, entities and external
    references are refused (400) before anything is expanded; unknown elements are dropped."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        root = fromstring(
            raw.translate(None, _XML_FORBIDDEN), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (DefusedXmlException, ParseError, ValueError):
        raise bad_xml() from None
    if root.tag != "xml":
        raise bad_xml()
    out: dict[str, str] = {}
    for child in root:
        if child.tag in FIELDS and child.tag not in out:
            out[child.tag] = strip_controls(child.text or "").strip()[:MAX_FIELD]
    return out


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text(to_user: str, from_user: str, text: str, now: int) -> str:
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(text)}</Content></xml>"
    )


def open_envelope(cipher: WeChatCipher, encrypt: str) -> dict[str, str]:
    try:
        inner = cipher.decrypt(encrypt)
    except WeChatCryptoError:
        raise IntakeError("消息无法解密。", code="invalid_signature", status=401) from None
    return parse_xml(inner)


def seal_reply(cipher: WeChatCipher, token: str, reply_xml: str, now: int) -> str:
    """The passive reply in safe mode: the encrypted reply, signed with a fresh nonce."""
    encrypt = cipher.encrypt(reply_xml.encode())
    nonce = str(secrets.randbelow(10**10))
    signature = wechat_msg_signature(token, str(now), nonce, encrypt)
    return (
        f"<xml><Encrypt>{cdata(encrypt)}</Encrypt><MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{now}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )


def query(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value is not None and len(value) <= 256 else None
