"""Clue disposal (线索处置, 监督执纪工作规则 chapters 4–6; issue 18): an accusation (检举控告)
accepted by a unit becomes a problem clue (问题线索) of that unit, and is disposed of by one of the
four methods of art 21 — 谈话函询 (talk or letter inquiry), 初步核实 (preliminary verification),
暂存待查 (shelve for later), 予以了结 (close) — each proposed by the handling department with its
reason and approved level by level (:func:`approval_levels`): the department head's review
(承办部门负责人审核, art 21 ¶2 "履行审批手续"), the commission's main leader (主要负责人审批) for
初步核实 and its report (arts 33, 35 ¶3; 实施条例 arts 176, 179) and for a talk or letter to a main
leader of a unit below (art 27), and the same-level Party committee's main leader (同级党委主要负责人
批准, recorded with its reference) for 初步核实 of such a leader (art 33). A clue about such a leader
is also reported to the commission above as it is disposed of (art 22)::

    received ─propose→ pending ─approve→ inquiry (谈话/函询) ─answer→ answered ─report→ pending ─approve→ …
        ↑                 │                verifying ─plan→ verifying ─report (初核报告)→ pending ─approve→ …
        │                 └─return→ (back to where it was)
        └─reactivate── shelved            done (了结, 谈话提醒, 拟立案审查调查, 移送)

    pending ─approve (a level; more to come)→ pending

Deadlines: the disposal opinion within one month of receiving the clue (art 21 ¶2,
``clue_disposal_opinion``, met by the approval), the letter's answer within 15 working days
(art 29, ``hanxun_reply``, opened when a 函询 is approved), the report and disposal opinion within
one month of the talk or the answer (art 30, ``clue_inquiry_report``). When the clue ends, its
result is reported back to the unit that received the report if another unit handled it (S1
art 18). Each step is one :class:`~storage.workflow_store.CaseChange` (the clue row, the
deadlines and the audit event in one transaction)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from intake.errors import ValidationError
from intake.notifier import CaseEvent
from intake.staff import SUPERVISING_ROLES, Forbidden, StaffMember
from intake.workflow.core import Action, WorkflowBase, WorkflowError, china_date
from storage.clue_store import ANY_STATE, ClueRecord, ClueWrite
from storage.records import ReportSummary
from storage.workflow_store import CaseChange, CaseStateRecord


@dataclass(frozen=True)
class Disposal:
    """One choice a proposal can make: what it is called, its article, and where approval takes
    the clue (``inquiry``, ``verifying``, ``shelved`` or ``done``)."""

    code: str
    label: str
    basis: str
    then: str
    form: str | None = None  # inquiry: talk | letter


# The four methods of art 21 (谈话函询 split into 谈话 and 函询, as 实施条例 art 174 does).
METHODS: tuple[Disposal, ...] = (
    Disposal("talk", "谈话函询（谈话）", "监督执纪工作规则第二十一条、第二十八条", "inquiry", "talk"),
    Disposal("letter", "谈话函询（函询）", "监督执纪工作规则第二十一条、第二十九条", "inquiry", "letter"),
    Disposal("verify", "初步核实", "监督执纪工作规则第二十一条、第三十三条", "verifying"),
    Disposal("shelve", "暂存待查", "监督执纪工作规则第二十一条", "shelved"),
    Disposal("conclude", "予以了结", "监督执纪工作规则第二十一条", "done"),
)
# After the talk or the letter's answer (art 30 (一)–(三)).
INQUIRY_RESULTS: tuple[Disposal, ...] = (
    Disposal("accepted_conclusion", "予以采信了结，并发函反馈", "监督执纪工作规则第三十条第一项", "done"),
    Disposal(
        "talk_reminder", "谈话提醒、批评教育、责令检查或诫勉谈话", "监督执纪工作规则第三十条第二项", "done"
    ),
    Disposal("again_talk", "再次谈话", "监督执纪工作规则第三十条第三项", "inquiry", "talk"),
    Disposal("again_letter", "再次函询", "监督执纪工作规则第三十条第三项", "inquiry", "letter"),
    Disposal("verify", "提出初步核实建议", "监督执纪工作规则第三十条第三项", "verifying"),
)
# After the preliminary verification (art 35 ¶2).
VERIFY_RESULTS: tuple[Disposal, ...] = (
    Disposal("case_opened", "拟立案审查调查", "监督执纪工作规则第三十五条", "done"),
    Disposal("conclude", "予以了结", "监督执纪工作规则第三十五条", "done"),
    Disposal("talk_reminder", "谈话提醒", "监督执纪工作规则第三十五条", "done"),
    Disposal("shelve", "暂存待查", "监督执纪工作规则第三十五条", "shelved"),
    Disposal("handed_over", "移送有关党组织处理", "监督执纪工作规则第三十五条", "done"),
)
# What a pending proposal is about, and the choices it has.
STAGES: dict[str, tuple[str, tuple[Disposal, ...]]] = {
    "disposal": ("处置意见", METHODS),
    "inquiry_report": ("谈话函询情况报告和处置意见", INQUIRY_RESULTS),
    "verify_report": ("初步核实情况报告和处置建议", VERIFY_RESULTS),
}
CLUE_STATE_LABELS = {
    "received": "待提出处置意见",
    "pending": "待领导审批",
    "inquiry": "谈话函询中",
    "answered": "谈话函询已结束，待写出情况报告",
    "verifying": "初步核实中",
    "shelved": "暂存待查",
    "done": "已处置完毕",
}
ALL_LABELS = {d.code: d.label for d in (*METHODS, *INQUIRY_RESULTS, *VERIFY_RESULTS)}
CLUE_RULES = ("clue_disposal_opinion", "hanxun_reply", "clue_inquiry_report")


@dataclass(frozen=True)
class Level:
    """One approval a proposal needs: what it is called, who may give it, on what basis, and
    whether it is given outside the commission (recorded by its staff with the approval's reference:
    批件文号 or 批示)."""

    code: str
    label: str
    roles: tuple[str, ...]
    basis: str
    external: bool = False


REVIEW = Level("review", "承办部门负责人审核", SUPERVISING_ROLES, "监督执纪工作规则第二十一条第二款")
LEADER = Level("leader", "纪检监察机关主要负责人审批", ("leader",), "监督执纪工作规则第三十五条第三款")
COMMITTEE = Level(
    "committee", "同级党委主要负责人批准", SUPERVISING_ROLES, "监督执纪工作规则第三十三条", external=True
)
APPROVAL_LABELS = {lv.code: lv.label for lv in (REVIEW, LEADER, COMMITTEE)}
MAX_REFERENCE = 200


def approval_levels(stage: str, found: Disposal, leader_case: bool) -> tuple[Level, ...]:
    """The approvals a proposal needs, in order. 初步核实 — proposed at disposal or after a talk
    (art 30 (三)) — and the verification report go to the main leader (实施条例 art 179: the report
    is approved as the verification was; 规则 art 35 ¶3); a talk or letter to a main leader of a
    unit below too (art 27); 初步核实 of such a leader also needs the same-level Party committee's
    main leader (art 33)."""
    verify = found.then == "verifying"
    levels = [REVIEW]
    if stage == "verify_report":
        levels.append(LEADER)
    elif verify:
        levels.append(replace(LEADER, basis="监督执纪工作规则第三十三条、监察法实施条例第一百七十六条"))
    elif found.then == "inquiry" and leader_case:
        levels.append(replace(LEADER, basis="监督执纪工作规则第二十七条"))
    if verify and leader_case:
        levels.append(COMMITTEE)
    return tuple(levels)


def given(clue: ClueRecord) -> list[dict[str, Any]]:
    """The approvals given so far to the clue's pending proposal, or to the one approved last."""
    loaded = json.loads(clue.approvals) if clue.approvals else []
    return loaded if isinstance(loaded, list) else []


def pending_levels(clue: ClueRecord) -> tuple[Level, ...]:
    """The approvals the pending proposal still waits for (none when nothing is pending)."""
    if clue.state != "pending":
        return ()
    stage = clue.stage or "disposal"
    found = choice(stage, clue.proposal)
    if found is None:
        return ()
    return approval_levels(stage, found, clue.leader_case)[len(given(clue)) :]


def approvals_shown(clue: ClueRecord) -> list[dict[str, Any]]:
    """The approvals given (to the pending proposal, or to the one approved last) as the staff API
    and the case page show them: level, its label, who, when, and an outside approval's reference."""
    return [
        {
            "level": g.get("level"),
            "level_label": APPROVAL_LABELS.get(g.get("level", ""), ""),
            "by": g.get("by"),
            "at": g.get("at"),
            "reference": g.get("reference"),
        }
        for g in given(clue)
    ]


def _refusal(
    member: StaffMember, clue: ClueRecord, levels: tuple[Level, ...], before: list[dict[str, Any]]
) -> Forbidden | None:
    """Why ``member`` may not give the next of ``levels`` (the proposer, an approver of an earlier
    level, the wrong role), or None: the one rule for the approval and for the console's form."""
    own = _own_proposal(member, clue)
    if own is not None:
        return own
    if any(g.get("by") == member.actor for g in before):
        return Forbidden("您已审批过本意见，下一级审批须由其他负责人进行。", code="approved_already")
    level = levels[len(before)]
    if member.role not in level.roles:
        return Forbidden(f"本意见下一步须经{level.label}（{level.basis}）。", code="approval_level")
    return None


def may_approve(member: StaffMember, clue: ClueRecord) -> bool:
    """Whether ``member`` may give the next approval of the clue's pending proposal."""
    stage = clue.stage or "disposal"
    found = choice(stage, clue.proposal) if clue.state == "pending" else None
    if found is None:
        return False
    levels, before = approval_levels(stage, found, clue.leader_case), given(clue)
    return len(before) < len(levels) and _refusal(member, clue, levels, before) is None


def choice(stage: str, code: str | None) -> Disposal | None:
    return next((d for d in STAGES[stage][1] if d.code == code), None)


def label_of(stage: str | None, code: str | None) -> str | None:
    """The label of a method or result, read in the stage it was chosen in (``verify`` is 初步核实
    at disposal and 提出初步核实建议 after a talk)."""
    if code is None:
        return None
    found = choice(stage, code) if stage in STAGES else None
    return found.label if found else ALL_LABELS.get(code, code)


def is_clue(report: ReportSummary) -> bool:
    """An accusation (检举控告) about a Party member or public official: accepted, it is a clue."""
    return report.scope == "accusation"


async def open_clue(
    wf: WorkflowBase, report: ReportSummary, unit: str, change: CaseChange, now: datetime
) -> None:
    """On acceptance: the clue (again, after a transfer) at the accepting unit, with its one-month
    disposal deadline (art 21 ¶2). A clue already disposed of stays as it is."""
    if not is_clue(report):
        return
    have = await wf._db.clues.clue(report.id)
    if have is not None and have.state == "done":
        return
    change.clue = ClueWrite(ANY_STATE, _fresh(unit, report.receiving_unit))
    change.deadlines.append(wf._deadline("clue_disposal_opinion", unit, china_date(now)))
    change.also_events.append((report.id, "clue_opened", {"unit": unit}))


def _fresh(unit: str, receiving: str) -> dict[str, Any]:
    return {
        "state": "received",
        "handling_unit": unit,
        "receiving_unit": receiving,
        "method": None,
        "stage": None,
        "result": None,
        "plan": None,
        "reported_at": None,
        "leader_case": False,
        **_no_proposal(),
    }


def _no_proposal() -> dict[str, Any]:
    return {
        "proposal": None,
        "proposal_reason": None,
        "proposed_by": None,
        "proposed_at": None,
        "approvals": None,
    }


async def _clue(
    wf: WorkflowBase, member: StaffMember, report: ReportSummary, state: CaseStateRecord, *states: str
) -> ClueRecord:
    """The case's clue, if it is in one of ``states`` and ``member`` belongs to the handling unit."""
    clue = await wf._db.clues.clue(report.id)
    if clue is None:
        raise WorkflowError("本案不是问题线索（未作为检举控告受理）。", code="not_a_clue")
    if member.unit != state.owner_unit:
        raise Forbidden("只有承办单位的人员可以处置本线索。", code="not_handling_unit")
    if clue.state not in states:
        label = CLUE_STATE_LABELS.get(clue.state, clue.state)
        raise WorkflowError(f"线索当前为“{label}”，不能进行此操作。", code="invalid_clue_step")
    return clue


def _step(change: CaseChange, kind: str, clue: ClueRecord, to: str, values: dict[str, Any]) -> None:
    change.status = None
    change.event_kind = kind
    change.event_payload |= {"clue_from": clue.state, "clue_to": to}
    change.clue = ClueWrite(clue.state, {"state": to, **values})


async def propose(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """承办部门提出处置意见 (art 21): one of the four methods, with the reason."""
    clue = await _clue(wf, member, report, state, "received")
    found = choice("disposal", a.method)
    if found is None:
        names = "、".join(d.label for d in METHODS)
        raise ValidationError(f"请选择处置方式：{names}。", code="invalid_method")
    _propose(wf, member, clue, "disposal", found, a.reason, change, now, leader_case=a.leader_case)
    return None


async def report_result(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """The report after the talk or letter (art 30) or the 初步核实情况报告 (art 35), with the
    disposal it proposes."""
    clue = await _clue(wf, member, report, state, "answered", "verifying")
    stage = "inquiry_report" if clue.state == "answered" else "verify_report"
    if stage == "verify_report" and not clue.plan:
        raise WorkflowError("请先制定初步核实工作方案（规则第三十三条）。", code="plan_required")
    found = choice(stage, a.outcome)
    if found is None:
        names = "、".join(d.label for d in STAGES[stage][1])
        raise ValidationError(f"处置建议只能是：{names}。", code="invalid_outcome")
    _propose(wf, member, clue, stage, found, a.reason or a.text, change, now, leader_case=a.leader_case)
    return None


def _propose(
    wf: WorkflowBase,
    member: StaffMember,
    clue: ClueRecord,
    stage: str,
    found: Disposal,
    reason: str | None,
    change: CaseChange,
    now: datetime,
    *,
    leader_case: bool,
) -> None:
    """The proposal, waiting for its first approval. ``leader_case``: the proposer says the accused
    is a main leader of a unit under the commission (a fact that stays with the clue once said)."""
    text = wf._text(reason, "理由" if stage == "disposal" else "情况报告")
    leader_case = leader_case or clue.leader_case
    levels = approval_levels(stage, found, leader_case)
    _step(
        change,
        "clue_proposed",
        clue,
        "pending",
        {
            "stage": stage,
            "proposal": found.code,
            "proposal_reason": text,
            "proposed_by": member.actor,
            "proposed_at": now,
            "prior_state": clue.state,
            "approvals": None,
            "leader_case": leader_case,
        },
    )
    change.event_payload |= {
        "stage": stage,
        "proposal": found.code,
        "reason_chars": len(text),
        "levels": [lv.code for lv in levels],
        "leader_case": leader_case,
    }


async def approve(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """One approval of the pending proposal (逐级审批, arts 21 ¶2, 27, 33, 35 ¶3): its next level;
    with the last, the proposal takes effect. A main leader giving the department head's review
    gives their own level with it; an approval outside the commission needs its reference. The
    write expects the levels given before it, so two approvals of one level cannot both count."""
    clue = await _clue(wf, member, report, state, "pending")
    _not_own(member, clue)  # before the table is read, as for a return (_refusal asks it again)
    stage = clue.stage or "disposal"
    found = choice(stage, clue.proposal)
    if found is None:  # a proposal of a stage that no longer offers it (a changed table)
        raise WorkflowError("待审批的意见已失效，请退回重新提出。", code="invalid_clue_step")
    before = given(clue)
    levels = approval_levels(stage, found, clue.leader_case)
    refused = _refusal(member, clue, levels, before)
    if refused is not None:
        raise refused
    gave = _levels_given(member, levels, before, a, now)
    after = [*before, *gave]
    # The audit chain keeps the levels given and an outside approval's reference (a 批件文号 or
    # 批示: the approval itself, not the case's facts).
    payload: dict[str, Any] = {"stage": stage, "levels": [g["level"] for g in gave]}
    if "reference" in gave[0]:
        payload["reference"] = gave[0]["reference"]
    if len(after) < len(levels):
        _step(change, "clue_reviewed", clue, "pending", {"approvals": json.dumps(after, ensure_ascii=False)})
        change.event_payload |= payload | {"proposal": found.code, "next_level": levels[len(after)].code}
    else:
        _take_effect(wf, report, state, clue, stage, found, change, member, now, after)
        change.event_payload |= payload | {"decision": found.code}
    assert change.clue is not None
    change.clue.expect = {"approvals": clue.approvals}
    return None


def _levels_given(
    member: StaffMember, levels: tuple[Level, ...], before: list[dict[str, Any]], a: Action, now: datetime
) -> list[dict[str, Any]]:
    """The level ``member`` (allowed to, :func:`_refusal`) gives now, with the main leader's own
    after a review by the main leader; an outside approval needs its reference."""
    level = levels[len(before)]
    entry: dict[str, Any] = {"level": level.code, "by": member.actor, "at": now.isoformat()}
    if level.external:
        reference = " ".join((a.approval or "").split())
        if not reference:
            raise ValidationError(
                f"请填写{level.label}的批准文号或批示（{level.basis}）。", code="approval_reference_required"
            )
        if len(reference) > MAX_REFERENCE:
            raise ValidationError(
                f"批准文号或批示不能超过{MAX_REFERENCE}字。", code="approval_reference_too_long"
            )
        entry["reference"] = reference
    gave = [entry]
    following = levels[len(before) + 1] if len(levels) > len(before) + 1 else None
    if (
        level.code == "review"
        and following is not None
        and following.code == "leader"
        and member.role in following.roles
    ):
        gave.append({"level": "leader", "by": member.actor, "at": now.isoformat()})
    return gave


def _take_effect(
    wf: WorkflowBase,
    report: ReportSummary,
    state: CaseStateRecord,
    clue: ClueRecord,
    stage: str,
    found: Disposal,
    change: CaseChange,
    member: StaffMember,
    now: datetime,
    approvals: list[dict[str, Any]],
) -> None:
    """The last approval: the proposal takes effect (its deadlines, where the clue goes, the
    report back and, for a main leader's clue, the report upward). The ``approvals`` given stay
    on the row until the next proposal."""
    values: dict[str, Any] = {
        "approved_by": member.actor,
        "approved_at": now,
        **_no_proposal(),
        "approvals": json.dumps(approvals, ensure_ascii=False),
    }
    change.close_deadlines = {
        "clue_disposal_opinion" if stage == "disposal" else "clue_inquiry_report": "met"
    }
    if found.then == "inquiry":
        values |= {"method": found.code if stage == "disposal" else found.form, "rounds": clue.rounds + 1}
        if found.form == "letter":
            # Art 29: the person inquired of answers within 15 working days of the letter; the
            # letter goes out on approval (the office's 函 the same day), so the period runs from it.
            change.deadlines.append(wf._deadline("hanxun_reply", state.owner_unit, china_date(now)))
    elif found.then == "verifying":
        values |= {"method": "verify", "plan": None}
    elif found.then == "shelved":
        values |= {"method": found.code} if stage == "disposal" else {}
    else:
        values |= {"result": found.code} | ({"method": found.code} if stage == "disposal" else {})
        _report_back(report, state, change, values, found, now)
    _step(change, "clue_approved", clue, found.then, values)
    if clue.leader_case:
        _report_up(wf, report, state, change, stage, found)


def _report_up(
    wf: WorkflowBase,
    report: ReportSummary,
    state: CaseStateRecord,
    change: CaseChange,
    stage: str,
    found: Disposal,
) -> None:
    """Art 22: a clue about a main leader of a unit under the commission, and how it is disposed
    of, is reported to the commission above as each decision takes effect."""
    above = next(iter(wf.tree.ancestors(state.owner_unit)), None)
    if above is None:
        return
    payload = {"to_unit": above, "from_unit": state.owner_unit, "stage": stage, "decision": found.code}
    change.also_events.append((report.id, "clue_reported_up", payload))


def _report_back(
    report: ReportSummary,
    state: CaseStateRecord,
    change: CaseChange,
    values: dict[str, Any],
    found: Disposal,
    now: datetime,
) -> None:
    """S1 art 18: the handling unit tells the receiving unit how the clue ended — unless it is the
    same unit, or the case went up sealed (the receiving unit must not learn of it, S1 art 15)."""
    if report.receiving_unit == state.owner_unit or state.sealed:
        return
    values["reported_at"] = now
    change.also_events.append(
        (
            report.id,
            "clue_result_reported",
            {"to_unit": report.receiving_unit, "from_unit": state.owner_unit, "result": found.code},
        )
    )


def _own_proposal(member: StaffMember, clue: ClueRecord) -> Forbidden | None:
    # 承办部门提出意见 → 领导批准: never the same person (the table lets only supervisors approve).
    if clue.proposed_by == member.actor:
        return Forbidden("提出意见的人不能审批自己的意见，请由其他负责人审批。", code="own_proposal")
    return None


def _not_own(member: StaffMember, clue: ClueRecord) -> None:
    own = _own_proposal(member, clue)
    if own is not None:
        raise own


async def return_proposal(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """退回: the leader sends the proposal back, with the reason; the clue is where it was."""
    clue = await _clue(wf, member, report, state, "pending")
    _not_own(member, clue)
    reason = wf._text(a.reason, "退回理由")
    _step(change, "clue_returned", clue, clue.prior_state or "received", _no_proposal())
    change.event_payload |= {"stage": clue.stage, "proposal": clue.proposal, "reason_chars": len(reason)}
    return None


async def answered(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """The talk was held (谈话笔录, art 28) or the letter's answer arrived (art 29): the report and
    disposal opinion are due within one month (art 30)."""
    clue = await _clue(wf, member, report, state, "inquiry")
    summary = wf._text(a.text, "谈话情况或函询回复摘要")
    change.close_deadlines = {"hanxun_reply": "met"}
    change.deadlines.append(wf._deadline("clue_inquiry_report", state.owner_unit, china_date(now)))
    _step(change, "clue_answered", clue, "answered", {})
    change.event_payload |= {"form": clue.method, "chars": len(summary)}
    return None


async def plan(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """初步核实工作方案 and 核查组 (art 33), before the verification report."""
    clue = await _clue(wf, member, report, state, "verifying")
    text = wf._text(a.text, "初步核实工作方案")
    _step(change, "clue_plan", clue, "verifying", {"plan": text})
    change.event_payload["chars"] = len(text)
    return None


async def reactivate(
    wf: WorkflowBase,
    member: StaffMember,
    report: ReportSummary,
    state: CaseStateRecord,
    a: Action,
    change: CaseChange,
    now: datetime,
) -> CaseEvent | None:
    """暂存待查 taken up again (new circumstances, 定期清理 art 20): a new disposal opinion is due
    within one month."""
    clue = await _clue(wf, member, report, state, "shelved")
    reason = wf._text(a.reason, "重新启用的理由")
    change.deadlines.append(wf._deadline("clue_disposal_opinion", state.owner_unit, china_date(now)))
    _step(change, "clue_reactivated", clue, "received", {"method": None, "stage": None, "plan": None})
    change.event_payload["reason_chars"] = len(reason)
    return None


# The steps each clue state offers (the console's buttons; the API's ``next_steps``).
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "received": ("clue_propose",),
    "pending": ("clue_approve", "clue_return"),
    "inquiry": ("clue_answered",),
    "answered": ("clue_report",),
    "verifying": ("clue_plan", "clue_report"),
    "shelved": ("clue_reactivate",),
    "done": (),
}


def next_steps(clue: ClueRecord) -> tuple[str, ...]:
    steps = NEXT_STEPS.get(clue.state, ())
    if clue.state == "verifying" and not clue.plan:
        return ("clue_plan",)  # the report needs the plan first (art 33)
    return steps


__all__ = [
    "CLUE_RULES",
    "CLUE_STATE_LABELS",
    "INQUIRY_RESULTS",
    "METHODS",
    "NEXT_STEPS",
    "STAGES",
    "VERIFY_RESULTS",
    "ClueRecord",  # the clue as storage gives it, for the console (which imports no storage)
    "Disposal",
    "answered",
    "approve",
    "choice",
    "is_clue",
    "label_of",
    "next_steps",
    "open_clue",
    "plan",
    "propose",
    "reactivate",
    "report_result",
    "return_proposal",
]
