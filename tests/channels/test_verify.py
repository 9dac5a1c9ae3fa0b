"""channels.verify, function by function, at the edges of every window and length (found by mutation
testing, issue 23): a check that is off by one second or one character is a check an attacker
walks through."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

import pytest

from channels import verify as v

NOW = 1_800_000_000.0
SECRET = "app-secret"
KEY = "idem-1"
BODY = b'{"content":"x"}'


def _header(t: int | str, sig: str | None = None, key: str = KEY, body: bytes = BODY) -> str:
    sig = sig if sig is not None else v.app_signature(SECRET, str(t), key, body)
    return f"t={t},v1={sig}"


# --- ascii_number ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits", "expected"),
    [("7", 1, 7), ("123", 3, 123), ("1234", 3, None), ("", 3, None), (None, 3, None), ("²", 3, None),
     ("١٢", 3, None), ("1a", 3, None), ("-1", 3, None), ("007", 3, 7)],
)  # fmt: skip
def test_ascii_number(text: str | None, digits: int, expected: int | None) -> None:
    assert v.ascii_number(text, digits) == expected


# --- the app's request signature ------------------------------------------------------------------


def test_app_signature_is_hmac_sha256_over_t_key_and_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700." + KEY.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert v.app_signature(SECRET, "1700", KEY, BODY) == expected
    assert (
        v.app_signature(SECRET, "1700", "", BODY)
        == hmac.new(SECRET.encode(), b"1700.." + BODY, hashlib.sha256).hexdigest()
    )


def test_a_good_app_signature_at_the_window_edges() -> None:
    for t in (int(NOW) - 300, int(NOW), int(NOW) + 300):
        header = _header(t)
        assert v.verify_app_signature(SECRET, header, KEY, BODY, NOW) == (t, header.split("v1=")[1])
    for t in (int(NOW) - 301, int(NOW) + 301):
        assert v.verify_app_signature(SECRET, _header(t), KEY, BODY, NOW) is None


def test_app_signature_header_spellings() -> None:
    t = int(NOW)
    sig = v.app_signature(SECRET, str(t), KEY, BODY)
    assert v.verify_app_signature(SECRET, f" t={t} , v1={sig} ", KEY, BODY, NOW) == (t, sig)
    assert v.verify_app_signature(SECRET, f"v1={sig},t={t},x", KEY, BODY, NOW) == (t, sig)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=1800000000",
        "v1=" + "0" * 64,
        "t=1800000000,v1=" + "0" * 63,
        "t=1800000000,v1=" + "0" * 65,
        "t=1800000000,v1=" + "G" * 64,
        "t=1800000000,v1=" + "A" * 64,  # upper-case hex is not what we send
        "t=²,v1=" + "0" * 64,
        "t=" + "1" * 13 + ",v1=" + "0" * 64,
        "t=1800000000,v1=" + "0" * 64 + "," + "x" * 200,  # longer than any header we send
    ],
)
def test_malformed_app_signature_headers_are_none(header: str | None) -> None:
    assert v.verify_app_signature(SECRET, header, KEY, BODY, NOW) is None


def test_app_signature_binds_secret_key_and_body() -> None:
    header = _header(int(NOW))
    assert v.verify_app_signature("other", header, KEY, BODY, NOW) is None
    assert v.verify_app_signature(SECRET, header, "idem-2", BODY, NOW) is None
    assert v.verify_app_signature(SECRET, header, KEY, BODY + b" ", NOW) is None


def test_a_header_of_exactly_the_maximum_length_is_read() -> None:
    t = int(NOW)
    header = _header(t)
    padded = header + "," + "x" * (256 - len(header) - 1)
    assert len(padded) == 256
    assert v.verify_app_signature(SECRET, padded, KEY, BODY, NOW) is not None
    assert v.verify_app_signature(SECRET, padded + "x", KEY, BODY, NOW) is None


# --- replays --------------------------------------------------------------------------------------


def test_each_signature_is_admitted_once() -> None:
    r = v.SignatureReplays()
    sig = "ab" * 32
    assert r.admit(int(NOW), sig, NOW) == "fresh"
    assert r.admit(int(NOW), sig, NOW) == "replayed"
    assert r.admit(int(NOW), "cd" * 32, NOW) == "fresh"
    assert r.admit(int(NOW) - 1, sig, NOW) == "fresh"  # another second, another entry
    assert len(r) == 3


def test_replays_are_forgotten_once_outside_the_window() -> None:
    r = v.SignatureReplays(window=10)
    t = int(NOW)
    r.admit(t, "ab" * 32, NOW)
    assert r.admit(t, "ab" * 32, NOW + 10) == "replayed"  # at the edge: still inside
    assert len(r) == 1
    r.admit(t + 11, "cd" * 32, NOW + 11)
    assert len(r) == 1  # t's group went
    assert r.admit(t, "ab" * 32, NOW + 11) == "fresh"


def test_pruning_happens_once_a_second() -> None:
    r = v.SignatureReplays(window=10)
    t = int(NOW)
    r.admit(t, "ab" * 32, NOW)
    r.admit(t + 20, "cd" * 32, NOW + 20.2)  # prunes t
    assert len(r) == 1
    r.admit(t + 9, "ef" * 32, NOW + 20.5)  # same second: no second pruning pass
    assert len(r) == 2
    r.admit(t + 21, "01" * 32, NOW + 21)  # the next second prunes t + 9 (12 s away)
    assert len(r) == 2


def test_a_full_cache_refuses_new_signatures_but_knows_old_ones() -> None:
    r = v.SignatureReplays(max_entries=2)
    t = int(NOW)
    assert [r.admit(t, s * 32, NOW) for s in ("ab", "cd", "ef")] == ["fresh", "fresh", "full"]
    assert r.admit(t, "ab" * 32, NOW) == "replayed"
    assert len(r) == 2


def test_the_default_window_and_size() -> None:
    r = v.SignatureReplays()
    assert r._window == v.APP_SIGNATURE_WINDOW == 300
    assert r._max == 500_000


# --- the web form token ---------------------------------------------------------------------------


def test_form_tokens() -> None:
    key = b"k" * 32
    cookie = v.new_form_token()
    assert len(cookie) == 32 and cookie != v.new_form_token()
    field = v.form_token_field(key, cookie)
    assert field == hmac.new(key, b"form-token|" + cookie.encode(), hashlib.sha256).hexdigest()
    assert v.verify_form_token(key, cookie, field)
    assert not v.verify_form_token(b"j" * 32, cookie, field)
    assert not v.verify_form_token(key, cookie + "x", field)
    assert not v.verify_form_token(key, None, field)
    assert not v.verify_form_token(key, cookie, None)
    assert not v.verify_form_token(key, "", field)
    assert not v.verify_form_token(key, cookie, "")
    assert not v.verify_form_token(key, cookie + "é", field)
    assert not v.verify_form_token(key, cookie, field[:-1] + "é")


# --- WeChat and Weibo -----------------------------------------------------------------------------


def test_sha1_sorted() -> None:
    assert v.sha1_sorted("b", "a", "c") == hashlib.sha1(b"abc", usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(
    ("stamp", "millis", "fresh"),
    [
        (str(int(NOW)), False, True),
        (str(int(NOW) - 300), False, True),
        (str(int(NOW) + 300), False, True),
        (str(int(NOW) - 301), False, False),
        (str(int(NOW) + 301), False, False),
        (str(int(NOW) * 1000), True, True),
        (str((int(NOW) - 300) * 1000), True, True),
        (str((int(NOW) - 301) * 1000), True, False),
        (str(int(NOW)), True, False),  # seconds where milliseconds are expected
        ("1" * 16, True, False),
        ("1" * 17, True, False),
        ("", False, False),
        (None, False, False),
        ("-1", False, False),
        ("١٢", False, False),
    ],
)
def test_timestamp_fresh(stamp: str | None, millis: bool, fresh: bool) -> None:
    assert v.timestamp_fresh(stamp, NOW, millis=millis) is fresh


def test_sixteen_digits_are_read() -> None:
    stamp = str(int(NOW) * 1000).rjust(16, "0")
    assert len(stamp) == 16
    assert v.timestamp_fresh(stamp, NOW, millis=True)


def test_wechat_server_and_message_signatures() -> None:
    ts, nonce = str(int(NOW)), "n1"
    good = v.sha1_sorted("tok", ts, nonce)
    assert v.verify_wechat_server("tok", good, ts, nonce, NOW)
    assert v.verify_wechat_server("tok", good.upper(), ts, nonce, NOW)  # hex in either case
    assert not v.verify_wechat_server("tok", good, ts, None, NOW)
    assert not v.verify_wechat_server("tok", good, str(int(NOW) - 301), nonce, NOW)
    assert not v.verify_wechat_server("other", good, ts, nonce, NOW)
    assert not v.verify_wechat_server("tok", None, ts, nonce, NOW)
    assert not v.verify_wechat_server("tok", "", ts, nonce, NOW)
    assert not v.verify_wechat_server("tok", good[:-1] + "é", ts, nonce, NOW)
    msg = v.wechat_msg_signature("tok", ts, nonce, "ENC")
    assert msg == v.sha1_sorted("tok", ts, nonce, "ENC")
    assert v.verify_wechat_message("tok", msg, ts, nonce, "ENC", NOW)
    assert not v.verify_wechat_message("tok", msg, ts, nonce, "ENC2", NOW)
    assert not v.verify_wechat_message("tok", msg, ts, None, "ENC", NOW)
    assert not v.verify_wechat_message("tok", msg, str(int(NOW) + 301), nonce, "ENC", NOW)
    assert not v.verify_wechat_message("tok", msg, None, nonce, "ENC", NOW)


def test_weibo_signature() -> None:
    ts, nonce = str(int(NOW * 1000)), "n1"
    good = v.weibo_signature("sec", ts, nonce)
    assert good == v.sha1_sorted("sec", ts, nonce)
    assert v.verify_weibo("sec", good, ts, nonce, NOW)
    assert not v.verify_weibo("sec", good, ts, None, NOW)
    assert not v.verify_weibo("sec", good, str(int(NOW)), nonce, NOW)  # seconds, not milliseconds
    assert not v.verify_weibo("other", good, ts, nonce, NOW)
    assert not v.verify_weibo("sec", None, ts, nonce, NOW)


AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")


def test_wechat_cipher_round_trip_and_known_layout() -> None:
    c = v.WeChatCipher(AES_KEY, "wxappid")
    enc = c.encrypt(b"hello", random16=b"r" * 16)
    assert c.decrypt(enc) == b"hello"
    raw_len = 16 + 4 + 5 + len("wxappid")
    assert len(base64.b64decode(enc)) == raw_len + (32 - raw_len % 32)
    # a fresh random prefix each time, of letters and digits
    assert c.encrypt(b"hello") != c.encrypt(b"hello")
    assert c.decrypt(c.encrypt(b"")) == b""
    assert c.decrypt(c.encrypt(b"x" * 32)) == b"x" * 32  # a whole block of padding


def test_wechat_cipher_random_prefix_alphabet() -> None:
    c = v.WeChatCipher(AES_KEY, "wx")
    key = base64.b64decode(AES_KEY + "=")
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = dec.update(base64.b64decode(c.encrypt(b"m"))) + dec.finalize()
    assert raw[:16].decode().isalnum() and raw[:16].isascii()
    assert struct.unpack(">I", raw[16:20]) == (1,)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("a" * 42, "INTAKE_WECHAT_ENCODING_AES_KEY must be 43 characters"),
        ("a" * 44, "INTAKE_WECHAT_ENCODING_AES_KEY must be 43 characters"),
        ("!" * 43, "INTAKE_WECHAT_ENCODING_AES_KEY is not base64"),
    ],
)
def test_wechat_cipher_key_checks(key: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        v.WeChatCipher(key, "wx")
    assert str(raised.value) == message


def test_wechat_cipher_refuses_what_is_not_ours() -> None:
    ours = v.WeChatCipher(AES_KEY, "wxappid")
    other_app = v.WeChatCipher(AES_KEY, "wxother")
    other_key = v.WeChatCipher(base64.b64encode(bytes(range(1, 33))).decode().rstrip("="), "wxappid")
    enc = ours.encrypt(b"hello")
    for cipher in (other_app, other_key):
        with pytest.raises(v.WeChatCryptoError):
            cipher.decrypt(enc)
    for bad in (
        "",
        "not base64!",
        base64.b64encode(b"x" * 15).decode(),
        base64.b64encode(b"x" * 17).decode(),
    ):
        with pytest.raises(v.WeChatCryptoError):
            ours.decrypt(bad)


def _raw_envelope(raw: bytes) -> str:
    key = base64.b64decode(AES_KEY + "=")
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


HEAD = b"r" * 16 + struct.pack(">I", 2) + b"hi"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (HEAD + b"wxappid" + bytes([0, 0, 0]), "bad padding"),  # a pad of 0
        (HEAD + b"wx" + bytes([33]) * 8, "bad padding"),  # a pad longer than the block
        (HEAD + b"wxappid" + bytes([1, 2, 3]), "bad padding"),  # pad bytes that disagree
        (b"r" * 12 + bytes([20]) * 20, "bad padding"),  # fewer than 20 bytes left
        (b"r" * 16 + struct.pack(">I", 99) + b"hi" + b"wxappid" + bytes([3]) * 3, "not for this account"),
        (HEAD + b"wxappie" + bytes([3]) * 3, "not for this account"),
    ],
)
def test_wechat_envelopes_with_bad_padding_or_length(raw: bytes, reason: str) -> None:
    assert len(raw) == 32
    with pytest.raises(v.WeChatCryptoError) as raised:
        v.WeChatCipher(AES_KEY, "wxappid").decrypt(_raw_envelope(raw))
    assert str(raised.value) == reason


def test_wechat_envelopes_at_the_padding_edges() -> None:
    c = v.WeChatCipher(AES_KEY, "wxappid")
    assert c.decrypt(_raw_envelope(HEAD + b"wxappid" + bytes([3]) * 3)) == b"hi"
    # exactly 20 bytes left after a pad of 12, with an empty app id
    raw = b"r" * 16 + struct.pack(">I", 0) + bytes([12]) * 12
    assert v.WeChatCipher(AES_KEY, "").decrypt(_raw_envelope(raw)) == b""
    # a whole block (32) of padding
    raw = b"r" * 16 + struct.pack(">I", 5) + b"hello" + b"wxappid" + bytes([32]) * 32
    assert c.decrypt(_raw_envelope(raw)) == b"hello"
    # a pad of 1
    raw = b"r" * 16 + struct.pack(">I", 4) + b"hell" + b"wxappid" + bytes([1])
    assert c.decrypt(_raw_envelope(raw)) == b"hell"


# --- Twilio and Telegram --------------------------------------------------------------------------


def test_twilio_port_spellings() -> None:
    params = {"a": "1"}
    for base, signed_url in [
        ("https://h.example", "https://h.example:443/p"),
        ("http://h.example", "http://h.example:80/p"),
        ("https://h.example:8443", "https://h.example/p"),
        ("https://h.example:8443", "https://h.example:8443/p"),
        ("https://h.example/", "https://h.example/p"),
    ]:
        sig = v.twilio_signature("tok", signed_url, params)
        assert v.verify_twilio("tok", base, "/p", params, sig), (base, signed_url)
    sig = v.twilio_signature("tok", "https://h.example:80/p", params)
    assert not v.verify_twilio("tok", "https://h.example", "/p", params, sig)
    assert not v.verify_twilio("", "https://h.example", "/p", params, sig)
    assert not v.verify_twilio("tok", "https://h.example", "/p", params, None)
    assert not v.verify_twilio("tok", "https://h.example", "/p", params, "")


def test_telegram_secret() -> None:
    assert v.telegram_secret_valid("a")
    assert v.telegram_secret_valid("A-z_0" * 50 + "abcdef")
    assert not v.telegram_secret_valid("")
    assert not v.telegram_secret_valid("a" * 257)
    assert v.telegram_secret_valid("a" * 256)
    assert not v.telegram_secret_valid("a b")
    assert v.verify_telegram("s3cret", "s3cret")
    assert not v.verify_telegram("s3cret", "s3cre")
    assert not v.verify_telegram("s3cret", None)
    assert not v.verify_telegram("", "")
    assert not v.verify_telegram("", "x")
    assert not v.verify_telegram("s3cret", "s3cret\udcff")


def test_twilio_ipv6_hosts_and_odd_host_names() -> None:
    params = {"a": "1"}
    for base, signed_url in [
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]/p"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443/p"),
        ("https://[2001:db8::1]", "https://[2001:db8::1]:443/p"),
        ("https://hotline.X/", "https://hotline.X/p"),  # only slashes are stripped from the base
    ]:
        sig = v.twilio_signature("tok", signed_url, params)
        assert v.verify_twilio("tok", base, "/p", params, sig), (base, signed_url)


def test_twilio_json_bodied_webhooks_are_refused_even_when_signed() -> None:
    params: dict[str, str] = {}
    sig = v.twilio_signature("tok", "https://h.example/p?bodySHA256=abc", params)
    assert not v.verify_twilio("tok", "https://h.example", "/p?bodySHA256=abc", params, sig)
    sig = v.twilio_signature("tok", "https://h.example/p?other=abc", params)
    assert v.verify_twilio("tok", "https://h.example", "/p?other=abc", params, sig)


def test_leading_zeros_do_not_stretch_the_digit_limits() -> None:
    padded = "000" + str(int(NOW))  # 13 digits: one more than a t= may have
    sig = v.app_signature(SECRET, padded, KEY, BODY)
    assert v.verify_app_signature(SECRET, f"t={padded},v1={sig}", KEY, BODY, NOW) is None
    twelve = "00" + str(int(NOW))
    sig = v.app_signature(SECRET, twelve, KEY, BODY)
    assert v.verify_app_signature(SECRET, f"t={twelve},v1={sig}", KEY, BODY, NOW) == (int(NOW), sig)
    assert not v.timestamp_fresh("0000000" + str(int(NOW)), NOW)  # 17 digits
    assert v.timestamp_fresh("000000" + str(int(NOW)), NOW)  # 16


def test_a_telegram_secret_may_use_every_allowed_character() -> None:
    assert v.telegram_secret_valid("".join(sorted(v.TELEGRAM_SECRET_CHARS)))


def test_replay_keys_are_the_first_64_bits_of_the_signature() -> None:
    r = v.SignatureReplays()
    assert r.admit(int(NOW), "ab" * 8 + "0" * 48, NOW) == "fresh"
    assert r.admit(int(NOW), "ab" * 8 + "1" * 48, NOW) == "replayed"  # the same first 16 hex digits


def test_a_group_gone_stale_within_the_second_waits_for_the_next_prune() -> None:
    r = v.SignatureReplays(window=10)
    t = int(NOW)
    r.admit(t + 10, "ab" * 32, NOW + 20.0)
    r.admit(t + 15, "cd" * 32, NOW + 20.5)  # t + 10 is 10.5 s away now, but this second was pruned
    assert len(r) == 2
    r.admit(t + 15, "ef" * 32, NOW + 21.0)
    assert len(r) == 2  # the next second drops t + 10 and keeps t + 15


def test_wechat_decrypt_says_what_was_wrong() -> None:
    c = v.WeChatCipher(AES_KEY, "wxappid")
    enc = c.encrypt(b"hello")
    for bad, reason in [
        ("!" + enc, "not base64"),  # a stray character is refused, not skipped
        (enc[:-4] + "!!!!", "not base64"),
        (base64.b64encode(b"x" * 15).decode(), "bad length"),
        ("", "bad length"),
    ]:
        with pytest.raises(v.WeChatCryptoError) as raised:
            c.decrypt(bad)
        assert str(raised.value) == reason, bad
