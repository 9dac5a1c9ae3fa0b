"""Reception slots as configuration: weekly days and hours, moved around official holidays.

``INTAKE_RECEPTION_SLOTS`` is a list of ``<weekday> <HH:MM>-<HH:MM>/<minutes>`` separated by ``;``,
e.g. ``tue 09:00-11:30/30; thu 09:00-11:30/30`` (the Tuesday and Thursday practice of
domain_rules.md §7). A reception day that falls on a rest day (a holiday, or a weekend) moves to the
next working day that is not already a reception day; make-up working days (调休) on a weekend
are not reception days of their own. The calendar is :class:`intake.deadlines.WorkCalendar`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from intake.clock import CHINA
from intake.deadlines import CalendarGap, WorkCalendar

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_SPEC = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})/(\d{1,3})$")


@dataclass(frozen=True)
class DayPlan:
    weekday: int
    start: time
    end: time
    minutes: int

    def starts(self, day: date) -> list[datetime]:
        out, at = [], datetime.combine(day, self.start, CHINA)
        end = datetime.combine(day, self.end, CHINA)
        while at + timedelta(minutes=self.minutes) <= end:
            out.append(at)
            at += timedelta(minutes=self.minutes)
        return out


def parse_slots(spec: str) -> list[DayPlan]:
    plans = []
    for part in (p.strip().lower() for p in spec.split(";")):
        if not part:
            continue
        m = _SPEC.match(part)
        if m is None:
            raise SystemExit(f"INTAKE_RECEPTION_SLOTS: cannot read {part!r} (e.g. 'tue 09:00-11:30/30')")
        day, h1, m1, h2, m2, minutes = m.groups()
        try:
            plan = DayPlan(WEEKDAYS[day], time(int(h1), int(m1)), time(int(h2), int(m2)), int(minutes))
        except ValueError:
            raise SystemExit(f"INTAKE_RECEPTION_SLOTS: bad time in {part!r}") from None
        if plan.minutes <= 0 or plan.start >= plan.end:
            raise SystemExit(f"INTAKE_RECEPTION_SLOTS: empty range in {part!r}")
        plans.append(plan)
    if not plans:
        raise SystemExit("INTAKE_RECEPTION_SLOTS: no reception days configured")
    return plans


@dataclass(frozen=True)
class Slot:
    start: datetime
    minutes: int
    moved_from: date | None  # the holiday it was moved from, if any


class SlotPlan:
    def __init__(self, plans: list[DayPlan], calendar: WorkCalendar) -> None:
        self.plans = plans
        self.calendar = calendar

    def _working(self, d: date) -> bool:
        try:
            return self.calendar.is_working_day(d)
        except CalendarGap:
            return d.weekday() < 5  # a year the calendar does not know: weekdays only

    def days(self, first: date, last: date) -> list[tuple[date, DayPlan, date | None]]:
        """(actual day, plan, original day if moved) for every reception day in [first, last]."""
        out: dict[date, tuple[date, DayPlan, date | None]] = {}
        regular = {p.weekday for p in self.plans}
        d = first - timedelta(days=14)  # a holiday before ``first`` may move a day into the range
        while d <= last:
            for plan in self.plans:
                if d.weekday() != plan.weekday:
                    continue
                actual, moved = d, None
                if not self._working(d):
                    moved, actual = d, d + timedelta(days=1)
                    while not self._working(actual) or (actual.weekday() in regular and actual in out):
                        actual += timedelta(days=1)
                if first <= actual <= last and actual not in out:
                    out[actual] = (actual, plan, moved)
            d += timedelta(days=1)
        return [out[k] for k in sorted(out)]

    def slots(self, first: date, last: date) -> list[Slot]:
        return [
            Slot(start, plan.minutes, moved)
            for day, plan, moved in self.days(first, last)
            for start in plan.starts(day)
        ]

    def find(self, start: datetime) -> Slot | None:
        day = start.astimezone(CHINA).date()
        return next((s for s in self.slots(day, day) if s.start == start), None)
