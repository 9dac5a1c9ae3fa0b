"""The ``app`` channel: the mobile app's and integrators' JSON API under ``/api/v1``."""

from channels.app.views import AppAdapter
from channels.base import ChannelSpec

SPEC = ChannelSpec(
    name="app",
    title="移动应用 / 开放接口",
    route_prefix="/api/v1",
    settings_prefix="INTAKE_APP_",
    required_settings=(),
    factory=AppAdapter,
)
