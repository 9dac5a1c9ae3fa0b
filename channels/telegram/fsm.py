"""aiogram's FSM over the project's dialogue store, holding no identity.

Why not ``MemoryStorage`` or ``RedisStorage``: aiogram keys both by the chat id in plaintext
(``fsm:<bot>:<chat>:<user>``), and memory loses a half-written report on every restart and is not
shared by several server processes. :class:`SealedStorage` instead keys the state by the blind
index of the chat id (:class:`intake.dialogue_state.DialogueLedger`) and keeps the draft sealed, in
the same ``conversations`` table as the WeChat and Weibo dialogues.

Reads and writes go through the :class:`UpdateWork` of the update being processed (a context
variable set by the adapter): the state is read once, changed in memory by the handlers, and
written — with the update's "done" mark and the media jobs it started — in one transaction after
the handlers ran. A handler that fails leaves the stored state as it was, and the redelivered
update starts from there.

The FSM data never holds the informant's identity: a real-name informant's contact is not kept
between messages (sharing it *is* the confirmation, and it goes straight into the report, which
the pipeline seals).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from intake.dialogue_state import DialogueLedger

HANDLE_KIND = "telegram_chat_id"


@dataclass
class Entry:
    state: str | None
    data: dict[str, Any]


@dataclass
class UpdateWork:
    """One update's unit of work: its key (the external id of a report it files), the chat's
    conversation key, the state read and changed, and the jobs to queue with the commit."""

    update_key: str
    conversation_key: str
    chat_id: str
    entries: dict[str, Entry] = field(default_factory=dict)
    jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


CURRENT: contextvars.ContextVar[UpdateWork] = contextvars.ContextVar("telegram_update_work")


class SealedStorage(BaseStorage):
    def __init__(self, ledger: DialogueLedger) -> None:
        self._ledger = ledger

    async def entry(self, key: StorageKey) -> Entry:
        work = CURRENT.get(None)
        if work is None:
            raise RuntimeError("the Telegram FSM is used outside an update")
        conversation = self._ledger.conversation_key(HANDLE_KIND, str(key.chat_id))
        found = work.entries.get(conversation)
        if found is None:
            state, data = await self._ledger.load(conversation)
            found = work.entries[conversation] = Entry(state, data)
        return found

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        (await self.entry(key)).state = state.state if isinstance(state, State) else state

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self.entry(key)).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        (await self.entry(key)).data = dict(data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict((await self.entry(key)).data)

    async def close(self) -> None:
        return None
