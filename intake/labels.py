"""The words staff read for triage's codes (scope, level, priority) and confidence, from triage's own
explanations, so that the console, the command line and exports say the same as the explanations."""

from __future__ import annotations

from triage.explain import LEVEL_NAMES, PRIORITY_NAMES, SCOPE_NAMES
from triage.explain import label as confidence_label

__all__ = ["LEVEL_NAMES", "PRIORITY_NAMES", "SCOPE_NAMES", "confidence_label"]
