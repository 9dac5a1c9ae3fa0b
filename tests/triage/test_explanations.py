"""Explanations for officers (issue 19): every decision in plain Simplified Chinese, with the
deciding words' offsets in the text as written, a 高/中/低 label and the number; no rule ids,
English or program values."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

import triage
from triage import explain

DECISIONS = ["scope", "category", "level", "unit", "urgency", "duplicate", "review"]
# Latin letters (rule ids such as R5, BSL-WSZ, English words, True/None) must not reach officers.
_LATIN = re.compile(r"[A-Za-z_]")

TEXTS = [
    "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友，把低保名额给了自己的亲戚。",
    "举报某某局长贪污受贿。",
    "举报长沙县纪委书记王某某收受他人贿赂，为违纪人员说情。",
    "举报长沙县黄兴镇金凤村村会计李某挪用集体资金五十万元，还扬言报复举报人。",
    "举报国家税务总局长沙县税务局副局长孙某某利用职权为企业违规减免税款，收受好处费。",
    "举报长沙县实验中学校长钱某某违规收取择校费，私设小金库。",
    "我和邻居因宅基地发生民事纠纷，长沙县人民法院已经判决，对方拒不执行，请求帮助。",
    "建议在星沙街道小区门口增设公交站点，方便居民出行。",
    "本人对长沙县纪委给予我的党内警告处分不服，特提出申诉。",
    "举报原长沙县财政局局长赵某某（已退休）在任期间挪用公款。",
    "",
    "   ",
    "😀😀 help!!! 村支书 zhang mou mou 贪污 🙏",
]


@pytest.mark.parametrize("text", TEXTS)
def test_every_decision_is_explained_in_chinese(text: str, jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage(text, channel="web", jurisdiction=jurisdiction)
    assert [e["decision"] for e in r.explanations] == DECISIONS
    for e in r.explanations:
        assert e["text"] and not _LATIN.search(e["text"]), e["text"]
        assert not _LATIN.search(e["confidence_text"])
        assert e["confidence_label"] in ("高", "中", "低")
        assert 0.0 <= e["confidence"] <= 1.0
        assert f"{e['confidence']:.2f}" in e["confidence_text"]
        for w in e["words"]:
            assert text[w["start"] : w["end"]] == w["text"]


def test_the_issues_example_reads_as_the_officer_would_write_it(jurisdiction: triage.Jurisdiction) -> None:
    text = "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友。"
    r = triage.triage(text, jurisdiction=jurisdiction)
    level = next(e for e in r.explanations if e["decision"] == "level")
    assert "被反映人是金凤村党支部书记张某某" in level["text"]
    assert "乡镇党委管理" in level["text"] and "黄兴镇纪委" in level["text"]
    assert "第十一条第三项" in level["text"]
    assert {w["text"] for w in level["words"]} == {"金凤村党支部书记", "张某某"}
    scope = next(e for e in r.explanations if e["decision"] == "scope")
    assert scope["words"] == [{"text": "优亲厚友", "start": 23, "end": 27}]


def test_offsets_point_into_the_traditional_original(
    jurisdiction: triage.Jurisdiction, to_traditional: Callable[[str], str]
) -> None:
    text = to_traditional("长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友。")
    r = triage.triage(text, jurisdiction=jurisdiction)
    scope = next(e for e in r.explanations if e["decision"] == "scope")
    (word,) = scope["words"]
    assert word["text"] == "优亲厚友" and text[word["start"] : word["end"]] == "優親厚友"


def test_no_substance_asks_for_material(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("举报某某局长贪污受贿。", jurisdiction=jurisdiction)
    scope = r.explanations[0]
    assert "补充材料" in scope["text"] and "第十三条第三项" in scope["text"]


def test_sealed_and_upward(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("举报长沙县纪委书记王某某收受他人贿赂。", jurisdiction=jurisdiction)
    level = next(e for e in r.explanations if e["decision"] == "level")
    assert "本机关主要负责人" in level["text"] and "密封" in level["text"]


def test_manual_queue_is_said(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage(
        "反映我们这里有人搞形式主义，检查走过场，群众很有意见，希望纪委管一管。", jurisdiction=jurisdiction
    )
    review = r.explanations[-1]
    assert r.needs_review and "转人工分办" in review["text"] and review["confidence_label"] == "低"


def test_duplicate_is_explained(jurisdiction: triage.Jurisdiction) -> None:
    index = triage.DuplicateIndex()
    text = "长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友，把低保名额给了自己的亲戚。"
    index.add("XF2026000001", text)
    r = triage.triage(text, jurisdiction=jurisdiction, duplicates=index)
    dup = next(e for e in r.explanations if e["decision"] == "duplicate")
    assert "XF2026000001" in dup["text"] and "疑似重复件" in dup["text"]


def test_labels() -> None:
    assert [explain.label(x) for x in (0.95, 0.85, 0.7, 0.6, 0.59, 0.0)] == [
        "高",
        "高",
        "中",
        "中",
        "低",
        "低",
    ]


def test_explanations_can_be_skipped(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("举报某某局长贪污受贿。", jurisdiction=jurisdiction, explain=False)
    assert r.explanations == ()


def test_render_for_the_command_line(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("长沙县黄兴镇金凤村党支部书记张某某在低保评定中优亲厚友。", jurisdiction=jurisdiction)
    out = explain.render(r.explanations)
    assert out.splitlines()[0].startswith("性质：属于检举控告")
    assert "依据词语：" in out
