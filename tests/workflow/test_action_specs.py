"""The table of staff actions (issue 15) is the one place that says who may do what from where: each
action has one spec and one handler, its label is what staff read, and the by-name tables the console
and the API schema use are exactly views of it."""

from __future__ import annotations

import re

from intake.domain import STATUS_LABELS
from intake.staff import ROLES
from intake.workflow import ACTION_LABELS, ACTIONS, FROM, ROLE_ACTIONS, SPEC_BY_NAME, SPECS


def test_each_action_has_one_spec_with_its_own_handler() -> None:
    names = [s.name for s in SPECS]
    assert len(names) == len(set(names)) == 22
    assert tuple(names) == ACTIONS
    assert len({s.handler for s in SPECS}) == len(SPECS)
    assert all(SPEC_BY_NAME[s.name] is s for s in SPECS)


def test_specs_name_only_known_roles_and_states_and_chinese_labels() -> None:
    for s in SPECS:
        assert s.roles <= set(ROLES), s.name
        assert s.from_states and s.from_states <= set(STATUS_LABELS), s.name
        assert s.label and not re.search(r"[A-Za-z_]", s.label), s.name


def test_the_by_name_tables_are_views_of_the_specs() -> None:
    assert {s.name: s.label for s in SPECS} == ACTION_LABELS
    assert {s.name: s.from_states for s in SPECS} == FROM
    assert set(ROLE_ACTIONS) == set(ROLES)
    for role, allowed in ROLE_ACTIONS.items():
        assert allowed == {s.name for s in SPECS if s.permits(role)}, role
    # The supervisor and the main leader do everything; the identity custodian and the administrator
    # no case action.
    assert ROLE_ACTIONS["supervisor"] == ROLE_ACTIONS["leader"] == set(ACTIONS)
    assert ROLE_ACTIONS["custodian"] == ROLE_ACTIONS["admin"] == frozenset()
    assert ROLE_ACTIONS["handler"] == {"accept", "reply", "close", "transfer", "request_recusal"} | {
        "clue_propose",
        "clue_answered",
        "clue_plan",
        "clue_report",
        "clue_reactivate",
        "answer_supervision",
    }  # the handling department proposes and reports; only the leader approves or returns (issue 18)
