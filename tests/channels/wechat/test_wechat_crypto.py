"""The WeChat safe-mode envelope and the platform signatures: published known-answer vectors, and
round trips against wechatpy (the widely used SDK) in both directions."""

from __future__ import annotations

import secrets

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from channels.verify import (
    WeChatCipher,
    WeChatCryptoError,
    sha1_sorted,
    timestamp_fresh,
    verify_wechat_message,
    verify_wechat_server,
    verify_weibo,
    wechat_msg_signature,
    weibo_signature,
)
from channels.wechat.envelope import parse_xml, seal_reply
from channels.weibo.api import encode_data

# wechatpy's own test fixtures (tests/test_crypto.py), also used by other SDKs.
TOKEN = "123456"
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx49f0ab532d5d035a"
DECRYPT_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGym"
    "zxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4h"
    "IiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYE"
    "vccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
DECRYPT_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
STAMP, NONCE = "1411525903", "461056294"
ENCRYPT_PLAIN = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)
ENCRYPT_EXPECTED = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtOb"
    "vesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
    "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5"
    "oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
ENCRYPT_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"


def test_kat_decrypt_published_vector() -> None:
    assert verify_wechat_message(TOKEN, DECRYPT_SIGNATURE, STAMP, NONCE, DECRYPT_ENCRYPT, now=1411525903)
    inner = parse_xml(WeChatCipher(KEY, APP_ID).decrypt(DECRYPT_ENCRYPT))
    assert inner["Content"] == "test" and inner["FromUserName"] == "messense"


def test_kat_encrypt_published_vector() -> None:
    encrypted = WeChatCipher(KEY, APP_ID).encrypt(ENCRYPT_PLAIN.encode(), random16=b"1234567890123456")
    assert encrypted == ENCRYPT_EXPECTED
    assert wechat_msg_signature(TOKEN, STAMP, NONCE, encrypted) == ENCRYPT_SIGNATURE


def test_kat_short_vector_of_other_sdks() -> None:
    # wechat-rs and others: "test" under app id "rust".
    assert WeChatCipher(KEY, "rust").decrypt("9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY=") == b"test"


def test_kat_weibo_documented_signature_and_reply_encoding() -> None:
    # open.weibo.com Messages_api_start: "139702206182357155157xyz123xyz" → sha1.
    assert (
        weibo_signature("xyz123xyz", "1397022061823", "57155157")
        == "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )
    assert verify_weibo(
        "xyz123xyz", "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1", "1397022061823", "57155157", now=1397022061.9
    )
    assert not verify_weibo(
        "xyz123xyz", "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1", "1397022061823", "57155157", now=1397029000
    )
    # 发送被动响应消息: data for {"text":"中文消息"}.
    assert (
        encode_data({"text": "中文消息"}) == "%7B%22text%22%3A%22%E4%B8%AD%E6%96%87%E6%B6%88%E6%81%AF%22%7D"
    )


def test_server_signature_is_sha1_over_sorted_parts() -> None:
    assert sha1_sorted("b", "a", "c") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # sha1("abc")
    sig = sha1_sorted(TOKEN, "1411443780", "437374425")
    assert verify_wechat_server(TOKEN, sig, "1411443780", "437374425", now=1411443780)
    assert not verify_wechat_server(TOKEN, sig, "1411443780", "437374424", now=1411443780)
    assert not verify_wechat_server(TOKEN, sig, "1411443780", "437374425", now=1411443780 + 301)
    assert not verify_wechat_server(TOKEN, None, "1411443780", "437374425", now=1411443780)


@pytest.mark.parametrize("stamp", ["", "abc", "-5", "1" * 17, "１４１１"])
def test_odd_timestamps_are_stale(stamp: str) -> None:
    assert not timestamp_fresh(stamp, 1411443780)


def test_round_trips_with_wechatpy_both_ways() -> None:
    theirs = WeChatCrypto(TOKEN, KEY, APP_ID)
    ours = WeChatCipher(KEY, APP_ID)
    for i in range(50):
        text = (
            f"<xml><Content><![CDATA[某镇党委书记张某某收受贿赂 {i} {secrets.token_hex(i)}]]></Content></xml>"
        )
        # theirs → ours
        sealed = xmltodict.parse(theirs.encrypt_message(text, str(i), STAMP))["xml"]
        assert verify_wechat_message(
            TOKEN, sealed["MsgSignature"], STAMP, str(i), sealed["Encrypt"], 1411525903
        )
        assert ours.decrypt(sealed["Encrypt"]).decode() == text
        # ours → theirs (signature checked by wechatpy too)
        reply = seal_reply(ours, TOKEN, text, 1411525903)
        outer = xmltodict.parse(reply)["xml"]
        assert (
            theirs.decrypt_message(reply, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]) == text
        )


def test_tampering_and_other_accounts_are_refused() -> None:
    ours = WeChatCipher(KEY, APP_ID)
    sealed = ours.encrypt(b"<xml/>")
    with pytest.raises(WeChatCryptoError):
        WeChatCipher(KEY, "wx0000000000000000").decrypt(sealed)
    raw = bytearray(__import__("base64").b64decode(sealed))
    raw[-1] ^= 1
    with pytest.raises(WeChatCryptoError):
        ours.decrypt(__import__("base64").b64encode(bytes(raw)).decode())
    for bad in ("", "!!!", "QUJD", "A" * 44):
        with pytest.raises(WeChatCryptoError):
            ours.decrypt(bad)


@pytest.mark.parametrize("key", ["short", KEY + "x", "!" * 43])
def test_bad_encoding_aes_key_is_refused_at_start(key: str) -> None:
    with pytest.raises(ValueError):
        WeChatCipher(key, APP_ID)
