"""The triage vocabulary: titles (职务) with their rank by unit level, and the keyword lists.

Sources: ``research/domain_rules.md`` §10 (cadre rank vocabulary, seeded from 公务员法 art 18 and
county practice), §4.5 (被反映人级别 codes), §2.3 (不予受理 and redirect targets). The rank that a
title carries depends on the unit it belongs to — a 局长 is 正厅 in a province, 正处 in a city, 正科
in a county — so a title is stored with a *class*, and :data:`RANK_BY_CLASS` gives the rank for each
unit level. Everything here is data: a deployment overrides the management level through its
management lists (:class:`triage.jurisdiction.ManagementRule`), not by editing this module.
"""

from __future__ import annotations

from dataclasses import dataclass

# The tables are laid out by hand, several entries a line (a head beside its deputy), so that they
# read as tables; ruff format would put one entry a line.
# fmt: off

# Levels of the org tree (routing) and of places (places add the village, 村/社区).
LEVELS = ("central", "province", "city", "county", "township")
PLACE_LEVELS = ("province", "city", "county", "township", "village")
LEVEL_RANK = {"central": 0, "province": 1, "city": 2, "county": 3, "township": 4, "village": 5}
LEVEL_BY_CODE_LENGTH = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
CODE_LENGTH_BY_LEVEL = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}

# 被反映人级别 (§4.5), the tiers of 公务员法 art 18 plus the village and "unknown" buckets.
RANKS = (
    "正省部级", "副省部级", "正厅局级", "副厅局级", "正县处级", "副县处级", "正乡科级", "副乡科级",
    "一般干部", "村干部",
)

# Default managing level (干部管理权限) per rank when no management list says otherwise (§2.5):
# 省部级 → 中央, 厅局级 → 省委, 县处级 → 市委, 乡科级 → 县委. 一般干部 are managed where they work
# (None: the unit's own level); village cadres by the 乡镇党委.
MANAGED_BY_RANK: dict[str, str | None] = {
    "正省部级": "central", "副省部级": "central", "正厅局级": "province", "副厅局级": "province",
    "正县处级": "city", "副县处级": "city", "正乡科级": "county", "副乡科级": "county", "一般干部": None,
    "村干部": "township",
}

# Rank of a title class at each unit level: (central, province, city, county, township, village).
RANK_BY_CLASS: dict[str, tuple[str, str, str, str, str, str]] = {
    # 党委书记 and 政府首长 of a territory (省长, 市委书记, 县长, 镇长, 人大主任, 政协主席).
    "leader": ("正省部级", "正省部级", "正厅局级", "正县处级", "正乡科级", "村干部"),
    # Their deputies and 党委常委 (副县长, 县委常委, 副镇长, 人大副主任).
    "deputy": ("副省部级", "副省部级", "副厅局级", "副县处级", "副乡科级", "村干部"),
    # 纪委书记 / 监委主任 of a territory: a 党委常委, so a deputy's rank (县纪委书记 = 副县处级).
    "commission_head": ("副省部级", "副省部级", "副厅局级", "副县处级", "副乡科级", "村干部"),
    # Head of a department (厅长, 局长, 委主任, 部长) or of an institution (校长, 院长, 董事长).
    "dept_head": ("正省部级", "正厅局级", "正县处级", "正乡科级", "一般干部", "村干部"),
    "dept_deputy": ("副省部级", "副厅局级", "副县处级", "副乡科级", "一般干部", "村干部"),
    "division_head": ("正县处级",) * 6,  # 处长
    "division_deputy": ("副县处级",) * 6,  # 副处长
    "section_head": ("正乡科级",) * 6,  # 科长
    "section_deputy": ("副乡科级",) * 6,  # 副科长
    "staff": ("一般干部",) * 6,  # 科员, 工作人员, 民警, 股长, 站所人员
    "village": ("村干部",) * 6,  # 村支书, 村主任, 村会计, 社区书记
}


@dataclass(frozen=True)
class Title:
    """One title (职务) surface form.

    ``level`` is the unit level the word itself implies (县长 → county) or None when only the
    context tells (局长). ``party`` marks a party post (书记, 党组成员): the holder is a party member,
    which matters for village cadres (R5 乡镇纪委 vs R6 县监委). ``commission`` marks the head of a
    纪委监委 (R8). ``leadership`` marks a unit's own leadership (领导班子: R10 vs R11 for 派驻).
    """

    word: str
    cls: str
    level: str | None = None
    party: bool = False
    commission: bool = False
    leadership: bool = False


_L = {"leadership": True}
_P = {"party": True}
_PL = {"party": True, "leadership": True}

TITLES: tuple[Title, ...] = (
    # Territorial party secretaries and government heads.
    Title("省委书记", "leader", "province", **_PL),
    Title("省长", "leader", "province", **_L), Title("副省长", "deputy", "province", **_L),
    Title("省委副书记", "deputy", "province", **_PL), Title("省委常委", "deputy", "province", **_PL),
    Title("市委书记", "leader", "city", **_PL), Title("州委书记", "leader", "city", **_PL),
    Title("市长", "leader", "city", **_L), Title("州长", "leader", "city", **_L),
    Title("副市长", "deputy", "city", **_L), Title("副州长", "deputy", "city", **_L),
    Title("市委副书记", "deputy", "city", **_PL), Title("市委常委", "deputy", "city", **_PL),
    Title("县委书记", "leader", "county", **_PL), Title("区委书记", "leader", "county", **_PL),
    Title("县长", "leader", "county", **_L), Title("区长", "leader", "county", **_L),
    Title("副县长", "deputy", "county", **_L), Title("副区长", "deputy", "county", **_L),
    Title("县委副书记", "deputy", "county", **_PL), Title("区委副书记", "deputy", "county", **_PL),
    Title("县委常委", "deputy", "county", **_PL), Title("区委常委", "deputy", "county", **_PL),
    Title("镇党委书记", "leader", "township", **_PL), Title("乡党委书记", "leader", "township", **_PL),
    Title("街道党工委书记", "leader", "township", **_PL), Title("党工委书记", "leader", "township", **_PL),
    Title("镇委书记", "leader", "township", **_PL), Title("乡委书记", "leader", "township", **_PL),
    Title("镇长", "leader", "township", **_L), Title("乡长", "leader", "township", **_L),
    Title("副镇长", "deputy", "township", **_L), Title("副乡长", "deputy", "township", **_L),
    Title("镇党委副书记", "deputy", "township", **_PL), Title("乡党委副书记", "deputy", "township", **_PL),
    Title("党委委员", "deputy", None, **_PL),
    Title("街道办主任", "leader", "township", **_L), Title("街道办事处主任", "leader", "township", **_L),
    Title("办事处主任", "leader", "township", **_L), Title("街道办副主任", "deputy", "township", **_L),
    Title("办事处副主任", "deputy", "township", **_L),
    Title("人大主任", "leader", None, **_L), Title("人大常委会主任", "leader", None, **_L),
    Title("人大主席", "leader", "township", **_L),
    Title("人大副主任", "deputy", None, **_L), Title("人大常委会副主任", "deputy", None, **_L),
    Title("政协主席", "leader", None, **_L), Title("政协副主席", "deputy", None, **_L),
    Title("党委书记", "leader", None, **_PL), Title("党委副书记", "deputy", None, **_PL),
    Title("书记", "leader", None, **_PL), Title("副书记", "deputy", None, **_PL),
    Title("常委", "deputy", None, **_PL),
    Title("一把手", "leader", None, **_L),
    # Heads of the discipline commissions themselves (R8 when it is the receiving one).
    Title("纪委书记", "commission_head", None, commission=True, party=True, leadership=True),
    Title("纪工委书记", "commission_head", None, commission=True, party=True, leadership=True),
    Title("纪委监委主任", "commission_head", None, commission=True, party=True, leadership=True),
    Title("监委主任", "commission_head", None, commission=True, leadership=True),
    Title("纪委副书记", "dept_deputy", None, party=True, leadership=True),
    Title("监委副主任", "dept_deputy", None, leadership=True),
    Title("纪检组长", "dept_deputy", None, party=True, leadership=True),
    Title("纪检监察组长", "dept_deputy", None, party=True, leadership=True),
    # Departments and institutions.
    Title("部长", "dept_head", None, **_L), Title("副部长", "dept_deputy", None, **_L),
    Title("厅长", "dept_head", "province", **_L), Title("副厅长", "dept_deputy", "province", **_L),
    Title("局长", "dept_head", None, **_L), Title("副局长", "dept_deputy", None, **_L),
    Title("党组书记", "dept_head", None, **_PL), Title("党组副书记", "dept_deputy", None, **_PL),
    Title("党组成员", "dept_deputy", None, **_PL),
    Title("主任", "dept_head", None, **_L), Title("副主任", "dept_deputy", None, **_L),
    Title("检察长", "dept_head", None, **_L), Title("副检察长", "dept_deputy", None, **_L),
    Title("院长", "dept_head", None, **_L), Title("副院长", "dept_deputy", None, **_L),
    # Courts and procuratorates: a judge's or prosecutor's misconduct is an accusation against a
    # public official (监察法 art 15), whatever the lawsuit it happened in.
    Title("庭长", "section_head"), Title("副庭长", "section_deputy"),
    Title("审判长", "staff"), Title("审判员", "staff"), Title("法官", "staff"), Title("执行员", "staff"),
    Title("书记员", "staff"), Title("检察官", "staff"),
    Title("校长", "dept_head", None, **_L), Title("副校长", "dept_deputy", None, **_L),
    Title("董事长", "dept_head", None, **_L), Title("总经理", "dept_head", None, **_L),
    Title("副总经理", "dept_deputy", None, **_L), Title("行长", "dept_head", None, **_L),
    Title("副行长", "dept_deputy", None, **_L),
    Title("处长", "division_head"), Title("副处长", "division_deputy"),
    Title("科长", "section_head"), Title("副科长", "section_deputy"),
    Title("所长", "staff"), Title("副所长", "staff"), Title("站长", "staff"), Title("股长", "staff"),
    Title("队长", "staff"), Title("副队长", "staff"), Title("中队长", "staff"),
    Title("大队长", "section_head"),
    Title("科员", "staff"), Title("办事员", "staff"), Title("工作人员", "staff"), Title("干部", "staff"),
    Title("公务员", "staff"), Title("民警", "staff"), Title("辅警", "staff"), Title("警察", "staff"),
    Title("城管", "staff"), Title("执法人员", "staff"), Title("老师", "staff"), Title("教师", "staff"),
    Title("医生", "staff"),
    # Villages and communities (村“两委”, 社区).
    Title("村党支部书记", "village", "village", **_PL), Title("村党总支书记", "village", "village", **_PL),
    Title("村支部书记", "village", "village", **_PL), Title("村支书", "village", "village", **_PL),
    Title("村书记", "village", "village", **_PL), Title("党支部书记", "village", "village", **_PL),
    Title("支部书记", "village", "village", **_PL), Title("总支书记", "village", "village", **_PL),
    Title("村党支部副书记", "village", "village", **_PL), Title("村支委", "village", "village", **_PL),
    Title("村委会主任", "village", "village", **_L), Title("村委主任", "village", "village", **_L),
    Title("村民委员会主任", "village", "village", **_L), Title("村主任", "village", "village", **_L),
    Title("村长", "village", "village", **_L),
    Title("村委会副主任", "village", "village"), Title("村委委员", "village", "village"),
    Title("村委会委员", "village", "village"), Title("村会计", "village", "village"),
    Title("村出纳", "village", "village"), Title("村文书", "village", "village"),
    Title("村报账员", "village", "village"), Title("报账员", "village", "village"),
    Title("村民小组长", "village", "village"), Title("村民组长", "village", "village"),
    Title("村小组长", "village", "village"), Title("村组长", "village", "village"),
    Title("村干部", "village", "village"), Title("村官", "village", "village"),
    Title("社区书记", "village", "village", **_PL), Title("社区党支部书记", "village", "village", **_PL),
    Title("社区主任", "village", "village", **_L), Title("居委会主任", "village", "village", **_L),
    Title("网格员", "village", "village"),
)

TITLE_BY_WORD = {t.word: t for t in TITLES}

# Titles whose holder is a party member whatever the unit (村党支部书记 → R5 乡镇纪委).
# A village cadre text that says so explicitly (党员 / 非党员) overrides the title.
PARTY_MEMBER_WORDS = (
    "中共党员", "共产党员", "党员干部", "是党员", "系党员", "老党员", "一肩挑", "（党员）", "(党员)",
    "党员村民组长", "党员村民小组长", "党员村组长", "党员身份",
)
# Village posts that are not 村“两委” seats by themselves (实施条例 art 42 "基层群众性自治组织中
# 从事管理的人员"): unless the text says the holder is a party member they are 监察对象 for the
# county 监委 (R6), not 乡镇党委管理的党员 (R5).
NON_COMMITTEE_VILLAGE_POSTS = frozenset({
    "村会计", "村出纳", "村文书", "村报账员", "报账员", "村民小组长", "村民组长", "村小组长", "村组长",
    "网格员",
})
NON_PARTY_WORDS = ("非党员", "非中共党员", "不是党员", "群众身份", "无党派", "民主党派")

# Characters that name a unit level when they open a unit phrase (县教育局 → county).
LEVEL_CHARS = {"省": "province", "市": "city", "州": "city", "县": "county", "区": "county", "镇": "township"}
LEVEL_CHARS.update({"乡": "township", "村": "village"})
LEVEL_WORDS = {
    "中央": "central", "国家": "central", "国务院": "central", "省委": "province", "省政府": "province",
    "省直": "province", "市委": "city", "市政府": "city", "市直": "city", "县委": "county",
    "县政府": "county", "县直": "county", "区委": "county", "区政府": "county", "镇政府": "township",
    "镇党委": "township", "乡政府": "township", "乡党委": "township", "街道办": "township",
    "办事处": "township", "村委会": "village", "村委": "village", "居委会": "village",
}

# Unit-name endings: the org word right before a title (教育局 局长, 一中 校长).
ORG_SUFFIXES = (
    "局", "厅", "委员会", "委", "办公室", "办", "院", "所", "站", "中心", "公司", "集团", "银行", "学校",
    "中学", "小学", "一中", "二中", "幼儿园", "大学", "学院", "医院", "卫生院", "政府", "党委", "党组",
    "党工委", "支部", "总支", "人大", "政协", "部", "处", "科", "股", "大队", "中队", "派出所", "法院",
    "检察院", "纪委", "监委", "纪工委", "纪委监委",
)

# Words that end a unit phrase when scanning back from a title: what comes before them is not
# part of the unit (我要举报 | 县教育局 | 局长).
UNIT_STOPS = (
    "举报", "检举", "控告", "揭发", "反映", "投诉", "关于", "要求", "请求", "希望", "调查", "查处", "实名",
    "本人", "我们", "我", "他", "她", "其", "该", "是", "和", "与", "及", "对", "向", "被", "将", "把",
    "在", "请", "由", "因", "的", "了", "任", "现任", "担任", "作为", "身为",
)

# Vertically managed systems (垂直管理, R9): the accused's cadre authority sits with the ministry,
# so its own 纪检监察 organ handles the report (S1 art 12). Deployments can extend this.
VERTICAL_SYSTEMS: dict[str, str] = {
    "税务局": "税务系统", "税务分局": "税务系统", "税务所": "税务系统", "海关": "海关系统",
    "金融监管": "金融监管系统", "银保监": "金融监管系统", "证监局": "证券监管系统",
    "外汇管理局": "外汇管理系统", "人民银行": "人民银行系统", "气象局": "气象系统", "海事局": "海事系统",
    "邮政管理局": "邮政管理系统", "烟草专卖局": "烟草专卖系统", "调查队": "国家统计调查系统",
    "出入境边防": "移民管理系统", "铁路局": "铁路系统",
}

# §2.3: matters on a litigation, arbitration, adjudication or reconsideration track (BSL-SS).
LITIGATION_WORDS = (
    "起诉", "诉讼", "判决", "裁定书", "上诉", "再审", "申请再审", "仲裁", "劳动仲裁", "行政复议",
    "行政裁决", "强制执行", "申请执行", "执行款", "打官司", "民事纠纷", "经济纠纷", "合同纠纷", "借贷纠纷",
    "欠款纠纷", "邻里纠纷", "劳动争议", "离婚", "遗产", "继承纠纷", "欠钱不还", "欠款不还", "借钱不还",
)

# §2.3: other organs' remits (BSL-QT, 不予受理): crimes for the police, consumer disputes.
OTHER_ORGAN_WORDS: dict[str, str] = {
    "诈骗": "公安机关（110）", "被骗": "公安机关（110）", "盗窃": "公安机关（110）",
    "被偷": "公安机关（110）", "被盗": "公安机关（110）", "小偷": "公安机关（110）",
    "抢劫": "公安机关（110）", "打架": "公安机关（110）", "斗殴": "公安机关（110）",
    "传销": "公安机关（110）", "报警": "公安机关（110）", "假冒伪劣": "市场监管部门（12315）",
    "消费者": "市场监管部门（12315）", "退货": "市场监管部门（12315）", "退款": "市场监管部门（12315）",
    "虚假宣传": "市场监管部门（12315）", "缺斤少两": "市场监管部门（12315）",
    "价格欺诈": "市场监管部门（12315）",
}

# 条例 art 31: 申诉求决 demands on public services (其他信访诉求), with the organ that decides them.
SERVICE_WORDS: dict[str, str] = {
    "物业": "住房城乡建设部门", "开发商": "住房城乡建设部门", "房屋质量": "住房城乡建设部门",
    "烂尾": "住房城乡建设部门", "噪音": "生态环境部门（12369）", "噪声": "生态环境部门（12369）",
    "污染": "生态环境部门（12369）", "排污": "生态环境部门（12369）",
    "拖欠工资": "人力资源社会保障部门（12333）", "欠薪": "人力资源社会保障部门（12333）",
    "社保": "人力资源社会保障部门（12333）", "养老保险": "人力资源社会保障部门（12333）",
    "医保": "医疗保障部门", "公积金": "住房公积金管理中心", "入学": "教育部门", "学位": "教育部门",
    "公交": "交通运输部门", "红绿灯": "公安交通管理部门",
}
LITIGATION_TARGET = "人民法院、仲裁机构或行政复议机关（政法部门）"

# Accusation signals (检举控告): a misconduct named, with or without an identified accused.
MISCONDUCT_WORDS = (
    "贪污", "受贿", "索贿", "行贿", "挪用", "侵占", "侵吞", "私分", "截留", "克扣", "套取", "骗取", "冒领",
    "虚报", "回扣", "好处费", "红包", "礼金", "吃拿卡要", "以权谋私", "权钱交易", "利益输送", "优亲厚友",
    "违规", "违纪", "违法乱纪", "滥用职权", "玩忽职守", "失职", "渎职", "不作为", "乱作为", "徇私", "包庇",
    "保护伞", "打击报复", "报复陷害", "公款", "公车私用", "大操大办", "收受", "敛财", "买官", "卖官",
    "跑官", "贿选", "拉票", "插手", "干预", "弄虚作假", "作风问题", "包养", "情妇", "不正当关系",
    "不正当男女关系", "赌博", "形式主义", "官僚主义", "腐败", "黑恶",
)
COMPLAINT_WORDS = ("举报", "检举", "控告", "揭发", "反映", "投诉")

# 申诉 (appeal) needs an appeal verb and a disciplinary decision as its object.
APPEAL_VERBS = ("申诉", "不服", "复查", "复核", "撤销", "冤枉", "冤屈", "要求纠正", "平反", "不公正")
APPEAL_OBJECTS = (
    "处分", "党纪", "政务处分", "开除党籍", "留党察看", "撤销党内职务", "记过", "记大过", "降级", "撤职",
    "开除公职", "诫勉", "处理决定", "审查调查", "留置",
)

# 批评建议 about 党风廉政建设 and 反腐败工作.
SUGGESTION_VERBS = ("建议", "意见", "批评", "呼吁", "希望加强", "提议")
SUGGESTION_TOPICS = (
    "党风廉政", "廉政建设", "反腐", "作风建设", "纪检", "监察工作", "干部作风", "形式主义", "官僚主义",
    "巡察", "八项规定",
)

# 申诉求决 / 求决 demands (其他信访诉求) — the citizen wants something done.
DEMAND_WORDS = (
    "希望", "请求", "要求", "恳请", "请问", "咨询", "解决", "办理", "落实", "补偿", "赔偿", "帮助",
    "什么时候", "何时", "能否", "可否",
)

# Priority (§8 of the issue): urgent, then high.
URGENT_WORDS: dict[str, str] = {
    "威胁": "threat", "恐吓": "threat", "扬言": "threat", "杀人": "threat", "砍死": "threat",
    "弄死": "threat", "同归于尽": "threat", "报复社会": "threat", "放火": "threat",
    "打击报复": "retaliation", "报复陷害": "retaliation", "遭到报复": "retaliation",
    "被报复": "retaliation", "遭报复": "retaliation", "因举报": "retaliation", "举报后被": "retaliation",
    "生命危险": "safety", "危及生命": "safety", "随时可能倒塌": "safety", "随时倒塌": "safety",
    "坍塌": "safety", "爆炸": "safety", "火灾": "safety", "中毒": "safety", "重大安全隐患": "safety",
    "群体性事件": "group", "群体事件": "group", "集体上访": "group", "聚集": "group", "围堵": "group",
    "堵路": "group", "静坐": "group", "上百人": "group", "几百人": "group", "自杀": "self_harm",
    "轻生": "self_harm", "跳楼": "self_harm", "喝农药": "self_harm", "服毒": "self_harm",
    "割腕": "self_harm", "不想活": "self_harm", "活不下去": "self_harm", "以死相逼": "self_harm",
    "寻短见": "self_harm", "一死了之": "self_harm",
}
REAL_NAME_WORDS = ("实名举报", "实名反映", "实名检举", "实名控告", "本人实名", "署真名")
REPEAT_WORDS = (
    "多次反映", "多次举报", "多次投诉", "再次反映", "再次举报", "反复反映", "屡次", "一直未解决",
    "一直没有解决", "至今未解决", "至今没有处理", "至今未处理", "石沉大海", "重复举报", "又一次",
)
LARGE_SUM_YUAN = 100_000

# 巡视巡察, 审计, 执法, 司法 organs hand clues over (R13: 案件监督管理部门 receives them).
HANDOVER_WORDS = ("巡视移交", "巡察移交", "审计移送", "移送问题线索", "移交问题线索", "移交线索", "移送线索")
# R14: former office holders stay within jurisdiction for acts done in office.
FORMER_WORDS = ("已退休", "退休前", "已辞职", "辞职前", "已去世", "已病故", "已调离", "离任")

# Pseudonymized names (张某某, 李某, 王XX) — common surnames for the jieba user dictionary.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐")
