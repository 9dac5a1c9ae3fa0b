"""A jurisdiction file is checked at load: the tree walks, and what is refused (naming the unit)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from intake import jurisdiction
from intake.jurisdiction import JurisdictionError
from server.cli import main

TREE: dict[str, Any] = {
    "name": "测试辖区",
    "receiving_unit": "4301",
    "units": [
        {"code": "43", "name": "湖南省纪委监委", "level": "province", "kind": "commission", "parent": None},
        {"code": "4301", "name": "长沙市纪委监委", "level": "city", "kind": "commission", "parent": "43"},
        {
            "code": "430181",
            "name": "浏阳市纪委监委",
            "level": "county",
            "kind": "commission",
            "parent": "4301",
        },
        {
            "code": "430182",
            "name": "宁乡市纪委监委",
            "level": "county",
            "kind": "commission",
            "parent": "4301",
        },
        {
            "code": "430181102",
            "name": "社港镇纪委",
            "level": "township",
            "kind": "commission",
            "parent": "430181",
        },
        {
            "code": "430181102201",
            "name": "周洛村村务监督委员会",
            "level": "village",
            "kind": "intake_point",
            "parent": "430181102",
        },
    ],
}


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(TREE)
    for code, fields in changes.items():
        unit = next(u for u in d["units"] if u["code"] == code)
        unit.update(fields)
    return d


def write(tmp_path: Path, d: Any) -> Path:
    path = tmp_path / "j.json"
    path.write_text(json.dumps(d, ensure_ascii=False), "utf-8")
    return path


def test_tree_walks() -> None:
    j = jurisdiction.from_document(doc())
    assert j.unit("430181") is not None and j.unit("430181").name == "浏阳市纪委监委"  # type: ignore[union-attr]
    assert j.unit("999999") is None
    assert [u.code for u in j.children("4301")] == ["430181", "430182"]
    assert j.children("430182") == () and j.children("nope") == ()
    assert j.subtree("430181") == {"430181", "430181102", "430181102201"}
    assert j.subtree("4301") == {"4301", "430181", "430182", "430181102", "430181102201"}
    assert j.subtree("nope") == frozenset()
    assert [u.code for u in j.ancestors("430181102201")] == ["430181102", "430181", "4301", "43"]
    assert j.ancestors("43") == () and j.ancestors("nope") == ()
    assert j.is_intake_point("430181102201")
    assert not j.is_intake_point("430181102") and not j.is_intake_point("nope")


def test_parents_come_first_whatever_the_order() -> None:
    d = doc()
    d["units"].reverse()
    j = jurisdiction.from_document(d)
    seen: set[str] = set()
    for u in j.units:
        assert u.parent_code is None or u.parent_code in seen
        seen.add(u.code)


@pytest.mark.parametrize(
    ("d", "words"),
    [
        (doc(**{"43": {"parent": "430181102"}}), ["成环", "cycle", "43"]),
        (doc(**{"430181": {"parent": "430181"}}), ["成环", "430181"]),
        (doc(**{"430182": {"parent": "4302"}}), ["430182", "4302", "不在文件中", "not in the file"]),
        (doc(**{"430182": {"level": "prefecture"}}), ["430182", "prefecture", "unknown level"]),
        (doc(**{"430182": {"kind": "bureau"}}), ["430182", "bureau", "unknown kind"]),
        (doc(**{"430181102201": {"kind": "commission"}}), ["430181102201", "intake_point"]),
        (doc(**{"430182": {"kind": "intake_point"}}), ["430182", "intake_point"]),
        (doc(**{"430182": {"code": "430181"}}), ["430181", "重复"]),
        (doc(**{"430182": {"name": ""}}), ["430182", "name"]),
        ({"name": "x", "receiving_unit": "43", "units": []}, ["units"]),
        ({**TREE, "receiving_unit": "4302"}, ["4302", "receiving unit"]),
        ({**TREE, "receiving_unit": "430181102201"}, ["430181102201", "intake point"]),
    ],
)
def test_bad_files_are_refused_naming_the_unit(d: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(JurisdictionError) as err:
        jurisdiction.from_document(d)
    for word in words:
        assert word in str(err.value)


def test_load_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, doc(**{"430182": {"parent": "4302"}}))
    with pytest.raises(JurisdictionError, match=f"辖区文件 {path} 有误.*430182"):
        jurisdiction.load(path)
    path.write_text("{not json", "utf-8")
    with pytest.raises(JurisdictionError, match="无法读取"):
        jurisdiction.load(path)


def test_serve_refuses_a_bad_file_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, doc(**{"4301": {"parent": "430181"}}))
    monkeypatch.setenv("INTAKE_JURISDICTION_FILE", str(path))
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path / "var"))
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "成环" in err and "4301" in err and str(path) in err
    assert not (tmp_path / "var").exists()  # refused before anything was created
