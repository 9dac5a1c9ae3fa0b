"""The no-plaintext scans are only as good as their matcher: it must see every form a secret can be
stored in (UTF-8, SQLite's UTF-16, JSON's \\u escapes) and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scan import leaking_files, leaks

SECRETS = ["13912345678", "甄宝琮"]


def test_every_stored_form_is_seen(tmp_path: Path) -> None:
    assert leaks("电话13912345678".encode(), SECRETS) == ["13912345678"]
    assert leaks("甄宝琮".encode("utf-16-le"), SECRETS) == ["甄宝琮"]
    assert leaks(json.dumps({"name": "甄宝琮"}).encode(), SECRETS) == ["甄宝琮"]  # ensure_ascii escapes
    assert leaks("检举人A3F2 1391234567".encode(), SECRETS) == []
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "intake.log").write_text('{"msg": "甄宝琮"}\n', encoding="utf-8")
    (tmp_path / "clean.bin").write_bytes(b"\x00" * 64)
    assert leaking_files(tmp_path, SECRETS) == [(str(tmp_path / "logs" / "intake.log"), ["甄宝琮"])]
