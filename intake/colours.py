"""The colour of a deadline (issue 18 item 4): green 正常, yellow 临期 (at most :data:`YELLOW_DAYS`
working days left, by the working-day calendar of :mod:`intake.deadlines`), red 超期 (past due).
Pages show the label with the colour, never the colour alone."""

from __future__ import annotations

from datetime import date, timedelta

from intake.deadlines import CalendarGap, WorkCalendar

YELLOW_DAYS = 5
COLOUR_LABELS = {"green": "正常", "yellow": "临期", "red": "超期"}


def yellow_horizon(calendar: WorkCalendar, today: date) -> date:
    """The last due date that is yellow today (the fifth working day after today)."""
    try:
        return calendar.add_working_days(today, YELLOW_DAYS)
    except CalendarGap:  # a year the calendar does not know: by calendar days, a week
        return today + timedelta(days=7)


def deadline_colour(calendar: WorkCalendar, due_on: date, today: date, status: str = "open") -> str:
    """green, yellow or red; a deadline no longer open is green (nothing to urge)."""
    if status != "open":
        return "green"
    if due_on < today:
        return "red"
    return "yellow" if due_on <= yellow_horizon(calendar, today) else "green"
