"""The deadline engine on the official calendar: holidays, make-up working days (调休), month-end
and rest-day rules, extensions, and loading a newly published year."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from intake import deadlines
from intake.deadlines import RULES, CalendarGap, WorkCalendar, add_months, load_rules, parse_year
from intake.errors import ValidationError


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.official()


def test_make_up_days_work_and_holidays_rest(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2025, 9, 28))  # a Sunday, 调休 before National Day 2025
    assert cal.is_working_day(date(2025, 10, 11))  # a Saturday, 调休 after it
    assert not cal.is_working_day(date(2025, 10, 8))  # a Wednesday inside the holiday
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday before Spring Festival 2026
    assert not cal.is_working_day(date(2026, 2, 23))  # Monday, last day of the holiday
    assert cal.is_working_day(date(2026, 2, 28))  # Saturday make-up day
    assert not cal.is_working_day(date(2026, 3, 1))  # an ordinary Sunday


def test_upward_transfer_across_national_day_2025(cal: WorkCalendar) -> None:
    # Fri 26 Sep: Sun 28 (调休) 1, Mon 29 2, Tue 30 3, holiday 1–8 Oct, Thu 9 4, Fri 10 5.
    assert cal.due(RULES["jjkg_upward_transfer"], date(2025, 9, 26)) == date(2025, 10, 10)


def test_realname_notice_across_national_day_2025_counts_the_saturday_make_up_day(cal: WorkCalendar) -> None:
    # Tue 30 Sep: 9, 10, Sat 11 (调休), 13–17, 20–24, 27, 28 Oct = 15 working days.
    assert cal.due(RULES["jjkg_realname_accept_notice"], date(2025, 9, 30)) == date(2025, 10, 28)


def test_transfer_across_spring_festival_2026(cal: WorkCalendar) -> None:
    # Thu 12 Feb: Fri 13 1, Sat 14 (调休) 2, holiday 15–23, Tue 24 3, Wed 25 4, Thu 26 5.
    assert cal.due(RULES["jjkg_downward_accept_or_transfer"], date(2026, 2, 12)) == date(2026, 2, 26)


def test_realname_notice_across_spring_festival_2026(cal: WorkCalendar) -> None:
    # Fri 13 Feb: Sat 14 1, 24–27 Feb 5, Sat 28 (调休) 6, 2–6 Mar 11, 9–12 Mar 15.
    assert cal.due(RULES["jjkg_realname_accept_notice"], date(2026, 2, 13)) == date(2026, 3, 12)


def test_calendar_days_ending_in_a_holiday_roll_to_the_next_working_day(cal: WorkCalendar) -> None:
    # 23 Sep + 15 days = 8 Oct 2025, still National Day: the period ends on Thu 9 Oct.
    assert cal.due(RULES["xf_accept_notice"], date(2025, 9, 23)) == date(2025, 10, 9)
    # An ordinary weekday end stays put.
    assert cal.due(RULES["xf_accept_notice"], date(2025, 11, 3)) == date(2025, 11, 18)


def test_xf_handling_sixty_days_and_one_thirty_day_extension(cal: WorkCalendar) -> None:
    rule = RULES["xf_handle_31_6"]
    due = cal.due(rule, date(2026, 8, 7))  # 60 days → Tue 6 Oct 2026, in the holiday → Thu 8 Oct
    assert due == date(2026, 10, 8)
    extended = cal.extend(rule, due, 0, approval="长县信〔2026〕12号")
    assert extended == date(2026, 11, 9)  # +30 → Sat 7 Nov → Mon 9 Nov
    with pytest.raises(ValidationError) as exc:
        cal.extend(rule, extended, 1, approval="x")
    assert exc.value.code == "no_more_extensions"
    with pytest.raises(ValidationError) as exc:
        cal.extend(rule, due, 0, approval="")
    assert exc.value.code == "approval_required"


def test_month_arithmetic_uses_the_last_day_and_respects_make_up_days(cal: WorkCalendar) -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    # 28 Feb 2026 is a Saturday but a make-up working day: the deadline stays on it.
    assert cal.add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    # 1 month from 8 Sep 2025 is 8 Oct, inside National Day → Thu 9 Oct.
    assert cal.due(RULES["clue_disposal_opinion"], date(2025, 9, 8)) == date(2025, 10, 9)


def test_jiaoban_three_plus_three_plus_upper_approval(cal: WorkCalendar) -> None:
    rule = RULES["jiaoban_conclude"]
    due = cal.due(rule, date(2025, 7, 8))  # 8 Oct 2025 → 9 Oct
    assert due == date(2025, 10, 9)
    second = cal.extend(rule, due, 0, approval="主要负责人批准")
    assert second == date(2026, 1, 9)
    with pytest.raises(ValidationError) as exc:
        cal.extend(rule, second, 1, approval="上级批准")  # open-ended: needs the new date
    assert exc.value.code == "new_due_required"
    assert cal.extend(rule, second, 1, approval="上级批准", new_due=date(2026, 3, 1)) == date(2026, 3, 2)


def test_excluded_hearing_days(cal: WorkCalendar) -> None:
    rule = RULES["xf_rereview_decide"]
    assert cal.due(rule, date(2025, 11, 3)) == date(2025, 12, 3)
    assert cal.due(rule, date(2025, 11, 3), excluded_days=5) == date(2025, 12, 8)


def test_a_year_not_loaded_is_refused_then_loaded_from_a_file(tmp_path: Path) -> None:
    cal = WorkCalendar.official()
    with pytest.raises(CalendarGap):
        cal.add_working_days(date(2099, 12, 28), 5)
    doc = {
        "year": 2099,
        "holidays": ["2099-01-01", ["2099-10-01", "2099-10-07"]],
        "workdays": ["2099-10-10"],
    }
    (tmp_path / "2099.json").write_text(json.dumps(doc))
    loaded = WorkCalendar.official(tmp_path)
    assert not loaded.is_working_day(date(2099, 10, 5))
    assert loaded.is_working_day(date(2099, 10, 10))  # a Saturday make-up day
    assert loaded.add_working_days(date(2099, 9, 30), 1) == date(2099, 10, 8)


def test_a_running_calendar_sees_new_and_corrected_years_and_keeps_going_on_a_bad_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seconds = [0.0]
    cal = WorkCalendar.official(tmp_path, monotonic=lambda: seconds[0])
    notice = {"year": 2099, "holidays": [["2099-10-01", "2099-10-07"]]}
    (tmp_path / "2099.json").write_text(json.dumps(notice))
    # A gap looks at the folder at once: the year just written is used.
    assert not cal.is_working_day(date(2099, 10, 7))
    # A corrected notice (7 October is a working day after all) is seen on the next look.
    (tmp_path / "2099.json").write_text(json.dumps(notice | {"holidays": [["2099-10-01", "2099-10-06"]]}))
    assert not cal.is_working_day(date(2099, 10, 7))  # not looked at again within the interval
    seconds[0] += deadlines.RECHECK_SECONDS
    assert cal.is_working_day(date(2099, 10, 7))
    # A hand-broken file leaves the calendar in force and says so (without its content).
    (tmp_path / "2099.json").write_text("{not json")
    seconds[0] += deadlines.RECHECK_SECONDS
    assert cal.is_working_day(date(2099, 10, 7)) and not cal.is_working_day(date(2099, 10, 6))
    assert "calendar folder not reloaded" in caplog.text and "not json" not in caplog.text


@pytest.mark.parametrize(
    "doc",
    [
        {"year": 2099, "holidays": []},
        {"year": 2099, "holidays": ["2099-13-01"]},
        {"year": 2099, "holidays": ["2099-10-01"], "workdays": ["2099-10-01"]},
        {"year": 2099, "holidays": ["2099-10-01"], "workdays": ["2099-10-12"]},  # a Monday
        {"year": "2099", "holidays": ["2099-10-01"]},
    ],
)
def test_bad_year_files_are_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_year(doc)


def test_rules_are_data_and_can_be_overridden() -> None:
    rules = load_rules({"recusal_decide": {"n": 3}})
    assert rules["recusal_decide"].n == 3 and rules["recusal_decide"].unit == "working_day"
    assert RULES["jjkg_realname_accept_notice"].skip_if == "repeat"
    with pytest.raises(ValueError):
        load_rules({"x": {"n": 1, "unit": "fortnight"}})
