"""The pipeline's accept path, called directly (found by mutation testing, issue 23): every refusal
of ``_validate`` at its limit, what is sealed for a named and an anonymous informant, idempotent
retries (same content → the same receipt, other content → 409), the per-informant throttle on the
injected clock, and what the first audit event and the jobs say."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import channels
from intake.domain import Accused, Location, Reporter, Submission, Upload
from intake.errors import Conflict, RateLimited, ValidationError
from intake.filing_redaction import split_suffix as _split_suffix
from intake.limits import FIELD_LABELS, MAX_CONTENT
from intake.limits import FIELD_LIMITS as LIMITS
from intake.pipeline import new_query_code
from server.app import build_app, services_of
from server.config import Settings
from storage import models, vault
from tests.pipeline_support import CONTENT, Clock

V = models.VaultEntry.__table__
E = models.ReportEvent.__table__


@pytest.fixture
async def office(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[Any, Clock]:
    clock = Clock()
    settings = make_settings(INTAKE_REPORTS_PER_INFORMANT_PER_HOUR="2")
    client = await aiohttp_client(build_app(settings, channels.REGISTRY, clock=clock, run_worker=False))
    return services_of(client.app), clock


def sub(**kw: Any) -> Submission:
    return Submission(**({"channel": "web", "content": CONTENT} | kw))


async def _refused(services: Any, submission: Submission) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        await services.pipeline.accept(submission)
    return raised.value


async def _vault_kinds(services: Any, report_id: uuid.UUID) -> list[str]:
    async with services.db.read_engine.connect() as conn:
        rows = await conn.execute(sa.select(V.c.kind).where(V.c.report_id == report_id))
        return sorted(rows.scalars())


def test_query_codes_are_sixteen_random_digits() -> None:
    codes = {new_query_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 16 and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in {new_query_code() for _ in range(2000)})  # zero-padded


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("证据_x.png", ("证据_x", ".png")),
        ("a.tar.gz", ("a.tar", ".gz")),
        ("noext", ("noext", "")),
        ("a.toolongext", ("a.toolongext", "")),
        ("a.12345678", ("a", ".12345678")),
        ("a.", ("a.", "")),
    ],
)
def test_split_suffix(name: str, expected: tuple[str, str]) -> None:
    assert _split_suffix(name) == expected


async def test_content_is_required_and_bounded(office: tuple[Any, Clock]) -> None:
    s, _ = office
    for content in ("", "   \n"):
        err = await _refused(s, sub(content=content))
        assert (err.code, str(err)) == ("content_required", "请填写举报内容。")
    err = await _refused(s, sub(content="长" * (MAX_CONTENT + 1)))
    assert (err.code, str(err)) == ("content_too_long", "举报内容不能超过 20000 字。")
    receipt = await s.pipeline.accept(sub(content="长" * MAX_CONTENT))
    assert receipt.created


@pytest.mark.parametrize("field", list(LIMITS))
async def test_each_field_at_and_past_its_limit(office: tuple[Any, Clock], field: str) -> None:
    s, _ = office
    limit = LIMITS[field]

    def with_value(value: str) -> Submission:
        group, _, name = field.rpartition(".")
        if not group:
            return sub(**{name: value})
        cls = {"accused": Accused, "location": Location, "reporter": Reporter}[group]
        extra = {"anonymous": False} if group == "reporter" else {}
        return sub(**{group: cls(**{name: value}), **extra})

    err = await _refused(s, with_value("甲" * (limit + 1)))
    assert (err.code, str(err)) == ("field_too_long", f"{FIELD_LABELS[field]}不能超过 {limit} 字。")
    assert not re.search(r"[A-Za-z_.]", str(err))  # the field's Chinese name, never its key
    assert (await s.pipeline.accept(with_value("甲" * limit))).created


@pytest.mark.parametrize("code", ["4", "4301211021234", "43012a", "４３０１"])
async def test_a_malformed_division_code(office: tuple[Any, Clock], code: str) -> None:
    s, _ = office
    err = await _refused(s, sub(location=Location(code)))
    assert (err.code, str(err)) == (
        "invalid_division_code",
        "发生地点的行政区划代码应为 2 至 12 位数字。",
    )


async def test_a_division_outside_the_jurisdiction(office: tuple[Any, Clock]) -> None:
    s, _ = office
    err = await _refused(s, sub(location=Location("110105")))
    assert (err.code, str(err)) == ("unknown_division", "发生地点的行政区划代码不在本辖区内。")
    inside = sorted(s.pipeline._divisions, key=len)
    assert (await s.pipeline.accept(sub(location=Location(inside[0])))).created
    assert (await s.pipeline.accept(sub(location=Location(inside[-1])))).created


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_a_bad_idempotency_key(office: tuple[Any, Clock], key: str) -> None:
    s, _ = office
    err = await _refused(s, sub(external_id=key))
    assert (err.code, str(err)) == ("invalid_idempotency_key", "幂等键长度应为 1 至 200 个字符。")


async def test_idempotency_keys_of_one_and_two_hundred_characters(office: tuple[Any, Clock]) -> None:
    s, _ = office
    assert (await s.pipeline.accept(sub(external_id="k"))).created
    assert (await s.pipeline.accept(sub(external_id="k" * 200))).created


async def test_control_characters_are_refused_in_any_field(office: tuple[Any, Clock]) -> None:
    s, _ = office
    for bad in (
        sub(content="举报\x00内容"),
        sub(title="标题\x07"),
        sub(accused=Accused(unit="单位\x1b")),
        sub(attachments=[Upload("a\x00.png", "image/png", b"x")]),
        sub(external_id="key\x00"),
    ):
        with pytest.raises(ValidationError):
            await s.pipeline.accept(bad)


async def test_an_unknown_channel_is_a_programming_error(office: tuple[Any, Clock]) -> None:
    s, _ = office
    with pytest.raises(ValueError, match="unknown channel tag 'fax'"):
        await s.pipeline.accept(sub(channel="fax"))


async def test_a_named_informant_is_sealed_and_an_anonymous_one_is_not(office: tuple[Any, Clock]) -> None:
    s, _ = office
    named = await s.pipeline.accept(
        sub(
            reporter=Reporter("李四", None, "13800000000", None),
            anonymous=False,
            handles={"ip": "203.0.113.9"},
            attachments=[
                Upload("身份证.png", "image/png", b"\x89PNG id", identifying=True),
                Upload("证据.png", "image/png", b"\x89PNG ev"),
            ],
        )
    )
    report = await s.db.reports.get(named.case_no)
    assert not report.anonymous
    assert await _vault_kinds(s, report.id) == ["handle", "identity", "identity_file"]
    assert report.attachments == 1  # the proof of identity is not evidence
    # Anonymous (by choice, or with nothing given): no identity, and a proof of identity is dropped.
    for anonymous in (
        sub(
            reporter=Reporter("李四"), anonymous=True, attachments=[Upload("id.png", "image/png", b"x", True)]
        ),
        sub(reporter=Reporter(), anonymous=False),
    ):
        receipt = await s.pipeline.accept(anonymous)
        report = await s.db.reports.get(receipt.case_no)
        assert report.anonymous
        assert await _vault_kinds(s, report.id) == []
        assert report.attachments == 0


async def test_the_receipt_and_the_first_event(office: tuple[Any, Clock]) -> None:
    s, clock = office
    receipt = await s.pipeline.accept(sub(title="标题", attachments=[Upload("a.png", "image/png", b"x")]))
    assert receipt.created and receipt.channel == "web" and receipt.status == "received"
    assert receipt.received_at == clock.at and len(receipt.query_code) == 16
    assert receipt.case_no.startswith("2026-")
    report = await s.db.reports.get(receipt.case_no)
    events = await s.db.reports.events(report.id)
    assert [(e.kind, json.loads(e.payload)) for e in events] == [
        (
            "received",
            {
                "channel": "web",
                "anonymous": True,
                "attachments": 1,
                "sealed": [],
                "redacted": 0,
                "case_no": receipt.case_no,
            },
        )
    ]
    status = await s.pipeline.status(receipt.query_code, "client")
    assert status.case_no == receipt.case_no and status.status == "received"


async def test_the_informants_own_details_in_the_text_are_redacted_and_sealed(
    office: tuple[Any, Clock],
) -> None:
    s, _ = office
    receipt = await s.pipeline.accept(
        sub(
            content=CONTENT + "我是李四，电话13800000000。",
            reporter=Reporter("李四", None, "13800000000", None),
            anonymous=False,
        )
    )
    report = await s.db.reports.get(receipt.case_no)
    assert "13800000000" not in report.content and "李四" not in report.content
    assert "in_text" in await _vault_kinds(s, report.id)
    (event,) = await s.db.reports.events(report.id)
    payload = json.loads(event.payload)
    assert payload["redacted"] >= 2 and "in_text" in payload["sealed"]


async def test_a_retry_returns_the_same_receipt_and_other_content_is_a_conflict(
    office: tuple[Any, Clock],
) -> None:
    s, _ = office
    first = await s.pipeline.accept(sub(external_id="key-1"))
    again = await s.pipeline.accept(sub(external_id="key-1", handles={"ip": "198.51.100.1"}))
    assert not again.created
    assert (again.case_no, again.query_code) == (first.case_no, first.query_code)
    with pytest.raises(Conflict) as raised:
        await s.pipeline.accept(sub(external_id="key-1", content=CONTENT + "改"))
    assert raised.value.code == "idempotency_key_reused"
    # The same key on another channel is another report.
    assert (await s.pipeline.accept(sub(channel="app", external_id="key-1"))).created
    # Without a key, the same content twice is two reports with two codes.
    a, b = await s.pipeline.accept(sub()), await s.pipeline.accept(sub())
    assert a.case_no != b.case_no and a.query_code != b.query_code


async def test_one_informant_is_throttled_per_hour_on_the_clock(office: tuple[Any, Clock]) -> None:
    s, clock = office
    me = {"reporter": Reporter(None, None, "13800000000", None), "anonymous": False}
    assert (await s.pipeline.accept(sub(**me))).created
    assert (await s.pipeline.accept(sub(**me))).created
    with pytest.raises(RateLimited) as raised:
        await s.pipeline.accept(sub(**me))
    assert raised.value.retry_after == 1800  # 2 an hour: one back every 30 minutes
    # Someone else, and anonymous reports, are not held back by it.
    assert (
        await s.pipeline.accept(sub(reporter=Reporter(None, None, "13900000000", None), anonymous=False))
    ).created
    assert (await s.pipeline.accept(sub())).created
    clock.at += timedelta(minutes=30)
    assert (await s.pipeline.accept(sub(**me))).created


# --- follow-ups -------------------------------------------------------------------------------------


async def test_a_follow_up_is_checked_stored_redacted_and_counted(office: tuple[Any, Clock]) -> None:
    s, clock = office
    receipt = await s.pipeline.accept(
        sub(reporter=Reporter("李四", None, "13800000000", None), anonymous=False, accused=Accused("张三"))
    )
    code = receipt.query_code
    for content, error in [
        ("", "content_required"),
        ("  ", "content_required"),
        ("长" * 20_001, "content_too_long"),
    ]:
        with pytest.raises(ValidationError) as raised:
            await s.pipeline.add_followup(code, content, "web", "c")
        assert raised.value.code == error
    with pytest.raises(ValidationError) as raised:
        await s.pipeline.add_followup(code, "", "web", "c")
    assert str(raised.value) == "请填写补充内容。"
    with pytest.raises(ValidationError) as raised:
        await s.pipeline.add_followup(code, "长" * 20_001, "web", "c")
    assert str(raised.value) == "补充内容不能超过 20000 字。"
    with pytest.raises(ValidationError):
        await s.pipeline.add_followup(code, "补充\x00", "web", "c")
    report = await s.db.reports.get(receipt.case_no)
    before = len(await _vault_kinds(s, report.id))
    clock.at += timedelta(minutes=5)
    spaced = " ".join(code[i : i + 4] for i in range(0, 16, 4))  # the code as printed on the receipt
    case_no = await s.pipeline.add_followup(
        spaced, "补充：我是李四，电话13800000000，张三收了钱。", "app", "c"
    )
    assert case_no == receipt.case_no
    assert await s.pipeline.add_followup(code, "长" * 20_000, "web", "c2") == receipt.case_no
    report = await s.db.reports.get(receipt.case_no)
    ins = [m for m in report.messages if m.direction == "in"]
    assert [m.channel for m in ins] == ["app", "web"] and ins[0].at == clock.at
    assert "13800000000" not in ins[0].body and "李四" not in ins[0].body
    assert "张三" in ins[0].body  # the accused's name is not the informant's to hide
    kinds = await _vault_kinds(s, report.id)
    assert len(kinds) == before + 1 and kinds.count("in_text") == 1  # the second follow-up had nothing
    events = [e for e in await s.db.reports.events(report.id) if e.kind == "followup_added"]
    assert len(events) == 2 and events[0].actor == "channel:app"
    status = await s.pipeline.status(code, "c")
    assert status.followups == 2
    # Nothing of the informant's in a follow-up of an anonymous report: nothing sealed.
    anon = await s.pipeline.accept(sub())
    await s.pipeline.add_followup(anon.query_code, "补充：时间是三月。", "web", "c3")
    anon_report = await s.db.reports.get(anon.case_no)
    assert await _vault_kinds(s, anon_report.id) == []
    assert [m.body for m in anon_report.messages if m.direction == "in"] == ["补充：时间是三月。"]


async def test_a_follow_up_with_a_wrong_code_is_the_same_404(office: tuple[Any, Clock]) -> None:
    s, _ = office
    from intake.errors import NotFound

    for code in ("1" * 16, "12345", "", "abc"):
        with pytest.raises(NotFound) as raised:
            await s.pipeline.add_followup(code, "补充", "web", f"c-{code}")
        assert (raised.value.code, str(raised.value)) == ("not_found", "查询码无效，或没有对应的举报。")


@pytest.mark.parametrize(
    "change",
    [
        {"title": "另一个标题"},
        {"category": "其他"},
        {"accused": Accused("李四")},
        {"location": Location(text="另一个地方")},
        {"reporter": Reporter("王五"), "anonymous": False},
        {"anonymous": False, "reporter": Reporter("李四")},
        {"attachments": [Upload("b.png", "image/png", b"x")]},
        {"attachments": [Upload("a.png", "image/png", b"xx")]},
    ],
)
async def test_any_change_under_the_same_key_is_a_conflict(
    office: tuple[Any, Clock], change: dict[str, Any]
) -> None:
    s, _ = office
    base: dict[str, Any] = {
        "external_id": "key-9",
        "title": "标题",
        "category": "群众纪律",
        "accused": Accused("张三"),
        "location": Location(text="某村"),
        "reporter": Reporter("李四"),
        "anonymous": True,
        "attachments": [Upload("a.png", "image/png", b"x")],
    }
    first = await s.pipeline.accept(sub(**base))
    again = await s.pipeline.accept(sub(**base))
    assert not again.created and again.query_code == first.query_code
    with pytest.raises(Conflict):
        await s.pipeline.accept(sub(**(base | change)))


async def test_each_proof_of_identity_is_sealed_on_its_own(office: tuple[Any, Clock]) -> None:
    s, _ = office
    receipt = await s.pipeline.accept(
        sub(
            reporter=Reporter("李四"),
            anonymous=False,
            attachments=[
                Upload("id1.png", "image/png", b"a", True),
                Upload("id2.jpg", "image/jpeg", b"bb", True),
            ],
        )
    )
    report = await s.db.reports.get(receipt.case_no)
    async with s.db.read_engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(V).where(V.c.report_id == report.id, V.c.kind == "identity_file"))
        ).all()
    opened = sorted(
        (
            vault.unseal(
                s.db.keyring,
                vault.SealedEntry(
                    r.id, r.report_id, r.kind, r.kek_version, r.wrapped_key, r.nonce, r.ciphertext
                ),
            )
            for r in rows
        ),
        key=lambda d: d["filename"],
    )
    assert opened == [
        {
            "filename": "id1.png",
            "content_type": "image/png",
            "size": 1,
            "data": base64.b64encode(b"a").decode(),
        },
        {
            "filename": "id2.jpg",
            "content_type": "image/jpeg",
            "size": 2,
            "data": base64.b64encode(b"bb").decode(),
        },
    ]


async def test_a_follow_up_hides_the_informants_given_name_but_not_the_accused(
    office: tuple[Any, Clock],
) -> None:
    """No pattern ties 李四 to the writer here ("李四亲眼看见"): only the keyed hashes of the name
    given at filing find it. Inside the accused's own name (李四海) the same characters stay."""
    s, _ = office
    receipt = await s.pipeline.accept(
        sub(reporter=Reporter("李四", None, None, None), anonymous=False, accused=Accused("李四海"))
    )
    await s.pipeline.add_followup(receipt.query_code, "补充：李四海又收了钱，李四亲眼看见。", "web", "c")
    report = await s.db.reports.get(receipt.case_no)
    [body] = [m.body for m in report.messages if m.direction == "in"]
    assert "李四海又收了钱" in body
    assert body.count("李四") == 1, body  # the informant's own mention is gone
    # What was found is sealed with the report, under this report's key.
    assert (await _vault_kinds(s, report.id)).count("in_text") == 1


async def test_a_comment_is_scrubbed_of_the_given_name(office: tuple[Any, Clock]) -> None:
    s, _ = office
    receipt = await s.pipeline.accept(
        sub(reporter=Reporter("李四", None, None, None), anonymous=False, accused=Accused("李四海"))
    )
    report = await s.db.reports.get(receipt.case_no)
    clean = await s.pipeline.scrub(report.id, "李四海", "李四海的事李四不满意。")
    assert isinstance(clean, str)
    assert clean.startswith("李四海的事") and clean.count("李四") == 1 and clean.endswith("不满意。")
    # Another report's informant is not this one: nothing of theirs to find.
    other = await s.pipeline.accept(sub())
    other_report = await s.db.reports.get(other.case_no)
    assert await s.pipeline.scrub(other_report.id, None, "李四不满意。") == "李四不满意。"


async def test_a_late_file_is_stored_encrypted_as_an_attachment_of_its_case(
    office: tuple[Any, Clock],
) -> None:
    s, clock = office
    receipt = await s.pipeline.accept(sub())
    report = await s.db.reports.get(receipt.case_no)
    clock.at += timedelta(minutes=3)
    blob_id = await s.pipeline.attach(
        receipt.case_no, "照片.png", "image/png", b"\x89PNG-data", "channel:wechat"
    )
    [stored] = await s.db.workflow.attachments(report.id)
    assert (stored.id, stored.content_type, stored.size) == (blob_id, "image/png", 9)
    assert stored.at == clock.at
    blob = s.db.blobs.get(blob_id)
    assert (blob.filename, blob.content_type, blob.data) == ("照片.png", "image/png", b"\x89PNG-data")
    [event] = [e for e in await s.db.reports.events(report.id) if e.kind == "attachment_added"]
    assert event.actor == "channel:wechat" and event.at == clock.at
    assert json.loads(event.payload) == {"attachment": str(blob_id), "content_type": "image/png", "size": 9}
    with pytest.raises(LookupError):
        await s.pipeline.attach("X-NO-SUCH-CASE", "a.png", "image/png", b"x", "channel:wechat")
    assert len(await s.db.workflow.attachments(report.id)) == 1


def test_the_retry_fingerprint_is_a_stored_format() -> None:
    """Retries are matched by a keyed hash of this canonical form, stored with the report: a
    change of the form (a key renamed, ASCII escapes, another order) turns a retry that arrives
    after an upgrade into a false 409 and loses its receipt. Changing it needs a migration."""
    from intake.pipeline import Pipeline

    form = Pipeline._canonical(
        sub(
            title="标题",
            category="群众纪律",
            accused=Accused("张三"),
            location=Location(text="某村"),
            reporter=Reporter("李四"),
            anonymous=True,
            external_id="k",
            receiving_unit="430121",
            attachments=[Upload("a.png", "image/png", b"xy")],
            handles={"ip": "203.0.113.9"},
        )
    )
    assert json.loads(form) == {
        "accused": vars(Accused("张三")),
        "anonymous": True,
        "attachments": [{"filename": "a.png", "size": 2}],
        "category": "群众纪律",
        "channel": "web",
        "content": CONTENT,
        "external_id": "k",
        "location": vars(Location(text="某村")),
        "receiving_unit": "430121",
        "reporter": vars(Reporter("李四")),
        "title": "标题",
    }
    assert form == json.dumps(json.loads(form), ensure_ascii=False, sort_keys=True).encode()
    assert "receiving_unit" not in json.loads(Pipeline._canonical(sub()))


def test_every_limited_field_has_a_chinese_label() -> None:
    assert set(FIELD_LABELS) == set(LIMITS)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", label) for label in FIELD_LABELS.values())
