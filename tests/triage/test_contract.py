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

    from server.triage_commands import add_commands

    parser = argparse.ArgumentParser(prog="intake")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    from server.config import Settings

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
    tops = _imports((ROOT / "server" / "triage_commands.py").read_text("utf-8"))
    assert "channels" not in tops and "storage" not in tops


AMBIGUOUS = "反映我们这里有人搞形式主义，检查走过场，群众很有意见，希望纪委管一管。"
CLEAR = "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友，把低保名额给了自己的亲戚。"


def _confidence_entry(result: triage.TriageResult) -> dict[str, object]:
    entries = [e for e in result.evidence if e["decision"] == "confidence"]
    assert len(entries) == 1
    return entries[0]


@pytest.mark.parametrize(("text", "queued"), [(AMBIGUOUS, True), (CLEAR, False)])
def test_low_confidence_goes_to_the_manual_queue(
    text: str, queued: bool, jurisdiction: triage.Jurisdiction
) -> None:
    r = triage.triage(text, jurisdiction=jurisdiction)
    doc = r.to_json()
    assert set(doc) == DESIGN_KEYS  # the queue decision rides in evidence, not in a new key
    entry = _confidence_entry(r)
    assert r.needs_review is queued is (doc["confidence"] < triage.REVIEW_THRESHOLD)
    assert (entry["rule"] == triage.MANUAL_QUEUE) is queued
    assert f"review_threshold {triage.REVIEW_THRESHOLD}" in str(entry["note"])


def test_review_threshold_is_the_callers_choice(jurisdiction: triage.Jurisdiction) -> None:
    base = triage.triage(CLEAR, jurisdiction=jurisdiction)
    stricter = triage.triage(CLEAR, jurisdiction=jurisdiction, review_threshold=base.confidence + 0.001)
    assert not base.needs_review and stricter.needs_review
    assert _confidence_entry(stricter)["rule"] == triage.MANUAL_QUEUE
    assert stricter.to_json()["confidence"] == base.to_json()["confidence"]
    with pytest.raises(ValueError, match="review_threshold"):
        triage.triage(CLEAR, jurisdiction=jurisdiction, review_threshold=1.5)


def test_cli_cv_with_groups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["text,label,group"]
    for i in range(15):
        rows.append(f"小区物业乱收费第{i}栋楼的业主意见很大,城乡建设,m{i}")
        rows.append(f"工厂偷排污水第{i}次河水发臭,环境保护,")
    csv_path = tmp_path / "labeled.csv"
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    common = ["--text-column", "text", "--label-column", "label", "--group-column", "group"]
    report = _run(["triage", "cv", str(csv_path), *common, "--folds", "3"], capsys)
    assert {"accuracy", "macro_f1", "per_class", "n", "folds", "leakage"} <= set(report)
    assert len(report["folds"]) == 3  # type: ignore[arg-type]
    assert report["macro_f1"] == pytest.approx(1.0)


def test_cli_usage_lists_every_action() -> None:
    from server.triage_commands import ACTIONS, USAGE

    for action in ACTIONS:
        assert f"intake triage {action} " in USAGE


def test_result_has_every_field_as_the_dataclass_makes_it(jurisdiction: triage.Jurisdiction) -> None:
    """triage builds its result without the frozen dataclass's ``__init__``: every field is set
    on the instance, and the result equals the one the constructor makes from the same values."""
    import dataclasses

    r = triage.triage("举报长沙县黄兴镇金凤村党支部书记张某某优亲厚友。", jurisdiction=jurisdiction)
    names = {f.name for f in dataclasses.fields(triage.TriageResult)}
    assert set(vars(r)) == names
    assert triage.TriageResult(**vars(r)) == r
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.category = "x"  # type: ignore[misc]


def test_the_confidence_note_is_written_for_each_call() -> None:
    """The note is cached by its values and their types: a threshold of 1 then 1.0 is noted as
    given each time, as it was before the cache."""
    text = "举报某单位局长贪污受贿。"
    notes = [triage.triage(text, review_threshold=t).evidence[-1]["note"] for t in (1, 1.0, 1)]
    shown = [n.split("; ")[0].split(" review_threshold ")[1] for n in notes]
    assert shown == ["1", "1.0", "1"]
