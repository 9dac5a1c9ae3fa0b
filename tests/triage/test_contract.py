"""The triage contract: DESIGN.md's JSON keys, layering purity, the CLI glue, thread safety."""

from __future__ import annotations

import ast
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import triage

ROOT = Path(__file__).resolve().parents[2]
DESIGN_KEYS = {
    "category",
    "scope",
    "level",
    "unit",
    "places",
    "accused",
    "priority",
    "confidence",
    "evidence",
    "duplicate_of",
    "model",
}


@pytest.mark.parametrize(
    "text",
    [
        "举报长沙县黄兴镇金凤村党支部书记张某某优亲厚友。",
        "舉報長沙縣紀委書記王某某收受賄賂。",
        "举报贪污受贿！",
        "",
        "   ",
        "hello 123",
    ],
)
def test_json_has_exactly_the_design_keys(text: str, jurisdiction: triage.Jurisdiction) -> None:
    doc = triage.triage(text, jurisdiction=jurisdiction).to_json()
    assert set(doc) == DESIGN_KEYS == set(triage.JSON_KEYS)
    json.dumps(doc, ensure_ascii=False)
    assert doc["scope"] in ("accusation", "appeal", "suggestion", "petition", "out_of_scope")
    assert doc["level"] in ("central", "province", "city", "county", "township")
    assert set(doc["unit"]) == {"id", "name"}
    assert doc["priority"] in ("urgent", "high", "normal")
    assert 0.0 <= doc["confidence"] <= 1.0
    assert doc["model"].startswith(triage.RULES_VERSION)
    for person in doc["accused"]:
        assert {"title", "rank"} <= set(person) <= {"name", "title", "rank"}
    for place in doc["places"]:
        assert set(place) == {"code", "name", "level"}
    for entry in doc["evidence"]:
        assert {"decision", "rule", "words"} <= set(entry)


def test_without_a_jurisdiction_units_are_named_without_ids() -> None:
    r = triage.triage("举报岳阳县教育局局长吴某某收受红包。")
    assert r.unit.id is None and r.unit.name == "岳阳县纪委监委"


def test_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        triage.triage("text", channel="carrier-pigeon")


def test_threads_share_one_engine(jurisdiction: triage.Jurisdiction) -> None:
    texts = ["举报长沙县财政局局长张某某收受红包。", "舉報長沙縣紀委書記王某某收受賄賂。"] * 8
    expected = [triage.triage(t, jurisdiction=jurisdiction).to_json() for t in texts]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: triage.triage(t, jurisdiction=jurisdiction).to_json(), texts))
    assert got == expected


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add(".")  # relative imports are not used in triage
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "triage").rglob("*.py")), ids=lambda p: p.name)
def test_triage_is_pure(path: Path) -> None:
    tops = _imports(path.read_text("utf-8"))
    assert not tops & {"intake", "storage", "channels", "video_reception", "."}, path
    assert not tops & {
        "socket",
        "http",
        "urllib",
        "requests",
        "aiohttp",
        "subprocess",
        "sqlite3",
        "sqlalchemy",
    }


def _parser() -> object:
    import argparse

    from intake.triage_commands import add_commands

    parser = argparse.ArgumentParser(prog="intake")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    from intake.config import Settings

    args = _parser().parse_args(argv)  # type: ignore[attr-defined]
    assert args.func(args, Settings.from_env()) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_cli_triage_text_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _run(["triage", "举报长沙县纪委书记王某某收受贿赂。", "--channel", "letter"], capsys)
    assert set(doc) == DESIGN_KEYS and doc["unit"] == {"id": "4301", "name": "长沙市纪委监委"}
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("举报长沙县财政局局长张某某收受红包。"))
    assert _run(["triage"], capsys)["level"] == "county"


def test_cli_train_and_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["text,label"]
    for i in range(12):
        rows.append(f"小区物业乱收费第{i}栋,城乡建设")
        rows.append(f"工厂偷排污水第{i}次,环境保护")
    csv_path = tmp_path / "labeled.csv"
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = tmp_path / "m.npz"
    common = ["--text-column", "text", "--label-column", "label"]
    trained = _run(["triage", "train", str(csv_path), *common, "--out", str(model)], capsys)
    assert trained["n"] == 24 and model.exists()
    report = _run(["triage", "eval", str(csv_path), *common, "--model", str(model)], capsys)
    assert {"accuracy", "macro_f1", "per_class", "n"} <= set(report) and report["n"] == 24
    doc = _run(["triage", "工厂偷排污水", "--model", str(model)], capsys)
    assert doc["category"] == "环境保护"


def test_cli_module_imports_no_channels() -> None:
    tops = _imports((ROOT / "intake" / "triage_commands.py").read_text("utf-8"))
    assert "channels" not in tops and "storage" not in tops
