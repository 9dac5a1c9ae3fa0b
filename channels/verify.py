"""Every authenticity check of every channel, in one module. All comparisons are constant-time,
each scheme fixes its own algorithm, and a missing secret fails closed (the channel is not mounted).

Schemes here now: the app API's optional request signature, and the web form's anti-forgery token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

APP_SIGNATURE_WINDOW = 300  # seconds either side of the server's clock


def app_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp + "." + body``, hex: the ``v1`` of ``X-Intake-Signature``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_app_signature(secret: str, header: str | None, body: bytes, now: float) -> bool:
    """Check ``X-Intake-Signature: t=<unix seconds>,v1=<hex>`` within the replay window."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > APP_SIGNATURE_WINDOW:
        return False
    return hmac.compare_digest(app_signature(secret, stamp, body).encode(), given.encode())


def new_form_token() -> str:
    """The random half of the web form's double-submit token (goes into a cookie)."""
    return secrets.token_urlsafe(24)


def form_token_field(key: bytes, cookie_token: str) -> str:
    """The signed half (goes into the form's hidden field)."""
    return hmac.new(key, b"form-token|" + cookie_token.encode(), hashlib.sha256).hexdigest()


def verify_form_token(key: bytes, cookie_token: str | None, field: str | None) -> bool:
    if not cookie_token or not field:
        return False
    return hmac.compare_digest(form_token_field(key, cookie_token).encode(), field.encode())
