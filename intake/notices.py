"""Notice letters (告知书) for informants who can be told nothing electronically.

A real-name informant of a letter, a visit, a video session or the web form who gave no mobile
number (or where no SMS sender is mounted) is still owed what the law says they must be told: that
their report is accepted or not and where to go instead (S1 arts 13, 26; 信访工作条例 art 23), that it
went to another level, that its period was extended, the reply (答复意见) and the closure. The
notifier records each such notice as owed (``notice_letter_owed``); the console prints it as a
letter for the office to post and records it as mailed (``notice_letter_mailed``).

The letter names the case, the unit and what happened; the address block is left for the office
to write from the envelope it received: the informant's identity stays in the vault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from intake.clock import CHINA
from intake.domain import STATUS_LABELS
from storage.records import EventRecord, ReportSummary

OWED_EVENT = "notice_letter_owed"
MAILED_EVENT = "notice_letter_mailed"
SENT_EVENT = "informant_notified"

TITLES = {
    "accepted": "受理告知书",
    "not_accepted": "不予受理告知书",
    "transferred": "转办告知书",
    "replied": "答复意见书",
    "closed": "办结告知书",
    "extended": "延期办理告知书",
}


@dataclass(frozen=True)
class OwedLetter:
    seq: int  # the ``notice_letter_owed`` event's place in the audit chain: the letter's id
    at: datetime
    kind: str  # a key of TITLES
    title: str
    mailed_at: datetime | None


@dataclass(frozen=True)
class Letter:
    title: str
    case_no: str
    unit: str
    date: str
    paragraphs: tuple[str, ...]


def letter_kind(template: str, params: Mapping[str, Any]) -> str | None:
    """Which letter a notifier event calls for, or None when the law owes no letter for it (an
    assignment inside the office, a reminder)."""
    if template == "replied":
        return "replied"
    if template == "deadline":
        return "extended" if params.get("notice") == "extended" else None
    if template == "status_changed":
        status = str(params.get("status"))
        return status if status in ("accepted", "not_accepted", "transferred", "closed") else None
    return None


def owed_letters(events: Iterable[EventRecord]) -> list[OwedLetter]:
    """The letters a case owes its informant, oldest first, each with when it was mailed (or None)."""
    mailed: dict[int, datetime] = {}
    owed: list[tuple[EventRecord, str]] = []
    for e in events:
        payload = _payload(e)
        if e.kind == MAILED_EVENT and isinstance(payload.get("letter"), int):
            mailed[payload["letter"]] = e.at
        elif e.kind == OWED_EVENT and str(payload.get("letter")) in TITLES:
            owed.append((e, str(payload["letter"])))
    return [OwedLetter(e.seq, e.at, kind, TITLES[kind], mailed.get(e.seq)) for e, kind in owed]


def sent_notices(events: Iterable[EventRecord]) -> list[tuple[datetime, str]]:
    """(when, over which channel) of every notice that reached the informant electronically."""
    return [(e.at, str(_payload(e).get("channel", ""))) for e in events if e.kind == SENT_EVENT]


def compose(
    kind: str,
    report: ReportSummary,
    *,
    unit_name: str,
    at: datetime,
    handling_unit: str | None = None,
    lookup: str = "",
) -> Letter:
    """The letter's text, in the office's words, for a case as it stands."""
    received = report.received_at.astimezone(CHINA)
    opening = f"您于{received:%Y年%m月%d日}向本机关反映的问题（编号：{report.case_no}）"
    reply = _last_reply(report)
    body: list[str]
    if kind == "accepted":
        body = [f"{opening}，本机关已依规受理，正在办理。办理结果将另行告知。"]
    elif kind == "not_accepted":
        body = [f"{opening}，经审查不属于本机关受理范围。"]
        if reply:
            body.append(reply)
    elif kind == "transferred":
        where = handling_unit or "有权处理的机关"
        body = [f"{opening}，已依规转交{where}办理。后续办理情况由承办机关告知。"]
    elif kind == "extended":
        body = [f"{opening}，因情况复杂，办理期限已依规延长，我们将在延长的期限内答复您。"]
    elif kind == "replied":
        body = [f"{opening}，现答复如下：", reply or "（答复意见见附件。）"]
        if report.scope == "petition":  # 信访工作条例 art 35
            body.append(
                "如对处理意见不服，可以自收到本答复意见书之日起三十日内请求原办理机关的上一级机关复查。"
            )
        else:  # S1 art 27
            body.append("如对办理结果有异议，可以向本机关提出，我们将如实记录并予以说明。")
    elif kind == "closed":
        body = [f"{opening}，已办理完毕。感谢您对纪检监察工作的支持与监督。"]
    else:
        raise ValueError(f"no letter of kind {kind!r}")
    if lookup:
        body.append(lookup)
    status = STATUS_LABELS.get(report.status, "")
    if status:
        body.append(f"截至发函之日，本件的办理状态为“{status}”。")
    return Letter(
        TITLES[kind], report.case_no, unit_name, f"{at.astimezone(CHINA):%Y年%m月%d日}", tuple(body)
    )


def _last_reply(report: ReportSummary) -> str | None:
    replies = [m.body for m in report.messages if m.direction == "out"]
    return replies[-1] if replies else None


def _payload(e: EventRecord) -> dict[str, Any]:
    try:
        doc = json.loads(e.payload)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
