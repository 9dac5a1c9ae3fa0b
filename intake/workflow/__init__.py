"""The case workflow: a state machine over a report's status, with scoping, 回避, deadlines,
transfers, replies and merges. Every transition is one transaction with its audit event.

States (``reports.status``; labels in :data:`intake.domain.STATUS_LABELS`)::

    received ─register→ registered ─accept→ accepted ─assign→ assigned ─reply→ replied ─close→ closed
        │                   │                  │  ↑               │  ↑           │
        └──redirect─────────┴─→ not_accepted   │  └──reopen───────┼──┴───────────┘ (复查/复核)
                                               ├─transfer→ transferred ─accept (by the receiving unit)
                                               └─supervise→ supervised (督办)

* **redirect** (不予受理, S1 art 13): a letter is forwarded to the competent organ (a ``forward``
  transfer); any other channel is told where to go (a reply on the thread). Neither starts a clue.
* **transfer** (转办, S1 arts 15–16): to a unit above, below or beside; downward the receiving unit
  must register and accept or re-transfer within 5 working days. **assign** with ``to_unit`` is
  交办 down with a 3-month deadline (S1 art 21); with ``handler`` it names the handler, refused when
  the handler has a conflict of interest (回避, S1 art 48).
* A report that triage routes upward sealed (about the receiving commission's own head, or a cadre
  managed above) is taken out of the receiving unit's sight at once and handed up (S1 art 15).
* **reply** writes an ``out`` message (read with the query code) and tells the notifier.
* **reopen**: the informant's 复查 and then 复核 request within 30 days of the reply (条例 arts
  35–36), after which the same matter is not accepted again; an objection to a 纪检 result is
  recorded and explained (S1 art 27); new evidence sends the case back to 核查.

Modules: :mod:`.core` (the request, the view, shared helpers), :mod:`.queries` (reading),
:mod:`.actions` (the table of staff actions), :mod:`.handlers` (one handler per action),
:mod:`.service` (:class:`Workflow` and its composition).
"""

from intake.workflow.actions import (
    ACTION_LABELS,
    ACTIONS,
    FROM,
    ROLE_ACTIONS,
    SPEC_BY_NAME,
    SPECS,
    ActionSpec,
)
from intake.workflow.core import (
    CUSTOM_DEADLINES,
    MAX_TEXT,
    REMINDER_LEAD,
    Action,
    CaseView,
    WorkflowError,
    china_date,
)
from intake.workflow.service import Workflow, open_workflow

__all__ = [
    "ACTIONS",
    "ACTION_LABELS",
    "CUSTOM_DEADLINES",
    "FROM",
    "MAX_TEXT",
    "REMINDER_LEAD",
    "ROLE_ACTIONS",
    "SPECS",
    "SPEC_BY_NAME",
    "Action",
    "ActionSpec",
    "CaseView",
    "Workflow",
    "WorkflowError",
    "china_date",
    "open_workflow",
]
