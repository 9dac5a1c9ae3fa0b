"""The values an informant gave in the identity fields are redacted wherever they also wrote them
(issue 14, defect 6), written in any of the usual ways, and nothing else is: not the accused's name
that merely contains the same characters, not the village, not ordinary text. The keyed-hash lookup
that follow-ups use finds exactly what the plain one finds at accept."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from intake import given_identity, redaction
from intake.domain import Reporter
from storage import keys, vault
from tests.redaction_set import HELDOUT, sentences
from tests.scan import leaks

OUYANG = Reporter(
    name="欧阳振华",
    phone="+86 139-0731-7788",
    id_number="43012119900307002x",
    address="长沙县黄兴镇甄家湾村十七组8号",
)


def redact(text: str, reporter: Reporter = OUYANG, accused: str | None = "邬瀚霖") -> str:
    terms = given_identity.PlainTerms(given_identity.terms_of(reporter))
    return redaction.apply(text, given_identity.find(text, terms, accused))


def hashed(reporter: Reporter, profile: str, tmp_path: Path) -> given_identity.HashedTerms:
    """The follow-up lookup, from the stored form of the terms, as the pipeline builds it."""
    keyring = keys.load_or_create(tmp_path, env={}, profile=profile)
    report_id = uuid.uuid4()
    stored = vault.redaction_terms(keyring, report_id, given_identity.terms_of(reporter))
    assert leaks(repr(stored).encode(), [v for _, v in given_identity.terms_of(reporter)]) == []
    hashers = {t.alg: vault.redaction_term_hasher(keyring, t.alg, report_id) for t in stored}
    return given_identity.HashedTerms(stored, hashers)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("欧阳振华反映：邬瀚霖收钱。", "〔已隐去：姓名〕反映：邬瀚霖收钱。"),
        ("请联系欧阳振华核实", "请联系〔已隐去：姓名〕核实"),
        ("此致\n—— 欧阳振华", "此致\n—— 〔已隐去：姓名〕"),
        ("欧 阳 振 华补充", "〔已隐去：姓名〕补充"),
        ("歐陽振華反映", "〔已隐去：姓名〕反映"),  # traditional script in the text
        ("回电13907317788", "回电〔已隐去：手机号〕"),
        ("回电 139 0731 7788。", "回电 〔已隐去：手机号〕。"),
        ("回电+86 13907317788", "回电〔已隐去：手机号〕"),
        ("回电008613907317788", "回电〔已隐去：手机号〕"),
        ("回电１３９０７３１７７８８", "回电〔已隐去：手机号〕"),  # full-width digits
        ("43012119900307002X", "〔已隐去：身份证号〕"),
        ("号码43012119900307002x 13907317788", "号码〔已隐去：身份证号〕 〔已隐去：手机号〕"),
        ("长沙县黄兴镇甄家湾村十七组8号", "〔已隐去：住址〕"),
        ("就在黄兴镇甄家湾村十七组8号门口", "就在〔已隐去：住址〕门口"),
        ("甄家湾村十七组8号", "〔已隐去：住址〕"),
        ("证据_欧阳振华_13907317788", "证据_〔已隐去：姓名〕_〔已隐去：手机号〕"),
    ],
)
def test_every_way_of_writing_a_given_value_is_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "甄家湾村村支书邬瀚霖在危房改造中虚报冒领。",  # the village is where the facts happened
        "黄兴镇甄家湾村十七组的低保名单有问题。",  # the group without the house
        "合同编号2213907317788999。",  # the phone's digits inside a longer number
        "欧阳振宇和欧阳华都收了钱。",  # other people of the same surname
        "补助金额139万元，涉及0731年的档案。",
    ],
)
def test_other_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_the_accused_whose_name_contains_the_informants_keeps_it() -> None:
    wang = Reporter(name="王刚")
    text = "王刚强书记收受礼金，王刚反映，请找王刚核实。"
    assert (
        redact(text, wang, accused="王刚强")
        == "王刚强书记收受礼金，〔已隐去：姓名〕反映，请找〔已隐去：姓名〕核实。"
    )
    # Without an accused given, a name is a name: every exact occurrence goes.
    assert (
        redact(text, wang, accused=None)
        == "〔已隐去：姓名〕强书记收受礼金，〔已隐去：姓名〕反映，请找〔已隐去：姓名〕核实。"
    )


def test_names_that_cannot_be_matched_safely_are_not_terms() -> None:
    text = "王某某在村里收钱，匿名群众反映。"
    for name in ("王", "王某", "匿名", "某某", "Li"):
        assert given_identity.terms_of(Reporter(name=name)) == []
        assert redact(text, Reporter(name=name)) == text
    assert given_identity.terms_of(Reporter(name="歐陽 振華")) == [("name", "欧阳振华")]
    assert given_identity.terms_of(Reporter(name="Zhang Wei")) == [("name", "ZHANGWEI")]


def test_landlines_match_with_or_without_the_area_code_and_15_digit_ids() -> None:
    office = Reporter(phone="0731-84567890", id_number="430121900101123")
    assert redact("电话0731-84567890或84567890", office) == "电话〔已隐去：电话号码〕或〔已隐去：电话号码〕"
    assert redact("老身份证430121900101123", office) == "老身份证〔已隐去：身份证号〕"
    assert redact("430121190001011237", office) == "430121190001011237"  # some other ID


@pytest.mark.parametrize("profile", ["aes", "gm"])
def test_the_keyed_hash_lookup_finds_what_the_values_find(profile: str, tmp_path: Path) -> None:
    """Follow-ups are matched by the stored keyed hashes: on every sentence of the labeled sets
    (with the informant's values in the identity fields) and the crafted texts above, the findings
    are exactly those of the plain lookup, and the sets have findings to compare."""
    texts = [
        "欧阳振华反映：邬瀚霖收钱。欧 阳 振 華补充，回电+86 139 0731 7788，住黄兴镇甄家湾村十七组8号。",
        "甄家湾村村支书邬瀚霖。身份证43012119900307002x，13907317788",
    ]
    cases = [*sentences(), *sentences(path=HELDOUT, seed=11)]
    checked = 0
    for reporter, text in [(OUYANG, t) for t in texts] + [(_reporter_of(c.informant), c.text) for c in cases]:
        plain = given_identity.PlainTerms(given_identity.terms_of(reporter))
        found = given_identity.find(text, plain, "邬瀚霖")
        assert given_identity.find(text, hashed(reporter, profile, tmp_path), "邬瀚霖") == found, text
        checked += bool(found)
    assert checked >= 150


def _reporter_of(informant: tuple[tuple[str, str], ...]) -> Reporter:
    """The identity fields as the informant of a labeled sentence would fill them in."""
    values = dict(informant)
    return Reporter(
        name=values.get("NAME"),
        phone=values.get("PHONE") or values.get("LAND"),
        id_number=values.get("ID"),
        address=values.get("ADDR"),
    )


def test_with_the_given_values_the_labeled_sets_lose_none_of_them() -> None:
    """The patterns miss some of the informant's details (held-out recall 0.88); with the identity
    fields filled in as the informant would, every given name, phone, ID number and address is
    gone from the text, and every other person's detail the patterns keep stays."""
    for case in [*sentences(), *sentences(path=HELDOUT, seed=11)]:
        reporter = _reporter_of(case.informant)
        terms = given_identity.PlainTerms(given_identity.terms_of(reporter))
        text, _ = redaction.redact(case.text, given_identity.find(case.text, terms))
        patterns_only, _ = redaction.redact(case.text)
        for value in (reporter.name, reporter.phone, reporter.id_number, reporter.address):
            if value:
                assert value not in text, case.text
        for value in case.others:
            assert value in text or value not in patterns_only, (case.text, value)
