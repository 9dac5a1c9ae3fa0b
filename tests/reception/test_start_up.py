"""Issue 20: the server loads what a booking's routing needs at start-up, not in the first booking
(which took about two seconds: ``bench/reception_first_call.py``)."""

from __future__ import annotations

from typing import Any

import pytest

import triage
from intake import services as services_mod
from server.app import _warm_up
from tests.reception.conftest import Reception


async def test_start_up_warms_the_triage_that_routes_bookings(
    reception: Reception, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services_mod, "_TRIAGE_JURISDICTIONS", {})
    warmed: list[Any] = []
    monkeypatch.setattr(triage, "warm_up", warmed.append)
    await _warm_up(reception.services, freeze_gc=False)
    document = reception.services.pipeline.jurisdiction.document
    # Warmed once, on the very jurisdiction object the bookings are then routed with.
    assert warmed == [services_mod._TRIAGE_JURISDICTIONS[id(document)]]
    await reception.book()
    assert list(services_mod._TRIAGE_JURISDICTIONS.values()) == warmed


async def test_without_reception_no_triage_is_warmed(
    reception: Reception, monkeypatch: pytest.MonkeyPatch
) -> None:
    warmed: list[Any] = []
    monkeypatch.setattr(triage, "warm_up", warmed.append)
    monkeypatch.setattr(reception.services, "mounted", ["console"])
    await _warm_up(reception.services, freeze_gc=False)
    assert warmed == []
