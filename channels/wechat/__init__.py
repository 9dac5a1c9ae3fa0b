"""The ``wechat`` channel: an official account's messages (safe mode) at ``/channels/wechat``."""

from channels.base import ChannelSpec
from channels.wechat.views import WeChatAdapter

SPEC = ChannelSpec(
    name="wechat",
    title="微信公众号",
    route_prefix="/channels/wechat",
    settings_prefix="INTAKE_WECHAT_",
    required_settings=("TOKEN", "ENCODING_AES_KEY", "APP_ID"),
    factory=WeChatAdapter,
)
