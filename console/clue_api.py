"""The staff API's clue parts (线索处置, issue 18): the ``clue`` of the case view and
``GET /api/v1/staff/clues/reported`` — the results reported back to the caller's unit as the
receiving unit (纪检监察机关处理检举控告工作规则 art 18, S1: the handling side tells the 信访举报 side how it
ended), which the receiving unit sees even when the case itself is now out of its sight."""

from __future__ import annotations

from typing import Any

from console import clue_schema
from intake.staff import OrgTree
from intake.workflow.clues import (
    CLUE_STATE_LABELS,
    STAGES,
    ClueRecord,
    approvals_shown,
    label_of,
    next_steps,
    pending_levels,
)


def _unit(tree: OrgTree, code: str) -> dict[str, Any]:
    return {"id": code, "name": tree.name(code)}


def _at(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def clue_doc(clue: ClueRecord | None, tree: OrgTree) -> dict[str, Any] | None:
    if clue is None:
        return None
    return {
        "state": clue.state,
        "state_label": CLUE_STATE_LABELS.get(clue.state, clue.state),
        "handling_unit": _unit(tree, clue.handling_unit),
        "receiving_unit": _unit(tree, clue.receiving_unit),
        "method": clue.method,
        "method_label": label_of("disposal", clue.method),
        "stage": clue.stage,
        "stage_label": STAGES[clue.stage][0] if clue.stage in STAGES else None,
        "proposal": clue.proposal,
        "proposal_label": label_of(clue.stage, clue.proposal),
        "proposal_reason": clue.proposal_reason,
        "proposed_by": clue.proposed_by,
        "proposed_at": _at(clue.proposed_at),
        "approvals": approvals_shown(clue),
        "waiting_for": [
            {"level": lv.code, "level_label": lv.label, "by": None, "at": None, "reference": None}
            for lv in pending_levels(clue)
        ],
        "leader_case": clue.leader_case,
        "approved_by": clue.approved_by,
        "approved_at": _at(clue.approved_at),
        "plan": clue.plan,
        "result": clue.result,
        "result_label": label_of(clue.stage, clue.result),
        "rounds": clue.rounds,
        "reported_at": _at(clue.reported_at),
        "opened_at": clue.opened_at.isoformat(),
        "next_steps": list(next_steps(clue)),
    }


def result_docs(rows: list[Any], tree: OrgTree) -> dict[str, Any]:
    return clue_schema.ClueResultList.render(
        {
            "results": [
                {
                    "case_no": r.case_no,
                    "handling_unit": _unit(tree, r.handling_unit),
                    "receiving_unit": _unit(tree, r.receiving_unit),
                    "method": r.method,
                    "method_label": label_of("disposal", r.method),
                    "result": r.result,
                    "result_label": label_of(None, r.result),
                    "reported_at": r.reported_at.isoformat(),
                }
                for r in rows
            ]
        }
    )
