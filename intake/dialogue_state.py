"""Dialogue state and update de-duplication for channels that run their own state machine
(Telegram, whose dialogue is aiogram's FSM), over the same store as :mod:`intake.conversations`.

The rules are the same as for WeChat and Weibo:

* state is keyed by the **blind index** of the informant's handle (an HMAC of the chat id), never
  the handle; the draft is sealed by storage;
* each platform update is taken in hand once (keyed hash of its id): a redelivery is recognised
  and not processed again; a report filed from an update carries that hash as its external id, so
  a redelivery racing a crash still makes one report;
* the new state, the "done" mark of the update and the jobs it started (media downloads) are
  committed in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from intake.channel_intake import ChannelIntake
from intake.conversations import STALE_AFTER
from storage.conversations import ConversationStore

IDLE = "idle"  # the stored step of a conversation with no dialogue in progress


class DialogueLedger:
    def __init__(self, intake: ChannelIntake, channel: str) -> None:
        self.channel = channel
        self._intake = intake
        self._store: ConversationStore = intake.dialogue_store
        self._clock = intake.clock

    def conversation_key(self, handle_kind: str, handle: str) -> str:
        return self._intake.conversation_key(handle_kind, handle)

    def update_key(self, update_id: str) -> str:
        """The keyed hash standing for a platform update (and the external id of its report)."""
        return self._intake.mac("channel-message", f"{self.channel}|{update_id}".encode())

    async def claim(self, update_key: str) -> bool:
        """True when this caller processes the update; False when it was seen before."""
        claim = await self._store.claim_message(update_key, self.channel, self._clock.now())
        return claim.fresh

    async def release(self, update_key: str) -> None:
        """Forget an update whose processing failed, so that its redelivery is processed."""
        await self._store.release_message(update_key)

    async def load(self, conversation_key: str) -> tuple[str | None, dict[str, Any]]:
        """The conversation's state (None when idle) and draft; a draft left too long starts over."""
        record = await self._store.get(conversation_key)
        if record is None or self._clock.now() - record.updated_at >= STALE_AFTER:
            return None, {}
        return (None if record.step == IDLE else record.step), dict(record.draft)

    async def finish(
        self,
        *,
        update_key: str,
        conversation_key: str,
        state: str | None,
        draft: dict[str, Any],
        jobs: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        await self._store.finish_message(
            message_key=update_key,
            reply=None,
            conversation_key=conversation_key,
            channel=self.channel,
            step=state or IDLE,
            draft=draft if state else None,
            now=self._clock.now(),
            jobs=jobs,
        )
