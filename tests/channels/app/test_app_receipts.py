"""Verifiable receipts over the app API (issue 17): the 201 carries ``receipt``, which verifies with
the key published at ``GET /api/v1/receipt-key`` by the contract alone (sorted compact JSON of four
fields, Ed25519), fails for any changed byte, is the same for a retry and names the stored text;
``intake receipt verify`` agrees."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.channels.app.test_app_api import REPORT, file

ROOT = Path(__file__).resolve().parents[3]


def verifies(receipt: dict[str, str], public_key: str) -> bool:
    fields = {k: receipt[k] for k in ("case_no", "unit", "received_at", "sha256")}
    signed = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(
            base64.b64decode(receipt["signature"]), signed
        )
    except InvalidSignature:
        return False
    return True


async def test_a_filing_receipt_verifies_with_the_published_key(client: Any, services: Any) -> None:
    resp = await client.get("/api/v1/receipt-key")
    assert resp.status == 200
    key = await resp.json()
    assert key["alg"] == "Ed25519" and len(base64.b64decode(key["public_key"])) == 32

    resp = await file(client, REPORT, **{"Idempotency-Key": "r-0001"})
    assert resp.status == 201
    body = await resp.json()
    receipt = body["receipt"]
    assert set(receipt) == {"case_no", "unit", "received_at", "sha256", "signature"}
    assert receipt["case_no"] == body["case_no"] and receipt["unit"] == "430121"
    assert receipt["received_at"] == body["received_at"]
    stored = await services(client).db.reports.get(body["case_no"])
    text = f"{stored.title}\n{stored.content}"
    assert receipt["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert verifies(receipt, key["public_key"])
    # Any changed byte of any field, or of the signature, fails.
    for name in ("case_no", "unit", "received_at", "sha256"):
        value = receipt[name]
        changed = value[:-1] + ("1" if value[-1] != "1" else "2")
        assert not verifies({**receipt, name: changed}, key["public_key"]), name
    raw = bytearray(base64.b64decode(receipt["signature"]))
    raw[0] ^= 0x01
    assert not verifies({**receipt, "signature": base64.b64encode(bytes(raw)).decode()}, key["public_key"])
    # A retry files nothing and gives the same receipt.
    again = await (await file(client, REPORT, **{"Idempotency-Key": "r-0001"})).json()
    assert again["receipt"] == receipt
    # Nothing of the informant's identity is in it.
    assert "甄宝琮" not in json.dumps(receipt, ensure_ascii=False) and "13912345678" not in str(receipt)


async def test_the_command_line_verifies_a_receipt_offline(client: Any, services: Any) -> None:
    body = await (await file(client, {"content": "某局长收受礼金。"})).json()
    key = (await (await client.get("/api/v1/receipt-key")).json())["public_key"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def verify(doc: object, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", "receipt", "verify", *args],
            input=json.dumps(doc, ensure_ascii=False),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    good = verify(body["receipt"], "--public-key", key)
    assert good.returncode == 0, good.stderr
    assert "回执有效" in good.stdout and body["case_no"] in good.stdout
    pasted_whole = verify(body, "--public-key", key)  # the whole 201 answer, as it came
    assert pasted_whole.returncode == 0
    bad = verify({**body["receipt"], "unit": "430122"}, "--public-key", key)
    assert bad.returncode == 1 and "回执无效" in bad.stderr
    assert verify("不是回执", "--public-key", key).returncode == 1
    other_key = base64.b64encode(bytes(32)).decode()
    assert verify(body["receipt"], "--public-key", other_key).returncode == 1
