"""Intake: the service layer of the petition and reporting system (信访举报).

Channels call :mod:`intake.pipeline`; the pipeline calls :mod:`triage` and :mod:`storage`.
"""

__version__ = "0.1.0"
