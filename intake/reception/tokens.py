"""Short-lived room tokens: one per participant and role, signed with a keyed hash (HMAC).

``v1.<payload>.<mac>``, the payload base64url JSON ``{"room", "role", "sub", "exp", "n"}``: the room
(a session id), the role (``host`` for the township screen where the citizen sits, ``officer`` for
the county, ``supervisor`` for the county console), the seat it holds (``sub``), the expiry (Unix
seconds) and a nonce. A token names no person: it carries no identity and may travel in a
WebSocket message (never in a URL). The key is the deployment's (``Pipeline.mac``); the comparison
is constant-time; the algorithm is fixed here, not read from the token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

ROLES = ("host", "officer", "supervisor")
PURPOSE = "reception-room-token"
MAX_TOKEN = 600


class TokenRejected(Exception):
    """Malformed, forged, expired or for another room. ``reason`` is a short code for metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    room: str
    role: str
    seat: str
    expires: int
    nonce: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RoomTokens:
    def __init__(self, mac: Callable[[str, bytes], str], ttl_seconds: int) -> None:
        self._mac = mac
        self.ttl = ttl_seconds

    def issue(self, room: str, role: str, seat: str, now: datetime) -> tuple[str, int]:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        expires = int(now.timestamp()) + self.ttl
        body = _b64(
            json.dumps(
                {"room": room, "role": role, "sub": seat, "exp": expires, "n": secrets.token_hex(8)},
                separators=(",", ":"),
            ).encode()
        )
        return f"v1.{body}.{self._mac(PURPOSE, body.encode())}", expires

    def verify(self, token: object, room: str, now: datetime) -> Claims:
        if not isinstance(token, str) or not (10 < len(token) <= MAX_TOKEN):
            raise TokenRejected("malformed")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1":
            raise TokenRejected("malformed")
        expected = self._mac(PURPOSE, parts[1].encode())
        if not hmac.compare_digest(expected.encode(), parts[2].encode()):
            raise TokenRejected("bad_signature")
        try:
            doc = json.loads(_unb64(parts[1]))
            claims = Claims(
                str(doc["room"]), str(doc["role"]), str(doc["sub"]), int(doc["exp"]), str(doc["n"])
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise TokenRejected("malformed") from None
        if claims.expires <= now.timestamp():
            raise TokenRejected("expired")
        if claims.room != room:
            raise TokenRejected("wrong_room")
        if claims.role not in ROLES:
            raise TokenRejected("malformed")
        return claims
