"""The ``telegram`` channel: a bot (aiogram 3) by webhook at ``/channels/telegram`` or long polling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.base import ChannelSpec

if TYPE_CHECKING:
    from channels.base import Adapter, ChannelContext


def _adapter(ctx: ChannelContext) -> Adapter:
    # Imported when the channel is mounted, not with the registry: aiogram takes seconds and
    # ~170 MB to import (pydantic builds its models), which servers without Telegram need not pay.
    from channels.telegram.views import TelegramAdapter

    return TelegramAdapter(ctx)


SPEC = ChannelSpec(
    name="telegram",
    title="Telegram",
    route_prefix="/channels/telegram",
    settings_prefix="INTAKE_TELEGRAM_",
    required_settings=("TOKEN", "WEBHOOK_SECRET"),
    factory=_adapter,
)
