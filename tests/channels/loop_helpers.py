"""Helpers for the channels' tests of issue 17 (timeline, rating, review requests): an office that
accepts and answers a case through the workflow service, as a supervisor of the county would."""

from __future__ import annotations

import json
from typing import Any

from intake.workflow import Action

SUPERVISOR = "loop_sup"


async def answer(services: Any, case_no: str, text: str = "经核查，反映的问题部分属实，已责令整改。") -> None:
    """Accept and reply to ``case_no`` (its timeline then reads received → accepted → replied)."""
    known_next_year(services)
    staff = services.staff
    member = await staff.member(SUPERVISOR)
    if member is None:
        member, _ = await staff.add(SUPERVISOR, "430121", "supervisor", "correct horse battery")
    await services.workflow.act(member, case_no, Action("accept"))
    await services.workflow.act(member, case_no, Action("reply", text=text))


async def feedback_of(services: Any, case_no: str) -> list[Any]:
    report = await services.db.reports.get(case_no)
    found: list[Any] = await services.db.feedback.feedback(report.id)
    return found


async def reviews_of(services: Any, case_no: str) -> list[Any]:
    report = await services.db.reports.get(case_no)
    found: list[Any] = await services.db.feedback.reviews(report.id)
    return found


def known_next_year(services: Any) -> None:
    """These tests run on the real clock: a review asked in December is due in January, of a year
    the holiday package may not know yet. A stand-in year (New Year's Day off) lets it be counted."""
    year = services.clock.now().year + 1
    folder = services.settings.data_dir / "calendar"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{year}.json"
    if not path.exists():
        path.write_text(json.dumps({"year": year, "holidays": [f"{year}-01-01"], "workdays": []}))
