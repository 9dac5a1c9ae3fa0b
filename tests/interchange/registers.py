"""A synthetic 信访登记表 (an office's register of cases) for the import tests and the benchmark:
the typical headings, a mix of channels, statuses and dates, informants' names, phones and ID
numbers in their columns (and sometimes in the text), and bad rows of several kinds at known
places."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

HEADINGS = (
    "编号",
    "登记日期",
    "来源",
    "信访人",
    "联系电话",
    "身份证号",
    "被反映人",
    "单位",
    "职务",
    "反映内容",
    "办理结果",
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂红玉梅海燕"
ACCUSED_GIVEN = "建国庆志德福贵荣生林春山宝金"  # none of the informants' characters
TOWNS = ("星沙镇", "黄兴镇", "江背镇", "黄花镇", "春华镇", "果园镇", "路口镇", "高桥镇")
UNITS = ("镇政府", "镇卫生院", "村委会", "镇中心学校", "镇国土所", "县水利局", "县住建局")
POSITIONS = ("镇长", "副镇长", "村党支部书记", "村委会主任", "院长", "所长", "局长", "会计")
ISSUES = (
    "在{town}修路工程中虚报工程量，套取财政资金{n}万元",
    "利用职务便利为亲属承揽{town}的绿化项目，收受好处费{n}万元",
    "违规发放{town}低保和困难补助，把名额给了不符合条件的亲友",
    "在{town}征地拆迁补偿中弄虚作假，多领补偿款{n}万元",
    "长期公车私用，工作日在{town}的茶楼打牌赌博",
    "收受工程老板送的购物卡和烟酒，价值约{n}千元",
    "对群众反映的{town}饮水安全问题推诿扯皮，一年多没有解决",
    "操办儿子婚宴大肆收受下属和管理对象的礼金，摆了{n}十桌",
)
CHANNELS = ("来信", "来访", "网络", "电话", "来信", "来信", "来访")
RESULTS = ("", "", "已办结，给予党内警告处分", "经核查，反映问题部分属实，已责令整改", "已转相关部门办理", "")


@dataclass(frozen=True)
class Register:
    path: Path
    rows: int
    bad_rows: dict[int, str]  # spreadsheet row number → the heading of the bad cell
    identities: list[str]  # every informant's name, phone and ID number written into the file


def id_number(rng: random.Random, born: date) -> str:
    body = f"430121{born:%Y%m%d}{rng.randint(100, 999)}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def rows(n: int, *, bad: int = 0, seed: int = 1) -> tuple[list[list[object]], dict[int, str], list[str]]:
    """``n`` data rows (the heading row is row 1), ``bad`` of them malformed in known ways."""
    rng = random.Random(seed)
    start = datetime(2019, 1, 1, 9, 0)
    bad_at = set(rng.sample(range(n), bad)) if bad else set()
    out: list[list[object]] = []
    bad_rows: dict[int, str] = {}
    identities: list[str] = []
    for i in range(n):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2))
        phone = f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"
        idn = id_number(rng, date(1950, 1, 1) + timedelta(days=rng.randint(0, 18_000)))
        town = rng.choice(TOWNS)
        accused = rng.choice(SURNAMES) + "".join(rng.choice(ACCUSED_GIVEN) for _ in range(2))
        issue = rng.choice(ISSUES).format(town=town, n=rng.randint(2, 90))
        content = f"反映{town}{rng.choice(UNITS)}{accused}{issue}。请求组织调查处理。"
        if rng.random() < 0.2:
            content = f"我叫{name}，电话{phone}。" + content  # the writer names themselves in the text
        received = start + timedelta(minutes=rng.randint(0, 60 * 24 * 365 * 5))
        row: list[object] = [
            f"XF{received:%Y}{i:06d}",
            received,
            rng.choice(CHANNELS),
            name,
            phone,
            idn,
            accused,
            f"{town}{rng.choice(UNITS)}",
            rng.choice(POSITIONS),
            content,
            rng.choice(RESULTS),
        ]
        identities.extend((name, phone, idn))
        number = i + 2
        if i in bad_at:
            kind = rng.randrange(5)
            if kind == 0:
                row[9] = ""
                bad_rows[number] = "反映内容"
            elif kind == 1:
                row[1] = "去年秋天"
                bad_rows[number] = "登记日期"
            elif kind == 2:
                row[2] = "托人转交"
                bad_rows[number] = "来源"
            elif kind == 3:
                row[3] = name * 30  # longer than any name
                bad_rows[number] = "信访人"
            else:
                row[5] = float(idn[:-1] if idn[-1] == "X" else idn)  # what a spreadsheet does to it
                bad_rows[number] = "身份证号"
        out.append(row)
    return out, bad_rows, identities


def write_xlsx(path: Path, n: int, *, bad: int = 0, seed: int = 1) -> Register:
    import openpyxl

    data, bad_rows, identities = rows(n, bad=bad, seed=seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("登记表")
    sheet.append(list(HEADINGS))
    for row in data:
        sheet.append(row)
    book.save(path)
    return Register(path, n, bad_rows, identities)


def write_csv(path: Path, n: int, *, bad: int = 0, seed: int = 1, encoding: str = "utf-8-sig") -> Register:
    import csv

    data, bad_rows, identities = rows(n, bad=bad, seed=seed)
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADINGS)
        for row in data:
            w.writerow([v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v for v in row])
    return Register(path, n, bad_rows, identities)
