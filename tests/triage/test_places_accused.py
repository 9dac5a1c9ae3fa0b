"""Places (gazetteer disambiguation) and accused (title + unit → rank) on real names."""

from __future__ import annotations

import pytest

import triage
from triage import gazetteer


def codes(text: str, prior: str | None = "430121") -> list[str]:
    matches, _ = gazetteer.default().find(triage.normalize(text), prior)
    return [m.division.code for m in matches]


def test_full_chain_most_specific_first() -> None:
    assert codes("湖南省长沙县星沙街道开元路社区") == ["430121001001", "430121001", "430121", "43"]


def test_changsha_bare_stem_means_the_city_and_the_county_by_its_full_name() -> None:
    assert codes("我在长沙打工") == ["4301"]
    assert codes("长沙县黄兴镇") == ["430121102", "430121"]


def test_township_next_to_its_county_wins_over_namesakes() -> None:
    # 城关镇 exists 88 times; 新墙镇 is resolved by 岳阳县 before it.
    assert codes("岳阳县新墙镇") == ["430621105", "430621"]
    matches, notes = gazetteer.default().find("城关镇", "430121")
    assert matches == [] and "88" in notes[0]


@pytest.mark.parametrize(
    "text", ["我住在长沙", "长沙", "事情发生在长沙县", "岳阳县新墙镇", "问题出在星沙", "北京市朝阳区"]
)
def test_a_place_at_the_end_of_the_text_has_its_own_span(text: str) -> None:
    """A name at the very end: its span lies within the text and covers exactly its words (a
    longer name's slice past the end used to match the shorter name, with its end past the text:
    长沙 in 我住在长沙 came out as 3–8)."""
    matches, _ = gazetteer.default().find(triage.normalize(text), "430121")
    assert matches
    for m in matches:
        assert 0 <= m.start < m.end <= len(text) and text[m.start : m.end] == m.text


def test_jurisdiction_is_the_prior_for_bare_township_names() -> None:
    assert codes("星沙的一个小区") == ["430121001"]
    assert codes("星沙的一个小区", prior="110105") == []


def test_ambiguous_county_without_context_is_left_out() -> None:
    assert codes("我家住在朝阳区") == []
    assert codes("北京市朝阳区") == ["110105", "11"]


def test_ordinary_words_are_not_places() -> None:
    assert codes("在十字路口看到") == []
    assert codes("果园里有人") == []


def test_traditional_text_is_normalized_before_matching() -> None:
    assert codes("湖南省長沙縣黃興鎮") == ["430121102", "430121", "43"]


def test_places_in_the_result(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("深圳市南山区粤海街道某单位负责人贪污", jurisdiction=jurisdiction)
    assert r.to_json()["places"][0] == {"code": "440305007", "name": "粤海街道", "level": "township"}


@pytest.mark.parametrize(
    ("text", "title", "rank"),
    [
        ("举报湖南省交通运输厅厅长刘某受贿", "厅长", "正厅局级"),
        ("举报湖南省发展和改革委员会局长刘某受贿", "局长", "正厅局级"),
        ("举报长沙市住房和城乡建设局局长刘某受贿", "局长", "正县处级"),
        ("举报长沙县住房和城乡建设局局长刘某受贿", "局长", "正乡科级"),
        ("举报县住建局局长刘某受贿", "局长", "正乡科级"),
        ("举报住建局局长刘某受贿", "局长", "正乡科级"),  # bare: the county jurisdiction is the prior
        ("举报长沙市长刘某受贿", "市长", "正厅局级"),
        ("举报浏阳市市长刘某受贿", "市长", "正县处级"),  # a county-level city
        ("举报黄兴镇副镇长刘某受贿", "副镇长", "副乡科级"),
        ("举报县委常委、县纪委书记刘某受贿", "县委常委", "副县处级"),
        ("举报黄兴镇政府工作人员刘某吃拿卡要", "工作人员", "一般干部"),
    ],
)
def test_title_rank_depends_on_the_unit(
    text: str, title: str, rank: str, jurisdiction: triage.Jurisdiction
) -> None:
    accused = triage.triage(text, jurisdiction=jurisdiction).to_json()["accused"]
    assert accused[0]["title"] == title
    assert accused[0]["rank"] == rank


@pytest.mark.parametrize(
    "text",
    [
        "湖南省长沙县某单位有人贪污公款十万元",  # 省长 inside 湖南省长沙县
        "超市长期销售过期食品",  # 市长 inside 超市长期
        "尊敬的张书记：您好！我们小区物业乱收费",  # the addressee
        "胡书记，您好，感谢您百忙之中查看留言",
        "我是一名教师，想咨询职称评定政策",  # the informant
    ],
)
def test_no_false_accused(text: str, jurisdiction: triage.Jurisdiction) -> None:
    assert triage.triage(text, jurisdiction=jurisdiction).accused == ()


def test_names_pseudonymized_and_after_a_parenthesis(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("举报金凤村村委会主任（非党员）李某侵占补偿款", jurisdiction=jurisdiction)
    assert r.to_json()["accused"] == [{"name": "李某", "title": "村委会主任", "rank": "村干部"}]
    r = triage.triage("举报长沙县财政局局长张某某收受红包", jurisdiction=jurisdiction)
    assert r.to_json()["accused"][0]["name"] == "张某某"


def test_titles_joined_by_a_comma_are_one_person(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage("举报金凤村党支部书记兼村委会主任王某某挪用扶贫资金", jurisdiction=jurisdiction)
    assert len(r.accused) == 1 and r.accused[0].name == "王某某" and r.accused[0].party is True


def test_every_occurrence_is_found_overlaps_included() -> None:
    """The prefix-index scan reports what a multi-pattern matcher would: every name at every
    position, nested ones too (longest-match selection comes after)."""
    g = gazetteer.default()
    text = "湖南省长沙县星沙街道"
    found = {(s, e, surface) for s, e, surface, _ in g._occurrences(text)}
    brute = {
        (i, i + n, text[i : i + n])
        for i in range(len(text))
        for n in range(2, len(text) - i + 1)
        if text[i : i + n] in g._entries
    }
    assert found == brute
    assert {"湖南省", "湖南", "长沙县", "长沙", "星沙街道", "星沙"} <= {surface for _, _, surface in found}


@pytest.mark.parametrize(
    "text",
    ["ＡＢＣ１２３，。！", "Ａ\u0301 é", "\u3000全角空格\u3000", "①②㈱\uf900", "ﾊﾝｶｸ", "普通文本, plain"],
)
def test_fast_nfkc_is_exactly_nfkc(text: str) -> None:
    import unicodedata

    from triage.normalize import nfkc

    assert nfkc(text) == unicodedata.normalize("NFKC", text)
