"""The Twilio channel's settings (``INTAKE_TWILIO_*`` and ``INTAKE_PUBLIC_URL``), checked at start:
a bad value stops the server with a message naming the variable, never a surprise at call time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time

from channels.twilio.api import DEFAULT_API_BASE
from intake.clock import CHINA

E164 = re.compile(r"\+[1-9]\d{6,14}")
DEFAULT_HOURS = "08:30-12:00,14:30-17:30"
HOURS = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class OfficeHours:
    """When a person can take the call: weekdays (1 = Monday) and time ranges, China time."""

    days: frozenset[int]
    ranges: tuple[tuple[time, time], ...]
    text: str

    def open_at(self, at: datetime) -> bool:
        local = at.astimezone(CHINA)
        if local.isoweekday() not in self.days:
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.ranges)


def parse_hours(hours: str, days: str) -> OfficeHours:
    ranges = []
    for part in hours.split(","):
        m = HOURS.fullmatch(part.strip())
        if m is None:
            raise SystemExit("INTAKE_TWILIO_OFFICE_HOURS must look like 08:30-12:00,14:00-17:30")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
            raise SystemExit("INTAKE_TWILIO_OFFICE_HOURS has an empty or impossible range")
        ranges.append((time(h1, m1), time(h2, m2)))
    m = re.fullmatch(r"([1-7])-([1-7])", days.strip())
    if m is None or int(m.group(1)) > int(m.group(2)):
        raise SystemExit("INTAKE_TWILIO_OFFICE_DAYS must look like 1-5 (Monday to Friday)")
    text = "，".join(f"{a:%H:%M}到{b:%H:%M}" for a, b in ranges)
    return OfficeHours(frozenset(range(int(m.group(1)), int(m.group(2)) + 1)), tuple(ranges), text)


def parse_number_units(text: str) -> dict[str, str]:
    """``+8673184000001=430121102, +8673184000002=430121104``: the unit each number files to."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        number, _, unit = (p.strip() for p in part.partition("="))
        if not E164.fullmatch(number) or not re.fullmatch(r"[0-9]{2,12}", unit):
            raise SystemExit("INTAKE_TWILIO_NUMBER_UNITS must look like +8673184000001=430121102,+86…=…")
        out[number] = unit
    return out


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    public_url: str
    api_base: str
    sms_from: str | None
    dial_number: str | None
    office: OfficeHours
    say_language: str
    voice: str
    speech_language: str
    record_seconds: int
    # The unit the hotline files to (INTAKE_TWILIO_UNIT), and per number called (NUMBER_UNITS).
    unit: str | None = None
    number_units: Mapping[str, str] = field(default_factory=dict)

    def unit_of(self, called: str) -> str | None:
        """The receiving unit of a call or message to the number ``called`` (Twilio's ``To``)."""
        return self.number_units.get(called, self.unit)

    @classmethod
    def from_section(cls, s: Mapping[str, str]) -> TwilioSettings:
        public = _public_url(s)
        if not re.fullmatch(r"AC[0-9a-f]{32}", s["ACCOUNT_SID"]):
            raise SystemExit("INTAKE_TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits")
        sender, dial, seconds = _sender(s), _dial_number(s), _record_seconds(s)
        return cls(
            account_sid=s["ACCOUNT_SID"],
            auth_token=s["AUTH_TOKEN"],
            public_url=public,
            api_base=_or(s, "API_BASE", DEFAULT_API_BASE).rstrip("/"),
            sms_from=sender,
            dial_number=dial,
            office=parse_hours(
                _or(s, "OFFICE_HOURS", "08:30-12:00,14:30-17:30"), _or(s, "OFFICE_DAYS", "1-5")
            ),
            say_language=_or(s, "SAY_LANGUAGE", "cmn-CN"),
            voice=_or(s, "VOICE", "Polly.Zhiyu"),
            speech_language=_or(s, "SPEECH_LANGUAGE", "zh-CN"),
            record_seconds=seconds,
            unit=s.get("UNIT") or None,
            number_units=parse_number_units(_or(s, "NUMBER_UNITS", "")),
        )


def _or(s: Mapping[str, str], key: str, default: str) -> str:
    """A setting, or its default when unset or empty."""
    return s.get(key) or default


def _public_url(s: Mapping[str, str]) -> str:
    public = s["PUBLIC_URL"].rstrip("/")
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", public):
        raise SystemExit("INTAKE_PUBLIC_URL must be an absolute http(s) URL")
    return public


def _sender(s: Mapping[str, str]) -> str | None:
    sender = s.get("SMS_FROM") or None
    if sender is not None and not (E164.fullmatch(sender) or re.fullmatch(r"MG[0-9a-f]{32}", sender)):
        raise SystemExit("INTAKE_TWILIO_SMS_FROM must be an E.164 number or a Messaging Service SID")
    return sender


def _dial_number(s: Mapping[str, str]) -> str | None:
    dial = s.get("DIAL_NUMBER") or None
    if dial is not None and not E164.fullmatch(dial):
        raise SystemExit("INTAKE_TWILIO_DIAL_NUMBER must be an E.164 number (+86…)")
    return dial


def _record_seconds(s: Mapping[str, str]) -> int:
    seconds = _or(s, "RECORD_SECONDS", "300")
    if not seconds.isdigit() or not 10 <= int(seconds) <= 3600:
        raise SystemExit("INTAKE_TWILIO_RECORD_SECONDS must be between 10 and 3600")
    return int(seconds)
