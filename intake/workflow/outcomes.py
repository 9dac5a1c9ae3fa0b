"""How a case may end (办结): the outcomes the regulations name, by track, for the ``close``
action. A 纪检 item (检举控告) ends in one of the dispositions of 监督执纪工作规则 arts 21, 30 and
35 (domain_rules.md §4.4; 直接了结 and 查否了结 kept apart, as the CCDI article of 2020-04-02
asks); a 信访 item on the residual track ends in a 信访处理意见书 that supports, explains or does
not support (信访工作条例 art 32). The informant's timeline says only that the case was closed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    code: str
    label: str
    track: str  # jjkg | xf
    basis: str


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("direct_conclusion", "直接了结", "jjkg", "监督执纪工作规则第二十一条"),
    Outcome("checked_conclusion", "查否了结", "jjkg", "监督执纪工作规则第三十条、第三十五条"),
    Outcome("talk_reminder", "谈话提醒、批评教育、责令检查或诫勉", "jjkg", "监督执纪工作规则第三十条"),
    Outcome("case_opened", "立案审查调查", "jjkg", "监督执纪工作规则第三十五条"),
    Outcome("handed_over", "移送有关党组织、部门处理", "jjkg", "监督执纪工作规则第三十五条"),
    Outcome("supported", "支持（信访处理意见书）", "xf", "信访工作条例第三十二条"),
    Outcome("explained", "解释说明（信访处理意见书）", "xf", "信访工作条例第三十二条"),
    Outcome("not_supported", "不予支持（信访处理意见书）", "xf", "信访工作条例第三十二条"),
)
OUTCOME_BY_CODE = {o.code: o for o in OUTCOMES}
OUTCOME_LABELS = {o.code: o.label for o in OUTCOMES}


def outcomes_for(track: str) -> tuple[Outcome, ...]:
    return tuple(o for o in OUTCOMES if o.track == track)
