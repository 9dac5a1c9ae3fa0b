"""The staff API's shapes for the inbox (待办提醒, issue 18): the alerts of the caller's unit with
the caller's read state, and the request that marks them read."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from channels.schema import RequestModel, ResponseModel

MAX_MARKED = 200


class InboxItem(ResponseModel):
    id: int
    case_no: str | None = Field(description="The case the alert is about (none for a walk-in)")
    kind: str = Field(
        description="deadline_yellow 期限临近 | deadline_red 期限已超 | supervision 收到督办函 | "
        "supervision_answered | supervision_returned | supervision_closed | reception_walk_in 现场来访"
    )
    kind_label: str
    deadline_label: str | None = Field(description="The deadline's name, for a deadline alert")
    due_on: str | None = Field(description="The deadline's due date (China date)")
    colour: str | None = Field(description="yellow (≤ 5 working days) | red (overdue) | null")
    at: str = Field(description="When the alert was raised")
    mail: str | None = Field(
        description="The e-mail's state when a mail server is set: pending | sent | retrying | failed"
    )
    mail_label: str | None
    read: bool = Field(description="Read by the caller (or handled)")
    handled: bool
    text: str | None = Field(description="A walk-in's line (no citizen named)")
    link: str | None = Field(description="A walk-in's room, while it waits")


class Inbox(ResponseModel):
    alerts: list[InboxItem] = Field(description="The unit's alerts, newest first")
    unread: int = Field(description="How many the caller has not read (the console header's count)")


MAX_ALERT_ID = 2**31 - 1  # the alerts' integer key
AlertId = Annotated[int, Field(ge=1, le=MAX_ALERT_ID)]


class InboxRead(RequestModel):
    """One of the two: ``alert_ids`` or ``all: true`` (the route refuses neither and both)."""

    alert_ids: list[AlertId] | None = Field(
        None, min_length=1, max_length=MAX_MARKED, description="The alerts to mark read"
    )
    all: bool = Field(False, description="true: mark every alert of the unit read")


class InboxMarked(ResponseModel):
    marked: int = Field(description="How many alerts were newly marked read")
