"""Settings from the environment. With none set, the embedded default: SQLite and key files under
``./var``, the bundled demo jurisdiction, and only the channels that need no secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storage.db import default_sqlite_url

# Deployment-wide settings handed to every channel's section under their short name
# (``INTAKE_PUBLIC_URL`` → ``PUBLIC_URL``), so that a channel can require them to be mounted.
SHARED_SETTINGS = ("PUBLIC_URL",)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number") from None


def _at_least(env: Mapping[str, str], name: str, default: int, least: int) -> int:
    value = _int(env, name, default)
    if value < least:
        raise SystemExit(f"{name} must be at least {least}")
    return value


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _between(env: Mapping[str, str], name: str, default: int, least: int, most: int) -> int:
    value = _at_least(env, name, default, least)
    if value > most:
        raise SystemExit(f"{name} must be at most {most}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    jurisdiction_file: Path | None
    max_json_bytes: int
    max_file_bytes: int
    max_files: int
    status_attempts_per_minute: int
    reports_per_informant_per_hour: int
    trust_forwarded_for: bool
    receipt_window_hours: int
    log_level: str
    triage_model: Path | None
    env: Mapping[str, str] = field(repr=False)
    # Where the platform channels' privacy notice sends sensitive reports (issue 5).
    public_url: str = ""
    hotline: str = "12388"
    # Staff accounts (issue 8): bearer-token lifetime; failed logins allowed per account from one
    # address and per address across accounts, refilled over the window (issue 14: no lock).
    staff_token_hours: int = 8
    staff_max_failures: int = 5
    staff_address_failures: int = 20
    staff_lockout_minutes: int = 15
    job_lease_seconds: int = 300
    triage_processes: int = 1
    # The scrypt work factor of staff passwords, as log2 N (15: N = 2^15, 32 MiB, ~0.1 s a hash).
    # Tests lower it (10) as Django's test settings swap in a fast hasher; 10 is the floor.
    staff_scrypt_log_n: int = 15
    # The notifier (issue 7): messages per informant per hour, and the app's push gateway.
    notify_per_informant_per_hour: int = 5
    app_push_url: str = ""
    # Video reception (issue 9): weekly slots ("tue 09:00-11:30/30; thu 09:00-11:30/30", moved to
    # the next working day around holidays), ICE servers as the JSON of RTCPeerConnection's
    # ``iceServers`` (none: host candidates only, a LAN), room-token lifetime, the seconds a
    # dropped participant keeps their seat, and the largest recording one session may upload.
    reception_slots: str = "tue 09:00-11:30/30; thu 09:00-11:30/30"
    reception_ice_servers: str = "[]"
    reception_token_minutes: int = 10
    reception_reconnect_seconds: int = 15
    reception_worker_lease_seconds: int = 15
    reception_max_recording_mb: int = 200
    # The server records every participant (issue 20); off: the township browser uploads its own.
    reception_server_recording: bool = True
    # Retention of the platform channels' dialogue state, swept every hour: a guided-dialogue draft
    # idle this many days, and the platform message ids seen (with their replies) after these hours.
    dialogue_retention_days: int = 30
    seen_message_retention_hours: int = 48
    # Statistics (issue 18): counts below this are withheld ("<5"); a spike needs this many reports.
    stats_min_cell: int = 5
    stats_spike_min: int = 5
    # A statistics read (table, alerts, measures) is kept this long for the same scope and
    # question (0: never kept, each read exact).
    stats_cache_seconds: int = 60
    # Urging alerts by e-mail (issue 18): the SMTP server (no host: the console inbox alone).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = ""
    smtp_starttls: bool = False
    smtp_timeout_seconds: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("INTAKE_DATA_DIR") or "var").resolve()
        jurisdiction = env.get("INTAKE_JURISDICTION_FILE")
        return cls(
            data_dir=data_dir,
            database_url=env.get("INTAKE_DATABASE_URL") or default_sqlite_url(data_dir),
            jurisdiction_file=Path(jurisdiction) if jurisdiction else None,
            max_json_bytes=_int(env, "INTAKE_MAX_JSON_BYTES", 1024 * 1024),
            max_file_bytes=_int(env, "INTAKE_MAX_FILE_BYTES", 10 * 1024 * 1024),
            max_files=_int(env, "INTAKE_MAX_FILES", 5),
            status_attempts_per_minute=_int(env, "INTAKE_STATUS_ATTEMPTS_PER_MINUTE", 10),
            reports_per_informant_per_hour=_int(env, "INTAKE_REPORTS_PER_INFORMANT_PER_HOUR", 30),
            trust_forwarded_for=env.get("INTAKE_TRUST_FORWARDED_FOR", "") in ("1", "true", "yes"),
            receipt_window_hours=_int(env, "INTAKE_RECEIPT_WINDOW_HOURS", 24),
            log_level=env.get("INTAKE_LOG_LEVEL", "INFO").upper(),
            triage_model=Path(env["INTAKE_TRIAGE_MODEL"]) if env.get("INTAKE_TRIAGE_MODEL") else None,
            env=env,
            public_url=env.get("INTAKE_PUBLIC_URL", ""),
            hotline=env.get("INTAKE_HOTLINE") or "12388",
            staff_token_hours=_int(env, "INTAKE_STAFF_TOKEN_HOURS", 8),
            staff_max_failures=_int(env, "INTAKE_STAFF_MAX_FAILURES", 5),
            staff_address_failures=_int(env, "INTAKE_STAFF_ADDRESS_FAILURES", 20),
            staff_lockout_minutes=_int(env, "INTAKE_STAFF_LOCKOUT_MINUTES", 15),
            job_lease_seconds=_between(env, "INTAKE_JOB_LEASE_SECONDS", 300, 5, 3600),
            # Half the cores: storing a triaged report costs the server about as much CPU as
            # triaging it (bench/triage_drain.py), so more processes than that only queue.
            triage_processes=_between(env, "INTAKE_TRIAGE_PROCESSES", max(1, cores() // 2), 1, 64),
            staff_scrypt_log_n=_between(env, "INTAKE_STAFF_SCRYPT_LOG_N", 15, 10, 16),
            notify_per_informant_per_hour=_int(env, "INTAKE_NOTIFY_PER_INFORMANT_PER_HOUR", 5),
            app_push_url=env.get("INTAKE_APP_PUSH_URL", ""),
            reception_slots=env.get("INTAKE_RECEPTION_SLOTS") or "tue 09:00-11:30/30; thu 09:00-11:30/30",
            reception_ice_servers=env.get("INTAKE_RECEPTION_ICE_SERVERS") or "[]",
            reception_token_minutes=_int(env, "INTAKE_RECEPTION_TOKEN_MINUTES", 10),
            reception_reconnect_seconds=_int(env, "INTAKE_RECEPTION_RECONNECT_SECONDS", 15),
            reception_worker_lease_seconds=_int(env, "INTAKE_RECEPTION_WORKER_LEASE_SECONDS", 15),
            reception_max_recording_mb=_int(env, "INTAKE_RECEPTION_MAX_RECORDING_MB", 200),
            reception_server_recording=env.get("INTAKE_RECEPTION_SERVER_RECORDING", "1")
            not in ("0", "false", "no"),
            dialogue_retention_days=_at_least(env, "INTAKE_DIALOGUE_RETENTION_DAYS", 30, 1),
            seen_message_retention_hours=_at_least(env, "INTAKE_SEEN_MESSAGE_RETENTION_HOURS", 48, 1),
            stats_min_cell=_at_least(env, "INTAKE_STATS_MIN_CELL", 5, 1),
            stats_spike_min=_at_least(env, "INTAKE_STATS_SPIKE_MIN", 5, 1),
            stats_cache_seconds=_at_least(env, "INTAKE_STATS_CACHE_SECONDS", 60, 0),
            smtp_host=env.get("INTAKE_SMTP_HOST", ""),
            smtp_port=_at_least(env, "INTAKE_SMTP_PORT", 25, 1),
            smtp_user=env.get("INTAKE_SMTP_USER", ""),
            smtp_password=env.get("INTAKE_SMTP_PASSWORD", ""),
            smtp_from=env.get("INTAKE_SMTP_FROM", ""),
            smtp_starttls=env.get("INTAKE_SMTP_STARTTLS", "") in ("1", "true", "yes"),
            smtp_timeout_seconds=_at_least(env, "INTAKE_SMTP_TIMEOUT_SECONDS", 10, 1),
        )

    @property
    def max_upload_bytes(self) -> int:
        """The most a multipart form may carry: every file at its limit plus the text fields."""
        return self.max_files * self.max_file_bytes + 256 * 1024

    def section(self, prefix: str) -> dict[str, str]:
        """The settings of one channel: ``INTAKE_WECHAT_TOKEN`` → ``{"TOKEN": ...}``, plus the
        deployment-wide ones a channel may need (:data:`SHARED_SETTINGS`, e.g. ``PUBLIC_URL``, which
        Twilio's signatures are computed against)."""
        section = {k[len(prefix) :]: v for k, v in self.env.items() if k.startswith(prefix) and v}
        for name in SHARED_SETTINGS:
            value = self.env.get(f"INTAKE_{name}")
            if value:
                section.setdefault(name, value)
        return section
