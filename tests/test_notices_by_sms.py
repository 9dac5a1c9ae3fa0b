"""Notices to informants whose channel has no address (issue 17): a real-name web informant who gave
a mobile number is told of the acceptance and of the reply by SMS through Twilio's API (the local
fake), the number read from the sealed identity inside the sending job only — never on disk in
plaintext, every read an audit event; anonymous informants and landlines are not texted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intake.vault_service import sms_number
from server.config import Settings
from tests.channels.web.test_web_form import file_report
from tests.fakes.twilio import FakeTwilioApi, twilio_env
from tests.scan import leaking_files, leaking_rows
from tests.workflow.conftest import Office, open_office

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

MOBILE = "139 1234 5678"
FORMS = ["13912345678", "+8613912345678", "8613912345678", MOBILE]


async def office_with_twilio(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], db_url: str
) -> tuple[Office, FakeTwilioApi]:
    api = FakeTwilioApi()
    server = await aiohttp_server(api.app())
    env = twilio_env(str(server.make_url("")).rstrip("/"))
    return await open_office(aiohttp_client, make_settings(INTAKE_DATABASE_URL=db_url, **env)), api


async def run_jobs(o: Office) -> None:
    while await o.services.worker.run_once():
        pass


async def test_a_real_name_web_informant_hears_of_acceptance_and_reply_by_sms(
    aiohttp_client: Any,
    aiohttp_server: Any,
    make_settings: Callable[..., Settings],
    db_url: str,
    data_dir: Path,
) -> None:
    o, api = await office_with_twilio(aiohttp_client, aiohttp_server, make_settings, db_url)
    _, case_no, _ = await file_report(
        o.client, identity="real", reporter_name="甄宝琮", reporter_phone=MOBILE
    )
    _, anonymous, _ = await file_report(o.client)
    _, landline, _ = await file_report(
        o.client, identity="real", reporter_name="甄宝琮", reporter_phone="0731-84012345"
    )
    for case in (case_no, anonymous, landline):
        await o.triaged(case)
    await run_jobs(o)
    assert api.sent == []  # receipt is on the page: nothing is texted before there is news
    await o.login("county_reg")
    for case in (case_no, anonymous, landline):
        status, doc = await o.act("county_reg", case, action="accept")
        assert status == 200, doc
    await run_jobs(o)
    assert [(m["To"], m["From"]) for m in api.sent] == [("+8613912345678", "+8673112388000")]
    accepted = api.sent[0]["Body"]
    assert case_no in accepted and "受理" in accepted and "甄宝琮" not in accepted
    for name in ("county_sup", "county_handler"):
        await o.login(name)
    status, doc = await o.act("county_sup", case_no, action="assign", handler="county_handler")
    assert status == 200, doc
    status, doc = await o.act("county_handler", case_no, action="reply", text="经核查，已责令整改。")
    assert status == 200, doc
    await run_jobs(o)
    assert {m["To"] for m in api.sent} == {"+8613912345678"}  # accepted, assigned, replied
    assert "已有答复" in api.sent[-1]["Body"] and "整改" not in api.sent[-1]["Body"]
    # Each read of the number is an audit event (which field, for what; never the value).
    report = await o.services.db.reports.get(case_no)
    assert report is not None
    events = await o.services.db.reports.events(report.id)
    reads = [json.loads(e.payload) for e in events if e.kind == "vault_handle_used"]
    assert reads == [{"channel": "sms", "handle": "phone", "purpose": "notify"}] * len(api.sent)
    async with o.services.db.read_engine.connect() as conn:
        assert await leaking_rows(conn, FORMS) == []
    assert leaking_files(data_dir, FORMS) == []
    await o.audit_ok()


def test_only_mainland_mobile_numbers_are_texted() -> None:
    assert sms_number("13912345678") == "+8613912345678"
    assert sms_number("+86 139-1234-5678") == "+8613912345678"
    assert sms_number("8613912345678") == "+8613912345678"
    assert sms_number("（139）12345678") == "+8613912345678"
    for not_mobile in ("0731-84012345", "12345678901", "1391234567", "139123456789", "", "电话"):
        assert sms_number(not_mobile) is None, not_mobile
