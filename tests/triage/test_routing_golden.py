"""Golden tests: every routing rule R1–R12 and the acceptance seeds of research note §11.

Each report is triaged as written (simplified) and in traditional characters; the receiving unit
is 长沙县纪委监委 (430121), with 长沙市 and 湖南省 above it, its 18 townships below, and a 派驻
group for 县教育局 (fixture). Place names are real (统计用区划代码 2023).

Seeds (AT-RT-*, AT-BSL-*, AT-UP-*) are tested at the level triage can decide them from the text
and the jurisdiction's data. What belongs to the pipeline or storage is out of triage's reach and
only its signal is checked here: AT-UP-01/02 "no full text in the platform, no copy, invisible to
county users" → ``sealed`` is True; AT-RT-01 "optionally a 县监委 monitoring record" → the county is
named as the secondary unit in the evidence; AT-RT-03 "the tax system's own organ" → the organ has
an id only when the deployment's tree lists it (``kind: vertical``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import triage
from tests.conftest import shared_path

# The §11 seeds triage answers for (the others are deadlines, vault, audit: other packages').
TRIAGE_SEEDS = re.compile(r"\bAT-(?:RT|BSL|UP)-\d+\b")


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
    seeds: tuple[str, ...] = ()
    also_rules: tuple[str, ...] = ()  # further rules the routing evidence must name (R12)
    notes: tuple[str, ...] = ()  # phrases the routing evidence's note must contain


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
        also_rules=("R12",),
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
        seeds=("AT-UP-01",),
        also_rules=("R12",),
        notes=("upward transfer within 5 working days", "sealed"),
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
        seeds=("AT-RT-01",),
        also_rules=("R12",),
        notes=("also=长沙县纪委监委",),
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
        seeds=("AT-RT-02",),
        notes=("派出监察办公室 at 黄兴镇纪委",),
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
        seeds=("AT-UP-02",),
        notes=("accused heads 长沙县纪委监委", "sealed"),
    ),
    Golden(
        "R9 垂直管理 (税务) → 税务系统纪检监察机构 (AT-RT-03)",
        "举报国家税务总局长沙县税务局副局长孙某某利用职权为企业违规减免税款，收受好处费。",
        "county",
        None,
        "R9",
        unit_name="税务系统",
        transfer="sideways",
        seeds=("AT-RT-03",),
        notes=("only after coordinating",),
    ),
    Golden(
        "R10 派驻: 驻在单位领导班子 → 派出机关 (AT-RT-04)",
        "举报长沙县教育局局长赵某某收受红包，在教师招聘中弄虚作假。",
        "county",
        "430121",
        "R10",
        rank="正乡科级",
        seeds=("AT-RT-04",),
        notes=("may join the preliminary check",),
    ),
    Golden(
        "R11 派驻: 驻在单位党组管理的干部 → 派驻纪检监察组 (AT-RT-04)",
        "举报长沙县实验中学校长钱某某违规收取择校费，私设小金库。",
        "county",
        "430121-P03",
        "R11",
        seeds=("AT-RT-04",),
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
    Golden(
        "R12 downward: a township's own staff → its 乡镇纪委",
        "反映长沙县江背镇财政所工作人员刘某某在发放惠农补贴时吃拿卡要，收受群众好处费。",
        "township",
        "430121104",
        "R12",
        transfer="downward",
        also_rules=("R5",),
        notes=("lower level accepts within 5 working days",),
    ),
]


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


def _check(case: Golden, result: triage.TriageResult) -> None:
    doc = result.to_json()
    assert set(doc) == DESIGN_KEYS
    assert any(p["code"].startswith("43") for p in doc["places"])  # real places were recognised
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
    for rule in case.also_rules:
        assert rule in routing["rule"].split(), routing
    for phrase in case.notes:
        assert phrase in routing.get("note", ""), routing
    if result.transfer in ("downward", "sideways") or (result.transfer == "upward" and case.rule != "R8"):
        assert "R12" in routing["rule"].split(), routing  # every transfer but R8's 径送 is R12


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


SCRIPTS = pytest.mark.parametrize("script", ["simplified", "traditional"])


def _as(script: str, text: str, to_traditional: Callable[[str], str]) -> str:
    if script == "simplified":
        return text
    converted = to_traditional(text)
    assert converted != text, "the traditional variant must differ"
    return converted


def _routing(result: triage.TriageResult) -> dict[str, str]:
    entry: dict[str, str] = next(e for e in result.evidence if e["decision"] == "routing")
    return entry


def _variant(jurisdiction: triage.Jurisdiction, **changes: object) -> triage.Jurisdiction:
    """The fixture jurisdiction as a file would give it, with some top-level keys changed."""
    doc: dict[str, object] = {
        "name": jurisdiction.name,
        "receiving_unit": jurisdiction.receiving_unit,
        "units": [
            {
                "code": u.code,
                "name": u.name,
                "level": u.level,
                "parent": u.parent_code,
                "division_code": u.division_code,
                "kind": u.kind,
                "hosts": list(u.hosts),
                "covers": list(u.covers),
                "system": u.system,
            }
            for u in jurisdiction.units
        ],
    }
    doc.update(changes)
    return triage.Jurisdiction.from_dict(doc)


@SCRIPTS
def test_r4_county_bureau_chief_in_the_demo_tree(
    script: str, demo_jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    """AT-RT-04, first half, on the bundled demo (no 派驻 groups): the county commission."""
    text = _as(script, "举报长沙县教育局局长赵某某收受红包。", to_traditional)
    r = triage.triage(text, jurisdiction=demo_jurisdiction)
    assert (r.level, r.unit.id) == ("county", "430121")
    assert "R4" in _routing(r)["rule"].split()


@SCRIPTS
def test_r8_only_for_the_receiving_commission(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    """The city's 纪委书记 is 省管 (副厅): R2 upward, not R8."""
    r = triage.triage(
        _as(script, "举报长沙市纪委书记某某收受贿赂。", to_traditional), jurisdiction=jurisdiction
    )
    assert (r.level, r.unit.id) == ("province", "43")
    assert "R8" not in _routing(r)["rule"].split()


@SCRIPTS
def test_management_list_overrides_the_rank_proxy(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    """Some provinces manage 县委书记 directly (省管): the deployment's list wins (R2 not R3)."""
    custom = _variant(jurisdiction, management=[{"title": "县委书记", "managed_by": "province"}])
    text = _as(script, "举报长沙县委书记某某违规收受礼金。", to_traditional)
    r = triage.triage(text, jurisdiction=custom)
    assert (r.level, r.unit.id) == ("province", "43")
    assert "R2" in _routing(r)["rule"].split()
    assert any(e["decision"] == "accused" and e["rule"] == "management list" for e in r.evidence)
    default = triage.triage(text, jurisdiction=jurisdiction)
    assert (default.level, default.unit.id) == ("city", "4301")


@SCRIPTS
def test_at_rt_02_without_township_supervision_offices(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    """AT-RT-02 "via the township 监察办公室 *where configured*": not configured → county, no note."""
    plain = _variant(jurisdiction, township_supervision_offices=False)
    text = _as(
        script, "举报长沙县黄兴镇金凤村村委会主任（非党员）李某侵占征地补偿款十余万元。", to_traditional
    )
    r = triage.triage(text, jurisdiction=plain)
    assert (r.level, r.unit.id) == ("county", "430121")
    assert _routing(r)["rule"].split() == ["R6"]
    assert "派出监察办公室" not in _routing(r).get("note", "")


@SCRIPTS
def test_at_rt_03_with_the_tax_systems_organ_in_the_tree(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    """AT-RT-03 decided as far as data allows: with the tax system's 纪检机构 configured as a
    ``vertical`` unit, the report goes to that unit (by id), not to the county commission."""
    units = [
        *(_variant(jurisdiction).units),
    ]
    doc_units = [
        {
            "code": u.code,
            "name": u.name,
            "level": u.level,
            "parent": u.parent_code,
            "division_code": u.division_code,
            "kind": u.kind,
            "hosts": list(u.hosts),
            "covers": list(u.covers),
        }
        for u in units
    ]
    doc_units.append(
        {
            "code": "TAX-4301",
            "name": "国家税务总局长沙市税务局纪检组",
            "level": "city",
            "parent": None,
            "division_code": "4301",
            "kind": "vertical",
            "system": "税务系统",
        }
    )
    with_tax = _variant(jurisdiction, units=doc_units)
    text = _as(
        script,
        "举报国家税务总局长沙县税务局副局长孙某某利用职权为企业违规减免税款，收受好处费。",
        to_traditional,
    )
    r = triage.triage(text, jurisdiction=with_tax)
    assert r.unit.id == "TAX-4301" and r.level == "city"
    assert "R9" in _routing(r)["rule"].split()
    assert "only after coordinating" in _routing(r)["note"]
    assert r.transfer == "upward"  # to another organ, outside the county commission


@SCRIPTS
def test_r7_is_a_local_rule_that_can_be_switched_off(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    """R7 (恩施州 practice) is configurable: off → a village secretary by video goes to R5."""
    off = _variant(jurisdiction, video_first_contact_county=False)
    text = _as(script, "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友。", to_traditional)
    r = triage.triage(text, channel="video", jurisdiction=off)
    assert (r.level, r.unit.id) == ("township", "430121102")
    assert "R5" in _routing(r)["rule"].split()


@SCRIPTS
def test_r14_former_official_is_noted(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    text = _as(script, "举报原长沙县财政局局长赵某某（已退休）在任期间挪用公款。", to_traditional)
    r = triage.triage(text, jurisdiction=jurisdiction)
    assert "R14" in _routing(r)["rule"].split()
    assert (r.level, r.unit.id) == ("county", "430121")


@SCRIPTS
def test_no_accused_stays_with_the_receiving_unit_for_manual_triage(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    text = _as(
        script, "反映我们这里有人搞形式主义，检查走过场，群众很有意见，希望纪委管一管。", to_traditional
    )
    r = triage.triage(text, jurisdiction=jurisdiction)
    assert r.unit.id == "430121"
    assert r.needs_review
    assert r.confidence < triage.REVIEW_THRESHOLD


# -- AT-BSL: 不予受理 (S1 art 13), with the channel-dependent advice -----------------------------

CIVIL = "我和邻居因宅基地发生民事纠纷，长沙县人民法院已经判决，对方拒不执行，请求帮助。"


@SCRIPTS
def test_at_bsl_01_civil_dispute_letter_is_forwarded_web_is_informed(
    script: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    text = _as(script, CIVIL, to_traditional)
    by_letter = triage.triage(text, channel="letter", jurisdiction=jurisdiction)
    by_web = triage.triage(text, channel="web", jurisdiction=jurisdiction)
    for r in (by_letter, by_web):
        assert r.scope == "out_of_scope"
        assert r.redirect_to and "法院" in r.redirect_to
        assert any("BSL-SS" in e["rule"] for e in r.evidence)
        assert not r.accused  # no 问题线索: nobody is accused
    assert by_letter.advice == "forward"
    assert by_web.advice == "inform"
    for channel in ("visit", "phone", "app", "wechat"):
        assert triage.triage(text, channel=channel, jurisdiction=jurisdiction).advice == "inform"


@SCRIPTS
@pytest.mark.parametrize(
    "text", ["举报贪污受贿！", "我要举报有人贪污受贿，请严查", "反映长沙县有人违纪违法。"]
)
def test_at_bsl_02_a_violation_named_without_facts(
    script: str, text: str, jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    r = triage.triage(_as(script, text, to_traditional), channel="web", jurisdiction=jurisdiction)
    assert r.scope == "out_of_scope"
    assert any("BSL-WSZ" in e["rule"] for e in r.evidence)
    assert r.advice == "request_facts"


def test_at_bsl_02_facts_make_it_an_accusation(jurisdiction: triage.Jurisdiction) -> None:
    """The same words with a person and a sum are a 检举控告, not 无实质内容."""
    r = triage.triage(
        "举报长沙县财政局局长张某某贪污受贿五十万元！", channel="web", jurisdiction=jurisdiction
    )
    assert r.scope == "accusation"


# -- coverage ------------------------------------------------------------------------------------

OTHER_SEED_TESTS = {
    "AT-RT-02": test_at_rt_02_without_township_supervision_offices,
    "AT-RT-03": test_at_rt_03_with_the_tax_systems_organ_in_the_tree,
    "AT-RT-04": test_r4_county_bureau_chief_in_the_demo_tree,
    "AT-BSL-01": test_at_bsl_01_civil_dispute_letter_is_forwarded_web_is_informed,
    "AT-BSL-02": test_at_bsl_02_a_violation_named_without_facts,
}
EXPECTED_SEEDS = {
    "AT-RT-01",
    "AT-RT-02",
    "AT-RT-03",
    "AT-RT-04",
    "AT-BSL-01",
    "AT-BSL-02",
    "AT-UP-01",
    "AT-UP-02",
}


def test_every_triage_seed_has_a_golden_test() -> None:
    covered = {s for c in CASES for s in c.seeds} | set(OTHER_SEED_TESTS)
    assert covered == EXPECTED_SEEDS


def test_the_seed_list_matches_the_research_note() -> None:
    """When the research note is at hand, its AT-RT/BSL/UP seeds are exactly the ones above."""
    section = shared_path("research/domain_rules.md").read_text("utf-8").split("## 11.", 1)[1]
    assert set(TRIAGE_SEEDS.findall(section)) == EXPECTED_SEEDS
