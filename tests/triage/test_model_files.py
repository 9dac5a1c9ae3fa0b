"""Model files (issue 19): versioned, reproducible with a seed, and a corrupt or foreign file is
refused with a clear message so that the rules-only category takes over; bad input texts always
get a result."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import triage
from intake.triage_service import usable_model
from server.triage_commands import main
from triage.classifier import FORMAT

WORDS = {
    "环境保护": ["工厂排污", "河水发臭", "夜里偷排", "噪音扰民", "垃圾焚烧", "空气污染"],
    "教育文体": ["学校收费", "教师补课", "学生午餐", "校车安全", "招生划片", "幼儿园学费"],
    "交通运输": ["公交线路", "道路拥堵", "出租车拒载", "红绿灯坏了", "停车收费", "高速收费"],
}


def _corpus(n: int = 60) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(n):
        label = list(WORDS)[i % 3]
        a, b = WORDS[label][i % 6], WORDS[label][(i // 3 + 1) % 6]
        texts.append(f"反映{a}的问题，第{i}次，{b}，请尽快处理。")
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = _corpus()
    path = tmp_path_factory.mktemp("m") / "model.npz"
    triage.train(texts, labels, seed=3).save(path)
    return path


def test_training_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    texts, labels = _corpus()
    a, b = triage.train(texts, labels, seed=5), triage.train(texts, labels, seed=5)
    assert a.version == b.version and a.temperature == b.temperature


def test_the_file_says_its_format(model_file: Path) -> None:
    with np.load(model_file) as z:
        assert json.loads(bytes(z["meta"]).decode())["format"] == FORMAT


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "foreign_npz", "shapes", "zip_no_meta"])
def test_a_damaged_or_foreign_file_is_refused_clearly(model_file: Path, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "bad.npz"
    raw = model_file.read_bytes()
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "garbage":
        bad.write_bytes(b"\x00\x01not a model at all" * 100)
    elif damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "foreign_npz":
        np.savez(bad, weights=np.zeros(3))
    elif damage == "zip_no_meta":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("readme.txt", "hello")
    else:
        with np.load(model_file) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["intercept"] = arrays["intercept"][:1]
        np.savez(bad, **arrays)
    with pytest.raises(triage.ModelError) as err:
        triage.Model.load(bad)
    assert str(bad) in str(err.value) and ("模型" in str(err.value))
    assert usable_model(bad) is None  # the server starts on rules only
    assert usable_model(model_file) == model_file


def test_the_cli_falls_back_to_rules_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"broken")
    assert main(["举报长沙县财政局局长张某某贪污受贿五十万元", "--model", str(bad)]) == 0
    out = capsys.readouterr()
    assert "不使用该模型" in out.err and "改用规则判断" in out.err
    assert json.loads(out.out)["category"] == "贪污贿赂"


BAD_INPUT = [
    "",
    "   \n\t  ",
    "举报" + "村支书张某某贪污。" * 2300,  # ≈ 20,000 characters
    "長沙縣黃興鎮金鳳村黨支部書記張某某優親厚友",
    "cun zhi shu zhang mou mou tan wu, village head corrupt 贪污 50w",
    "😀😀😀🙏🙏🔥 举报 🔥🔥 村主任 💰💰💰 贪污",
    "\x00\u200b\ufeff",
]


@pytest.mark.parametrize(
    "text", BAD_INPUT, ids=["empty", "blank", "20k", "trad", "mixed", "emoji", "controls"]
)
def test_bad_input_gets_a_result(text: str, model_file: Path) -> None:
    model = triage.Model.load(model_file)
    for m in (None, model):
        r = triage.triage(text, model=m)
        assert set(r.to_json()) == set(triage.engine.JSON_KEYS)
        assert 0.0 <= r.confidence <= 1.0
        assert r.explanations
    if not text.strip():
        assert triage.triage(text).needs_review


def test_train_reads_a_corrections_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The corrections export feeds training as it is: the last correction of a case is its label,
    a row that changed nothing is skipped."""
    texts, labels = _corpus(30)
    export = tmp_path / "corrections.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["case_no", "text", "field", "before", "after", "actor"])
    for i, (t, lab) in enumerate(zip(texts, labels, strict=True)):
        w.writerow([f"C{i}", t, "category", "其他", "环境保护" if i == 0 else lab, "staff:li"])
    w.writerow(["C0", texts[0], "category", "环境保护", "教育文体", "staff:wang"])  # decided again
    w.writerow(["C1", texts[1], "level", "county", "city", "staff:li"])  # not a category
    w.writerow(["C2", texts[2], "category", labels[2], labels[2], "staff:li"])  # a no-op
    export.write_text(buf.getvalue(), encoding="utf-8")
    from server.triage_commands import read_corrections_csv

    got_texts, got_labels = read_corrections_csv(export)
    assert len(got_texts) == 30 and (got_texts[-1], got_labels[-1]) == (texts[0], "教育文体")
    out = tmp_path / "m.npz"
    assert main(["train", str(export), "--out", str(out), "--seed", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n"] == 30 and doc["seed"] == 1 and doc["format"] == FORMAT
    assert triage.Model.load(out).labels == sorted(WORDS)


def test_first_use_without_warm_up_does_not_hang() -> None:
    """Normalizing in a fresh process with nothing loaded yet (the CLI, training) must not wait on
    the converter's lock (a regression: the traditional-character table took it twice)."""
    import subprocess
    import sys

    code = "import triage; print(triage.normalize('長沙縣 黃興鎮'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "长沙县黄兴镇"
