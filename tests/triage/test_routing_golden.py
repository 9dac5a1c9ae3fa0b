"""Golden tests: every routing rule R1–R12 and the acceptance seeds of research note §11.

Each report is triaged as written (simplified) and in traditional characters; the receiving unit
is 长沙县纪委监委 (430121), with 长沙市 and 湖南省 above it, its 18 townships below, and a 派驻
group for 县教育局 (fixture). Place names are real (统计用区划代码 2023).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

import triage


@dataclass(frozen=True)
class Golden:
    id: str
    text: str
    level: str
    unit_id: str | None
    rule: str
    channel: str | None = "web"
    unit_name: str | None = None
    transfer: str | None = None
    sealed: bool = False
    scope: str = "accusation"
    rank: str | None = None


CASES = [
    Golden(
        "R1 中管干部 → 中央纪委国家监委",
        "实名举报湖南省副省长张某某利用职务便利为其亲属承揽工程，收受巨额贿赂。",
        "central",
        None,
        "R1",
        unit_name="中央纪委国家监委",
        transfer="upward",
        sealed=True,
        rank="副省部级",
    ),
    Golden(
        "R2 省管 (市长 正厅) → 湖南省纪委监委",
        "举报长沙市市长王某某违规收受礼金，并为开发商违规调整容积率。",
        "province",
        "43",
        "R2",
        transfer="upward",
        sealed=True,
        rank="正厅局级",
    ),
    Golden(
        "R2 省管 (省直厅长) → 湖南省纪委监委",
        "反映湖南省交通运输厅厅长刘某某在工程招标中插手干预，收受好处费。",
        "province",
        "43",
        "R2",
        transfer="upward",
        sealed=True,
        rank="正厅局级",
    ),
    Golden(
        "R3 市管 (县长 正处) → 长沙市纪委监委 (AT-UP-01)",
        "举报长沙县县长李某利用职务便利为亲属谋取利益，违规插手土地出让。",
        "city",
        "4301",
        "R3",
        transfer="upward",
        sealed=True,
        rank="正县处级",
    ),
    Golden(
        "R3 市管 (市直副局长 副处) → 长沙市纪委监委",
        "长沙市交通运输局副局长张某违规收受礼金二十万元。",
        "city",
        "4301",
        "R3",
        transfer="upward",
        sealed=True,
        rank="副县处级",
    ),
    Golden(
        "R4 县管 (乡镇党委书记 正科) → 长沙县纪委监委",
        "举报黄兴镇党委书记陈某某违规收受工程老板红包，大操大办儿子婚礼。",
        "county",
        "430121",
        "R4",
        rank="正乡科级",
    ),
    Golden(
        "R4 县管 (县直局长, demo tree without 派驻 groups) → 长沙县纪委监委",
        "举报长沙县财政局局长赵某某收受红包，违规发放津贴补贴。",
        "county",
        "430121",
        "R4",
        rank="正乡科级",
    ),
    Golden(
        "R5 村党支部书记 → 乡镇纪委 (AT-RT-01)",
        "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友，把低保名额给了自己的亲戚。",
        "township",
        "430121102",
        "R5",
        transfer="downward",
        rank="村干部",
    ),
    Golden(
        "R5 街道的社区书记 → 街道纪工委",
        "星沙街道开元路社区书记李某某挪用社区活动经费三万元。",
        "township",
        "430121001",
        "R5",
        transfer="downward",
        rank="村干部",
    ),
    Golden(
        "R6 非党员村委会主任 → 县监委 (AT-RT-02)",
        "举报长沙县黄兴镇金凤村村委会主任（非党员）李某侵占征地补偿款十余万元。",
        "county",
        "430121",
        "R6",
        rank="村干部",
    ),
    Golden(
        "R7 视频接访: 村干部 first contact at the county",
        "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友，把低保名额给了自己的亲戚。",
        "county",
        "430121",
        "R7",
        channel="video",
    ),
    Golden(
        "R7 视频接访: 乡科级 cadre → county (AT-VIDEO-01)",
        "通过视频接访反映江背镇镇长周某某在征地拆迁中滥用职权，强拆群众房屋。",
        "county",
        "430121",
        "R7",
        channel="video",
        rank="正乡科级",
    ),
    Golden(
        "R8 本机关主要负责人 → 上一级, sealed (AT-UP-02)",
        "举报长沙县纪委书记王某某收受他人贿赂，为违纪人员说情。",
        "city",
        "4301",
        "R8",
        transfer="upward",
        sealed=True,
    ),
    Golden(
        "R9 垂直管理 (税务) → 税务系统纪检监察机构 (AT-RT-03)",
        "举报国家税务总局长沙县税务局副局长孙某某利用职权为企业违规减免税款，收受好处费。",
        "county",
        None,
        "R9",
        unit_name="税务系统",
        transfer="sideways",
    ),
    Golden(
        "R10 派驻: 驻在单位领导班子 → 派出机关 (AT-RT-04)",
        "举报长沙县教育局局长赵某某收受红包，在教师招聘中弄虚作假。",
        "county",
        "430121",
        "R10",
        rank="正乡科级",
    ),
    Golden(
        "R11 派驻: 驻在单位党组管理的干部 → 派驻纪检监察组 (AT-RT-04)",
        "举报长沙县实验中学校长钱某某违规收取择校费，私设小金库。",
        "county",
        "430121-P03",
        "R11",
    ),
    Golden(
        "R12 sideways: another county's 县管 cadre → its own commission",
        "举报岳阳县教育局局长吴某某收受红包，违规提拔亲属。",
        "county",
        None,
        "R12",
        unit_name="岳阳县纪委监委",
        transfer="sideways",
    ),
]


def _check(case: Golden, result: triage.TriageResult) -> None:
    doc = result.to_json()
    routing = next(e for e in doc["evidence"] if e["decision"] == "routing")
    assert case.rule in routing["rule"].split(), routing
    assert doc["scope"] == case.scope
    assert doc["level"] == case.level
    assert doc["unit"]["id"] == case.unit_id, doc["unit"]
    if case.unit_name:
        assert case.unit_name in doc["unit"]["name"]
    assert result.transfer == case.transfer
    assert result.sealed is case.sealed
    if case.rank:
        assert doc["accused"] and doc["accused"][0]["rank"] == case.rank


@pytest.mark.parametrize("script", ["simplified", "traditional"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_routing_rule(
    case: Golden, script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    text = case.text if script == "simplified" else to_traditional(case.text)
    if script == "traditional":
        assert text != case.text
    _check(case, triage.triage(text, channel=case.channel, jurisdiction=jurisdiction))


def test_every_rule_r1_to_r12_has_a_golden_case() -> None:
    covered = {c.rule for c in CASES}
    assert covered == {f"R{i}" for i in range(1, 13)}


def test_r4_county_bureau_chief_in_the_demo_tree(demo_jurisdiction: triage.Jurisdiction) -> None:
    """AT-RT-04, first half, on the bundled demo (no 派驻 groups): the county commission."""
    r = triage.triage("举报长沙县教育局局长赵某某收受红包。", jurisdiction=demo_jurisdiction)
    assert (r.level, r.unit.id) == ("county", "430121")


def test_r8_only_for_the_receiving_commission(jurisdiction: triage.Jurisdiction) -> None:
    """The city's 纪委书记 is 省管 (副厅): R2 upward, not R8."""
    r = triage.triage("举报长沙市纪委书记某某收受贿赂。", jurisdiction=jurisdiction)
    assert (r.level, r.unit.id) == ("province", "43")
    assert "R8" not in next(e for e in r.evidence if e["decision"] == "routing")["rule"]


def test_management_list_overrides_the_rank_proxy(jurisdiction: triage.Jurisdiction) -> None:
    """Some provinces manage 县委书记 directly (省管): the deployment's list wins."""
    doc = {
        "receiving_unit": "430121",
        "units": [
            {"code": u.code, "name": u.name, "level": u.level, "parent": u.parent_code, "kind": u.kind}
            for u in jurisdiction.units
        ],
        "management": [{"title": "县委书记", "managed_by": "province"}],
    }
    custom = triage.Jurisdiction.from_dict(doc)
    r = triage.triage("举报长沙县委书记某某违规收受礼金。", jurisdiction=custom)
    assert (r.level, r.unit.id) == ("province", "43")
    default = triage.triage("举报长沙县委书记某某违规收受礼金。", jurisdiction=jurisdiction)
    assert (default.level, default.unit.id) == ("city", "4301")


def test_r14_former_official_is_noted(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("举报原长沙县财政局局长赵某某（已退休）在任期间挪用公款。", jurisdiction=jurisdiction)
    routing = next(e for e in r.evidence if e["decision"] == "routing")
    assert "R14" in routing["rule"].split()
    assert (r.level, r.unit.id) == ("county", "430121")


def test_no_accused_stays_with_the_receiving_unit_for_manual_triage(
    jurisdiction: triage.Jurisdiction,
) -> None:
    r = triage.triage(
        "反映我们这里有人搞形式主义，检查走过场，群众很有意见，希望纪委管一管。", jurisdiction=jurisdiction
    )
    assert r.unit.id == "430121"
    assert r.needs_review
