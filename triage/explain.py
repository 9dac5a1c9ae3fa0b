"""Explanations an officer can check: every triage decision in plain Simplified Chinese.

One entry per decision (``scope``, ``category``, ``level``, ``unit``, ``urgency``, ``duplicate``,
and ``review`` for the manual queue), each::

    {"decision": "level",
     "text": "被反映人是金凤村党支部书记张某某（村干部），属乡镇党委管理的党员，
              由乡镇纪委受理（依据《纪检监察机关处理检举控告工作规则》第十一条第三项）。",
     "words": [{"text": "金凤村党支部书记", "start": 7, "end": 15}, …],
     "confidence": 0.9, "confidence_label": "高", "confidence_text": "把握：高（0.90）"}

``words`` are the words of the report that decided it, with their offsets in the text as the
informant wrote it (traditional script and full-width forms included: offsets are found on a
character-by-character folded copy, so they point into the original). A word that cannot be placed
(the normalization joined characters the original had apart) is left out of ``words`` but still
named in ``text``. No rule identifiers, English or program values reach the text: the
regulations are cited by name and article.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from triage.accused import Accused
from triage.lexicon import LEVEL_RANK, NON_COMMITTEE_VILLAGE_POSTS
from triage.normalize import fold_for_search
from triage.routing import Route
from triage.scope import ScopeDecision

_VIA = "via the 派出监察办公室"  # the routing note naming the township's office (R6)
RULES = "《纪检监察机关处理检举控告工作规则》"
IMPL = "《监察法实施条例》"
STATIONED = "《纪检监察机关派驻机构工作规则》"
XF = "《信访工作条例》"

LEVEL_NAMES = {
    "central": "中央", "province": "省级", "city": "市级", "county": "县级", "township": "乡镇",
    "village": "村级",
}  # fmt: skip
MANAGER_NAMES = {
    "central": "党中央",
    "province": "省委",
    "city": "市委",
    "county": "县委",
    "township": "乡镇党委",
}
SCOPE_NAMES = {
    "accusation": "检举控告", "appeal": "申诉", "suggestion": "批评建议", "petition": "其他信访诉求",
    "out_of_scope": "不予受理",
}  # fmt: skip
PRIORITY_NAMES = {"urgent": "紧急", "high": "较急", "normal": "一般"}
URGENT_REASONS = {
    "threat": "扬言报复或伤害他人",
    "retaliation": "举报人可能遭受打击报复",
    "safety": "危及生命或公共安全",
    "group": "可能引发群体性事件",
    "self_harm": "有自伤自残倾向",
}


def label(confidence: float) -> str:
    """高 (≥ 0.85) · 中 (≥ 0.6, the manual-queue threshold) · 低."""
    return "高" if confidence >= 0.85 else "中" if confidence >= 0.6 else "低"


def _quote(words: Iterable[str], limit: int = 4) -> str:
    """The first ``limit`` distinct words, each in quotation marks, joined by 、."""
    seen = dict.fromkeys(words)
    seen.pop("", None)
    if not seen:
        return ""
    return "“" + "”、“".join(list(seen)[:limit]) + "”"


class _Locator:
    """Offsets of words in the original text (searched on its folded, same-length copy)."""

    def __init__(self, original: str, normalized: str | None = None) -> None:
        self._original, self._normalized = original, normalized
        self._folded: str | None = None

    @property
    def folded(self) -> str:
        """The folded copy, made on the first search (many explanations cite no word)."""
        # (Not a functools.cached_property: that takes a lock on every first access.)
        if self._folded is None:
            # A text already in triage's form (simplified, no full-width, no stray spaces: most
            # reports) needs no conversion for the search.
            original = self._original
            self._folded = original.lower() if original == self._normalized else fold_for_search(original)
        return self._folded

    def spans(self, words: Collection[str]) -> list[dict[str, Any]]:
        if not words:
            return []
        out: list[dict[str, Any]] = []
        taken: set[tuple[int, int]] = set()
        for word in dict.fromkeys(w for w in words if w):
            i = self.folded.find(word.lower())
            while i >= 0 and taken and any(i < e and s < i + len(word) for s, e in taken):
                i = self.folded.find(word.lower(), i + 1)
            if i < 0:
                continue
            taken.add((i, i + len(word)))
            out.append({"text": word, "start": i, "end": i + len(word)})
        return sorted(out, key=lambda w: w["start"])


@functools.lru_cache(maxsize=4096)
def _confidence(confidence: float) -> tuple[float, str, str]:
    """A confidence as shown: rounded, its label and its text (the same few values recur)."""
    c = round(float(confidence), 2)
    level = label(c)
    return c, level, f"把握：{level}（{c:.2f}）"


def _entry(decision: str, text: str, words: list[dict[str, Any]], confidence: float) -> dict[str, Any]:
    c, level, shown = _confidence(confidence)
    return {
        "decision": decision,
        "text": text,
        "words": words,
        "confidence": c,
        "confidence_label": level,
        "confidence_text": shown,
    }


def _advice(sc: ScopeDecision) -> str:
    target = sc.redirect_to or "有权处理的机关"
    if sc.advice == "forward":
        return f"来信转交{target}处理"
    if sc.advice == "inform":
        return f"告知反映人向{target}反映"
    if sc.advice == "request_facts":
        return "请反映人补充材料：写明被反映人是谁、在什么时间什么地点做了什么事"
    if sc.advice == "file":
        return "来信无法联系补充，存档备查"
    return ""


def _scope_text(sc: ScopeDecision) -> str:
    kind = sc.rule.split(" ", 1)[0]
    hit = _quote(sc.words)
    advice = _advice(sc)
    tail = f"；处理意见：{advice}" if advice else ""
    if kind == "SS":
        return f"属于申诉：文中{hit}表明对处分或处理决定不服（依据{RULES}第四条）。"
    if kind == "BSL-WSZ":
        named = f"只写了{hit}等违纪违法行为的名称" if hit else "只写了违纪违法行为的名称"
        return (
            f"暂不受理，需补充材料：{named}，没有写明具体的人、时间、地点和事实"
            f"（依据{RULES}第十三条第三项）{tail}。"
        )
    if kind == "BSL-SS":
        return (
            f"不予受理：文中{hit}表明属于诉讼、仲裁、行政复议等途径解决的事项，且未反映公职人员违纪违法"
            f"（依据{RULES}第十三条第一项）{tail}。"
        )
    if kind == "BSL-QT":
        return f"不予受理：文中{hit}表明属于其他机关的职责范围（依据{RULES}第十三条第二项）{tail}。"
    if kind == "JJKG":
        if hit:
            return f"属于检举控告：文中{hit}反映了违纪或职务违法、职务犯罪行为（依据{RULES}第四条）。"
        return f"属于检举控告：文中反映了公职人员的问题（依据{RULES}第四条），但未出现明确的违纪违法词语。"
    if kind == "PPJY":
        return f"属于批评建议：文中{hit}是对党风廉政建设和反腐败工作的意见建议（依据{RULES}第四条）。"
    if sc.rule.startswith("XF 建议意见类"):
        return f"属于建议意见：文中{hit}是对公共事务的建议，由有关机关研究处理（依据{XF}第三十条）{tail}。"
    if hit:
        return f"属于其他信访诉求：文中{hit}是对有关机关的诉求（依据{XF}第三十一条）{tail}。"
    return f"属于其他信访诉求：未发现违纪违法或其他可判断性质的词语{tail}。"


def _who(a: Accused) -> str:
    return f"{a.unit}{a.title}{a.name or ''}"


def _deciding(accused: Sequence[Accused], route: Route) -> Accused | None:
    if not accused:
        return None
    if "R8" in route.rules:
        return next((a for a in accused if a.commission_head), accused[0])
    return min(accused, key=lambda x: (LEVEL_RANK[x.managed_by], x.start))


def _level_tail(route: Route, accused: Sequence[Accused]) -> str:
    """What every level text ends with: several accused, a former office holder, a handover."""
    rules = set(route.rules)
    extra: list[str] = []
    if len({x.managed_by for x in accused}) > 1:
        extra.append(f"文中反映了{len(accused)}名人员，按管理层级最高的一名分办")
    if "R14" in rules:
        extra.append(f"被反映人已退休或离任，对其在职期间的问题仍有管辖权（依据{IMPL}第五十三条）")
    if "R13" in rules:
        extra.append("其他机关移交的问题线索，由案件监督管理部门统一接收")
    return "".join(f"；{e}" for e in extra) + "。"


def _r8_text(who: str, a: Accused, route: Route, tail: str) -> str:
    return (
        f"{who}，是本机关主要负责人：应密封径送上一级纪检监察机关（{route.unit.name}），"
        f"不得拆封、复制或在平台登记（依据{RULES}第十五条第一款）{tail}"
    )


def _r1_text(who: str, a: Accused, route: Route, tail: str) -> str:
    return f"{who}，属中央管理干部，由中央纪委国家监委受理（依据{RULES}第十一条第一项）{tail}"


def _r9_text(who: str, a: Accused, route: Route, tail: str) -> str:
    return (
        f"{who}，所在单位实行垂直管理，由其主管部门的纪检监察机构（{route.unit.name}）办理；"
        f"本地纪委监委须先与其协商方可受理（依据{RULES}第十二条）{tail}"
    )


def _r10_text(who: str, a: Accused, route: Route, tail: str) -> str:
    return (
        f"{who}，是派驻监督单位的领导班子成员，由派出机关{route.unit.name}办理，派驻纪检监察组可参与"
        f"（依据{STATIONED}第二十四条、第二十八条）{tail}"
    )


def _r11_text(who: str, a: Accused, route: Route, tail: str) -> str:
    unit = route.unit.name
    return f"{who}，由驻在单位党组管理，由{unit}受理（依据{STATIONED}第二十七条、第二十九条）{tail}"


def _r7_text(who: str, a: Accused, route: Route, tail: str) -> str:
    return (
        f"{who}；视频接访反映乡科级和村级干部问题的，首先由县级纪检监察机关（{route.unit.name}）接待"
        f"（本地规定，可关闭）{tail}"
    )


def _r6_text(who: str, a: Accused, route: Route, tail: str) -> str:
    post = (
        "担任村“两委”以外的职务，未写明是党员"
        if a.title in NON_COMMITTEE_VILLAGE_POSTS and a.party is None
        else "不是党员"
    )
    office = next((n.split(" at ", 1)[1] for n in route.notes if n.startswith(_VIA)), None)
    via = f"，可经{office}派出监察办公室受理" if office else ""
    return (
        f"{who}，{post}，属基层群众性自治组织中从事管理的人员（监察对象），由县级监委（{route.unit.name}）办理"
        f"{via}（依据{IMPL}第四十二条、第四十六条）{tail}"
    )


def _r5_text(who: str, a: Accused, route: Route, tail: str) -> str:
    member = "属乡镇党委管理的党员" if a.party else "属乡镇党委管理"
    note = "；文中未写明是否党员，如不是党员，由县级监委办理" if a.party is None else ""
    also = f"，{route.secondary.name}同时备案" if route.secondary else ""
    unit = route.unit.name
    return f"{who}，{member}，由乡镇纪委（{unit}）受理{also}（依据{RULES}第十一条第三项）{note}{tail}"


def _managed_text(who: str, a: Accused, route: Route, tail: str) -> str:
    """R2–R4: the commission at the level whose party committee manages the accused."""
    manager = MANAGER_NAMES.get(a.managed_by, "同级党委")
    basis = "按职级推定" if not a.management_rule else "按本地干部管理名单"
    special = ""
    if a.managed_by == "province" and a.division and a.division[2:4] == "90":
        special = "；所在县级市由省直辖，没有地级市党委，其领导干部由省委管理"
    return (
        f"{who}，{basis}属{manager}管理，由{LEVEL_NAMES[route.level]}纪委监委受理"
        f"（依据{RULES}第十一条第二项）{special}{tail}"
    )


# The level text of the first of these rules the route applied; none of them: :func:`_managed_text`.
_RULE_TEXTS: tuple[tuple[str, Callable[[str, Accused, Route, str], str]], ...] = (
    ("R8", _r8_text),
    ("R1", _r1_text),
    ("R9", _r9_text),
    ("R10", _r10_text),
    ("R11", _r11_text),
    ("R7", _r7_text),
    ("R6", _r6_text),
    ("R5", _r5_text),
)


def _level_text(route: Route, a: Accused | None, accused: Sequence[Accused], *, receiving: str) -> str:
    tail = _level_tail(route, accused)
    if route.rules and route.rules[0].startswith("§2.3"):
        return f"不予受理的事项由本机关（{receiving}）按处理意见办理，不再分办{tail}"
    if a is None:
        if "R12" in route.rules and route.rules[0] == "R12":
            return f"未识别出被反映人；反映的地点都在本辖区以外，按属地由{route.unit.name}办理{tail}"
        return f"未识别出被反映人，暂由本机关（{receiving}）受理，需人工确定承办单位{tail}"
    who = f"被反映人是{_who(a)}（{a.rank}）"
    text = next((f for rule, f in _RULE_TEXTS if rule in route.rules), _managed_text)
    return text(who, a, route, tail)


def _unit_text(route: Route) -> str:
    unit = route.unit.name
    parts = [f"承办单位：{unit}"]
    if route.transfer == "upward" and "R8" not in route.rules:
        parts.append(f"需在5个工作日内密封上报，不在平台登记、不得复制（依据{RULES}第十五条）")
    elif route.transfer == "downward":
        parts.append(f"下转办理，下级应在5个工作日内受理或转办（依据{RULES}第十六条）")
    elif route.transfer == "sideways":
        parts.append(f"属其他机关管辖，在5个工作日内转送（依据{RULES}第十五条）")
    if route.secondary is not None and "R5" in route.rules:
        parts.append(f"同时报{route.secondary.name}备案")
    if route.unit.id is None:
        parts.append("该单位不在本系统的组织机构中，需线下转送")
    return "；".join(parts) + "。"


def _urgency_text(priority: str, reasons: Sequence[str], words: Sequence[str]) -> str:
    hit = _quote(words)
    if priority == "urgent":
        why = "、".join(URGENT_REASONS.get(r, "情况紧急") for r in reasons) or "情况紧急"
        return f"紧急：文中{hit}表明{why}，应优先处理。" if hit else f"紧急：{why}，应优先处理。"
    if priority == "high":
        found: list[str] = []
        if "real_name" in reasons:
            found.append("实名举报")
        if "large_sum" in reasons:
            found.append("涉及金额较大（10万元以上）")
        if "repeat" in reasons:
            found.append("重复或多次反映")
        return f"较急：{'、'.join(found) or '需要优先处理'}。" + (f"依据文中{hit}。" if hit else "")
    return "一般：未发现需要优先处理的情形。"


def build(
    original: str,
    *,
    sc: ScopeDecision,
    category: str,
    category_confidence: float,
    category_words: Sequence[str],
    by_model: bool,
    route: Route,
    accused: Sequence[Accused],
    receiving: str,
    priority: str,
    priority_reasons: Sequence[str],
    priority_words: Sequence[str],
    duplicate_of: str | None,
    confidence: float,
    needs_review: bool,
    threshold: float,
    place_words: Sequence[str],
    normalized: str | None = None,
) -> list[dict[str, Any]]:
    """The explanations of one triage result (see the module docstring)."""
    loc = _Locator(original, normalized)
    out = [_entry("scope", _scope_text(sc), loc.spans(sc.words), sc.confidence)]
    if by_model:
        why = f"，起作用的词语有{_quote(category_words, 3)}" if category_words else ""
        text = f"问题类别为“{category}”：由本单位已分类的历史件训练的模型判断{why}。"
    elif category_words:
        text = f"问题类别为“{category}”：文中出现{_quote(category_words)}等词语。"
    else:
        text = f"问题类别暂定为“{category}”：文中没有可判断类别的词语。"
    out.append(_entry("category", text, loc.spans(category_words), category_confidence))
    a = _deciding(accused, route) if sc.scope != "out_of_scope" else None
    level_words = [w for w in ((a.unit + a.title) if a else "", a.name if a else "") if w]
    out.append(
        _entry(
            "level",
            _level_text(route, a, accused, receiving=receiving),
            loc.spans(level_words),
            route.confidence,
        )
    )
    out.append(_entry("unit", _unit_text(route), loc.spans(place_words[:3]), route.confidence))
    # A large sum is cited as triage read it (500,000元), not as written: only the text's own words.
    priority_words = [w for w in priority_words if loc.folded.find(w.lower()) >= 0]
    urgency_conf = 0.9 if priority != "normal" else 0.8
    out.append(
        _entry(
            "urgency",
            _urgency_text(priority, priority_reasons, priority_words),
            loc.spans(priority_words),
            urgency_conf,
        )
    )
    if duplicate_of:
        text = (
            f"疑似重复件：与已登记的案件{duplicate_of}内容高度相似（七成以上词语相同），"
            f"登记后留存备查，不再重复交办（依据{RULES}第十四条）。"
        )
        out.append(_entry("duplicate", text, [], 0.85))
    else:
        out.append(_entry("duplicate", "未发现与已登记案件内容相同的重复件。", [], 0.85))
    if needs_review:
        text = f"总体把握不足（{confidence:.2f}，低于{threshold:.2f}），转人工分办，请核对上述判断。"
    else:
        text = f"总体把握{label(confidence)}（{confidence:.2f}），可按上述建议分办，请核对后确认。"
    out.append(_entry("review", text, [], confidence))
    return out


def render(explanations: Sequence[Mapping[str, Any]]) -> str:
    """The explanations as plain lines for the command line (one decision a line)."""
    names = {
        "scope": "性质",
        "category": "类别",
        "level": "层级",
        "unit": "承办",
        "urgency": "紧急程度",
        "duplicate": "重复件",
        "review": "复核",
    }
    lines = []
    for e in explanations:
        words = "、".join(f"{w['text']}[{w['start']}–{w['end']}]" for w in e.get("words") or [])
        line = f"{names.get(str(e['decision']), '判断')}：{e['text']}（{e['confidence_text']}）"
        if words:
            line += f"\n    依据词语：{words}"
        lines.append(line)
    return "\n".join(lines)
