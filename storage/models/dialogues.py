"""Platform dialogues (issue 5: WeChat and Weibo): where an informant is, messages already seen."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class Conversation(Base):
    """Where an informant is in a platform channel's guided dialogue. Keyed by the blind index of
    their channel handle (an HMAC, never the openid or uid itself); the draft is sealed."""

    __tablename__ = "conversations"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[str] = mapped_column(sa.String(24))
    draft: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    last_inbound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChannelMessage(Base):
    """A platform message already seen (keyed hash of its id), so that a platform's retries get
    the first answer again (sealed, kept a day) instead of being processed twice."""

    __tablename__ = "channel_messages"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(8))
    reply: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    __table_args__ = (sa.CheckConstraint("status IN ('pending','done')", name="status"),)
