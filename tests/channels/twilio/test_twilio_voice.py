"""The hotline's IVR end to end: "Twilio" (the driver) signs every webhook with twilio's own
RequestValidator and follows the action URLs of the TwiML we answer; recordings and SMS go through
the local fake of Twilio's REST API. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from intake.jobs import backoff
from intake.vault_service import DeliveryHandles
from server.config import Settings
from tests.fakes import twilio
from tests.fakes.server import count_rows
from tests.fakes.twilio import CALLER, OFFICE, Hotline, heard_receipts, receipt_of, sid, start_hotline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")


async def run_jobs(h: Hotline) -> None:
    while await h.services.worker.run_once():
        pass


async def test_report_by_phone_end_to_end(h: Hotline) -> None:
    call = h.driver.call()
    root = await call.start()
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "speech dtmf" and gather.get("language") == "zh-CN"
    assert "录音" in call.heard and "加密保管" in call.heard and "举报问题，请按1" in call.heard
    assert "转接工作人员" in call.heard  # Wednesday 10:00: office hours

    await call.press("1")
    speech = call.twiml.find("Gather") if call.twiml is not None else None
    assert speech is not None and speech.get("input") == "speech" and speech.get("partialResultCallback")
    await call.say("城关镇副镇长王某某在危房改造补助发放中索要好处费")
    record = call.twiml.find("Record") if call.twiml is not None else None
    assert record is not None and record.get("recordingStatusCallback", "").endswith(
        "/voice/recording-status"
    )
    assert (
        record.get("recordingStatusCallbackEvent") == "completed absent" and record.get("finishOnKey") == "#"
    )

    recording = sid("RE")
    h.api.recordings[recording] = twilio.wav()
    await call.record(recording)
    heard = call.heard
    read = heard_receipts(heard)
    assert len(read) == 2 and read[0] == read[1]  # read out twice
    assert call.twiml is not None and [p.get("rate") for p in call.twiml.iter("prosody")] == ["slow"] * 4
    assert "短信" in heard

    reports = await h.services.db.reports.recent()
    assert len(reports) == 1
    report = reports[0]
    assert report.channel == "phone" and report.anonymous and "危房改造" in report.content
    case_no = report.case_no
    assert read[0][0] == case_no
    assert (await h.services.pipeline.status(read[0][1], "test")).case_no == case_no
    assert await DeliveryHandles(h.services.db, h.services.clock).handle_for_delivery(report.id) == (
        "phone",
        CALLER,
    )

    # The caller agrees to the SMS: it goes out through the (fake) REST API with the receipt.
    await call.press("1")
    assert "短信已发送" in call.heard and "举报问题，请按1" in call.heard
    assert len(h.api.sent) == 1 and h.api.sent[0]["To"] == CALLER and h.api.sent[0]["From"] == twilio.HOTLINE
    sms_case, sms_code = receipt_of(h.api.sent[0]["Body"])
    assert sms_case == case_no
    found = await h.services.pipeline.status(sms_code, "test")
    assert found.case_no == case_no

    # Twilio says the recording is ready: the job fetches it into an encrypted attachment and
    # deletes it from Twilio.
    assert await call.recording_status(recording) == 200
    await run_jobs(h)
    atts = await h.services.db.conversations.attachments_of(report.id)
    assert [(t, s) for _, t, s in atts] == [("audio/wav", len(twilio.wav()))]
    assert h.services.db.blobs.get(atts[0][0]).data == twilio.wav()
    assert h.api.deleted == [recording] and recording not in h.api.recordings

    await call.press("9")
    assert "举报问题，请按1" in call.heard
    assert await call.hang_up() == 200
    assert await count_rows(h.services, "reports") == 1


async def test_status_by_query_code_reads_the_status_and_latest_reply(h: Hotline) -> None:
    from intake.domain import Submission

    receipt = await h.services.pipeline.accept(
        Submission(channel="phone", content="某村支书侵占集体土地补偿款")
    )
    assert receipt.query_code is not None
    report = await h.services.db.reports.get(receipt.case_no)
    assert report is not None
    await h.services.db.reports.add_message(
        report.id, "out", "staff", "已转县纪委监委办理。", h.clock.now(), actor="staff:li"
    )
    call = h.driver.call()
    await call.start()
    await call.say("我要查询")
    assert call.attribute("Gather", "numDigits") == "16" and call.attribute("Gather", "finishOnKey") == "#"
    await call.press("0" * 16)
    assert "查询码不正确" in call.heard
    await call.press(receipt.query_code)
    heard = call.heard
    assert "办理状态：已接收" in heard and "最新答复：已转县纪委监委办理。" in heard
    assert "举报问题，请按1" in heard  # back to the menu


async def test_add_information_to_a_case_by_voice(sh: Hotline) -> None:
    from intake.domain import Submission

    receipt = await sh.services.pipeline.accept(Submission(channel="web", content="某所长违规收费"))
    assert receipt.query_code is not None
    call = sh.driver.call()
    await call.start()
    await call.press("3")
    await call.press(receipt.query_code)
    assert call.attribute("Gather", "input") == "speech"
    await call.silence()
    assert "没有听清补充内容" in call.heard
    step = call.action()
    await call.say("收费没有开票，另有三名群众可以作证")
    assert "补充内容已收到" in call.heard
    # Twilio sending the same step again adds nothing a second time.
    again = await sh.driver.post(step, call.base(SpeechResult="收费没有开票，另有三名群众可以作证"))
    assert again.status == 200
    found = await sh.services.pipeline.status(receipt.query_code, "t")
    assert found.followups == 1


async def test_menu_timeouts_repeat_then_end_the_call(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.silence()
    assert (
        call.heard.startswith("没有收到您的选择")
        and call.twiml is not None
        and call.twiml.find("Gather") is not None
    )
    await call.say("嗯嗯")
    assert call.heard.startswith("抱歉，没有听清")
    await call.silence()
    assert call.twiml is not None and call.twiml.find("Hangup") is not None and "再见" in call.heard
    assert await call.hang_up() == 200
    assert await count_rows(sh.services, "reports") == 0


async def test_speech_not_understood_falls_back_to_the_recording(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.press("1")
    await call.silence()
    assert "没有听清，请再说一遍" in call.heard
    await call.silence()
    assert call.twiml is not None and call.twiml.find("Record") is not None and "我们会录音记录" in call.heard
    recording = sid("RE")
    sh.api.recordings[recording] = twilio.wav()
    await call.record(recording, seconds=40)
    reports = await sh.services.db.reports.recent()
    assert len(reports) == 1 and "见电话录音附件" in reports[0].content
    await call.recording_status(recording)
    await run_jobs(sh)
    assert len(await sh.services.db.conversations.attachments_of(reports[0].id)) == 1


async def test_nothing_said_nothing_filed(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.press("1")
    await call.silence()
    await call.silence()
    await call.record(sid("RE"), seconds=0)
    assert "没有录到您讲述的内容" in call.heard
    await call.hang_up()
    assert await count_rows(sh.services, "reports") == 0


async def test_hang_up_while_speaking_files_what_was_heard(h: Hotline) -> None:
    call = h.driver.call()
    await call.start()
    await call.press("1")
    assert await call.partial("乡财政所会计挪用", 1) == 200
    assert await call.partial("乡财政所会计挪用低保资金", 2) == 200
    assert await call.partial("乡财政所会计", 1) == 200  # a late, older result changes nothing
    assert await call.hang_up() == 200
    assert await call.hang_up() == 200  # Twilio retrying the callback
    reports = await h.services.db.reports.recent()
    assert len(reports) == 1 and "挪用低保资金" in reports[0].content
    assert reports[0].channel == "phone"
    assert await DeliveryHandles(h.services.db, h.services.clock).handle_for_delivery(reports[0].id) == (
        "phone",
        CALLER,
    )


async def test_hang_up_during_recording_makes_one_report_with_its_recording(h: Hotline) -> None:
    call = h.driver.call()
    await call.start()
    await call.press("1")
    await call.say("县水利局局长违规插手工程招投标")
    recording = sid("RE")
    h.api.recordings[recording] = twilio.wav(1.0)
    record_step = call.action("Record")
    # The caller hangs up while recording: Twilio sends the status callback, then (late) the
    # <Record> action, and the recording status callback; and retries one of them.
    assert await call.hang_up() == 200
    await call.record(recording)
    await h.driver.post(record_step, h.driver.last_params)
    assert await call.recording_status(recording) == 200
    assert await call.recording_status(recording) == 200
    await run_jobs(h)
    reports = await h.services.db.reports.recent()
    assert len(reports) == 1 and "招投标" in reports[0].content
    atts = await h.services.db.conversations.attachments_of(reports[0].id)
    assert len(atts) == 1 and h.api.deleted == [recording]


async def test_retried_step_gets_the_same_answer_and_one_report(h: Hotline) -> None:
    call = h.driver.call()
    await call.start()
    await call.press("1")
    await call.say("镇长违规发放津贴")
    step, recording = call.action("Record"), sid("RE")
    first = await call.record(recording)
    first_raw = call.raw
    resp = await h.driver.post(step, h.driver.last_params)
    assert resp.status == 200 and await resp.text() == first_raw
    assert first.find("Gather") is not None
    assert await count_rows(h.services, "reports") == 1


async def test_recording_download_retries_with_backoff(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.press("1")
    await call.say("某站长吃空饷")
    recording = sid("RE")
    sh.api.recordings[recording] = twilio.wav()
    sh.api.fail_downloads = 1
    await call.recording_status(recording)  # before the report is filed: the job must wait
    assert await sh.services.worker.run_once() == 1
    await call.record(recording)
    sh.clock.advance(seconds=backoff(1).total_seconds() - 1)
    await run_jobs(sh)  # triage of the new report; the recording job is not due yet
    assert sh.api.downloads == []
    sh.clock.advance(seconds=2)
    assert await sh.services.worker.run_once() == 1  # due: Twilio answers 503 this time
    assert len(sh.api.downloads) == 1 and not sh.api.deleted
    sh.clock.advance(seconds=backoff(2).total_seconds() + 1)
    assert await sh.services.worker.run_once() == 1
    report = (await sh.services.db.reports.recent())[0]
    assert len(await sh.services.db.conversations.attachments_of(report.id)) == 1
    assert sh.api.deleted == [recording]


async def test_a_failed_delete_is_retried_by_its_own_job_without_a_second_attachment(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.press("1")
    await call.say("某所长收受红包")
    recording = sid("RE")
    sh.api.recordings[recording] = twilio.wav()
    await call.record(recording)
    await call.recording_status(recording)
    sh.api.fail_deletes = 2  # the download job's delete, then the delete job's first attempt
    await run_jobs(sh)
    assert recording in sh.api.recordings
    sh.clock.advance(hours=1)
    await run_jobs(sh)
    report = (await sh.services.db.reports.recent())[0]
    assert len(await sh.services.db.conversations.attachments_of(report.id)) == 1
    assert sh.api.deleted == [recording]


async def test_dial_a_person_in_office_hours_only(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.press("0")
    dial = call.twiml.find("Dial") if call.twiml is not None else None
    assert dial is not None and (dial.text or "").strip() == OFFICE
    assert dial.get("callerId") == twilio.HOTLINE  # the office sees the hotline, not the caller
    await call.dial_ended("no-answer")
    assert "暂时无法接听" in call.heard and "举报问题，请按1" in call.heard

    sh.clock.advance(hours=12)  # 22:00
    night = sh.driver.call()
    await night.start()
    assert "转接工作人员" not in night.heard
    await night.press("0")
    assert "非工作时间" in night.heard and night.twiml is not None and night.twiml.find("Dial") is None


async def test_receipt_can_be_heard_again_and_the_sms_declined(sh: Hotline) -> None:
    call = sh.driver.call()
    await call.start()
    await call.press("1")
    await call.say("某局违规公款旅游")
    await call.record(sid("RE"))
    await call.press("2")
    assert len(heard_receipts(call.heard)) == 2
    await call.say("不需要")
    assert "感谢您的举报" in call.heard and sh.api.sent == []


async def test_receipt_without_outbound_sms_offers_no_sms(
    aiohttp_client: Any, aiohttp_server: Any, make_settings: Callable[..., Settings], data_dir: Any
) -> None:
    url = f"sqlite+aiosqlite:///{data_dir / 'intake.db'}"
    h = await start_hotline(aiohttp_client, aiohttp_server, make_settings, url, INTAKE_TWILIO_SMS_FROM="")
    call = h.driver.call()
    await call.start()
    await call.press("1")
    await call.say("某局违规公款旅游")
    await call.record(sid("RE"))
    assert "短信" not in call.heard and len(heard_receipts(call.heard)) == 2
