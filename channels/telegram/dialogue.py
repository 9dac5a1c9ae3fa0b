"""The bot's routers, one per feature, built fresh for each dispatcher (an aiogram router has only
one parent):

* :func:`commands_router` — ``/start`` (welcome, privacy notice, menu), ``/help``, ``/cancel``,
  ``/report <text>`` (files at once), ``/status <查询码>``, ``/add <查询码> <text>``;
* :func:`report_router` — the guided report, an aiogram FSM: what happened → who, where →
  photos/documents → anonymous or real name → confirm (sharing the contact confirms a real-name
  report) → receipt;
* :func:`idle_router` — the menu buttons and plain-text shortcuts (``举报 …``, ``查询 …``,
  ``补充 …``) when no report is being written, and everything else answered with help.

Handlers get :class:`TelegramIntake` (``intake``) and the update's :class:`UpdateWork` (``work``)
injected by name. Every filing reply carries the case number and the 16-digit query code.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import KeyboardButton, Message, ReplyKeyboardMarkup

from channels.telegram import texts as t
from channels.telegram.fsm import HANDLE_KIND, UpdateWork
from intake.channel_intake import ChannelIntake
from intake.dialogue_texts import Notice, split_code
from intake.domain import Location, Receipt, Reporter, Submission
from intake.errors import IntakeError
from intake.limits import MAX_CONTENT, clip

log = logging.getLogger("channels.telegram")

CHANNEL = "telegram"
MEDIA_JOB = "telegram_media"
MAX_MEDIA = 9
MAX_MEDIA_BYTES = 10 * 1024 * 1024
# Documents taken as materials: what the attachment store recognises by content.
DOCUMENT_TYPES = {"image/jpeg", "image/png", "image/gif", "audio/mpeg", "audio/mp3", "audio/amr"}


class Report(StatesGroup):
    what = State()
    who = State()
    media = State()
    identity = State()
    confirm = State()


class TelegramIntake:
    """What the handlers need of the service: the channel's intake (``cases``), the notice, and
    whether media can be downloaded (a deployment may switch the media job off)."""

    def __init__(self, cases: ChannelIntake, notice: Notice, *, media: bool = True) -> None:
        self.cases = cases
        self.notice = notice
        self.media = media

    async def file(self, work: UpdateWork, draft: dict[str, Any], reporter: Reporter | None) -> Receipt:
        content = str(draft.get("what", ""))
        if draft.get("who"):
            content += "\n\n被反映人及地点：" + str(draft["who"])
        location = draft.get("location")
        sub = Submission(
            channel=CHANNEL,
            content=content[:MAX_CONTENT],
            location=Location(text=str(location) if location else None),
            reporter=reporter or Reporter(),
            anonymous=reporter is None,
            external_id=work.update_key,
            handles={HANDLE_KIND: work.chat_id},
        )
        receipt = await self.cases.accept(sub)
        if self.media:
            for item in draft.get("media", []):
                work.jobs.append(
                    (
                        MEDIA_JOB,
                        {"case_no": receipt.case_no, "file_id": item["id"], "media_type": item["type"]},
                    )
                )
        return receipt


# --- keyboards ------------------------------------------------------------------------------------


def _keyboard(*rows: list[KeyboardButton]) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=list(rows), resize_keyboard=True)


def _b(text: str, *, contact: bool = False) -> KeyboardButton:
    return KeyboardButton(text=text, request_contact=True) if contact else KeyboardButton(text=text)


MENU = _keyboard([_b(t.BTN_REPORT)], [_b(t.BTN_STATUS), _b(t.BTN_ADD)], [_b(t.BTN_HELP)])
SKIP = _keyboard([_b(t.BTN_SKIP)], [_b(t.BTN_CANCEL)])
DONE = _keyboard([_b(t.BTN_DONE)], [_b(t.BTN_CANCEL)])
CHOOSE = _keyboard([_b(t.BTN_ANONYMOUS), _b(t.BTN_REAL_NAME)], [_b(t.BTN_CANCEL)])
CONFIRM = _keyboard([_b(t.BTN_CONFIRM)], [_b(t.BTN_CANCEL)])
CONFIRM_CONTACT = _keyboard([_b(t.BTN_CONFIRM_CONTACT, contact=True)], [_b(t.BTN_CANCEL)])


def _text(message: Message) -> str:
    return (message.text or "").replace("\u3000", " ").strip()


# --- shared actions -------------------------------------------------------------------------------


async def _start_report(message: Message, state: FSMContext) -> None:
    await state.set_state(Report.what)
    await state.set_data({})
    await message.answer(t.PROMPT_WHAT, reply_markup=_keyboard([_b(t.BTN_CANCEL)]))


async def _file_text(message: Message, intake: TelegramIntake, work: UpdateWork, text: str) -> None:
    try:
        receipt = await intake.file(work, {"what": text}, None)
    except IntakeError as exc:
        await message.answer(exc.message)
        return
    await message.answer(t.receipt_text(receipt), reply_markup=MENU)


async def _status(message: Message, intake: TelegramIntake, work: UpdateWork, args: str) -> None:
    if not args:
        await message.answer(t.USAGE_STATUS)
        return
    try:
        found = await intake.cases.status(args, work.conversation_key)
    except IntakeError as exc:
        await message.answer(exc.message)
        return
    await message.answer(t.status_text(found))


async def _add(message: Message, intake: TelegramIntake, work: UpdateWork, args: str) -> None:
    code, addition = split_code(args)
    if code is None or not addition:
        await message.answer(t.USAGE_ADD)
        return
    try:
        case_no = await intake.cases.add_followup(code, addition, CHANNEL, work.conversation_key)
    except IntakeError as exc:
        await message.answer(exc.message)
        return
    await message.answer(f"补充内容已收到，已附入案件 {case_no}。")


# --- routers --------------------------------------------------------------------------------------


def commands_router() -> Router:
    router = Router(name="telegram-commands")

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext, intake: TelegramIntake) -> None:
        await state.clear()
        await message.answer(t.welcome_text(intake.notice), reply_markup=MENU)

    @router.message(Command("help"))
    @router.message(F.text == t.BTN_HELP)
    async def help_(message: Message) -> None:
        await message.answer(t.help_text(), reply_markup=MENU)

    @router.message(Command("cancel"))
    @router.message(F.text.in_(t.CANCEL_WORDS))
    async def cancel(message: Message, state: FSMContext) -> None:
        busy = await state.get_state() is not None
        await state.clear()
        await message.answer(t.CANCELLED if busy else t.help_text(), reply_markup=MENU)

    @router.message(Command("report"))
    async def report(
        message: Message, command: CommandObject, state: FSMContext, intake: TelegramIntake, work: UpdateWork
    ) -> None:
        if command.args and command.args.strip():
            await _file_text(message, intake, work, command.args.strip())
        else:
            await _start_report(message, state)

    @router.message(Command("status"))
    async def status(
        message: Message, command: CommandObject, intake: TelegramIntake, work: UpdateWork
    ) -> None:
        await _status(message, intake, work, (command.args or "").strip())

    @router.message(Command("add"))
    async def add(message: Message, command: CommandObject, intake: TelegramIntake, work: UpdateWork) -> None:
        await _add(message, intake, work, (command.args or "").strip())

    return router


def report_router() -> Router:
    router = Router(name="telegram-report")

    @router.message(Report.what, F.text)
    async def what(message: Message, state: FSMContext) -> None:
        await state.update_data(what=_text(message)[:MAX_CONTENT])
        await state.set_state(Report.who)
        await message.answer(t.PROMPT_WHO, reply_markup=SKIP)

    @router.message(Report.who, F.location)
    async def where(message: Message, state: FSMContext) -> None:
        loc = message.location
        assert loc is not None
        label = message.venue.title if message.venue else "位置"
        await state.update_data(
            location=clip(f"{label}（{loc.latitude:.5f},{loc.longitude:.5f}）", "location.text")
        )
        await state.set_state(Report.media)
        await message.answer("已记录位置。\n" + t.PROMPT_MEDIA, reply_markup=DONE)

    @router.message(Report.who, F.text)
    async def who(message: Message, state: FSMContext) -> None:
        text = _text(message)
        await state.update_data(who="" if text in t.SKIP_WORDS else text[:1000])
        await state.set_state(Report.media)
        await message.answer(t.PROMPT_MEDIA, reply_markup=DONE)

    @router.message(Report.media, F.photo | F.document)
    async def material(message: Message, state: FSMContext, intake: TelegramIntake) -> None:
        if not intake.media:
            await message.answer(t.NO_MEDIA, reply_markup=DONE)
            return
        if message.photo:
            item, size = {"id": message.photo[-1].file_id, "type": "photo"}, message.photo[-1].file_size
        else:
            doc = message.document
            assert doc is not None
            if (doc.mime_type or "").lower() not in DOCUMENT_TYPES:
                await message.answer(t.MEDIA_TYPE_REFUSED, reply_markup=DONE)
                return
            item, size = {"id": doc.file_id, "type": "document"}, doc.file_size
        if size is not None and size > MAX_MEDIA_BYTES:
            await message.answer(t.MEDIA_TOO_LARGE, reply_markup=DONE)
            return
        media = list((await state.get_data()).get("media", []))
        if len(media) >= MAX_MEDIA:
            await message.answer(f"材料已达 {MAX_MEDIA} 份上限。请点“{t.BTN_DONE}”继续。", reply_markup=DONE)
            return
        media.append(item)
        await state.update_data(media=media)
        await message.answer(
            f"已收到第 {len(media)} 份材料。可继续发送，发送完毕请点“{t.BTN_DONE}”。", reply_markup=DONE
        )

    @router.message(Report.media, F.text.in_(t.DONE_WORDS))
    async def media_done(message: Message, state: FSMContext) -> None:
        await state.set_state(Report.identity)
        await message.answer(t.PROMPT_IDENTITY, reply_markup=CHOOSE)

    @router.message(Report.identity, F.text)
    @router.message(Report.confirm, F.text.startswith("匿名") | F.text.startswith("实名"))
    async def identity(message: Message, state: FSMContext) -> None:
        text = _text(message)
        if not text.startswith(("匿名", "实名")):
            await message.answer(t.PROMPT_IDENTITY, reply_markup=CHOOSE)
            return
        draft = await state.update_data(anonymous=text.startswith("匿名"))
        await state.set_state(Report.confirm)
        keyboard = CONFIRM if draft["anonymous"] else CONFIRM_CONTACT
        await message.answer(t.summary_text(draft), reply_markup=keyboard)

    @router.message(Report.confirm, F.contact)
    async def confirm_with_contact(
        message: Message, state: FSMContext, intake: TelegramIntake, work: UpdateWork
    ) -> None:
        draft = await state.get_data()
        contact = message.contact
        assert contact is not None
        if draft.get("anonymous", True):
            await message.answer(t.CONTACT_NOT_ASKED + "\n" + t.CONFIRM_OR_CANCEL, reply_markup=CONFIRM)
            return
        sender = message.from_user.id if message.from_user else None
        if contact.user_id is None or contact.user_id != sender:
            await message.answer(t.NOT_YOUR_CONTACT, reply_markup=CONFIRM_CONTACT)
            return
        name = clip(" ".join(p for p in (contact.first_name, contact.last_name) if p), "reporter.name")
        phone = contact.phone_number.strip()
        if phone and not phone.startswith("+"):
            phone = "+" + phone  # Telegram sends the international number without its "+"
        await _file_draft(
            message,
            state,
            intake,
            work,
            draft,
            Reporter(name=name or None, phone=clip(phone, "reporter.phone")),
        )

    @router.message(Report.confirm, F.text.in_(t.CONFIRM_WORDS))
    async def confirm(message: Message, state: FSMContext, intake: TelegramIntake, work: UpdateWork) -> None:
        draft = await state.get_data()
        if not draft.get("anonymous", True):
            await message.answer(t.SHARE_CONTACT_FIRST, reply_markup=CONFIRM_CONTACT)
            return
        await _file_draft(message, state, intake, work, draft, None)

    @router.message(Report.what)
    async def what_again(message: Message) -> None:
        await message.answer(t.PROMPT_WHAT)

    @router.message(Report.who)
    async def who_again(message: Message) -> None:
        await message.answer(t.PROMPT_WHO, reply_markup=SKIP)

    @router.message(Report.media)
    async def media_again(message: Message) -> None:
        await message.answer(t.PROMPT_MEDIA, reply_markup=DONE)

    @router.message(Report.identity)
    async def identity_again(message: Message) -> None:
        await message.answer(t.PROMPT_IDENTITY, reply_markup=CHOOSE)

    @router.message(Report.confirm)
    async def confirm_again(message: Message, state: FSMContext) -> None:
        anonymous = (await state.get_data()).get("anonymous", True)
        if anonymous:
            await message.answer(t.CONFIRM_OR_CANCEL, reply_markup=CONFIRM)
        else:
            await message.answer(t.SHARE_CONTACT_FIRST, reply_markup=CONFIRM_CONTACT)

    return router


async def _file_draft(
    message: Message,
    state: FSMContext,
    intake: TelegramIntake,
    work: UpdateWork,
    draft: dict[str, Any],
    reporter: Reporter | None,
) -> None:
    try:
        receipt = await intake.file(work, draft, reporter)
    except IntakeError as exc:
        await message.answer(exc.message)
        return
    await state.clear()
    media = sum(1 for job in work.jobs if job[0] == MEDIA_JOB)
    await message.answer(t.receipt_text(receipt, media), reply_markup=MENU)


def idle_router() -> Router:
    router = Router(name="telegram-idle")
    router.message.filter(StateFilter(None))

    @router.message(F.text.in_({t.BTN_REPORT, "举报"}))
    async def begin(message: Message, state: FSMContext) -> None:
        await _start_report(message, state)

    @router.message(F.text == t.BTN_STATUS)
    async def status_usage(message: Message) -> None:
        await message.answer(t.USAGE_STATUS)

    @router.message(F.text == t.BTN_ADD)
    async def add_usage(message: Message) -> None:
        await message.answer(t.USAGE_ADD)

    @router.message(F.text.startswith("举报"))
    async def report_text(message: Message, intake: TelegramIntake, work: UpdateWork) -> None:
        await _file_text(message, intake, work, _text(message)[2:].strip(" ：:，,。"))

    @router.message(F.text.startswith("查询"))
    async def status_text(message: Message, intake: TelegramIntake, work: UpdateWork) -> None:
        await _status(message, intake, work, _text(message)[2:].strip(" ：:，,"))

    @router.message(F.text.startswith("补充"))
    async def add_text(message: Message, intake: TelegramIntake, work: UpdateWork) -> None:
        await _add(message, intake, work, _text(message)[2:].strip(" ：:，,"))

    @router.message(F.contact)
    async def stray_contact(message: Message) -> None:
        await message.answer(t.CONTACT_NOT_ASKED, reply_markup=MENU)

    @router.message(F.photo | F.document | F.location)
    async def stray_media(message: Message) -> None:
        await message.answer(t.STARTED_FIRST + "\n" + t.help_text(), reply_markup=MENU)

    @router.message()
    async def anything(message: Message) -> None:
        await message.answer(t.help_text(), reply_markup=MENU)

    return router


def routers() -> list[Router]:
    """In order: commands work in any state, then the dialogue's steps, then the idle menu."""
    return [commands_router(), report_router(), idle_router()]
