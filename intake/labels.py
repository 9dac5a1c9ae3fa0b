"""The words staff read for triage's codes (scope, level, priority) and confidence, from triage's own
explanations, so that the console, the command line and exports say the same as the explanations;
and the names the case page gives triage's advice and its explanations."""

from __future__ import annotations

from triage.explain import LEVEL_NAMES, PRIORITY_NAMES, SCOPE_NAMES
from triage.explain import label as confidence_label

# What the case page calls triage's advice on a report it would not accept, and each explanation.
ADVICE_LABELS = {
    "forward": "转交有权处理的机关",
    "inform": "告知反映人向有权处理的机关反映",
    "request_facts": "请反映人补充材料",
    "file": "存档备查",
}
EXPLANATION_LABELS = {
    "scope": "性质",
    "category": "问题类别",
    "level": "办理层级",
    "unit": "承办单位",
    "urgency": "紧急程度",
    "duplicate": "重复件",
    "review": "是否复核",
}


__all__ = [
    "ADVICE_LABELS",
    "EXPLANATION_LABELS",
    "LEVEL_NAMES",
    "PRIORITY_NAMES",
    "SCOPE_NAMES",
    "confidence_label",
]
