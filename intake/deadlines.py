"""The deadline engine: China's official working-day calendar, period arithmetic, and the rules
table (domain_rules.md §3 and the configuration sketch in §11.1) as data.

Period arithmetic (期间计算, 实施条例 art 285; 民法典 arts 201–203):

* the start day is not counted: a period of *n* runs from the day after the start;
* a month period ends on the corresponding day of the ending month, or on its last day when there
  is none (31 January + 1 month → 28/29 February);
* when a calendar-day or month period ends on a rest day (a statutory holiday, or a weekend that
  is not a make-up working day), it moves to the next working day;
* working days follow the State Council's yearly notice: holidays off, make-up working days (调休)
  on, even when they fall on a Saturday or Sunday.

The calendar is data. The bundled years come from the ``chinesecalendar`` package; a year the
package does not know yet is loaded from a JSON file (``intake calendar load FILE``) written from
the State Council's notice, and a running server sees it without a restart. A date in a year the
calendar does not cover is refused (:class:`CalendarGap`), never guessed.
"""

from __future__ import annotations

import calendar as _pycal
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from intake.errors import IntakeError, ValidationError

log = logging.getLogger("intake.deadlines")

PeriodUnit = Literal["working_day", "calendar_day", "month"]
PERIOD_UNITS: tuple[str, ...] = ("working_day", "calendar_day", "month")


class CalendarGap(IntakeError, status=409, code="calendar_gap"):
    """The official calendar for a year is not loaded: a working-day deadline cannot be computed."""


@dataclass(frozen=True)
class Extension:
    """One allowed extension: ``n`` more units (None: the approver sets the new date), who must
    approve it, and who is told."""

    n: int | None
    unit: PeriodUnit
    approval: str
    notify: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    n: int
    unit: PeriodUnit
    start: str
    label: str
    basis: str
    extensions: tuple[Extension, ...] = ()
    skip_if: str | None = None
    exclude: str | None = None


def _rule(name: str, doc: Mapping[str, Any]) -> Rule:
    unit = doc["unit"]
    if unit not in PERIOD_UNITS:
        raise ValueError(f"deadline rule {name}: unknown unit {unit!r}")
    n = doc["n"]
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"deadline rule {name}: n must be a positive whole number")
    exts = []
    for e in doc.get("extend", ()):
        e_unit = e.get("unit", unit)
        if e_unit not in PERIOD_UNITS:
            raise ValueError(f"deadline rule {name}: unknown extension unit {e_unit!r}")
        exts.append(Extension(e.get("n"), e_unit, e["approval"], e.get("notify")))
    return Rule(
        name,
        n,
        unit,
        doc.get("from", "received"),
        doc.get("label", name),
        doc.get("basis", ""),
        tuple(exts),
        doc.get("skip_if"),
        doc.get("exclude"),
    )


# The rules of §3 / §11.1. Each can be overridden by a deployment (``load_rules``).
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "jjkg_realname_accept_notice": {
        "n": 15,
        "unit": "working_day",
        "from": "received",
        "skip_if": "repeat",
        "label": "实名举报受理告知",
        "basis": "规则第二十六条",
    },
    "jjkg_realname_result_feedback": {
        "n": 15,
        "unit": "working_day",
        "from": "concluded",
        "label": "实名举报办理结果反馈",
        "basis": "规则第二十七条",
    },
    "jjkg_objection_explain": {
        # ❓ local default: art 27 says objections are recorded and explained, without a period.
        "n": 15,
        "unit": "working_day",
        "from": "objection",
        "label": "异议记录并说明",
        "basis": "规则第二十七条（期限为本地设定）",
    },
    "jjkg_upward_transfer": {
        "n": 5,
        "unit": "working_day",
        "from": "received",
        "label": "向上级报送",
        "basis": "规则第十五条",
    },
    "jjkg_downward_accept_or_transfer": {
        "n": 5,
        "unit": "working_day",
        "from": "received",
        "label": "下级登记受理或转送",
        "basis": "规则第十六条",
    },
    "jc_transfer_other_jurisdiction": {
        "n": 5,
        "unit": "working_day",
        "from": "received",
        "label": "移送有管辖权的监察机关",
        "basis": "实施条例第一百六十九条",
    },
    "clue_disposal_opinion": {
        "n": 1,
        "unit": "month",
        "from": "clue_received",
        "label": "提出问题线索处置意见",
        "basis": "监督执纪规则第二十一条",
    },
    "hanxun_reply": {
        "n": 15,
        "unit": "working_day",
        "from": "letter_received",
        "label": "函询回复",
        "basis": "监督执纪规则第二十九条",
    },
    "clue_inquiry_report": {
        "n": 1,
        "unit": "month",
        "from": "inquiry_answered",
        "label": "谈话函询情况报告和处置意见",
        "basis": "监督执纪规则第三十条",
    },
    "jiaoban_conclude": {
        "n": 3,
        "unit": "month",
        "from": "assigned",
        "label": "交办件办结",
        "basis": "规则第二十一条",
        "extend": [
            {"n": 3, "unit": "month", "approval": "main_leader", "notify": "upper"},
            {"n": None, "unit": "month", "approval": "upper_organ"},
        ],
    },
    "xf_register_and_route": {
        "n": 15,
        "unit": "calendar_day",
        "from": "received",
        "label": "登记并转送、交办",
        "basis": "信访工作条例第二十二条",
    },
    "xf_accept_notice": {
        "n": 15,
        "unit": "calendar_day",
        "from": "received",
        "label": "告知信访人是否受理",
        "basis": "信访工作条例第二十三条",
    },
    "xf_object_misrouted": {
        "n": 5,
        "unit": "working_day",
        "from": "received",
        "label": "不属本机关职责的提出异议",
        "basis": "信访工作条例第二十三条",
    },
    "xf_handle_31_6": {
        "n": 60,
        "unit": "calendar_day",
        "from": "accepted",
        "label": "信访事项办结",
        "basis": "信访工作条例第三十四条",
        "extend": [{"n": 30, "unit": "calendar_day", "approval": "organ_head", "notify": "petitioner"}],
    },
    "xf_review_request_window": {
        "n": 30,
        "unit": "calendar_day",
        "from": "reply_received",
        "label": "复查申请期限",
        "basis": "信访工作条例第三十五条",
    },
    "xf_review_decide": {
        "n": 30,
        "unit": "calendar_day",
        "from": "request_received",
        "label": "复查答复",
        "basis": "信访工作条例第三十五条",
    },
    "xf_rereview_request_window": {
        "n": 30,
        "unit": "calendar_day",
        "from": "review_reply_received",
        "label": "复核申请期限",
        "basis": "信访工作条例第三十六条",
    },
    "xf_rereview_decide": {
        "n": 30,
        "unit": "calendar_day",
        "from": "request_received",
        "exclude": "hearing_days",
        "label": "复核答复",
        "basis": "信访工作条例第三十六条",
    },
    "recusal_decide": {
        # ❓ local default: the rules require a decision (S3 arts 263–264) but set no period.
        "n": 5,
        "unit": "working_day",
        "from": "request_received",
        "label": "回避申请决定",
        "basis": "规则第四十八条（期限为本地设定）",
    },
}


def load_rules(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Rule]:
    """The default rules with a deployment's overrides (same shape, by rule name) applied."""
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_RULES.items()}
    for name, doc in (overrides or {}).items():
        merged[name] = {**merged.get(name, {}), **doc}
    return {name: _rule(name, doc) for name, doc in merged.items()}


RULES = load_rules()


# --- the calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearCalendar:
    """One year of the State Council's notice: the days off and the make-up working days."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]


def _dates(items: Iterable[Any], year: int, what: str) -> set[date]:
    """ISO dates, or ``["2027-10-01", "2027-10-07"]`` ranges (both ends included)."""
    out: set[date] = set()
    for item in items:
        try:
            if isinstance(item, str):
                days = [date.fromisoformat(item)]
            elif isinstance(item, list) and len(item) == 2:
                first, last = date.fromisoformat(item[0]), date.fromisoformat(item[1])
                if last < first or (last - first).days > 31:
                    raise ValueError("bad range")
                days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
            else:
                raise ValueError("not a date")
        except (TypeError, ValueError):
            raise ValidationError(
                f"{what}: {item!r} 不是有效日期或日期区间。", code="invalid_calendar"
            ) from None
        for d in days:
            # A notice may reach into the neighbouring year (New Year's Day make-up days).
            if abs(d.year - year) > 1:
                raise ValidationError(f"{what}: {d} 不属于 {year} 年的通知。", code="invalid_calendar")
        out.update(days)
    return out


def parse_year(doc: Mapping[str, Any]) -> YearCalendar:
    """``{"year": 2027, "holidays": [...], "workdays": [...]}``, checked."""
    if not isinstance(doc, Mapping):  # a file of "[]" raised AttributeError past every handler
        raise ValidationError("年份文件应为 JSON 对象。", code="invalid_calendar")
    year = doc.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationError("year 应为 2000 至 2100 之间的年份。", code="invalid_calendar")
    holidays = _dates(doc.get("holidays", ()), year, "holidays")
    workdays = _dates(doc.get("workdays", ()), year, "workdays")
    if not holidays:
        raise ValidationError("holidays 不能为空。", code="invalid_calendar")
    if holidays & workdays:
        raise ValidationError("同一天不能既是假日又是调休工作日。", code="invalid_calendar")
    if any(d.weekday() < 5 for d in workdays):
        raise ValidationError("调休工作日应为周六或周日。", code="invalid_calendar")
    return YearCalendar(year, frozenset(holidays), frozenset(workdays))


@functools.cache
def bundled_years() -> tuple[YearCalendar, ...]:
    """Every year the ``chinesecalendar`` package knows (read once: a reload reuses them)."""
    from chinese_calendar import constants

    by_year: dict[int, tuple[set[date], set[date]]] = {}
    for d in constants.holidays:
        by_year.setdefault(d.year, (set(), set()))[0].add(d)
    for d in constants.workdays:
        by_year.setdefault(d.year, (set(), set()))[1].add(d)
    return tuple(YearCalendar(y, frozenset(h), frozenset(w)) for y, (h, w) in sorted(by_year.items()))


_Fingerprint = tuple[tuple[str, int, int], ...]
RECHECK_SECONDS = 5.0  # how often a running server looks for a changed calendar directory


def _fingerprint(folder: Path) -> _Fingerprint:
    """Name, modification time and size of every year file: a listing, no file is read."""
    try:
        return tuple(
            sorted((p.name, st.st_mtime_ns, st.st_size) for p in folder.glob("*.json") for st in [p.stat()])
        )
    except OSError:  # the folder, or a file being replaced, vanished between listing and stat
        return ()


@dataclass
class WorkCalendar:
    """Working days on the official calendar; :meth:`due` applies a :class:`Rule`.

    With a ``source`` folder (``<data dir>/calendar``, where ``intake calendar load`` writes), a
    running server picks up a newly loaded or corrected year without a restart: before refusing a
    date as a gap it lists the folder again, and it looks every :data:`RECHECK_SECONDS` anyway.
    A look is one directory listing; files are read only when the listing changed, so even a
    flood of gap dates costs a listing each. Every worker looks for itself.
    """

    holidays: set[date] = field(default_factory=set)
    workdays: set[date] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    source: Path | None = None
    monotonic: Callable[[], float] = time.monotonic
    _seen: _Fingerprint | None = field(default=None, repr=False)
    _next_look: float = field(default=0.0, repr=False)

    @classmethod
    def official(
        cls, extra_dir: Path | None = None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> WorkCalendar:
        """The bundled years plus any year files in ``extra_dir`` (they win for their year).
        A bad file there fails the start."""
        cal = cls(source=extra_dir, monotonic=monotonic)
        cal._reload(_fingerprint(extra_dir) if extra_dir is not None else ())
        return cal

    def _reload(self, seen: _Fingerprint) -> None:
        """Rebuild from the bundled years and the source folder, then swap: a bad file raises and
        leaves the calendar as it was."""
        fresh = WorkCalendar()
        for y in bundled_years():
            fresh.add_year(y)
        if self.source is not None and self.source.is_dir():
            for path in sorted(self.source.glob("*.json")):
                fresh.add_year(parse_year(json.loads(path.read_text("utf-8"))))
        self.holidays, self.workdays, self.years = fresh.holidays, fresh.workdays, fresh.years
        self._seen = seen
        self._next_look = self.monotonic() + RECHECK_SECONDS

    def refresh(self) -> None:
        """Read the source folder again if its year files changed since they were last read."""
        if self.source is None:
            return
        seen = _fingerprint(self.source)
        self._next_look = self.monotonic() + RECHECK_SECONDS
        if seen == self._seen:
            return
        try:
            self._reload(seen)
        except (OSError, ValueError, IntakeError) as exc:
            # Keep the calendar in force (``intake calendar load`` checks a file before writing
            # it, so this is a hand-edited file); remember the listing so it is not re-read per day.
            self._seen = seen
            log.warning("calendar folder not reloaded: a year file is unreadable (%s)", type(exc).__name__)

    def add_year(self, y: YearCalendar) -> None:
        self.holidays = {d for d in self.holidays if d.year != y.year} | set(y.holidays)
        self.workdays = {d for d in self.workdays if d.year != y.year} | set(y.workdays)
        self.years.add(y.year)

    def _check(self, d: date) -> None:
        if self.source is not None and self.monotonic() >= self._next_look:
            self.refresh()
        if d.year not in self.years:
            self.refresh()
        if d.year not in self.years:
            raise CalendarGap(
                f"{d.year} 年的法定节假日安排尚未载入，无法计算工作日期限（intake calendar load）。"
            )

    def is_working_day(self, d: date) -> bool:
        self._check(d)
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_working_days(self, start: date, n: int) -> date:
        """The *n*-th working day after ``start`` (the start day itself is not counted)."""
        d, left = start, n
        while left > 0:
            d += timedelta(days=1)
            if self.is_working_day(d):
                left -= 1
        return d

    def roll_to_working_day(self, d: date) -> date:
        """A period ending on a rest day ends on the next working day instead."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def add_calendar_days(self, start: date, n: int) -> date:
        return self.roll_to_working_day(start + timedelta(days=n))

    def add_months(self, start: date, n: int) -> date:
        return self.roll_to_working_day(add_months(start, n))

    def add(self, start: date, n: int, unit: str) -> date:
        if unit == "working_day":
            return self.add_working_days(start, n)
        if unit == "calendar_day":
            return self.add_calendar_days(start, n)
        if unit == "month":
            return self.add_months(start, n)
        raise ValueError(f"unknown period unit {unit!r}")

    def due(self, rule: Rule, start: date, *, excluded_days: int = 0) -> date:
        """When ``rule`` falls due for a period starting on ``start``. ``excluded_days``: days not
        counted (hearing time in a 复核, 条例 art 36), added before the rest-day roll."""
        if excluded_days < 0:
            raise ValidationError("不计入期限的天数不能为负。", code="invalid_excluded_days")
        if rule.unit == "calendar_day":
            return self.add_calendar_days(start, rule.n + excluded_days)
        if excluded_days and rule.unit == "month":
            return self.roll_to_working_day(add_months(start, rule.n) + timedelta(days=excluded_days))
        if excluded_days:
            return self.add_working_days(start, rule.n + excluded_days)
        return self.add(start, rule.n, rule.unit)

    def extend(
        self,
        rule: Rule,
        current_due: date,
        used: int,
        *,
        approval: str | None,
        new_due: date | None = None,
    ) -> date:
        """The due date after extension number ``used + 1``. Refused when the rule allows no
        more extensions or the approval is missing; an open-ended step needs ``new_due``."""
        if used >= len(rule.extensions):
            raise ValidationError(f"{rule.label}的期限不能再延长。", code="no_more_extensions")
        step = rule.extensions[used]
        if not approval or not approval.strip():
            raise ValidationError(
                f"延长{rule.label}期限须经{APPROVERS.get(step.approval, step.approval)}批准，"
                "请填写批准文号。",
                code="approval_required",
            )
        if step.n is None:
            if new_due is None or new_due <= current_due:
                raise ValidationError("请填写批准延长后的新期限（须晚于原期限）。", code="new_due_required")
            return self.roll_to_working_day(new_due)
        return self.add(current_due, step.n, step.unit)


APPROVERS = {
    "main_leader": "主要负责人",
    "upper_organ": "上级机关",
    "organ_head": "本机关负责人",
}


def add_months(start: date, n: int) -> date:
    """The corresponding day ``n`` months later, or that month's last day (实施条例 art 285)."""
    months = start.month - 1 + n
    year, month = start.year + months // 12, months % 12 + 1
    return date(year, month, min(start.day, _pycal.monthrange(year, month)[1]))


def default_calendar(extra_dir: Path | None = None) -> WorkCalendar:
    return WorkCalendar.official(extra_dir)
