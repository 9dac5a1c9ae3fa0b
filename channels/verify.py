"""Every authenticity check of every channel, in one module. All comparisons are constant-time,
each scheme fixes its own algorithm, and a missing secret fails closed (the channel is not mounted).

Schemes here now: the app API's optional request signature, the web form's anti-forgery token,
WeChat's server signature and safe-mode envelope (``msg_signature`` + AES-256-CBC), Weibo's
fan-service signature, Twilio's ``X-Twilio-Signature`` (phone hotline and SMS), and Telegram's webhook
secret header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, urlsplit, urlunsplit

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from multidict import MultiMapping
from twilio.request_validator import RequestValidator

APP_SIGNATURE_WINDOW = 300  # seconds either side of the server's clock
_SIGNATURE_HEADER_MAX = 256  # "t=<10 digits>,v1=<64 hex>" is 83 characters
_HEX = frozenset("0123456789abcdef")


def ascii_number(text: str | None, max_digits: int) -> int | None:
    """A whole number written in 1 to ``max_digits`` ASCII digits, else None. ``str.isdigit``
    alone is not enough: ``"²".isdigit()`` is true and ``int("²")`` raises, ``int`` reads Arabic-
    Indic digits, and a 5,000-digit number is refused by ``int`` with ``ValueError``."""
    if text is None or not (1 <= len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


def app_signature(secret: str, timestamp: str, idempotency_key: str, body: bytes) -> str:
    """HMAC-SHA256 over ``t + "." + Idempotency-Key + "." + body`` (the key empty when the request
    carries none), hex: the ``v1`` of ``X-Intake-Signature``. Covering the key means a captured
    request cannot be sent again under a new key to file a second report."""
    material = b".".join((timestamp.encode(), idempotency_key.encode("utf-8", "surrogateescape"), body))
    return hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()


def verify_app_signature(
    secret: str, header: str | None, idempotency_key: str, body: bytes, now: float
) -> tuple[int, str] | None:
    """Check ``X-Intake-Signature: t=<unix seconds>,v1=<hex>`` within the replay window; returns
    ``(t, v1)`` for :class:`SignatureReplays` when it holds, else None (never raises)."""
    if not header or len(header) > _SIGNATURE_HEADER_MAX:
        return None
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    raw_stamp, given = parts.get("t", ""), parts.get("v1", "")
    stamp = ascii_number(raw_stamp, 12)
    if stamp is None or abs(now - stamp) > APP_SIGNATURE_WINDOW or len(given) != 64 or not set(given) <= _HEX:
        return None
    if not hmac.compare_digest(
        app_signature(secret, raw_stamp, idempotency_key, body).encode(), given.encode()
    ):
        return None
    return stamp, given


class SignatureReplays:
    """The app signatures accepted in the last window, so that each is accepted once.

    Entries are grouped by their ``t`` second and a second's group is dropped as soon as that
    ``t`` is outside the window (its signature is refused as stale from then on anyway), so
    memory follows the signed request rate over ten minutes; each entry is 64 bits of the
    signature. Past ``max_entries`` a new signature is refused (:meth:`admit` says ``full``)
    rather than an older one forgotten. In memory, per process.
    """

    def __init__(self, window: int = APP_SIGNATURE_WINDOW, max_entries: int = 500_000) -> None:
        self._window = window
        self._max = max_entries
        self._by_second: dict[int, set[int]] = {}
        self._count = 0
        self._pruned_at: int | None = None

    def __len__(self) -> int:
        return self._count

    def _prune(self, now: float) -> None:
        second = int(now)
        if second == self._pruned_at:
            return
        self._pruned_at = second
        for stamp in [t for t in self._by_second if abs(now - t) > self._window]:
            self._count -= len(self._by_second.pop(stamp))

    def admit(self, stamp: int, signature: str, now: float) -> str:
        """``fresh`` (now remembered), ``replayed``, or ``full``."""
        self._prune(now)
        seen = self._by_second.setdefault(stamp, set())
        key = int(signature[:16], 16)
        if key in seen:
            return "replayed"
        if self._count >= self._max:
            return "full"
        seen.add(key)
        self._count += 1
        return "fresh"


def signature_nonce(stamp: int, signature: str) -> str:
    """An accepted app signature as a one-time value (``t.v1``, 192 bits of the signature)."""
    return f"{stamp}.{signature[:48]}"


class SignatureNonces:
    """:class:`SignatureReplays` behind the one-time-value call the service layer knows
    (:class:`intake.ratelimit.Nonces`), for a deployment of one process: the nonce is
    :func:`signature_nonce`'s ``t.v1``; ``expires`` is implied by ``t`` and the window."""

    def __init__(self, seconds: Callable[[], float], replays: SignatureReplays | None = None) -> None:
        self.replays = replays or SignatureReplays()
        self._now = seconds

    async def spend(self, nonce: str, expires: float) -> str:
        stamp, _, signature = nonce.partition(".")
        return self.replays.admit(int(stamp), signature, self._now())


def new_form_token() -> str:
    """The random half of the web form's double-submit token (goes into a cookie)."""
    return secrets.token_urlsafe(24)


def form_token_field(key: bytes, cookie_token: str) -> str:
    """The signed half (goes into the form's hidden field)."""
    return hmac.new(key, b"form-token|" + cookie_token.encode(), hashlib.sha256).hexdigest()


def verify_form_token(key: bytes, cookie_token: str | None, field: str | None) -> bool:
    if not cookie_token or not field or not (cookie_token.isascii() and field.isascii()):
        return False
    return hmac.compare_digest(form_token_field(key, cookie_token).encode(), field.encode())


# --- WeChat official account and Weibo fan service ------------------------------------------------

PLATFORM_WINDOW = 300  # seconds either side of the server's clock, for WeChat and Weibo timestamps


def sha1_sorted(*parts: str) -> str:
    """``sha1("".join(sorted(parts)))``, hex: the signature WeChat and Weibo both use."""
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def _same(expected: str, given: str | None) -> bool:
    if not given or not given.isascii():
        return False
    return hmac.compare_digest(expected.encode(), given.lower().encode())


def timestamp_fresh(stamp: str | None, now: float, *, millis: bool = False) -> bool:
    """Whether a platform timestamp (seconds, or milliseconds for Weibo) is inside the window."""
    if not stamp or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 16:
        return False
    seconds = int(stamp) / 1000 if millis else int(stamp)
    return abs(now - seconds) <= PLATFORM_WINDOW


def verify_wechat_server(
    token: str, signature: str | None, timestamp: str | None, nonce: str | None, now: float
) -> bool:
    """WeChat's ``signature`` query parameter: sha1 over the sorted token, timestamp and nonce.
    It does not cover the body, so it only proves the URL check (``echostr``) came from WeChat."""
    if not timestamp_fresh(timestamp, now) or nonce is None:
        return False
    return _same(sha1_sorted(token, timestamp or "", nonce), signature)


def wechat_msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return sha1_sorted(token, timestamp, nonce, encrypt)


def verify_wechat_message(
    token: str,
    msg_signature: str | None,
    timestamp: str | None,
    nonce: str | None,
    encrypt: str,
    now: float,
) -> bool:
    """Safe mode's ``msg_signature``: sha1 over the sorted token, timestamp, nonce and ciphertext."""
    if not timestamp_fresh(timestamp, now) or nonce is None:
        return False
    return _same(wechat_msg_signature(token, timestamp or "", nonce, encrypt), msg_signature)


class WeChatCryptoError(Exception):
    """The envelope did not decrypt to a message for this account (never says more)."""


class WeChatCipher:
    """WeChat's safe-mode cipher: AES-256-CBC, IV = key[:16], PKCS#7 padded to 32 bytes; the
    plaintext is ``random(16) + len(msg) (4 bytes, big-endian) + msg + appid``."""

    BLOCK = 32

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("INTAKE_WECHAT_ENCODING_AES_KEY must be 43 characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise ValueError("INTAKE_WECHAT_ENCODING_AES_KEY is not base64") from None
        if len(key) != 32:
            raise ValueError("INTAKE_WECHAT_ENCODING_AES_KEY must decode to 32 bytes")
        self._key = key
        self._app_id = app_id.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: bytes, random16: bytes | None = None) -> str:
        if random16 is None:
            alphabet = string.ascii_letters + string.digits
            random16 = "".join(secrets.choice(alphabet) for _ in range(16)).encode()
        raw = random16 + struct.pack(">I", len(message)) + message + self._app_id
        pad = self.BLOCK - len(raw) % self.BLOCK
        raw += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(raw) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise WeChatCryptoError("not base64") from None
        if not data or len(data) % 16:
            raise WeChatCryptoError("bad length")
        dec = self._cipher().decryptor()
        raw = dec.update(data) + dec.finalize()
        pad = raw[-1]
        if not 1 <= pad <= self.BLOCK or raw[-pad:] != bytes([pad]) * pad or len(raw) - pad < 20:
            raise WeChatCryptoError("bad padding")
        raw = raw[:-pad]
        (length,) = struct.unpack(">I", raw[16:20])
        message, app_id = raw[20 : 20 + length], raw[20 + length :]
        if len(message) != length or not hmac.compare_digest(app_id, self._app_id):
            raise WeChatCryptoError("not for this account")
        return message


def weibo_signature(app_secret: str, timestamp: str, nonce: str) -> str:
    return sha1_sorted(app_secret, timestamp, nonce)


def verify_weibo(
    app_secret: str, signature: str | None, timestamp: str | None, nonce: str | None, now: float
) -> bool:
    """Weibo fan service: sha1 over the sorted app secret, timestamp (milliseconds) and nonce. The
    body is not signed: callers add de-duplication and a size cap."""
    if not timestamp_fresh(timestamp, now, millis=True) or nonce is None:
        return False
    return _same(weibo_signature(app_secret, timestamp or "", nonce), signature)


# --- Twilio (phone hotline and SMS) ---------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | MultiMapping[str]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 under the account's auth token over the full URL
    Twilio requested and the sorted POST parameters, computed by twilio's own ``RequestValidator``."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def verify_twilio(
    auth_token: str,
    public_base: str,
    path_qs: str,
    params: Mapping[str, str] | MultiMapping[str],
    signature: str | None,
) -> bool:
    """Check a Twilio webhook against the URL Twilio was *given* — ``INTAKE_PUBLIC_URL`` plus the
    path and query it requested — never the Host header, which a proxy rewrites and a forger sets.

    The algorithm is fixed to HMAC-SHA1 under the auth token: a request announcing a SharedKey
    (``X-Twilio-Webhooks-Signature-Settings``) is not something we configured and fails. Twilio
    signs some URLs with the default port and some without, so both spellings are tried, each
    compared in constant time. JSON-bodied webhooks (``bodySHA256``) are not used by this channel
    and are refused."""
    if not signature or not auth_token or not signature.isascii():
        return False  # a header of raw bytes reaches us surrogate-escaped: it cannot be Twilio's
    url = public_base.rstrip("/") + path_qs
    parts = urlsplit(url)
    if "bodySHA256" in parse_qs(parts.query):
        return False
    netloc = parts.netloc
    if parts.port is not None:
        spellings = (netloc.rsplit(":", 1)[0], netloc)
    else:
        spellings = (netloc, f"{netloc}:{443 if parts.scheme == 'https' else 80}")
    ok = False
    for spelling in spellings:
        expected = twilio_signature(auth_token, urlunsplit(parts._replace(netloc=spelling)), params)
        ok |= hmac.compare_digest(expected.encode(), signature.encode())
    return ok


# --- Telegram (bot webhook) -----------------------------------------------------------------------

TELEGRAM_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def telegram_secret_valid(secret: str) -> bool:
    """What ``setWebhook`` accepts as ``secret_token``: 1–256 of ``A-Z a-z 0-9 _ -``."""
    return 1 <= len(secret) <= 256 and set(secret) <= TELEGRAM_SECRET_CHARS


def verify_telegram(secret: str, header: str | None) -> bool:
    """``X-Telegram-Bot-Api-Secret-Token`` against our ``INTAKE_TELEGRAM_WEBHOOK_SECRET``. Telegram
    signs nothing and sends no timestamp: the header is a shared secret, compared in constant time
    (as SHA-256 digests, so that not even its length leaks). No secret configured fails closed."""
    if not secret or not header:
        return False
    expected = hashlib.sha256(secret.encode()).digest()
    given = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
    return hmac.compare_digest(expected, given)
