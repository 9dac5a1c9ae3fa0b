"""Scope (受理范围, with channel-dependent advice) and priority; AT-BSL-01/02 are in the golden tests."""

from __future__ import annotations

import pytest

import triage
from triage.priority import amounts


def test_other_organs_remit_is_out_of_scope(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage(
        "我在网上被骗了两万元，骗子电话打不通了，怎么办？", channel="phone", jurisdiction=jurisdiction
    )
    assert r.scope == "out_of_scope" and r.redirect_to and "公安" in r.redirect_to and r.advice == "inform"


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("本人对县纪委给予的党内严重警告处分不服，特提出申诉，请求复查。", "appeal"),
        ("建议加强党风廉政建设，对群众身边的不正之风要经常开展巡察。", "suggestion"),
        ("我们小区物业乱收费，噪音扰民，希望有关部门尽快解决。", "petition"),
        ("举报长沙县财政局局长张某某收受红包。", "accusation"),
    ],
)
def test_scopes(text: str, scope: str, jurisdiction: triage.Jurisdiction) -> None:
    assert triage.triage(text, jurisdiction=jurisdiction).scope == scope


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("我实名举报村支书张某贪污后，他扬言要砍死我全家。", "threat"),
        ("我举报后遭到村支书张某打击报复，被无故停发低保。", "retaliation"),
        ("学校危房随时可能倒塌，孩子们每天在里面上课，有生命危险。", "safety"),
        ("征地补偿不到位，明天上百人要去县政府集体上访。", "group"),
        ("工资被拖欠两年，我活不下去了，只能去跳楼。", "self_harm"),
    ],
)
def test_urgent(text: str, reason: str, jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage(text, jurisdiction=jurisdiction)
    assert r.priority == "urgent"
    assert reason in next(e for e in r.evidence if e["decision"] == "priority")["rule"]


def test_high_for_real_name_large_sums_and_repeats(jurisdiction: triage.Jurisdiction) -> None:
    base = "举报长沙县财政局局长张某某违规发放津贴补贴。"
    assert triage.triage(base, jurisdiction=jurisdiction).priority == "normal"
    assert triage.triage(base, jurisdiction=jurisdiction, real_name=True).priority == "high"
    assert triage.triage("实名" + base, jurisdiction=jurisdiction).priority == "high"
    assert triage.triage(base + "涉及金额五十万元。", jurisdiction=jurisdiction).priority == "high"
    assert triage.triage(base + "我已多次反映，至今未处理。", jurisdiction=jurisdiction).priority == "high"


def test_amounts() -> None:
    assert amounts("贪污50万元") == [500_000]
    assert amounts("挪用公款1.2亿元") == [120_000_000]
    assert amounts("收受红包三千元") == [3_000]
    assert amounts("上百万的补偿款") == [1_000_000]
    assert amounts("骗取补贴几十万") == [100_000]
    assert amounts("2019年5月有300人") == []


@pytest.mark.parametrize(
    "text",
    [
        "举报长沙县黄兴镇金凤村党支部书记张某某优亲厚友，还收受工程老板好处费两万元。",
        "县民政局副局长李某多次接受宴请，公车私用，扬言要报复举报人。",
        "小区旁边的工厂每天夜里偷排污水。",
        "好",
    ],
)
def test_one_keyword_pass_decides_as_the_rules_alone(text: str, jurisdiction: triage.Jurisdiction) -> None:
    """The packaged category rules are matched in one pass with scope's and priority's words; the
    same rules as a caller's own object are matched on their own: the same result either way."""
    one_pass = triage.triage(text, jurisdiction=jurisdiction)
    own = triage.triage(text, jurisdiction=jurisdiction, rules=triage.CategoryRules.packaged())
    assert one_pass.to_json() == own.to_json() and one_pass.explanations == own.explanations
    assert one_pass.category == triage.CategoryRules.packaged().decide(triage.normalize(text)).category


def test_amounts_without_a_money_word() -> None:
    assert amounts("举报局长张某某收受贿赂") == [] and amounts("收受贿赂五千") == [5000.0]
