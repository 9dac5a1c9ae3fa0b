"""The informant's dated timeline of a case (结果反馈), read by query code on every channel.

One function, :func:`case_timeline`, turns a case's audit events into the steps an informant may
see — received, accepted or not (and why, in plain words), transferred (to which level), extended
(the new date), replied, closed, and their own review, objection, recusal and rating requests.
It never says who acted (no staff names, no units below a level), nothing from the vault, and
none of the internal steps (triage, notices sent, attachments opened). Every channel renders the
same entries: the web status page and the app API in full, the dialogue channels in a short form
(:func:`short_timeline`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from intake.clock import CHINA

# Level of a unit, as the informant reads it (where the case went, never who has it).
LEVEL_WORDS = {
    "central": "中央",
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "township": "乡镇",
}

# Deadlines whose extension changes when the informant gets an answer (the others are internal
# steps between offices).
HANDLING_RULES = frozenset(
    {
        "xf_handle_31_6",
        "jiaoban_conclude",
        "xf_review_decide",
        "xf_rereview_decide",
        "jjkg_objection_explain",
        "jjkg_realname_result_feedback",
        "supervise_report",
    }
)

RATING_WORDS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
REQUEST_WORDS = {"review": "复查", "re_review": "复核", "objection": "异议", "recusal": "回避"}


@dataclass(frozen=True)
class TimelineEntry:
    """One dated step: ``event`` is a stable code (received, accepted, not_accepted, transferred,
    extended, replied, closed, reopened, review_requested, objection, recusal_requested,
    recusal_decided, rated, merged, supervised), ``text`` what the informant reads."""

    at: datetime
    event: str
    text: str


class EventLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def payload(self) -> str: ...


LevelOf = Callable[[str | None], str | None]


def level_of(units: Mapping[str, str]) -> LevelOf:
    """The level word of a unit code (``{code: level}``), or None for an unknown code."""

    def find(code: str | None) -> str | None:
        return LEVEL_WORDS.get(units.get(code or "", ""))

    return find


def _organ(level: str | None) -> str:
    return f"{level}纪检监察机关" if level else "有管辖权的机关"


def _date(value: Any) -> str:
    return str(value)[:10] if value else ""


# Events the informant reads the same way every time: kind → (event, text).
_FIXED = {
    "received": ("received", "收到您的反映，已生成案件编号。"),
    "registered": ("registered", "已登记。"),
    "accept": ("accepted", "已受理，正在办理。"),
    "supervise": ("supervised", "已列入督办。"),
    "reply": ("replied", "已作出答复，答复内容见下方。"),
    "close": ("closed", "已办结。"),
    "merged": ("merged", "已与同一事项的其他反映合并办理。"),
    "objection_recorded": ("objection", "已记录您的异议，将作出说明。"),
}
Step = tuple[str, str] | None


def _redirect(p: dict[str, Any], level: LevelOf) -> Step:
    organ = str(p.get("organ") or "有权处理的机关")
    if p.get("handling") == "forward":
        return "not_accepted", f"不属于本机关受理范围，不予受理，已转送{organ}处理。"
    return "not_accepted", f"不属于本机关受理范围，不予受理。请向{organ}反映。"


def _transfer(p: dict[str, Any], level: LevelOf) -> Step:
    return "transferred", f"已转送{_organ(level(p.get('to_unit')))}办理。"


def _assign(p: dict[str, Any], level: LevelOf) -> Step:
    if p.get("to_unit"):
        return "transferred", f"已交由{_organ(level(p.get('to_unit')))}办理。"
    return "assigned", "已确定承办部门，正在办理。"


def _extended(p: dict[str, Any], level: LevelOf) -> Step:
    if p.get("rule") not in HANDLING_RULES and p.get("notify") != "petitioner":
        return None  # a step between offices: not the informant's date
    return "extended", f"经批准，办理期限延长至 {_date(p.get('to_due'))}。"


def _reopened(p: dict[str, Any], level: LevelOf) -> Step:
    what = p.get("kind")
    if what in ("复查", "复核"):
        return "reopened", f"已受理{what}申请。"
    return "reopened", "因新的情况重新办理。"


def _requested(p: dict[str, Any], level: LevelOf) -> Step:
    due = _date(p.get("due_on"))
    if p.get("kind") == "objection":
        return "objection", f"已收到您的异议，将记录并作出说明（{due} 前）。"
    word = REQUEST_WORDS.get(str(p.get("kind")), "复查")
    return (
        "review_requested",
        f"已收到您的{word}申请，由{_organ(level(p.get('to_unit')))}办理，{due} 前书面答复。",
    )


def _recusal(p: dict[str, Any], level: LevelOf) -> Step:
    if p.get("requested_by") != "informant":
        return None  # a staff member's own request is not the informant's business
    return "recusal_requested", "已收到您的回避申请，将作出决定。"


def _recusal_decided(p: dict[str, Any], level: LevelOf) -> Step:
    if p.get("requested_by") != "informant":
        return None
    decision = "同意回避" if p.get("decision") == "granted" else "不予回避"
    return "recusal_decided", f"您的回避申请已作出决定：{decision}。"


def _rated(p: dict[str, Any], level: LevelOf) -> Step:
    return "rated", f"您对答复的评价：{RATING_WORDS.get(str(p.get('rating')), '')}。"


_BUILT = {
    "redirect": _redirect,
    "transfer": _transfer,
    "assign": _assign,
    "deadline_extended": _extended,
    "reopened": _reopened,
    "review_requested": _requested,
    "recusal_requested": _recusal,
    "recusal_decided": _recusal_decided,
    "feedback_given": _rated,
}


def _entry(kind: str, payload: dict[str, Any], level: LevelOf) -> Step:
    """(event, text) of one audit event, or None when the informant does not see it."""
    build = _BUILT.get(kind)
    if build is not None:
        return build(payload, level)
    return _FIXED.get(kind)


def case_timeline(events: Iterable[EventLike], level: LevelOf) -> list[TimelineEntry]:
    """The informant's steps of a case, oldest first, from its audit events."""
    out: list[TimelineEntry] = []
    for e in events:
        try:
            payload = json.loads(e.payload) if e.payload else {}
        except ValueError:
            payload = {}
        found = _entry(e.kind, payload if isinstance(payload, dict) else {}, level)
        if found is not None:
            out.append(TimelineEntry(e.at, *found))
    return out


def short_timeline(entries: Iterable[TimelineEntry], last: int = 5) -> list[str]:
    """The last few steps as lines (``2026-12-01 已受理，正在办理。``), for the dialogue channels."""
    kept = list(entries)[-last:]
    return [f"{e.at.astimezone(CHINA):%Y-%m-%d} {e.text}" for e in kept]


def timeline_doc(entries: Iterable[TimelineEntry]) -> list[dict[str, str]]:
    """The JSON form (``[{at, event, text}]``) the app API and the staff API answer."""
    return [{"at": e.at.isoformat(), "event": e.event, "text": e.text} for e in entries]
