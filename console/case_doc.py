"""The staff API's case view (``GET /api/v1/staff/reports/{case_no}`` and every action's answer):
the case, its workflow, deadlines, the informant's feedback and requests, its problem clue and its
timeline, shaped by :class:`console.schema.Case`."""

from __future__ import annotations

import json
from typing import Any

from console import schema
from console.clue_api import clue_doc
from intake.case_fields import case_fields
from intake.informant import CaseRequests
from intake.workflow import CaseView, Workflow
from intake.workflow.supervision import NOTICE_STATUS


def notice_doc(n: Any, tree: Any) -> dict[str, Any]:
    """A supervision notice (督办函) as the case document shows it."""
    return {
        "id": n.id,
        "from_unit": {"id": n.from_unit, "name": tree.name(n.from_unit)},
        "to_unit": {"id": n.to_unit, "name": tree.name(n.to_unit)},
        "reason": n.reason,
        "reply_due": n.reply_due.isoformat() if n.reply_due else None,
        "status": n.status,
        "status_label": NOTICE_STATUS[n.status],
        "answer": n.answer,
        "created_by": n.created_by,
        "created_at": n.created_at.isoformat(),
        "answered_at": n.answered_at.isoformat() if n.answered_at else None,
        "closed_at": n.closed_at.isoformat() if n.closed_at else None,
    }


def case_doc(view: CaseView, workflow: Workflow, requests: CaseRequests | None = None) -> dict[str, Any]:
    r, s = view.report, view.state
    triage = r.triage or {}
    tree = workflow.tree
    doc = {
        "case_no": r.case_no,
        "channel": r.channel,
        "channels": [{"case_no": r.case_no, "channel": r.channel}]
        + [{"case_no": c, "channel": ch} for c, ch in view.merged],
        **case_fields(r),
        "informant": r.informant_alias,
        "anonymous": r.anonymous,
        "received_at": r.received_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "receiving_unit": {"id": r.receiving_unit, "name": tree.name(r.receiving_unit)},
        "owner_unit": {"id": s.owner_unit, "name": tree.name(s.owner_unit)},
        "handler": s.handler,
        "sealed": s.sealed,
        "merged_into": s.merged_into,
        "review_stage": s.review_stage,
        "attachments": r.attachments,
        "triage": {
            k: triage.get(k)
            for k in (
                "category",
                "scope",
                "level",
                "unit",
                "priority",
                "confidence",
                "explanations",
                "duplicate_of",
                "needs_review",
                "transfer",
                "advice",
                "redirect_to",
            )
        }
        if triage
        else None,
        "deadlines": [
            {
                "id": d.id,
                "rule": d.rule,
                "label": workflow.label(d.rule),
                "unit": d.unit_code,
                "start_on": d.start_on.isoformat(),
                "due_on": d.due_on.isoformat(),
                "extensions": d.extensions,
                "status": d.status,
                **dict(zip(("colour", "colour_label"), workflow.colour(d.due_on, d.status), strict=True)),
            }
            for d in view.deadlines
        ],
        "supervision_notices": [notice_doc(n, tree) for n in view.notices],
        "transfers": [
            {
                "kind": t.kind,
                "from_unit": t.from_unit,
                "to_unit": t.to_unit,
                "to_organ": t.to_organ,
                "sealed": t.sealed,
                "actor": t.actor,
                "at": t.at.isoformat(),
            }
            for t in view.transfers
        ],
        "recusals": [
            {
                "id": q.id,
                "requested_by": q.requested_by,
                "target": q.target,
                "status": q.status,
                "at": q.at.isoformat(),
            }
            for q in view.recusals
        ],
        "feedback": [
            {
                "rating": f.rating,
                "comment": f.comment,
                "channel": f.channel,
                "reply_at": f.reply_at.isoformat(),
                "at": f.at.isoformat(),
            }
            for f in (requests.feedback if requests else [])
        ],
        "reviews": [
            {
                "id": q.id,
                "kind": q.kind,
                "reason": q.reason,
                "from_unit": q.from_unit,
                "to_unit": q.to_unit,
                "channel": q.channel,
                "at": q.at.isoformat(),
                "due_on": q.due_on.isoformat(),
            }
            for q in (requests.reviews if requests else [])
        ],
        "thread": [
            {"direction": m.direction, "channel": m.channel, "at": m.at.isoformat(), "text": m.body}
            for m in r.messages
        ],
        "clue": clue_doc(view.clue, tree),
        "timeline": [
            {
                "seq": e.seq,
                "kind": e.kind,
                "actor": e.actor,
                "at": e.at.isoformat(),
                "payload": json.loads(e.payload),
            }
            for e in view.events
        ],
    }
    return schema.Case.render(doc)
