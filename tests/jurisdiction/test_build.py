"""``intake jurisdiction build``: the right kind and name for every level, the chain above, the
division table's quirks, and bad codes (exit 2, nothing written)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from intake import jurisdiction
from intake.jurisdiction_build import BuildError, build, village_name
from server.cli import main


def units_of(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {u["code"]: u for u in doc["units"]}  # type: ignore[attr-defined, index]


def test_a_city_down_to_its_villages() -> None:
    doc = build("4301", down_to="village")
    units = units_of(doc)
    assert doc["receiving_unit"] == "4301" and doc["division"] == "4301" and doc["down_to"] == "village"
    expect = {
        "43": ("湖南省纪委监委", "province", "commission", None),
        "4301": ("长沙市纪委监委", "city", "commission", "43"),
        "430104": ("岳麓区纪委监委", "county", "commission", "4301"),
        "430121": ("长沙县纪委监委", "county", "commission", "4301"),
        "430181": ("浏阳市纪委监委", "county", "commission", "4301"),  # 县级市
        "430181001": ("淮川街道纪工委", "township", "work_committee", "430181"),
        "430181102": ("社港镇纪委", "township", "commission", "430181"),
        "430181201": ("小河乡纪委", "township", "commission", "430181"),
        "430181102224": ("周洛村村务监督委员会", "village", "intake_point", "430181102"),
        "430102001001": ("识字里社区监督联络站", "village", "intake_point", "430102001"),
    }
    for code, (name, level, kind, parent) in expect.items():
        u = units[code]
        assert (u["name"], u["level"], u["kind"], u["parent"]) == (name, level, kind, parent), u
    assert units["430181102224"]["division_name"] == "周洛村"
    assert not any(c.startswith("4302") for c in units)  # nothing of 株洲
    j = jurisdiction.from_document(doc)
    assert len(j.children("4301")) == 9


def test_a_province_and_its_zones() -> None:
    doc = build("43")
    kinds = Counter((u["level"], u["kind"]) for u in doc["units"])
    assert kinds[("city", "commission")] == 14 and kinds[("province", "commission")] == 1
    assert not any(u["level"] == "village" for u in doc["units"])  # township is the default
    zone = units_of(doc)["430671"]  # 岳阳市屈原管理区: a county-level zone, a 党工委
    assert (zone["name"], zone["kind"], zone["level"]) == (
        "岳阳市屈原管理区纪工委",
        "work_committee",
        "county",
    )


def test_a_township_with_its_chain_and_villages() -> None:
    doc = build("430181102", down_to="village")
    units = units_of(doc)
    assert [u["code"] for u in doc["units"][:4]] == ["43", "4301", "430181", "430181102"]
    assert doc["receiving_unit"] == "430181102"
    assert all(c.startswith("430181102") for c in units if len(c) == 12)
    assert len([c for c in units if len(c) == 12]) > 10


def test_the_central_commission_on_top() -> None:
    doc = build("430121", central=True)
    units = units_of(doc)
    assert units["0"]["level"] == "central" and units["0"]["name"] == "中央纪委国家监委"
    assert units["43"]["parent"] == "0"
    jurisdiction.from_document(doc)


def test_placeholders_are_skipped_and_lone_counties_folded() -> None:
    beijing = units_of(build("11"))
    assert "1101" not in beijing  # 市辖区
    assert beijing["110101"]["parent"] == "11" and beijing["110101"]["name"] == "东城区纪委监委"
    henan = units_of(build("41"))
    assert "4190" not in henan and henan["419001"]["parent"] == "41"  # 济源市, 省直辖
    dongguan = units_of(build("4419"))  # a prefecture city without counties
    assert "441900" not in dongguan
    assert dongguan["441900003"]["parent"] == "4419"


@pytest.mark.parametrize(
    ("official", "short"),
    [
        ("周洛村", "周洛村"),
        ("周洛村村委会", "周洛村"),
        ("张家村民委员会", "张家村"),
        ("开元路社区居委会", "开元路社区"),
        ("八方社区委员会", "八方社区"),
        ("东风居民委员会", "东风社区"),
    ],
)
def test_village_names(official: str, short: str) -> None:
    assert village_name(official) == short


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("43x", ["格式不对", "malformed"]),
        ("12345", ["格式不对"]),
        ("４３", ["格式不对"]),
        ("999999", ["不存在", "unknown division code 999999"]),
        ("4190", ["占位", "41"]),
        ("1101", ["市辖区", "11"]),
    ],
)
def test_bad_codes_exit_2_and_write_nothing(
    code: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "j.json"
    assert main(["jurisdiction", "build", "--division", code, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not out.exists()
    with pytest.raises(BuildError):
        build(code)


def test_the_command_writes_a_file_the_server_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "j.json"
    args = ["jurisdiction", "build", "--division", "430182", "--down-to", "village", "--out", str(out)]
    assert main(args) == 0
    assert "乡镇级" in capsys.readouterr().err
    j = jurisdiction.load(out)
    assert j.receiving_unit == "430182" and j.unit("430182").name == "宁乡市纪委监委"  # type: ignore[union-attr]
    assert main(["jurisdiction", "check", str(out)]) == 0
    assert "受理单位 430182" in capsys.readouterr().out
    doc = json.loads(out.read_text("utf-8"))
    doc["units"][3]["parent"] = "999"
    out.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    assert main(["jurisdiction", "check", str(out)]) == 2
    assert "999" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse's own refusal, exit 2
        main(["jurisdiction", "build", "--division", "430182", "--down-to", "hamlet", "--out", "-"])
    assert usage.value.code == 2
