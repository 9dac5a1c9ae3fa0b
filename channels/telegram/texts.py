"""What the Telegram bot says, in Simplified Chinese. No text repeats an informant's identity; the
summary before filing repeats only what they wrote about the matter."""

from __future__ import annotations

from intake.clock import CHINA
from intake.dialogue_texts import ALREADY_FILED, Notice
from intake.dialogue_texts import CANCELLED as CANCELLED  # the bot says it too
from intake.domain import CaseStatus, Receipt

# Menu buttons (a reply keyboard): their texts are what the bot receives when pressed.
BTN_REPORT, BTN_STATUS, BTN_ADD, BTN_HELP = "我要举报", "查询进展", "补充材料", "帮助"
BTN_SKIP, BTN_DONE = "跳过", "好了"
BTN_ANONYMOUS, BTN_REAL_NAME = "匿名举报", "实名举报"
BTN_CONFIRM, BTN_CONFIRM_CONTACT, BTN_CANCEL = "确认提交", "确认并分享联系方式", "取消"

DONE_WORDS = {BTN_DONE, "没有", "无", "完成", "跳过", "好"}
SKIP_WORDS = {BTN_SKIP, "没有", "无"}
CANCEL_WORDS = {BTN_CANCEL, "退出", "放弃", "/cancel"}
CONFIRM_WORDS = {BTN_CONFIRM, "确认", "提交", "是"}
MAX_REPLY_CHARS = 3500  # Telegram allows 4096 characters per message


def privacy_notice(notice: Notice) -> str:
    web = notice.web_place
    return (
        "【隐私提示】Telegram 平台能够看到您在这里发送的全部消息、照片和分享的联系方式，"
        "这些内容会保存在 Telegram 的服务器上。"
        f"如举报内容敏感，或担心身份泄露，请改用{web}或拨打举报电话 {notice.hotline}。"
    )


def welcome_text(notice: Notice) -> str:
    return "您好，这里受理检举控告、申诉和其他信访事项。\n\n" + privacy_notice(notice) + "\n\n" + help_text()


def help_text() -> str:
    return (
        f"点“{BTN_REPORT}”按步骤填写；\n"
        "/report 内容 —— 直接提交举报；\n"
        "/status 查询码 —— 查看办理进展和答复；\n"
        "/add 查询码 内容 —— 补充材料；\n"
        "/cancel —— 放弃正在填写的举报。"
    )


PROMPT_WHAT = "请描述您要反映的问题：发生了什么事？\n可随时发送 /cancel 放弃。"
PROMPT_WHO = "被反映人是谁（姓名、单位、职务）？事情发生在哪里？可发文字，也可发送位置。\n没有可点“跳过”。"
PROMPT_MEDIA = (
    "如有照片或文件等材料，请现在发送（最多 9 份，每份不超过 10 MB）。"
    f"发送完毕请点“{BTN_DONE}”；没有也请点“{BTN_DONE}”。"
)
PROMPT_IDENTITY = (
    f"请选择“{BTN_ANONYMOUS}”或“{BTN_REAL_NAME}”。实名举报需分享您的 Telegram 联系方式（姓名和手机号），"
    "实名举报优先办理，身份信息将加密保管，不会告诉被反映人。"
)
USAGE_STATUS = "请发送“/status 查询码”，例如：/status 1234567890123456"
USAGE_ADD = "请发送“/add 查询码 补充内容”，例如：/add 1234567890123456 另有一份转账记录"
NO_MEDIA = "这里暂不能接收材料：请用文字描述，或通过网上举报平台上传。发送完毕请点“好了”。"
MEDIA_TYPE_REFUSED = (
    "这种文件暂不能接收：请发送照片（JPG、PNG、GIF）或录音（MP3、AMR），其他材料请通过网上举报平台上传。"
)
MEDIA_TOO_LARGE = "文件超过 10 MB，请压缩后再发，或通过网上举报平台上传。"
NOT_YOUR_CONTACT = "请点下方按钮分享您本人的联系方式；不便实名的，可回复“匿名”改为匿名举报。"
CONTACT_NOT_ASKED = "无需分享联系方式：匿名举报不记录您的身份。"
SHARE_CONTACT_FIRST = f"请点“{BTN_CONFIRM_CONTACT}”分享联系方式以提交；回复“匿名”可改为匿名举报。"
CONFIRM_OR_CANCEL = f"请点“{BTN_CONFIRM}”提交，或点“{BTN_CANCEL}”放弃。"
STARTED_FIRST = f"如需提交材料，请先点“{BTN_REPORT}”开始填写。"


def receipt_text(receipt: Receipt, media: int = 0) -> str:
    lines = ["您的举报已受理登记。", f"案件编号：{receipt.case_no}"]
    if receipt.query_code:
        lines += [
            f"查询码：{receipt.query_code}",
            "请抄下并妥善保存查询码，不要告诉他人；抄下后可删除本条消息。",
            "发送“/status 查询码”可了解办理进展，发送“/add 查询码 内容”可补充材料。",
        ]
    else:
        lines.append(ALREADY_FILED)
    if media:
        lines.append(f"您发送的 {media} 份材料将随后附入案件。")
    return "\n".join(lines)


def summary_text(draft: dict[str, object]) -> str:
    lines = ["请核对：", "反映的问题：" + _clip(str(draft.get("what", "")), 300)]
    if draft.get("who"):
        lines.append("被反映人及地点：" + _clip(str(draft["who"]), 150))
    if draft.get("location"):
        lines.append("位置：" + _clip(str(draft["location"]), 100))
    media = draft.get("media")
    if isinstance(media, list) and media:
        lines.append(f"材料：{len(media)} 份")
    if draft.get("anonymous", True):
        lines += ["方式：匿名", CONFIRM_OR_CANCEL]
    else:
        lines += [
            "方式：实名（身份信息将加密保管）",
            f"点“{BTN_CONFIRM_CONTACT}”即分享联系方式并提交；点“{BTN_CANCEL}”放弃。",
        ]
    return "\n".join(lines)


def status_text(found: CaseStatus) -> str:
    lines = [
        f"案件编号：{found.case_no}",
        f"办理状态：{found.status_label}",
        f"受理时间：{found.received_at.astimezone(CHINA):%Y-%m-%d %H:%M}",
        f"最近更新：{found.updated_at.astimezone(CHINA):%Y-%m-%d %H:%M}",
    ]
    if found.replies:
        lines.append("答复：")
        lines += [f"{r.at.astimezone(CHINA):%Y-%m-%d} {r.text}" for r in found.replies[-3:]]
    else:
        lines.append("暂无答复。")
    return _clip("\n".join(lines), MAX_REPLY_CHARS)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
