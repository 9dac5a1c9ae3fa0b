"""Intake: the service layer of the petition and reporting system (信访举报).

Channels, the console and video reception call :mod:`intake.pipeline` and the other services; the
services call :mod:`triage` and :mod:`storage`. Nothing here imports the parts above it or the
composition root (:mod:`server`), which builds the services (:mod:`intake.services`).
"""

__version__ = "0.1.0"
