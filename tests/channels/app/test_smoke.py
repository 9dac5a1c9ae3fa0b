"""A first end-to-end check of the app API over HTTP (the full suite lives beside it)."""

from __future__ import annotations

from typing import Any


async def test_file_then_read_status(client: Any) -> None:
    resp = await client.post("/api/v1/reports", json={"content": "村支书挪用扶贫款", "anonymous": True})
    assert resp.status == 201
    receipt = await resp.json()
    assert receipt["channel"] == "app"
    assert len(receipt["query_code"]) == 16
    resp = await client.post("/api/v1/status", json={"query_code": receipt["query_code"]})
    assert resp.status == 200
    status = await resp.json()
    assert status["case_no"] == receipt["case_no"]
    assert status["channel"] == "app"
