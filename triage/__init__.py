"""Triage: what a report is, which level and office must handle it, how urgent, whether it repeats.

Pure by rule: imports nothing of this project's and does no I/O after loading its data (jieba's
dictionary, the packaged gazetteer and keyword rules; a model file only when the caller loads
one). The entry point is :func:`triage`; it is CPU-bound, so async callers run it in a worker
thread. See ``docs/triage.md`` for how each decision is made.
"""

from triage.category import CategoryRules
from triage.classifier import DEFAULT_C, FeatureConfig, Model, ModelError
from triage.duplicates import DuplicateIndex
from triage.engine import (
    CHANNELS,
    JSON_KEYS,
    MANUAL_QUEUE,
    REVIEW_THRESHOLD,
    RULES_VERSION,
    TriageResult,
    triage,
    warm_up,
    words,
)
from triage.jurisdiction import Jurisdiction, ManagementRule, Unit, national
from triage.normalize import normalize
from triage.segment import search_words
from triage.training import NB_WEIGHT, cross_validate, evaluate, train

__all__ = [
    "CHANNELS",
    "DEFAULT_C",
    "JSON_KEYS",
    "MANUAL_QUEUE",
    "NB_WEIGHT",
    "REVIEW_THRESHOLD",
    "RULES_VERSION",
    "CategoryRules",
    "DuplicateIndex",
    "FeatureConfig",
    "Jurisdiction",
    "ManagementRule",
    "Model",
    "ModelError",
    "TriageResult",
    "Unit",
    "cross_validate",
    "evaluate",
    "national",
    "normalize",
    "search_words",
    "train",
    "triage",
    "warm_up",
    "words",
]
