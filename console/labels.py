"""What the console shows for the codes it renders (Simplified Chinese): triage scopes, levels,
priorities, channels, decisions, audit events, actors, recusals, notification templates."""

from __future__ import annotations

from intake.clock import china_time as china_time  # the console renders times through this module
from intake.domain import CHANNEL_LABELS as CHANNEL_LABELS
from intake.labels import ADVICE_LABELS as ADVICE_LABELS
from intake.labels import EXPLANATION_LABELS as EXPLANATION_LABELS
from intake.labels import LEVEL_NAMES, PRIORITY_NAMES, SCOPE_NAMES
from intake.workflow.actions import ACTION_LABELS

RECUSAL_BY = {"informant": "信访人", "staff": "工作人员"}
RECUSAL_STATUS = {"pending": "待决定", "granted": "准予回避", "denied": "不予回避"}
TEMPLATE_LABELS = {
    "status_changed": "状态变更",
    "replied": "已有答复",
    "deadline": "期限通知",
    "text": "文字通知",
}
ERROR_LABELS = {"DeliveryFailed": "渠道发送失败", "DeliveryUnavailable": "渠道未配置发送服务"}

# Triage's words and the channels' names have one source each, shared with the command line.
SCOPE_LABELS = SCOPE_NAMES
LEVEL_LABELS = LEVEL_NAMES
PRIORITY_LABELS = PRIORITY_NAMES
DECISION_LABELS = {
    "category": "问题类别",
    "scope": "性质",
    "accused": "被反映人",
    "routing": "办理层级与单位",
    "priority": "紧急程度",
    "confidence": "把握",
    "duplicate": "重复件",
    "places": "地点",
    "redaction": "信息保护",
}
EVENT_LABELS = {
    "received": "收到信访举报",
    "imported": "导入历史案件",
    "triaged": "自动分流",
    "triage_corrected": "人工修改分流",
    "triage_confirmed": "人工确认分流",
    "registered": "登记",
    # An action's event is named by the action, and reads as its label.
    **{
        a: ACTION_LABELS[a]
        for a in ("accept", "redirect", "assign", "transfer", "supervise", "reply", "close")
    },
    "answer_supervision": "答复督办函",
    "close_supervision": "审核督办函",
    "staff_alerted": "催办提醒（工作台及邮件）",
    "reopened": "复查/复核/重新办理",
    "objection_recorded": "登记异议",
    "merged": "作为重复件并入主案件",
    "merged_in": "并入重复件",
    "deadline_extended": "延长期限",
    "deadline_reminder": "期限提醒",
    "deadline_opened": "开始计算法定期限",
    "recusal_requested": "回避申请",
    "recusal_decided": "回避决定",
    "review_requested": "信访人申请复查/复核或提出异议",
    "feedback_given": "信访人评价答复",
    "followup_added": "信访人补充材料",
    "reply_added": "发出答复",
    "attachment_added": "补充附件",
    "informant_notified": "已通知信访人",
    "notice_letter_owed": "应寄送告知书",
    "notice_letter_mailed": "告知书已寄出",
    "vault_reveal_requested": "申请查阅身份信息",
    "vault_reveal_approved": "批准查阅身份信息",
    "vault_reveal_refused": "拒绝查阅身份信息",
    "vault_shredded": "身份信息已按期销毁",
    # 线索处置 (issue 18)
    "clue_opened": "作为问题线索受理",
    "clue_proposed": "提出线索处置意见",
    "clue_reviewed": "线索处置意见逐级审批",
    "clue_approved": "批准线索处置意见",
    "clue_returned": "退回线索处置意见",
    "clue_answered": "登记谈话情况或函询回复",
    "clue_plan": "制定初步核实工作方案",
    "clue_reactivated": "重新启用暂存线索",
    "clue_result_reported": "线索处置结果已反馈受理单位",
    "clue_reported_up": "线索及处置情况已报告上级纪检监察机关",
    # Reads on record (全程留痕 covers access): shown apart, under 查阅记录.
    "case_opened": "查阅案件",
    "attachment_opened": "打开附件",
}
# The events that record a read, not a change of the case.
READ_EVENTS = frozenset({"case_opened", "attachment_opened"})
ACTOR_LABELS = {
    "system:triage": "系统（自动分流）",
    "system:workflow": "系统（办理流程）",
    "system:deadlines": "系统（期限管理）",
    "system:urging": "系统（催办）",
    "informant": "信访人",
}
RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
REVIEW_KINDS = {"review": "复查", "re_review": "复核", "objection": "异议"}
REOPEN_KINDS = {"review": "复查/复核申请", "objection": "对处理结果有异议", "new_evidence": "提供新证据"}


def actor_label(actor: str) -> str:
    if actor in ACTOR_LABELS:
        return ACTOR_LABELS[actor]
    kind, _, name = actor.partition(":")
    if kind == "staff":
        return f"{name}（工作人员）"
    if kind == "channel":
        return f"{CHANNEL_LABELS.get(name, name)}渠道"
    if kind == "import":
        return "命令行导入" if name == "cli" else f"{name}导入"
    return actor
