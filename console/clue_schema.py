"""The staff API's shapes for problem clues (线索处置, issue 18): the clue on the case view and the
receiving unit's list of results reported back to it."""

from __future__ import annotations

from pydantic import Field

from channels.schema import DateTime, ResponseModel

# The clue's parts of the action request's documentation (console.schema.ActionRequest).
CLUE_ACTIONS_DOC = (
    "线索处置 (clue_propose: method, reason, leader_case; clue_approve: approval at the Party "
    "committee's level; clue_return: reason; clue_answered: text; clue_plan: text; clue_report: "
    "outcome, text, leader_case; clue_reactivate: reason — see docs/clues.md)"
)
CLUE_METHOD_DOC = "clue_propose: talk | letter | verify | shelve | conclude (监督执纪工作规则第二十一条)"
CLUE_OUTCOMES_DOC = (
    ". clue_report: after a talk or letter accepted_conclusion | talk_reminder | again_talk | "
    "again_letter | verify (规则第三十条); after 初步核实 case_opened | conclude | talk_reminder | "
    "shelve | handed_over (规则第三十五条)"
)


class ClueUnit(ResponseModel):
    id: str
    name: str | None


class ClueApproval(ResponseModel):
    level: str = Field(
        description="review 承办部门负责人审核 | leader 纪检监察机关主要负责人审批 | "
        "committee 同级党委主要负责人批准"
    )
    level_label: str
    by: str | None = Field(description="Who gave it (for the committee's: who recorded it)")
    at: DateTime | None
    reference: str | None = Field(description="committee: the approval's reference (批件文号或批示)")


class ClueView(ResponseModel):
    state: str = Field(description="received | pending | inquiry | answered | verifying | shelved | done")
    state_label: str
    handling_unit: ClueUnit
    receiving_unit: ClueUnit
    method: str | None = Field(
        description="The method approved last: talk | letter | verify | shelve | conclude"
    )
    method_label: str | None
    stage: str | None = Field(
        description="The step proposed or decided last: disposal | inquiry_report | verify_report"
    )
    stage_label: str | None
    proposal: str | None = Field(description="The method or result awaiting approval")
    proposal_label: str | None
    proposal_reason: str | None
    proposed_by: str | None
    proposed_at: DateTime | None
    approvals: list[ClueApproval] = Field(
        description="The approvals given so far to the pending proposal, or to the one approved last"
    )
    waiting_for: list[ClueApproval] = Field(
        description="The approvals the pending proposal still needs, in order (by, at, reference null)"
    )
    leader_case: bool = Field(
        description="The accused is a main leader of a unit under the commission "
        "(规则第二十二条、第二十七条、第三十三条)"
    )
    approved_by: str | None
    approved_at: DateTime | None
    plan: str | None = Field(description="初步核实工作方案")
    result: str | None = Field(description="How the clue ended (state done)")
    result_label: str | None
    rounds: int = Field(description="谈话函询 rounds approved")
    reported_at: DateTime | None = Field(description="When the result was reported to the receiving unit")
    opened_at: DateTime
    next_steps: list[str] = Field(description="The clue actions its state allows (roles permitting)")


class ClueResult(ResponseModel):
    case_no: str
    handling_unit: ClueUnit
    receiving_unit: ClueUnit
    method: str | None
    method_label: str | None
    result: str | None
    result_label: str | None
    reported_at: DateTime


class ClueResultList(ResponseModel):
    results: list[ClueResult] = Field(
        description="Results of clues reported back to the caller's unit (and, for supervisors, the "
        "units below) as the receiving unit; never a case sent up sealed"
    )
