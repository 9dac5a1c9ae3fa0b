"""Channels: one folder per channel, each exporting a ``SPEC``; ``REGISTRY`` lists them all.

Nothing registers itself at import time: the server mounts what is listed here, and only when the
channel's required settings are present.
"""

from channels.app import SPEC as APP
from channels.base import ChannelSpec
from channels.telegram import SPEC as TELEGRAM
from channels.twilio import SPEC as TWILIO
from channels.web import SPEC as WEB
from channels.wechat import SPEC as WECHAT
from channels.weibo import SPEC as WEIBO

REGISTRY: tuple[ChannelSpec, ...] = (WEB, APP, WECHAT, WEIBO, TWILIO, TELEGRAM)
