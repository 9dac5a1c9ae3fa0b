"""``intake receipt verify``: check a receipt (受理回执) against this deployment's key or a published one.

Offline by design: the receipt JSON comes on stdin, the key from this deployment's keyring or from
``--public-key`` (the base64 of ``GET /api/v1/receipt-key``), and nothing is looked up or stored.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from intake import jurisdiction as jurisdiction_mod
from intake import receipts
from server.config import Settings
from storage import keys

EXIT_INVALID = 1


def add_commands(subparsers: Any) -> None:
    """Add ``receipt`` and its sub-command to the ``intake`` parser's sub-parsers."""
    receipt = subparsers.add_parser("receipt", help="verifiable receipts").add_subparsers(
        dest="receipt_command", required=True
    )
    verify = receipt.add_parser(
        "verify", help="a receipt JSON on stdin: exit 0 when its signature is valid, 1 when not"
    )
    verify.add_argument(
        "--public-key", help="base64 Ed25519 key (GET /api/v1/receipt-key); default: this deployment's"
    )
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    receipt: Any = receipts.pasted(sys.stdin.read())
    if receipt is None:
        print("回执无效：输入的不是 JSON 格式的回执。", file=sys.stderr)
        return EXIT_INVALID
    public_key = args.public_key or receipts.ReceiptBook(keys.load_or_create(settings.data_dir)).public_key
    reason = receipts.check(receipt, public_key)
    if reason is not None:
        print(f"回执无效：{reason}", file=sys.stderr)
        return EXIT_INVALID
    print("回执有效：签名与内容相符。")
    print(f"案件编号：{receipt['case_no']}")
    print(f"受理单位：{_unit_name(settings, receipt['unit'])}")
    print(f"受理时间（北京时间）：{receipts.received_shown(receipt['received_at'])}")
    print(f"举报内容摘要（SHA-256）：{receipt['sha256']}")
    return 0


def _unit_name(settings: Settings, code: str) -> str:
    try:
        unit = jurisdiction_mod.load(settings.jurisdiction_file).unit(code)
    except (OSError, ValueError):
        unit = None
    return f"{unit.name}（{code}）" if unit else code
