"""The ``web`` channel: the citizen report form at ``/`` and the query-code pages at ``/status``."""

from channels.base import ChannelSpec
from channels.web.views import WebAdapter

SPEC = ChannelSpec(
    name="web",
    title="网上举报",
    route_prefix="/",
    settings_prefix="INTAKE_WEB_",
    required_settings=(),
    factory=WebAdapter,
)
