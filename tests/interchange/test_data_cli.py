"""The commands as an office runs them: ``intake reports import`` (progress, bad rows, re-run adds
nothing), ``intake reports export`` (and its file imported elsewhere), bad input exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import COUNTY_JURISDICTION
from tests.interchange.registers import write_xlsx


def intake(data_dir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "INTAKE_DATA_DIR": str(data_dir),
        "HOME": str(data_dir),
        "INTAKE_JURISDICTION_FILE": str(COUNTY_JURISDICTION),
    }
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def test_import_export_commands(tmp_path: Path) -> None:
    reg = write_xlsx(tmp_path / "登记表.xlsx", 150, bad=6, seed=11)
    a = tmp_path / "a"
    done = intake(a, "reports", "import", str(reg.path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "新导入 144 件" in out and "有误 6 行" in out and "已分流 144 件" in out
    for row, column in reg.bad_rows.items():
        assert f"第 {row} 行“{column}”列" in out
    assert "已读" in done.stderr  # the progress line (one every few seconds when not a terminal)
    for value in reg.identities:
        assert value not in out and value not in done.stderr

    again = intake(a, "reports", "import", str(reg.path), "--quiet")
    assert again.returncode == 0 and "新导入 0 件" in again.stdout and "此前已导入 144 件" in again.stdout

    exported = tmp_path / "cases.jsonl"
    done = intake(a, "reports", "export", "--format", "jsonl", "--unit", "430121", "--out", str(exported))
    assert done.returncode == 0, done.stderr
    lines = exported.read_text("utf-8").splitlines()
    assert len(lines) == 144 and "已导出 144 件" in done.stderr
    assert all("reporter" not in json.loads(line) for line in lines)
    text = exported.read_text("utf-8")
    assert not any(value in text for value in reg.identities)

    b = tmp_path / "b"
    done = intake(b, "reports", "import", str(exported), "--quiet")
    assert done.returncode == 0 and "新导入 144 件" in done.stdout and "有误 0 行" in done.stdout, done.stdout

    audit = intake(a, "audit", "verify")
    assert audit.returncode == 0 and json.loads(audit.stdout)["ok"]


def test_bad_input_exits_2_with_a_reason(tmp_path: Path) -> None:
    bad_map = tmp_path / "map.json"
    bad_map.write_text('{"columns": {"内容": "body"}}', "utf-8")
    sheet = tmp_path / "x.csv"
    sheet.write_text("登记日期,反映内容\n2021-01-01,反映问题\n", "utf-8")
    done = intake(tmp_path / "v", "reports", "import", str(sheet), "--mapping", str(bad_map))
    assert done.returncode == 2 and "映射文件有误" in done.stderr and "Traceback" not in done.stderr
    corrupt = tmp_path / "x.xlsx"
    corrupt.write_bytes(b"PK\x03\x04garbage")
    done = intake(tmp_path / "v", "reports", "import", str(corrupt))
    assert done.returncode == 2 and "XLSX" in done.stderr and "Traceback" not in done.stderr
    done = intake(tmp_path / "v", "reports", "export", "--format", "csv", "--unit", "999", "--out", "-")
    assert done.returncode == 2 and "没有这个单位" in done.stderr
