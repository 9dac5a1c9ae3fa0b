"""The workflow tests' office (SQLite and PostgreSQL, a settable clock, staff with real TOTP
secrets) for the statistics."""

from __future__ import annotations

from tests.workflow.conftest import Office, office

__all__ = ["Office", "office"]
