"""What a channel hands the pipeline (:class:`Submission`) and what it gets back (:class:`Receipt`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

CHANNELS = ("web", "app", "wechat", "weibo", "phone", "sms", "telegram", "letter", "visit", "video")
# What staff read for each channel tag: the console, the command line and exports alike.
CHANNEL_LABELS = {
    "web": "网上举报",
    "app": "移动客户端",
    "wechat": "微信",
    "weibo": "微博",
    "phone": "电话",
    "sms": "短信",
    "telegram": "Telegram",
    "letter": "来信",
    "visit": "来访",
    "video": "视频接访",
}

STATUS_LABELS = {
    "received": "已接收，等待登记",
    "registered": "已登记",
    "accepted": "已受理",
    "not_accepted": "不予受理",
    "assigned": "办理中",
    "transferred": "已转办",
    "supervised": "督办中",
    "replied": "已答复",
    "closed": "已办结",
}


@dataclass(frozen=True)
class Accused:
    name: str | None = None
    unit: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class Location:
    division_code: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Reporter:
    """The informant's identity: sealed into the vault before anything is stored."""

    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None

    def is_empty(self) -> bool:
        return not any((self.name, self.id_number, self.phone, self.address))


@dataclass(frozen=True)
class Upload:
    """A file the informant attached. ``identifying``: proof of their own identity (an ID card or
    work-card photo): sealed in the vault with the identity, never shown to handlers."""

    filename: str
    content_type: str
    data: bytes
    identifying: bool = False


@dataclass(frozen=True)
class Submission:
    """One report as a channel normalised it. ``handles`` (IP address, phone number, openid …) are
    identity too and are sealed; ``external_id`` makes platform and client retries idempotent."""

    channel: str
    content: str
    title: str | None = None
    category: str | None = None
    accused: Accused = field(default_factory=Accused)
    location: Location = field(default_factory=Location)
    reporter: Reporter = field(default_factory=Reporter)
    anonymous: bool = True
    external_id: str | None = None
    handles: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Upload, ...] = ()
    # The unit whose entry point took the report (its form at /u/{code}/, the app's ``unit``, a
    # platform account configured for it); None: the deployment's receiving unit. The case
    # number carries it.
    receiving_unit: str | None = None


@dataclass(frozen=True)
class ImportedCase:
    """A historical case from an office's old records (``intake reports import``): filed on its
    own date with the status it had, its old dates and statuses kept as ``history`` events
    (kind, time, payload), under ``key`` (the file's hash and the row number: a second run of the
    same file finds every row already in)."""

    key: str
    received_at: datetime
    status: str
    actor: str
    history: tuple[tuple[str, datetime, dict[str, object]], ...] = ()


@dataclass(frozen=True)
class SignedReceipt:
    """A receipt anyone can check (:mod:`intake.receipts`): the four fields and the deployment's
    Ed25519 signature (base64) over their sorted, compact JSON."""

    case_no: str
    unit: str
    received_at: str
    sha256: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Receipt:
    """Returned only after the report is committed. ``query_code`` is None when a retry arrives
    after the receipt window closed (the code is then no longer recoverable by anyone)."""

    case_no: str
    query_code: str | None
    channel: str
    status: str
    received_at: datetime
    created: bool
    # The signed receipt (受理回执) every new report's informant gets; None for imported cases.
    signed: SignedReceipt | None = None


@dataclass(frozen=True)
class Reply:
    at: datetime
    text: str


@dataclass(frozen=True)
class CaseStatus:
    case_no: str
    channel: str
    status: str
    status_label: str
    received_at: datetime
    updated_at: datetime
    replies: list[Reply]
    followups: int


def format_query_code(code: str) -> str:
    """``1234567890123456`` → ``1234 5678 9012 3456`` for reading aloud and copying."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_query_code(raw: str) -> str | None:
    """Accept the code with spaces or hyphens; None when it cannot be a code at all."""
    digits = "".join(ch for ch in raw if not ch.isspace() and ch != "-")
    digits = digits.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return digits if len(digits) == 16 and digits.isascii() and digits.isdigit() else None
