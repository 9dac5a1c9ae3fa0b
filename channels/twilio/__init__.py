"""The ``twilio`` channel: the phone hotline (reports tagged ``phone``) and SMS/MMS (``sms``) through
Twilio, at ``/channels/twilio/voice…`` and ``/channels/twilio/sms``."""

from collections.abc import Mapping

from channels.base import ChannelSpec
from channels.twilio.views import TwilioAdapter

# Deployment-wide settings this channel cannot run without (``server.config.SHARED_SETTINGS``):
# Twilio's signatures are computed over the public URL it was given.
SHARED_REQUIRED = ("PUBLIC_URL",)


class TwilioSpec(ChannelSpec):
    def missing_settings(self, section: Mapping[str, str]) -> list[str]:
        missing = super().missing_settings(section)
        return [f"INTAKE_{k}" for k in SHARED_REQUIRED if not section.get(k)] + missing


SPEC = TwilioSpec(
    name="twilio",
    title="举报电话 / 短信（Twilio）",
    route_prefix="/channels/twilio",
    settings_prefix="INTAKE_TWILIO_",
    required_settings=("ACCOUNT_SID", "AUTH_TOKEN"),
    factory=TwilioAdapter,
)
