"""The ``weibo`` channel: the fan-service platform's pushes (粉丝服务平台) at ``/channels/weibo``."""

from channels.base import ChannelSpec
from channels.weibo.views import WeiboAdapter

SPEC = ChannelSpec(
    name="weibo",
    title="微博",
    route_prefix="/channels/weibo",
    settings_prefix="INTAKE_WEIBO_",
    required_settings=("APP_SECRET",),
    factory=WeiboAdapter,
)
