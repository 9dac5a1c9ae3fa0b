"""What the platform dialogues say (Simplified Chinese; they never repeat an informant's
identity), and the reading of their commands: one copy for WeChat, Weibo, SMS, the phone line and
the Telegram bot (:mod:`intake.conversations` is the engine that speaks them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from intake.clock import CHINA
from intake.domain import Receipt, normalise_query_code

MAX_REPLY_CHARS = 600  # WeChat's passive text reply is limited to 2048 bytes


@dataclass(frozen=True)
class Notice:
    """Where the privacy notice sends sensitive reports."""

    web_url: str = ""
    hotline: str = "12388"

    @property
    def web_place(self) -> str:
        """The web form, as the notices name it."""
        return f"网上举报平台（{self.web_url}）" if self.web_url else "本机关网上举报平台"


def welcome_text(platform: str, notice: Notice) -> str:
    web = notice.web_place
    return (
        "您好，欢迎关注！这里受理检举控告、申诉和其他信访事项。\n\n"
        f"【隐私提示】{platform}平台能够读取您在这里发送的全部消息。"
        f"如举报内容敏感，或担心身份泄露，请改用{web}或拨打举报电话 {notice.hotline}。\n\n" + help_text()
    )


def help_text() -> str:
    return (
        "回复“举报”按步骤填写；\n"
        "回复“举报 内容”直接提交；\n"
        "回复“查询 查询码”查看办理进展和答复；\n"
        "回复“补充 查询码 内容”补充材料；\n"
        "填写中回复“取消”可放弃。"
    )


PROMPT_WHAT = "请描述您要反映的问题：发生了什么事？（可发文字或语音）\n回复“取消”可随时放弃。"
PROMPT_WHO = "被反映人是谁（姓名、单位、职务）？事情发生在哪里？可发文字，也可发送位置。\n没有可回复“跳过”。"
PROMPT_MEDIA = "如有照片、录音等材料，请现在发送（最多 9 份）。发送完毕请回复“好了”；没有请回复“没有”。"
PROMPT_IDENTITY = (
    "请选择匿名或实名：\n回复“匿名”匿名举报；\n回复“实名 姓名 手机号”实名举报"
    "（实名举报优先办理，您的身份信息将加密保管，不会告诉被反映人）。"
)
NO_VOICE_TEXT = "未能识别这段语音，请改发文字。"
# Said by every platform dialogue (the Telegram bot's own texts take these too).
CANCELLED = "已取消本次填写，填写的内容没有保存。"
ALREADY_FILED = "这条消息此前已提交；查询码只在首次提交时显示，如已遗失请通过网上举报平台重新反映。"
NO_MEDIA = "这里暂不能接收图片和语音材料：请用文字描述，或通过网上举报平台上传材料。发送完毕请回复“好了”。"


def filing_reply(receipt: Receipt, media: int = 0) -> str:
    lines = ["您的举报已受理登记。", f"案件编号：{receipt.case_no}"]
    if receipt.query_code:
        lines.append(f"查询码：{receipt.query_code}")
        lines.append("请妥善保存查询码，不要告诉他人；凭查询码可发送“查询 查询码”了解办理进展。")
    else:
        lines.append(ALREADY_FILED)
    if media:
        lines.append(f"您发送的 {media} 份材料将随后附入案件。")
    if receipt.signed is not None:
        # The signed receipt as one line of JSON: what the /verify page and `intake receipt verify` take.
        lines.append("受理回执（带数字签名，可在网上举报平台的“回执核验”页面核验，不含您的身份信息）：")
        lines.append(json.dumps(receipt.signed.as_dict(), ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines)


# --- reading commands, writing summaries ---------------------------------------------------------


def clean_text(text: str) -> str:
    """A message's text with full-width spaces made plain and the ends trimmed."""
    return text.replace("\u3000", " ").strip()


def rest_of(text: str, word: str) -> str:
    """What follows a command word: ``查询 1234…`` → ``1234…``."""
    return text[len(word) :].strip(" ：:，,。")


def split_code(text: str) -> tuple[str | None, str]:
    """``1234 5678 9012 3456 内容`` → (code, 内容); the code may carry spaces or hyphens."""
    digits, i = "", 0
    while i < len(text) and len(digits) < 16:
        ch = text[i]
        if ch.isdigit():
            digits += ch
        elif not (ch.isspace() or ch == "-"):
            break
        i += 1
    code = normalise_query_code(digits)
    return code, text[i:].strip(" ：:，,")


def summary(draft: dict[str, Any]) -> str:
    lines = ["请核对：", "反映的问题：" + clip(draft.get("what", ""), 200)]
    if draft.get("who"):
        lines.append("被反映人及地点：" + clip(draft["who"], 100))
    if draft.get("location"):
        lines.append("位置：" + clip(draft["location"], 100))
    media = len(draft.get("media", []))
    if media:
        lines.append(f"材料：{media} 份")
    lines.append("方式：匿名" if draft.get("anonymous", True) else "方式：实名（身份信息将加密保管）")
    lines.append("回复“确认”提交，回复“取消”放弃。")
    return "\n".join(lines)


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def status_reply(found: Any) -> str:
    lines = [
        f"案件编号：{found.case_no}",
        f"办理状态：{found.status_label}",
        f"受理时间：{found.received_at.astimezone(CHINA):%Y-%m-%d %H:%M}",
        f"最近更新：{found.updated_at.astimezone(CHINA):%Y-%m-%d %H:%M}",
    ]
    if found.replies:
        lines.append("答复：")
        for reply in found.replies[-3:]:
            lines.append(f"{reply.at.astimezone(CHINA):%Y-%m-%d} {reply.text}")
    else:
        lines.append("暂无答复。")
    return clip("\n".join(lines), MAX_REPLY_CHARS)
