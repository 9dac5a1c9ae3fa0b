"""The deadline rules and the year files, checked value by value (found by mutation testing, issue
23): the legal periods as loaded, every refusal of a bad rule or year file with its message, each
period unit with and without excluded days, each extension step, and the calendar folder's reload
on an injected clock."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from intake import deadlines
from intake.deadlines import (
    DEFAULT_RULES,
    RECHECK_SECONDS,
    CalendarGap,
    Extension,
    Rule,
    WorkCalendar,
    YearCalendar,
    default_calendar,
    load_rules,
    parse_year,
)
from intake.errors import ValidationError

# The periods of domain_rules.md §3 / §11.1 as the service applies them: changing one is a legal
# decision, so it shows up here.
GOLDEN = [
    (
        "jjkg_realname_accept_notice",
        15,
        "working_day",
        "received",
        "实名举报受理告知",
        "规则第二十六条",
        (),
        "repeat",
        None,
    ),
    (
        "jjkg_realname_result_feedback",
        15,
        "working_day",
        "concluded",
        "实名举报办理结果反馈",
        "规则第二十七条",
        (),
        None,
        None,
    ),
    (
        "jjkg_objection_explain",
        15,
        "working_day",
        "objection",
        "异议记录并说明",
        "规则第二十七条（期限为本地设定）",
        (),
        None,
        None,
    ),
    ("jjkg_upward_transfer", 5, "working_day", "received", "向上级报送", "规则第十五条", (), None, None),
    (
        "jjkg_downward_accept_or_transfer",
        5,
        "working_day",
        "received",
        "下级登记受理或转送",
        "规则第十六条",
        (),
        None,
        None,
    ),
    (
        "jc_transfer_other_jurisdiction",
        5,
        "working_day",
        "received",
        "移送有管辖权的监察机关",
        "实施条例第一百六十九条",
        (),
        None,
        None,
    ),
    (
        "clue_disposal_opinion",
        1,
        "month",
        "clue_received",
        "提出问题线索处置意见",
        "监督执纪规则第二十一条",
        (),
        None,
        None,
    ),
    (
        "hanxun_reply",
        15,
        "working_day",
        "letter_received",
        "函询回复",
        "监督执纪规则第二十九条",
        (),
        None,
        None,
    ),
    (
        "clue_inquiry_report",
        1,
        "month",
        "inquiry_answered",
        "谈话函询情况报告和处置意见",
        "监督执纪规则第三十条",
        (),
        None,
        None,
    ),
    (
        "jiaoban_conclude",
        3,
        "month",
        "assigned",
        "交办件办结",
        "规则第二十一条",
        ((3, "month", "main_leader", "upper"), (None, "month", "upper_organ", None)),
        None,
        None,
    ),
    (
        "xf_register_and_route",
        15,
        "calendar_day",
        "received",
        "登记并转送、交办",
        "信访工作条例第二十二条",
        (),
        None,
        None,
    ),
    (
        "xf_accept_notice",
        15,
        "calendar_day",
        "received",
        "告知信访人是否受理",
        "信访工作条例第二十三条",
        (),
        None,
        None,
    ),
    (
        "xf_object_misrouted",
        5,
        "working_day",
        "received",
        "不属本机关职责的提出异议",
        "信访工作条例第二十三条",
        (),
        None,
        None,
    ),
    (
        "xf_handle_31_6",
        60,
        "calendar_day",
        "accepted",
        "信访事项办结",
        "信访工作条例第三十四条",
        ((30, "calendar_day", "organ_head", "petitioner"),),
        None,
        None,
    ),
    (
        "xf_review_request_window",
        30,
        "calendar_day",
        "reply_received",
        "复查申请期限",
        "信访工作条例第三十五条",
        (),
        None,
        None,
    ),
    (
        "xf_review_decide",
        30,
        "calendar_day",
        "request_received",
        "复查答复",
        "信访工作条例第三十五条",
        (),
        None,
        None,
    ),
    (
        "xf_rereview_request_window",
        30,
        "calendar_day",
        "review_reply_received",
        "复核申请期限",
        "信访工作条例第三十六条",
        (),
        None,
        None,
    ),
    (
        "xf_rereview_decide",
        30,
        "calendar_day",
        "request_received",
        "复核答复",
        "信访工作条例第三十六条",
        (),
        None,
        "hearing_days",
    ),
    (
        "recusal_decide",
        5,
        "working_day",
        "request_received",
        "回避申请决定",
        "规则第四十八条（期限为本地设定）",
        (),
        None,
        None,
    ),
]


def _flat(r: Rule) -> tuple[Any, ...]:
    exts = tuple((e.n, e.unit, e.approval, e.notify) for e in r.extensions)
    return (r.name, r.n, r.unit, r.start, r.label, r.basis, exts, r.skip_if, r.exclude)


def test_the_rules_as_loaded_are_the_legal_periods() -> None:
    assert [_flat(r) for r in load_rules().values()] == GOLDEN
    assert [_flat(r) for r in deadlines.RULES.values()] == GOLDEN


def test_an_override_changes_only_what_it_names_and_may_add_a_rule() -> None:
    rules = load_rules(
        {
            "hanxun_reply": {"n": 10},
            "local_rule": {"n": 2, "unit": "calendar_day", "extend": [{"approval": "x"}]},
        }
    )
    assert _flat(rules["hanxun_reply"]) == (
        "hanxun_reply",
        10,
        "working_day",
        "letter_received",
        "函询回复",
        "监督执纪规则第二十九条",
        (),
        None,
        None,
    )
    # A rule with only the required keys: its name is its label, it starts at receipt, an
    # extension without a unit takes the rule's, without n the approver sets the date.
    assert rules["local_rule"] == Rule(
        "local_rule", 2, "calendar_day", "received", "local_rule", "", (Extension(None, "calendar_day", "x"),)
    )
    assert _flat(rules["xf_accept_notice"]) == GOLDEN[11]
    assert DEFAULT_RULES["hanxun_reply"]["n"] == 15  # the defaults themselves are untouched


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"n": 5, "unit": "week"}, "deadline rule r: unknown unit 'week'"),
        ({"n": 0, "unit": "month"}, "deadline rule r: n must be a positive whole number"),
        ({"n": -1, "unit": "month"}, "deadline rule r: n must be a positive whole number"),
        ({"n": "5", "unit": "month"}, "deadline rule r: n must be a positive whole number"),
        ({"n": 1.5, "unit": "month"}, "deadline rule r: n must be a positive whole number"),
        (
            {"n": 1, "unit": "month", "extend": [{"n": 1, "unit": "year", "approval": "x"}]},
            "deadline rule r: unknown extension unit 'year'",
        ),
    ],
)
def test_a_bad_rule_is_refused_with_its_name(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        load_rules({"r": doc})
    assert str(raised.value) == message


def test_n_of_one_is_allowed() -> None:
    assert load_rules({"r": {"n": 1, "unit": "working_day"}})["r"].n == 1


# --- year files -----------------------------------------------------------------------------------


def _refused(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        parse_year(doc)
    assert raised.value.code == "invalid_calendar"
    return str(raised.value)


def test_a_year_file_with_ranges_and_make_up_days() -> None:
    y = parse_year(
        {
            "year": 2027,
            "holidays": ["2027-01-01", ["2027-10-01", "2027-10-07"]],
            "workdays": ["2027-09-26", "2026-12-27"],  # a Sunday and, in the year before, a Sunday
        }
    )
    assert y == YearCalendar(
        2027,
        frozenset({date(2027, 1, 1)} | {date(2027, 10, d) for d in range(1, 8)}),
        frozenset({date(2027, 9, 26), date(2026, 12, 27)}),
    )


def test_a_range_of_one_day_and_of_32_days() -> None:
    y = parse_year({"year": 2027, "holidays": [["2027-05-01", "2027-05-01"], ["2027-07-01", "2027-08-01"]]})
    assert len(y.holidays) == 1 + 32
    assert y.workdays == frozenset()


@pytest.mark.parametrize("year", [2000, 2100])
def test_the_years_at_the_ends_are_accepted(year: int) -> None:
    assert parse_year({"year": year, "holidays": [f"{year}-01-01"]}).year == year


@pytest.mark.parametrize("year", [1999, 2101, "2027", None, 2027.0])
def test_a_year_out_of_range_or_not_a_number(year: Any) -> None:
    assert _refused({"year": year, "holidays": ["2027-01-01"]}) == "year 应为 2000 至 2100 之间的年份。"


@pytest.mark.parametrize(
    ("item", "what"),
    [
        ("2027-13-01", "holidays"),
        (["2027-10-07", "2027-10-01"], "holidays"),  # backwards
        (["2027-07-01", "2027-08-02"], "holidays"),  # 33 days
        (["2027-10-01"], "holidays"),
        (["2027-10-01", "2027-10-02", "2027-10-03"], "holidays"),
        (20271001, "holidays"),
        ([None, "2027-10-01"], "holidays"),
        ("not a date", "workdays"),
    ],
)
def test_a_bad_date_or_range_is_named(item: Any, what: str) -> None:
    doc: dict[str, Any] = {"year": 2027, "holidays": ["2027-01-01"], "workdays": []}
    doc[what] = [*doc[what], item]
    assert _refused(doc) == f"{what}: {item!r} 不是有效日期或日期区间。"


def test_a_date_two_years_away_is_refused_and_a_neighbouring_year_is_not() -> None:
    far = "不属于 2027 年的通知。"
    assert _refused({"year": 2027, "holidays": ["2029-01-01"]}) == f"holidays: 2029-01-01 {far}"
    assert _refused({"year": 2027, "holidays": ["2025-12-31"]}) == f"holidays: 2025-12-31 {far}"
    assert _refused({"year": 2027, "holidays": ["2027-01-01"], "workdays": ["2025-01-04"]}) == (
        "workdays: 2025-01-04 不属于 2027 年的通知。"
    )
    assert parse_year({"year": 2027, "holidays": ["2028-01-01", "2026-12-31"]}).holidays == {
        date(2028, 1, 1),
        date(2026, 12, 31),
    }


@pytest.mark.parametrize("doc", [[], "2027", None, 2027])
def test_a_year_file_that_is_not_an_object(doc: Any) -> None:
    assert _refused(doc) == "年份文件应为 JSON 对象。"


def test_holidays_are_required_and_never_make_up_days() -> None:
    assert _refused({"year": 2027}) == "holidays 不能为空。"
    assert _refused({"year": 2027, "holidays": []}) == "holidays 不能为空。"
    assert _refused({"year": 2027, "holidays": ["2027-10-02"], "workdays": ["2027-10-02"]}) == (
        "同一天不能既是假日又是调休工作日。"
    )
    # 2027-10-08 is a Friday: a make-up working day is a Saturday or a Sunday.
    assert _refused({"year": 2027, "holidays": ["2027-10-01"], "workdays": ["2027-10-08"]}) == (
        "调休工作日应为周六或周日。"
    )
    assert _refused({"year": 2027, "holidays": ["2027-10-01"], "workdays": ["2027-10-04"]}) == (
        "调休工作日应为周六或周日。"
    )  # a Monday
    assert parse_year({"year": 2027, "holidays": ["2027-10-01"], "workdays": ["2027-10-09"]}).workdays == {
        date(2027, 10, 9)
    }  # a Saturday


# --- due dates ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.official()


def _rule(n: int, unit: str) -> Rule:
    return Rule("r", n, unit, "received", "测试期限", "")  # type: ignore[arg-type]


def test_each_unit_without_excluded_days(cal: WorkCalendar) -> None:
    start = date(2026, 3, 6)  # a Friday
    assert cal.due(_rule(1, "working_day"), start) == date(2026, 3, 9)
    assert cal.due(_rule(2, "calendar_day"), start) == date(2026, 3, 9)  # Sunday 8 rolls to Monday 9
    assert cal.due(_rule(1, "calendar_day"), start) == date(2026, 3, 9)  # Saturday 7 rolls too
    assert cal.due(_rule(1, "month"), start) == date(2026, 4, 7)  # Mon 6 Apr is 清明 (a holiday)
    # 31 Jan + 1 month is the month's last day, 28 Feb: a Saturday, but a make-up working day (调休)
    assert cal.due(_rule(1, "month"), date(2026, 1, 31)) == date(2026, 2, 28)
    assert cal.due(_rule(1, "month"), date(2025, 1, 31)) == date(2025, 2, 28)  # a Friday
    assert cal.due(_rule(1, "month"), date(2026, 3, 31)) == date(2026, 4, 30)  # a Thursday


def test_excluded_days_per_unit(cal: WorkCalendar) -> None:
    start = date(2026, 3, 6)
    # calendar days: added before the roll
    assert cal.due(_rule(2, "calendar_day"), start, excluded_days=3) == date(2026, 3, 11)
    # working days: counted as working days
    assert cal.due(_rule(1, "working_day"), start, excluded_days=2) == date(2026, 3, 11)
    # months: the month first, then the days, then the roll
    assert cal.due(_rule(1, "month"), date(2026, 1, 31), excluded_days=1) == date(2026, 3, 2)
    assert cal.due(_rule(1, "month"), date(2026, 1, 15), excluded_days=2) == date(2026, 2, 24)
    assert cal.due(_rule(1, "month"), date(2026, 3, 10), excluded_days=1) == date(2026, 4, 13)
    # zero excluded days is the plain rule
    assert cal.due(_rule(1, "month"), start, excluded_days=0) == cal.due(_rule(1, "month"), start)


def test_negative_excluded_days_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValidationError) as raised:
        cal.due(_rule(1, "working_day"), date(2026, 3, 6), excluded_days=-1)
    assert raised.value.code == "invalid_excluded_days"
    assert str(raised.value) == "不计入期限的天数不能为负。"


def test_an_unknown_unit_is_an_error(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="unknown period unit 'week'"):
        cal.add(date(2026, 3, 6), 1, "week")


# --- extensions -----------------------------------------------------------------------------------


def test_extension_steps_in_order_then_none(cal: WorkCalendar) -> None:
    rule = deadlines.RULES["jiaoban_conclude"]
    due = date(2026, 6, 5)
    assert cal.extend(rule, due, 0, approval="湘纪〔2026〕1号") == date(2026, 9, 7)  # 5 Sep is a Saturday
    with pytest.raises(ValidationError) as raised:
        cal.extend(rule, due, 1, approval="湘纪〔2026〕2号")  # open-ended: the new date is needed
    assert raised.value.code == "new_due_required"
    assert str(raised.value) == "请填写批准延长后的新期限（须晚于原期限）。"
    with pytest.raises(ValidationError) as raised:
        cal.extend(rule, due, 1, approval="x", new_due=due)  # not later
    assert raised.value.code == "new_due_required"
    assert cal.extend(rule, due, 1, approval="x", new_due=date(2026, 6, 6)) == date(2026, 6, 8)  # rolled
    with pytest.raises(ValidationError) as raised:
        cal.extend(rule, due, 2, approval="x", new_due=date(2026, 12, 1))
    assert raised.value.code == "no_more_extensions"
    assert str(raised.value) == "交办件办结的期限不能再延长。"


@pytest.mark.parametrize("approval", [None, "", "   "])
def test_an_extension_needs_the_approval(cal: WorkCalendar, approval: str | None) -> None:
    with pytest.raises(ValidationError) as raised:
        cal.extend(deadlines.RULES["jiaoban_conclude"], date(2026, 6, 5), 0, approval=approval)
    assert raised.value.code == "approval_required"
    assert str(raised.value) == "延长交办件办结期限须经主要负责人批准，请填写批准文号。"
    with pytest.raises(ValidationError) as raised:
        cal.extend(deadlines.RULES["jiaoban_conclude"], date(2026, 6, 5), 1, approval=approval)
    assert str(raised.value) == "延长交办件办结期限须经上级机关批准，请填写批准文号。"
    unknown = Rule("r", 1, "month", "received", "测试", "", (Extension(1, "month", "someone"),))
    with pytest.raises(ValidationError) as raised:
        cal.extend(unknown, date(2026, 6, 5), 0, approval=approval)
    assert str(raised.value) == "延长测试期限须经someone批准，请填写批准文号。"


def test_a_calendar_day_extension(cal: WorkCalendar) -> None:
    rule = deadlines.RULES["xf_handle_31_6"]
    assert cal.extend(rule, date(2026, 3, 6), 0, approval="x") == date(2026, 4, 7)  # 5 Apr Sunday, 6 清明


# --- the calendar folder --------------------------------------------------------------------------


class Seconds:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _write_year(folder: Path, year: int, holidays: list[Any]) -> None:
    (folder / f"{year}.json").write_text(json.dumps({"year": year, "holidays": holidays}), "utf-8")


def test_a_year_file_in_the_folder_is_read_at_start_and_wins_for_its_year(tmp_path: Path) -> None:
    _write_year(tmp_path, 2040, ["2040-03-05"])  # a Monday
    _write_year(tmp_path, 2026, ["2026-03-09"])  # a Monday that is no holiday in the bundled year
    cal = WorkCalendar.official(tmp_path)
    assert not cal.is_working_day(date(2040, 3, 5))
    assert cal.is_working_day(date(2040, 3, 6))
    assert not cal.is_working_day(date(2026, 3, 9))
    assert cal.is_working_day(date(2026, 2, 17)) and 2026 in cal.years
    # (the bundled holidays of 2026 were replaced by the file's)
    assert default_calendar(tmp_path).holidays == cal.holidays
    assert not default_calendar().years & {2040}


def test_a_gap_year_is_looked_up_again_then_refused(tmp_path: Path) -> None:
    clock = Seconds()
    cal = WorkCalendar.official(tmp_path, monotonic=clock)
    with pytest.raises(CalendarGap) as raised:
        cal.is_working_day(date(2041, 1, 2))
    assert "2041 年的法定节假日安排尚未载入" in str(raised.value)
    # Loaded by `intake calendar load` while the server runs: the gap date itself triggers a look.
    _write_year(tmp_path, 2041, ["2041-01-01"])
    assert cal.is_working_day(date(2041, 1, 2))


def test_a_changed_year_file_is_picked_up_after_the_recheck_interval(tmp_path: Path) -> None:
    clock = Seconds()
    _write_year(tmp_path, 2040, ["2040-03-05"])
    cal = WorkCalendar.official(tmp_path, monotonic=clock)
    assert not cal.is_working_day(date(2040, 3, 5))
    _write_year(tmp_path, 2040, ["2040-03-06", "2040-03-07"])  # corrected, a different size
    clock.t += RECHECK_SECONDS - 0.5
    assert not cal.is_working_day(date(2040, 3, 5))  # not looked at yet
    clock.t += 0.5
    assert cal.is_working_day(date(2040, 3, 5))  # looked at exactly at the interval
    assert not cal.is_working_day(date(2040, 3, 6))


def test_a_broken_year_file_keeps_the_calendar_in_force(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Seconds()
    _write_year(tmp_path, 2040, ["2040-03-05"])
    cal = WorkCalendar.official(tmp_path, monotonic=clock)
    (tmp_path / "2040.json").write_text("{not json", "utf-8")
    clock.t += RECHECK_SECONDS
    assert not cal.is_working_day(date(2040, 3, 5))
    assert "calendar folder not reloaded: a year file is unreadable (JSONDecodeError)" in caplog.text
    # Remembered: the same broken listing is not read again at every look.
    caplog.clear()
    clock.t += RECHECK_SECONDS
    assert not cal.is_working_day(date(2040, 3, 5))
    assert caplog.text == ""


def test_a_bad_year_file_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "2040.json").write_text(json.dumps({"year": 2040, "holidays": []}), "utf-8")
    with pytest.raises(ValidationError):
        WorkCalendar.official(tmp_path)


def test_without_a_folder_nothing_is_looked_at(tmp_path: Path) -> None:
    cal = WorkCalendar.official()
    assert cal.source is None
    cal.refresh()  # nothing to read
    with pytest.raises(CalendarGap):
        cal.is_working_day(date(2099, 1, 5))
    missing = WorkCalendar.official(tmp_path / "not there")
    assert missing.is_working_day(date(2026, 3, 6))


def test_the_listing_read_is_remembered_so_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    clock = Seconds()
    _write_year(tmp_path, 2040, ["2040-03-05"])
    cal = WorkCalendar.official(tmp_path, monotonic=clock)
    assert cal._seen == deadlines._fingerprint(tmp_path) != ()
    assert cal._next_look == clock.t + RECHECK_SECONDS
    assert WorkCalendar.official()._seen == ()
    clock.t += 1
    cal.refresh()  # nothing changed: the listing matches, nothing is read
    assert cal._next_look == clock.t + RECHECK_SECONDS
    _write_year(tmp_path, 2041, ["2041-01-01"])
    cal.refresh()
    assert cal._seen == deadlines._fingerprint(tmp_path)


def test_the_unreadable_year_file_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Seconds()
    cal = WorkCalendar.official(tmp_path, monotonic=clock)
    (tmp_path / "2040.json").write_text("[]", "utf-8")
    cal.refresh()
    assert [r.getMessage() for r in caplog.records] == [
        "calendar folder not reloaded: a year file is unreadable (ValidationError)"
    ]
    assert cal.is_working_day(date(2026, 3, 6))  # the calendar in force goes on answering
