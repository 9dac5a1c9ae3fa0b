"""A letter or visit registered by staff gets the same signed receipt (受理回执) as every filing API:
in the staff API's 201 and on the printed registration receipt (issue 17)."""

from __future__ import annotations

from intake import receipts
from tests.workflow.conftest import Office


async def test_a_registered_visit_carries_a_receipt_that_verifies(office: Office) -> None:
    o = office
    await o.login("county_reg")
    status, doc = await o.post(
        "county_reg", "/api/v1/staff/reports", {"channel": "visit", "content": "来访反映村干部优亲厚友。"}
    )
    assert status == 201, doc
    receipt = doc["receipt"]
    assert receipt["case_no"] == doc["case_no"] and receipt["received_at"] == doc["received_at"]
    key = o.services.pipeline.receipts.public_key
    assert receipts.check(receipt, key) is None
    assert receipts.check({**receipt, "case_no": receipt["case_no"] + "1"}, key) is not None
    resp = await o.client.get("/api/v1/receipt-key")
    assert (await resp.json())["public_key"] == key
