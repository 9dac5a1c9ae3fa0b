"""The column mapping of an import: which column of an office's spreadsheet is which field.

A mapping file is JSON (``docs/data.md``)::

    {"columns": {"登记日期": "received_at", "来源": "channel", "信访人": "reporter.name", …},
     "channels": {"信件": "letter"}, "statuses": {"已结案": "closed"},
     "defaults": {"channel": "letter"}}

Without one, :data:`DEFAULT_COLUMNS` is used: the headings of a typical 信访登记表 and those of our
own export, so an export imports again as it is. Several columns may feed one text field (joined
by a line break, in column order). Values of the identity fields (``reporter.*``) are handed to
the pipeline, which seals them; nothing here ever puts a value into a message.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intake.domain import CHANNEL_LABELS
from intake.errors import ValidationError
from intake.limits import FIELD_LIMITS, MAX_CONTENT

# Every field a column can be mapped to, with its longest value (the pipeline's limits).
FIELDS: dict[str, int] = {
    "received_at": 40,
    "channel": 40,
    "status": 40,
    "closed_at": 40,
    "result": 2000,
    "source_case_no": 64,
    "content": MAX_CONTENT,
    **FIELD_LIMITS,
    "location.division_code": 12,
}
IDENTITY_FIELDS = frozenset(f for f in FIELDS if f.startswith("reporter."))
# Text fields several columns may feed (joined by a line break).
JOINED_FIELDS = frozenset({"content", "result", "title", "location.text"})

# What each field is called in staff-facing messages.
FIELD_LABELS = {
    "received_at": "登记日期",
    "channel": "来源",
    "status": "办理状态",
    "closed_at": "办结日期",
    "result": "办理结果",
    "source_case_no": "原编号",
    "title": "标题",
    "content": "反映内容",
    "category": "问题类别",
    "accused.name": "被反映人",
    "accused.unit": "单位",
    "accused.position": "职务",
    "location.text": "问题发生地",
    "location.division_code": "区划代码",
    "reporter.name": "信访人",
    "reporter.id_number": "身份证号",
    "reporter.phone": "联系电话",
    "reporter.address": "通信地址",
}

# The headings of a typical 信访登记表, and of this system's own CSV/XLSX export.
DEFAULT_COLUMNS: dict[str, str] = {
    "登记日期": "received_at",
    "来信日期": "received_at",
    "来访日期": "received_at",
    "信访日期": "received_at",
    "收件日期": "received_at",
    "受理日期": "received_at",
    "来源": "channel",
    "信访形式": "channel",
    "来源渠道": "channel",
    "渠道": "channel",
    "信访人": "reporter.name",
    "举报人": "reporter.name",
    "来信人": "reporter.name",
    "来访人": "reporter.name",
    "联系电话": "reporter.phone",
    "电话": "reporter.phone",
    "手机号码": "reporter.phone",
    "身份证号": "reporter.id_number",
    "身份证号码": "reporter.id_number",
    "通信地址": "reporter.address",
    "住址": "reporter.address",
    "联系地址": "reporter.address",
    "被反映人": "accused.name",
    "被举报人": "accused.name",
    "单位": "accused.unit",
    "被反映人单位": "accused.unit",
    "工作单位": "accused.unit",
    "职务": "accused.position",
    "被反映人职务": "accused.position",
    "标题": "title",
    "反映内容": "content",
    "主要内容": "content",
    "内容摘要": "content",
    "问题类别": "category",
    "类别": "category",
    "问题发生地": "location.text",
    "地点": "location.text",
    "区划代码": "location.division_code",
    "办理状态": "status",
    "状态": "status",
    "办理结果": "result",
    "处理结果": "result",
    "办结日期": "closed_at",
    "编号": "source_case_no",
    "信访件编号": "source_case_no",
    "原编号": "source_case_no",
    "案件编号": "source_case_no",
}

# Channel words of offices' registers → our channel tags (DESIGN.md).
CHANNEL_WORDS: dict[str, str] = {
    "来信": "letter",
    "信件": "letter",
    "写信": "letter",
    "邮寄": "letter",
    "信访信件": "letter",
    "来访": "visit",
    "走访": "visit",
    "接访": "visit",
    "现场": "visit",
    "现场来访": "visit",
    "网络": "web",
    "网上": "web",
    "网站": "web",
    "网络举报": "web",
    "网上举报": "web",
    "网上信访": "web",
    "电子邮件": "web",
    "邮件": "web",
    "电话": "phone",
    "来电": "phone",
    "热线": "phone",
    "12388": "phone",
    "12388电话": "phone",
    "短信": "sms",
    "微信": "wechat",
    "微信公众号": "wechat",
    "微博": "weibo",
    "视频": "video",
    "视频接访": "video",
    "客户端": "app",
    "手机客户端": "app",
    "移动客户端": "app",
    "app": "app",
    "telegram": "telegram",
}

# How the export names each channel (the console's words; each maps back above).
CHANNEL_NAMES = CHANNEL_LABELS

# Status words of offices' registers (and our own labels) → our statuses.
STATUS_WORDS: dict[str, str] = {
    "已接收": "received",
    "已接收，等待登记": "received",
    "待登记": "received",
    "登记": "registered",
    "已登记": "registered",
    "受理": "accepted",
    "已受理": "accepted",
    "不予受理": "not_accepted",
    "不受理": "not_accepted",
    "办理中": "assigned",
    "正在办理": "assigned",
    "在办": "assigned",
    "交办": "assigned",
    "已交办": "assigned",
    "转办": "transferred",
    "已转办": "transferred",
    "转送": "transferred",
    "已转送": "transferred",
    "督办": "supervised",
    "督办中": "supervised",
    "已督办": "supervised",
    "答复": "replied",
    "已答复": "replied",
    "办结": "closed",
    "已办结": "closed",
    "结案": "closed",
    "已结案": "closed",
    "完结": "closed",
    "已完结": "closed",
}
STATUSES = (
    "received",
    "registered",
    "accepted",
    "not_accepted",
    "assigned",
    "transferred",
    "supervised",
    "replied",
    "closed",
)
CHANNEL_TAGS = ("web", "app", "wechat", "weibo", "phone", "sms", "telegram", "letter", "visit", "video")


def normalise_word(value: str) -> str:
    """``" 来 信 "``, ``"ＡＰＰ"`` → ``"来信"``, ``"app"``: full width, case and spaces do not count."""
    return "".join(unicodedata.normalize("NFKC", value).split()).lower()


def normalise_heading(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).split()).strip("*：:")


@dataclass(frozen=True)
class ColumnMapping:
    """A checked mapping: heading → field, and the extra channel and status words."""

    columns: dict[str, str]
    channels: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    def channel_of(self, value: str) -> str | None:
        word = normalise_word(value)
        return self.channels.get(word) or _CHANNELS.get(word) or (word if word in CHANNEL_TAGS else None)

    def status_of(self, value: str) -> str | None:
        word = normalise_word(value)
        return self.statuses.get(word) or _STATUSES.get(word) or (word if word in STATUSES else None)


_CHANNELS = {normalise_word(k): v for k, v in CHANNEL_WORDS.items()}
_STATUSES = {normalise_word(k): v for k, v in STATUS_WORDS.items()}
DEFAULT = ColumnMapping({normalise_heading(k): v for k, v in DEFAULT_COLUMNS.items()})

MAX_MAPPING_BYTES = 256 * 1024


def _bad(message: str) -> ValidationError:
    return ValidationError(f"映射文件有误：{message}", code="invalid_mapping")


def parse_mapping(doc: Any) -> ColumnMapping:
    """Check a mapping document; a wrong one is a :class:`ValidationError` naming what is wrong."""
    if not isinstance(doc, dict):
        raise _bad("应为 JSON 对象。")
    unknown = set(doc) - {"columns", "channels", "statuses", "defaults", "description"}
    if unknown:
        raise _bad(f"不认识的键 {'、'.join(sorted(unknown))}。")
    columns = doc.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise _bad("缺少 columns（列名到字段的对应）。")
    checked: dict[str, str] = {}
    for heading, target in columns.items():
        if not isinstance(target, str) or target not in FIELDS:
            raise _bad(f"列“{heading[:40]}”对应的字段不存在，可用的字段见文档。")
        checked[normalise_heading(heading)] = target
    if "content" not in checked.values():
        raise _bad("没有对应“反映内容”（content）的列。")

    def words(key: str, allowed: tuple[str, ...]) -> dict[str, str]:
        given = doc.get(key) or {}
        if not isinstance(given, dict):
            raise _bad(f"{key} 应为 JSON 对象。")
        out = {}
        for word, tag in given.items():
            if not isinstance(tag, str) or tag not in allowed:
                raise _bad(f"{key} 中“{str(word)[:40]}”对应的值不存在。")
            out[normalise_word(str(word))] = tag
        return out

    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"channel", "status"}:
        raise _bad("defaults 只能给出 channel 和 status。")
    if defaults.get("channel") not in (None, *CHANNEL_TAGS):
        raise _bad("defaults.channel 不是已知渠道。")
    if defaults.get("status") not in (None, *STATUSES):
        raise _bad("defaults.status 不是已知状态。")
    return ColumnMapping(
        checked,
        words("channels", CHANNEL_TAGS),
        words("statuses", STATUSES),
        {k: str(v) for k, v in defaults.items()},
    )


def load_mapping(path: Path) -> ColumnMapping:
    try:
        raw = path.read_bytes()
    except OSError:
        raise ValidationError("无法读取映射文件。", code="mapping_unreadable") from None
    if len(raw) > MAX_MAPPING_BYTES:
        raise _bad("文件过大。")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad("不是有效的 JSON（UTF-8）。") from None
    return parse_mapping(doc)
