"""Routing across a whole city's tree (issue 16's done-when cases), built by the builder for 长沙市
down to its villages: triage's unit is any unit of the tree, never an intake point; a unit outside
the tree is marked for forwarding with its deadline; a report filed at a lower unit starts there."""

from __future__ import annotations

import pytest

import triage
from intake import jurisdiction as intake_jurisdiction
from intake.jurisdiction_build import build

SHEGANG = "430181102"  # 浏阳市社港镇
ZHOULUO = "430181102224"  # 社港镇周洛村, an intake point
NINGXIANG = "430182"


@pytest.fixture(scope="module")
def city() -> triage.Jurisdiction:
    j = triage.Jurisdiction.from_dict(build("4301", down_to="village"))
    triage.warm_up(j)
    return j


def routing(result: triage.TriageResult) -> dict[str, str]:
    return next(e for e in result.evidence if e["decision"] == "routing")


@pytest.mark.parametrize(
    ("text", "level", "unit"),
    [
        (
            "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款。",
            "township",
            (SHEGANG, "社港镇纪委"),
        ),
        ("反映社港镇周洛村村支书李某某在低保评定中优亲厚友。", "township", (SHEGANG, "社港镇纪委")),
        ("举报宁乡市住建局局长李某某收受开发商贿赂，违规审批项目。", "county", (NINGXIANG, "宁乡市纪委监委")),
        ("举报宁乡市教育局局长王某某在教师招聘中弄虚作假。", "county", (NINGXIANG, "宁乡市纪委监委")),
        ("长沙市住建局副局长王某某违规插手工程招投标，收受好处费。", "city", ("4301", "长沙市纪委监委")),
        ("举报长沙市发改委副主任赵某某收受企业红包礼金。", "city", ("4301", "长沙市纪委监委")),
        ("举报长沙县黄兴镇党委书记孙某某收受贿赂。", "county", ("430121", "长沙县纪委监委")),
        ("举报开福区住建局局长周某某收受贿赂。", "county", ("430105", "开福区纪委监委")),
    ],
)
def test_done_when_cases(city: triage.Jurisdiction, text: str, level: str, unit: tuple[str, str]) -> None:
    result = triage.triage(text, jurisdiction=city)
    doc = result.to_json()
    assert (doc["level"], doc["unit"]["id"], doc["unit"]["name"]) == (level, *unit), routing(result)
    assert result.forward_to is None  # inside the tree: the platform hands it over itself
    if unit[0] != "4301":
        assert result.transfer == "downward" and "R12" in routing(result)["rule"].split()


def test_an_intake_point_never_handles(city: triage.Jurisdiction) -> None:
    texts = [
        "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款。",
        "浏阳市社港镇周洛村村委会主任（非党员）刘某某优亲厚友。",
        "周洛村村会计陈某某挪用村集体资金。",
        "社港镇周洛村村民小组长侵占补偿款。",
        "周洛村村务监督委员会主任不作为。",
        "反映周洛村修路款去向不明。",
    ]
    points = {u.code for u in city.units if u.kind == "intake_point"}
    assert len(points) > 1500
    for receiving in (None, SHEGANG, ZHOULUO):
        for text in texts:
            result = triage.triage(text, jurisdiction=city, receiving_unit=receiving)
            assert result.unit.id not in points, (text, result.unit)
            assert result.level != "village"


def test_a_village_party_member_with_the_county_as_record(city: triage.Jurisdiction) -> None:
    result = triage.triage(
        "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款。", jurisdiction=city
    )
    assert "R5" in routing(result)["rule"].split()
    assert "also=浏阳市纪委监委" in routing(result)["note"]


@pytest.mark.parametrize(
    ("text", "name", "level", "transfer", "deadline"),
    [
        (
            "举报岳阳市平江县三阳乡党委书记钱某某违规吃喝。",
            "平江县纪委监委",
            "county",
            "sideways",
            "jc_transfer_other_jurisdiction",
        ),
        (
            "举报岳阳市教育局局长吴某某收受红包。",
            "岳阳市纪委监委",
            "city",
            "sideways",
            "jc_transfer_other_jurisdiction",
        ),
        (
            "举报湖南省副省长某某收受巨额贿赂。",
            "中央纪委国家监委",
            "central",
            "upward",
            "jjkg_upward_transfer",
        ),
    ],
)
def test_outside_the_tree_is_forwarded_with_its_deadline(
    city: triage.Jurisdiction, text: str, name: str, level: str, transfer: str, deadline: str
) -> None:
    result = triage.triage(text, jurisdiction=city)
    assert result.unit.id is None and result.unit.name == name and result.level == level
    assert result.transfer == transfer
    assert result.forward_to is not None
    assert result.forward_to["name"] == name and result.forward_to["deadline"] == deadline
    assert result.forward_to["working_days"] == 5
    note = routing(result)["note"]
    assert "R12" in routing(result)["rule"].split() and f"forward to {name}" in note
    assert result.sealed is (transfer == "upward")


def test_the_external_unit_is_named_from_the_division_data(city: triage.Jurisdiction) -> None:
    result = triage.triage("举报岳阳市平江县三阳乡党委书记钱某某违规吃喝。", jurisdiction=city)
    assert result.forward_to is not None and result.forward_to["division"] == "430626"


def test_a_report_filed_lower_in_the_tree_starts_there(city: triage.Jurisdiction) -> None:
    text = "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款。"
    at_town = triage.triage(text, jurisdiction=city, receiving_unit=SHEGANG)
    assert at_town.unit.id == SHEGANG and at_town.transfer is None
    # An intake point registers for its township, which handles it: no transfer either.
    at_village = triage.triage(text, jurisdiction=city, receiving_unit=ZHOULUO)
    assert at_village.unit.id == SHEGANG and at_village.transfer is None
    # Filed at the county above: downward; at a county of another branch: sideways.
    assert triage.triage(text, jurisdiction=city, receiving_unit="430181").transfer == "downward"
    across = triage.triage(text, jurisdiction=city, receiving_unit=NINGXIANG)
    assert across.unit.id == SHEGANG and across.transfer == "sideways"
    # A city cadre reported at a township goes up, sealed.
    up = triage.triage(
        "长沙市住建局副局长王某某违规插手工程招投标。", jurisdiction=city, receiving_unit=SHEGANG
    )
    assert up.unit.id == "4301" and up.transfer == "upward" and up.sealed
    with pytest.raises(ValueError, match="not a unit"):
        triage.triage(text, jurisdiction=city, receiving_unit="999999")


def test_duplicates_are_found_across_the_tree(city: triage.Jurisdiction) -> None:
    """One index for the deployment: the same complaint filed at two units is one case."""
    index = triage.DuplicateIndex()
    text = "举报浏阳市社港镇周洛村党支部书记张某某侵占集体土地征收补偿款二十万元，群众意见很大。"
    first = triage.triage(text, jurisdiction=city, receiving_unit=SHEGANG, duplicates=index)
    index.add_signature("4301812026000001", first.signature)
    again = triage.triage(
        text + "请上级调查。", jurisdiction=city, receiving_unit=NINGXIANG, duplicates=index
    )
    assert again.duplicate_of == "4301812026000001"


def test_the_intake_side_sees_the_same_tree() -> None:
    j = intake_jurisdiction.from_document(build("4301", down_to="village"))
    assert j.is_intake_point(ZHOULUO) and not j.is_intake_point(SHEGANG)
    assert j.unit(ZHOULUO) is not None and j.unit(ZHOULUO).name == "周洛村村务监督委员会"  # type: ignore[union-attr]
    assert [u.code for u in j.ancestors(ZHOULUO)] == [SHEGANG, "430181", "4301", "43"]
    assert ZHOULUO in j.subtree("430181") and ZHOULUO not in j.subtree(NINGXIANG)
    assert len(j.children("4301")) == 9
