"""The scope rule (``triage.scope.decide``) and the router, rule by rule on hand-built accused
(found by mutation testing, issue 23): each scope rule's exact decision (rule, words, confidence,
advice, where to redirect), what counts as substance, and the router's units, transfers and notes
where the golden cases leave them unchecked."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from triage import gazetteer
from triage.accused import Accused
from triage.jurisdiction import Jurisdiction
from triage.lexicon import LITIGATION_TARGET
from triage.routing import Route, Router, UnitRef
from triage.scope import SIGNALS, ScopeDecision, decide

ANY_BODY = "有关"  # a placeholder: says nobody
JJKG = "JJKG 检举控告 (S1 art 4)"
WSZ = "BSL-WSZ 无实质内容 (S1 art 13(三))"
SS = "BSL-SS 诉讼仲裁复议 (S1 art 13(一))"
QT = "BSL-QT 其他机关职责 (S1 art 13(二))"
XF_SUGGESTION = "XF 建议意见类 (条例 art 30)"
XF_DEMAND = "XF 申诉求决类 (条例 art 31)"


def official(name: str | None = None, unit: str = "长沙县财政局", rank: str = "正科级") -> Accused:
    return Accused(
        name, "局长", unit, "county", "430121", rank, "county", None, False, True, False, "unit", False, 0, 2
    )


CITIZEN = Accused(None, "", "", "county", None, "", "county", None, False, False, False, "prior", False, 0, 0)


@pytest.mark.parametrize(
    ("text", "accused", "channel", "decision"),
    [
        (
            "本人对处分不服，提出申诉",
            [],
            "web",
            ScopeDecision("appeal", "SS 申诉 (S1 art 4)", ("不服", "申诉", "处分"), 0.85),
        ),
        ("举报贪污！", [], "web", ScopeDecision("out_of_scope", WSZ, ("贪污",), 0.8, "request_facts")),
        ("举报贪污！", [], "letter", ScopeDecision("out_of_scope", WSZ, ("贪污",), 0.8, "file")),
        (
            "法院已经判决，对方拒不执行",
            [],
            "web",
            ScopeDecision("out_of_scope", SS, ("判决",), 0.8, "inform", LITIGATION_TARGET),
        ),
        (
            "法院已经判决，对方拒不执行",
            [],
            "letter",
            ScopeDecision("out_of_scope", SS, ("判决",), 0.8, "forward", LITIGATION_TARGET),
        ),
        # Misconduct words beside a judgment, but no official: still the court's, less sure.
        (
            "法院判决后对方贪污了3万元",
            [],
            "web",
            ScopeDecision("out_of_scope", SS, ("判决",), 0.65, "inform", LITIGATION_TARGET),
        ),
        (
            "法院判决后局长贪污了3万元",
            [official()],
            "web",
            ScopeDecision("accusation", JJKG, ("贪污",), 0.92),
        ),
        ("有人贪污了3万元", [], "web", ScopeDecision("accusation", JJKG, ("贪污",), 0.75)),
        (
            "我被骗了",
            [],
            "phone",
            ScopeDecision("out_of_scope", QT, ("被骗",), 0.7, "inform", "公安机关（110）"),
        ),
        (
            "我被骗了",
            [],
            "letter",
            ScopeDecision("out_of_scope", QT, ("被骗",), 0.7, "forward", "公安机关（110）"),
        ),
        # An official named: not the police's alone; nothing else decides, so an accusation, unsure.
        ("我被骗了", [official()], "web", ScopeDecision("accusation", JJKG, (), 0.55)),
        ("举报局长", [official()], "web", ScopeDecision("accusation", JJKG, ("举报",), 0.7)),
        (
            "举报某人",
            [CITIZEN],
            "web",
            ScopeDecision("petition", "XF 其他信访诉求", (), 0.45, "inform", "有权处理的机关或信访部门"),
        ),
        (
            "建议加强党风廉政建设",
            [],
            "web",
            ScopeDecision("suggestion", "PPJY 批评建议", ("建议", "党风廉政"), 0.8),
        ),
        (
            "建议小区增设路灯",
            [],
            "web",
            ScopeDecision("suggestion", XF_SUGGESTION, ("建议",), 0.7, "inform", "有权处理的机关或信访部门"),
        ),
        (
            "建议物业增设路灯",
            [],
            "letter",
            ScopeDecision("suggestion", XF_SUGGESTION, ("建议", "物业"), 0.7, "forward", "住房城乡建设部门"),
        ),
        # A grievance of one's own: a demand, not a proposal.
        (
            "建议帮我解决",
            [],
            "web",
            ScopeDecision("petition", XF_DEMAND, ("解决",), 0.6, "inform", "有权处理的行政机关或信访部门"),
        ),
        # A proposal about an official is not a public proposal either.
        ("建议局长增设路灯", [official()], "web", ScopeDecision("accusation", JJKG, (), 0.55)),
        (
            "物业乱收费",
            [],
            "web",
            ScopeDecision("petition", XF_DEMAND, ("物业",), 0.75, "inform", "住房城乡建设部门"),
        ),
        (
            "请求解决",
            [],
            "letter",
            ScopeDecision(
                "petition", XF_DEMAND, ("请求", "解决"), 0.6, "forward", "有权处理的行政机关或信访部门"
            ),
        ),
        (
            "今天天气很好",
            [],
            "web",
            ScopeDecision("petition", "XF 其他信访诉求", (), 0.45, "inform", "有权处理的机关或信访部门"),
        ),
        (
            "今天天气很好",
            [],
            "letter",
            ScopeDecision("petition", "XF 其他信访诉求", (), 0.45, "forward", "有权处理的机关或信访部门"),
        ),
        ("今天天气很好", [official()], "web", ScopeDecision("accusation", JJKG, (), 0.55)),
    ],
)
def test_each_scope_rule_decides_exactly(
    text: str, accused: list[Accused], channel: str, decision: ScopeDecision
) -> None:
    assert decide(text, accused, channel) == decision
    # The caller's signal hits, when it has them, decide the same.
    assert decide(text, accused, channel, SIGNALS.groups(text)) == decision


@pytest.mark.parametrize(
    ("text", "accused", "substance"),
    [
        ("贪污" + "的" * 27, [], False),  # 29 Chinese characters
        ("贪污" + "的" * 28, [], True),  # 30
        ("举报贪污 abc def ghi jkl mno pqr stu vwx yz!", [], False),  # only Chinese characters count
        ("举报贪污三万元", [], True),
        ("举报贪污两次", [], True),
        ("举报贪污三", [], False),  # a numeral without a unit is not a fact
        ("举报贪污，2023", [], True),
        ("举报局长贪污", [official()], True),  # a real unit says who
        ("举报局长贪污", [official(name="张三", unit="")], True),
        ("举报局长贪污", [official(unit=ANY_BODY)], False),
        ("举报局长贪污", [official(unit="某某")], False),
        ("举报局长贪污", [official(unit="")], False),
        ("举报局长贪污", [official(unit="某单位")], False),
        ("举报他贪污", [CITIZEN], False),  # not an official: says nothing
    ],
)
def test_what_counts_as_substance(text: str, accused: list[Accused], substance: bool) -> None:
    d = decide(text, accused, "web")
    assert (d.rule != WSZ) is substance, d


def test_evidence_notes_advice_and_redirect() -> None:
    assert ScopeDecision("accusation", JJKG, ("贪污",), 0.9).evidence() == {
        "decision": "scope",
        "rule": JJKG,
        "words": ["贪污"],
    }
    assert ScopeDecision("out_of_scope", WSZ, (), 0.8, "file").evidence()["note"] == "advice=file"
    assert ScopeDecision("x", "r", (), 0.5, None, "法院").evidence()["note"] == "redirect_to=法院"
    assert (
        ScopeDecision("x", "r", (), 0.5, "inform", "法院").evidence()["note"]
        == "advice=inform redirect_to=法院"
    )


# --- the router ----------------------------------------------------------------------------------

COUNTY = UnitRef("430121", "长沙县纪委监委")
CITY = UnitRef("4301", "长沙市纪委监委")
HUANGXING = UnitRef("430121102", "黄兴镇纪委")
GROUP = UnitRef("430121-P03", "长沙县纪委监委派驻第三纪检监察组")
UPWARD = "upward transfer within 5 working days (S1 art 15)"
DOWNWARD = "downward transfer; the lower level accepts within 5 working days (S1 art 16)"
ELSEWHERE = "belongs to another jurisdiction's commission: transfer within 5 working days"


@pytest.fixture(scope="module")
def router() -> Router:
    doc = json.loads((Path(__file__).parent / "fixtures" / "jurisdiction.json").read_text("utf-8"))
    return Router(Jurisdiction.from_dict(doc), gazetteer.default())


def accused(**changes: Any) -> Accused:
    base: dict[str, Any] = {
        "name": "张三",
        "title": "局长",
        "unit": "长沙县财政局",
        "unit_level": "county",
        "division": "430121",
        "rank": "正科级",
        "managed_by": "county",
        "party": None,
        "commission_head": False,
        "leadership": True,
        "former": False,
        "level_source": "unit",
        "management_rule": False,
        "start": 0,
        "end": 2,
    }
    return Accused(**(base | changes))


VILLAGE = {
    "title": "村会计",
    "unit": "金凤村",
    "unit_level": "village",
    "division": "430121102201",
    "rank": "村干部",
    "managed_by": "township",
    "leadership": False,
}


def route(**fields: Any) -> Route:
    return Route(**({"rules": [], "confidence": 0.9} | fields))


@pytest.mark.parametrize(
    ("people", "channel", "expected"),
    [
        ([accused()], "web", route(level="county", unit=COUNTY, rules=["R4"])),
        ([accused(level_source="place")], "web", route(level="county", unit=COUNTY, rules=["R4"])),
        (
            [accused(level_source="title")],
            "web",
            route(level="county", unit=COUNTY, rules=["R4"], confidence=0.85),
        ),
        (
            [accused(level_source="prior")],
            "web",
            route(level="county", unit=COUNTY, rules=["R4"], confidence=0.75),
        ),
        (
            [accused(level_source="prior", management_rule=True)],
            "web",
            route(level="county", unit=COUNTY, rules=["R4"], confidence=0.95),
        ),
        # Two accused of different levels: the most senior decides, a little less sure.
        (
            [accused(), accused(managed_by="city", rank="正处级", level_source="title")],
            "web",
            route(
                level="city",
                unit=CITY,
                rules=["R3", "R12"],
                confidence=0.8,
                sealed=True,
                transfer="upward",
                notes=["2 accused; routed by the most senior", UPWARD],
            ),
        ),
        ([accused(), accused(name="李四")], "web", route(level="county", unit=COUNTY, rules=["R4"])),
        # A village post outside the 村两委, party membership not stated: the county 监委.
        (
            [accused(**VILLAGE)],
            "web",
            route(
                level="county",
                unit=COUNTY,
                rules=["R6"],
                confidence=0.75,
                notes=[
                    "village post outside the 村两委: county 监委 unless a party member (R5)",
                    "via the 派出监察办公室 at 黄兴镇纪委",
                ],
            ),
        ),
        (
            [accused(**VILLAGE, party=True)],
            "web",
            route(
                level="township",
                unit=HUANGXING,
                rules=["R5", "R12"],
                transfer="downward",
                secondary=COUNTY,
                notes=[DOWNWARD],
            ),
        ),
        (
            [accused(**(VILLAGE | {"title": "村党支部书记"}))],
            "web",
            route(
                level="township",
                unit=HUANGXING,
                rules=["R5", "R12"],
                confidence=0.7,
                transfer="downward",
                secondary=COUNTY,
                notes=[
                    "party membership not stated: 乡镇纪委 if a party member, else the county 监委 (R6)",
                    DOWNWARD,
                ],
            ),
        ),
        (
            [accused(**(VILLAGE | {"title": "村党支部书记", "division": "430121"}), party=True)],
            "web",
            route(
                level="township",
                unit=UnitRef(None, "所在乡镇纪委（乡镇未识别）"),
                rules=["R5", "R12"],
                confidence=0.5,
                transfer="downward",
                secondary=COUNTY,
                notes=["township not identified: the county assigns it", DOWNWARD],
            ),
        ),
        (
            [accused(**(VILLAGE | {"title": "村委会主任"}), party=False)],
            "web",
            route(level="county", unit=COUNTY, rules=["R6"], notes=["via the 派出监察办公室 at 黄兴镇纪委"]),
        ),
        (
            [accused(**(VILLAGE | {"title": "村党支部书记"}), party=True)],
            "video",
            route(level="county", unit=COUNTY, rules=["R7"]),
        ),
        (
            [accused(managed_by="township", unit_level="township", division="430121102")],
            "video",
            route(level="county", unit=COUNTY, rules=["R7"]),
        ),
        # R7 is for county and township cases: a city cadre by video goes up as ever.
        (
            [accused(managed_by="city", rank="正处级")],
            "video",
            route(
                level="city", unit=CITY, rules=["R3", "R12"], sealed=True, transfer="upward", notes=[UPWARD]
            ),
        ),
        (
            [accused(unit="长沙县税务局", title="副局长")],
            "web",
            route(
                level="county",
                unit=UnitRef(None, "税务系统纪检监察机构（主管部门）"),
                rules=["R9", "R12"],
                confidence=0.85,
                transfer="sideways",
                notes=[
                    "local commission may accept only after coordinating (S1 art 12)",
                    "belongs to another commission of the same level: transfer within 5 working days",
                ],
            ),
        ),
        (
            [accused(unit="县教育局")],
            "web",
            route(
                level="county",
                unit=COUNTY,
                rules=["R10"],
                notes=["长沙县纪委监委派驻第三纪检监察组 may join the preliminary check"],
            ),
        ),
        (
            [accused(unit="县教育局", title="科员", leadership=False)],
            "web",
            route(level="county", unit=GROUP, rules=["R11"]),
        ),
        (
            [accused(unit="县教育局下属中学", title="校长")],
            "web",
            route(level="county", unit=GROUP, rules=["R11"]),
        ),
        ([accused(unit="星沙中学", title="校长")], "web", route(level="county", unit=GROUP, rules=["R11"])),
        (
            [
                accused(
                    unit="长沙县纪委", title="书记", commission_head=True, managed_by="city", rank="正处级"
                )
            ],
            "web",
            route(
                level="city",
                unit=CITY,
                rules=["R8"],
                sealed=True,
                transfer="upward",
                notes=["accused heads 长沙县纪委监委"],
            ),
        ),
        # The head of another county's commission is not this one's: R3 upward, not R8.
        (
            [
                accused(
                    unit="芙蓉区纪委",
                    title="书记",
                    commission_head=True,
                    managed_by="city",
                    rank="正处级",
                    division="430102",
                )
            ],
            "web",
            route(
                level="city", unit=CITY, rules=["R3", "R12"], sealed=True, transfer="upward", notes=[UPWARD]
            ),
        ),
        (
            [accused(unit="平江县财政局", division="430626")],
            "web",
            route(
                level="county",
                unit=UnitRef(None, "平江县纪委监委", "430626"),
                rules=["R4", "R12"],
                transfer="sideways",
                notes=[
                    ELSEWHERE,
                    "outside this deployment's tree: forward to 平江县纪委监委 (not in the platform)",
                ],
                forward={
                    "name": "平江县纪委监委",
                    "division": "430626",
                    "level": "county",
                    "deadline": "jc_transfer_other_jurisdiction",
                    "working_days": 5,
                    "basis": "S3 art 169",
                },
            ),
        ),
        (
            [accused(managed_by="central", rank="副省部级")],
            "web",
            route(
                level="central",
                unit=UnitRef(None, "中央纪委国家监委", "0"),
                rules=["R1", "R12"],
                sealed=True,
                transfer="upward",
                notes=[
                    UPWARD,
                    "outside this deployment's tree: forward to 中央纪委国家监委 (not in the platform)",
                ],
                forward={
                    "name": "中央纪委国家监委",
                    "division": "0",
                    "level": "central",
                    "deadline": "jjkg_upward_transfer",
                    "working_days": 5,
                    "basis": "S1 art 15",
                },
            ),
        ),
        (
            [accused(managed_by="province", rank="正厅级", division="44")],
            "web",
            route(
                level="province",
                unit=UnitRef(None, "广东省纪委监委", "44"),
                rules=["R2", "R12"],
                transfer="sideways",
                notes=[
                    ELSEWHERE,
                    "outside this deployment's tree: forward to 广东省纪委监委 (not in the platform)",
                ],
                forward={
                    "name": "广东省纪委监委",
                    "division": "44",
                    "level": "province",
                    "deadline": "jc_transfer_other_jurisdiction",
                    "working_days": 5,
                    "basis": "S3 art 169",
                },
            ),
        ),
    ],
)
def test_routes_rule_by_rule(router: Router, people: list[Accused], channel: str, expected: Route) -> None:
    got = router.route(people, [], scope="accusation", channel=channel)
    assert got.confidence == pytest.approx(expected.confidence)
    assert dataclasses.replace(got, confidence=expected.confidence) == expected
    assert got.unit.division == expected.unit.division  # not compared by ==


def test_routes_without_accused(router: Router) -> None:
    assert router.route([], [], scope="accusation", channel="web") == route(
        level="county", unit=COUNTY, rules=["no accused identified"], confidence=0.45
    )
    places, _ = gazetteer.default().find("岳阳市平江县的事")
    got = router.route([], places, scope="accusation", channel="web")
    assert (got.level, got.unit, got.unit.division, got.rules, got.confidence, got.transfer) == (
        "county", UnitRef(None, "平江县纪委监委"), "430626", ["R12 属地", "R12"], 0.55, "sideways"
    )  # fmt: skip
    for text in ("长沙县黄兴镇的事", "长沙市的事", "湖南省的事", "岳阳市的事"):
        # Inside the receiving county, above it, or elsewhere but too coarse to name a county.
        places, _ = gazetteer.default().find(text)
        assert places, text
        got = router.route([], places, scope="accusation", channel="web")
        assert (got.unit, got.rules, got.transfer) == (COUNTY, ["no accused identified"], None), text
    out = router.route([accused()], [], scope="out_of_scope", channel="web")
    assert out == route(level="county", unit=COUNTY, rules=["§2.3 不予受理"], confidence=0.8)


def test_the_most_senior_informed_accused_decides(router: Router) -> None:
    def rules(*people: Accused) -> list[str]:
        return router.route(list(people), [], scope="accusation", channel="web").rules

    # A 一般干部 placed only by the receiving unit's level says nothing about the managing level.
    bare = accused(rank="一般干部", level_source="prior", managed_by="city", unit="某单位")
    got = router.route([bare, accused()], [], scope="accusation", channel="web")
    assert (got.rules, got.notes) == (["R4"], ["2 accused; routed by the most senior"])
    assert got.confidence == pytest.approx(0.85)
    assert rules(bare) == ["R3", "R12"]  # unless that is all there is
    # A management list entry, a known rank or another source of the level does say something.
    assert (
        rules(
            accused(rank="一般干部", level_source="prior", managed_by="city", management_rule=True), accused()
        )[0]
        == "R3"
    )
    assert rules(accused(rank="副县处级", level_source="prior", managed_by="city"), accused())[0] == "R3"
    assert rules(accused(rank="一般干部", level_source="title", managed_by="city"), accused())[0] == "R3"
    # Of equals, the one named first.
    assert rules(accused(unit="县教育局", start=5), accused(start=0)) == ["R4"]
    assert rules(accused(unit="县教育局", start=0), accused(start=5)) == ["R10"]


def test_handover_and_former_office_holders_are_noted(router: Router) -> None:
    got = router.route([accused()], [], scope="accusation", channel="web", handover=True)
    assert got.rules == ["R4", "R13"]
    assert got.notes == ["案件监督管理部门 receives clues handed over by other organs"]
    # A handover is noted only where the receiving unit handles it.
    up = router.route(
        [accused(managed_by="city", rank="正处级")], [], scope="accusation", channel="web", handover=True
    )
    assert "R13" not in up.rules
    former = router.route([accused(former=True)], [], scope="accusation", channel="web")
    assert former.rules == ["R4", "R14"]
    assert former.notes == ["former office holder: still within jurisdiction for acts in office"]


def test_route_evidence() -> None:
    plain = route(level="county", unit=COUNTY, rules=["R4"])
    assert plain.evidence() == {"decision": "routing", "rule": "R4", "words": []}
    full = route(
        level="township", unit=HUANGXING, rules=["R5", "R12"], sealed=True, transfer="downward",
        secondary=COUNTY, notes=["a", "b"],
    )  # fmt: skip
    assert full.evidence() == {
        "decision": "routing",
        "rule": "R5 R12",
        "words": [],
        "note": "a; b; transfer=downward; sealed: send unopened, no copy, no platform entry (S1 art 15); "
        "also=长沙县纪委监委",
    }
    assert COUNTY.to_json() == {"id": "430121", "name": "长沙县纪委监委"}
    assert UnitRef(None, "平江县纪委监委", "430626").to_json() == {"id": None, "name": "平江县纪委监委"}


@pytest.mark.parametrize(
    ("level", "division", "unit", "division_named"),
    [
        ("central", None, "中央纪委国家监委", "0"),
        ("province", "43", "湖南省纪委监委", None),
        ("province", "44", "广东省纪委监委", "44"),
        ("city", "4301", "长沙市纪委监委", None),
        ("city", "430626", "岳阳市纪委监委", "4306"),
        ("county", "430626", "平江县纪委监委", "430626"),
        ("county", "430626100", "平江县纪委监委", "430626"),
        ("township", "430121102", "黄兴镇纪委", None),
        ("township", "430102001", "文艺路街道纪工委", "430102001"),
        ("township", "430626", "平江县所属乡镇纪委", None),  # too short to name a township
        ("township", None, "所在乡镇纪委", None),
        ("county", "439999", "439999纪委监委", "439999"),  # a code the gazetteer does not know
    ],
)
def test_commissions_in_and_outside_the_tree(
    router: Router, level: str, division: str | None, unit: str, division_named: str | None
) -> None:
    got = router.commission(level, division)
    assert (got.name, got.division) == (unit, division_named)
    assert (got.id is None) is (unit not in ("湖南省纪委监委", "长沙市纪委监委", "黄兴镇纪委"))


def test_the_county_of_an_accused(router: Router) -> None:
    assert router._county_of(accused(division="430626100")) == "430626"
    assert router._county_of(accused(division="4306")) == "430121"  # too short: the receiving county
    assert router._county_of(accused(division=None)) == "430121"


def test_receiving_elsewhere_in_the_tree(router: Router) -> None:
    province = Router(router.j.received_at("43"), router.g)
    head = accused(
        unit="湖南省纪委", title="书记", unit_level="province", division="43", rank="正省部级",
        managed_by="central", commission_head=True,
    )  # fmt: skip
    got = province.route([head], [], scope="accusation", channel="web")
    # Nothing above the province in the tree: the commission above, unnamed, sealed.
    assert (got.level, got.unit, got.rules, got.sealed, got.transfer) == (
        "central", UnitRef(None, "上一级纪检监察机关"), ["R8"], True, "upward"
    )  # fmt: skip
    assert got.notes == ["accused heads 湖南省纪委监委"]
    town = Router(router.j.received_at("430121102"), router.g)
    up = town.route([accused()], [], scope="accusation", channel="web")
    assert (up.unit, up.rules, up.sealed, up.transfer, up.notes) == (
        COUNTY,
        ["R4", "R12"],
        True,
        "upward",
        [UPWARD],
    )
    own = town.route(
        [accused(unit="黄兴镇政府", unit_level="township", division="430121102", managed_by="township")],
        [],
        scope="accusation",
        channel="web",
    )
    assert (own.unit, own.rules, own.transfer, own.secondary) == (HUANGXING, ["R5"], None, COUNTY)
