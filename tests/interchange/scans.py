"""Test scans of letters, rendered with a CJK font (Debian: fonts-noto-cjk), and the character
accuracy of what OCR read from them. Used by the tests and by ``bench/ocr_accuracy.py``."""

from __future__ import annotations

import io
import random
from pathlib import Path

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
SANS = "NotoSansCJK-Regular.ttc"
SERIF = "NotoSerifCJK-Regular.ttc"

# Letters as offices receive them. The first names its writer (details the filing must seal).
LETTERS = (
    "尊敬的县纪委领导：\n"
    "我叫李秀英，身份证号码430121198503051234，联系电话13907310042，"
    "住星沙镇东风村三组。我要反映东风村党支部书记王建国的问题。"
    "二〇二三年村里修水渠，上级拨款八十万元，实际只修了不到一半，"
    "剩下的钱去向不明。王建国还把村集体的鱼塘低价承包给他的亲戚，"
    "每年租金只有三千元，村民多次提出意见都没有结果。"
    "希望领导派人来调查，还村民一个公道。\n"
    "此致\n敬礼\n反映人：李秀英\n二〇二四年五月六日",
    "县纪委监委：\n"
    "我是黄兴镇的一名退休教师，反映镇卫生院院长刘志强违规收受药品回扣的问题。"
    "据了解，卫生院近两年采购的药品价格明显高于周边医院，"
    "部分供应商每月按采购金额的百分之十给刘志强返现。"
    "刘志强去年在县城购买了一套住房，还经常在工作日到外地打牌。"
    "这些情况卫生院很多职工都知道，但是怕打击报复不敢反映。"
    "请组织上认真核查，依纪依法处理。\n"
    "一名群众\n二〇二四年三月十二日",
    "尊敬的领导：\n"
    "我们是江背镇新屋村的村民，反映村委会主任陈立军在征地补偿中弄虚作假的问题。"
    "去年高速公路征地，陈立军虚报了十几亩地的面积，多领的补偿款被他和会计私分。"
    "有的农户的补偿款至今没有发到手，找他理论还被威胁。"
    "我们手里有当时的丈量记录和部分农户的签字材料，可以提供给调查组。"
    "恳请纪委为我们做主。\n"
    "新屋村部分村民\n二〇二四年一月二十日",
)


def font_path(name: str = SANS) -> Path | None:
    for d in FONT_DIRS:
        if (d / name).exists():
            return d / name
    return None


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for paragraph in text.split("\n"):
        while len(paragraph) > width:
            lines.append(paragraph[:width])
            paragraph = paragraph[width:]
        lines.append(paragraph)
    return lines


def render(text: str, *, style: str = "printed", seed: int = 0) -> bytes:
    """A PNG "scan" of ``text`` on an A4-shaped page at about 200 dpi.

    ``printed``: a laser-printed page, slightly grey, a little noise and a small skew.
    ``handwriting``: each character on its own slant, size and baseline, ink of uneven weight,
    on lined paper — a clear, careful hand (the tests' stand-in for handwriting, drawn with the
    same font)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = random.Random(seed)
    path = font_path(SERIF if style == "handwriting" else SANS)
    if path is None:
        raise FileNotFoundError("no CJK font (Debian: fonts-noto-cjk)")
    size = 34 if style == "printed" else 40
    per_line = 34 if style == "printed" else 28
    font = ImageFont.truetype(str(path), size, index=2)  # the .ttc's Simplified Chinese face
    width, height = 1654, 2339
    page = Image.new("L", (width, height), 250)
    draw = ImageDraw.Draw(page)
    x0, y = 130, 160
    step = int(size * 1.7)
    for line in _wrap(text, per_line):
        if style == "printed":
            draw.text((x0, y), line, font=font, fill=30)
        else:
            draw.line((x0 - 10, y + size + 8, width - 120, y + size + 8), fill=200, width=2)
            x = x0
            for ch in line:
                s = rng.randint(size - 4, size + 3)
                f = ImageFont.truetype(str(path), s, index=2)
                glyph = Image.new("L", (s * 2, s * 2), 0)
                ImageDraw.Draw(glyph).text((s // 2, s // 3), ch, font=f, fill=255)
                glyph = glyph.rotate(rng.uniform(-7, 7), resample=Image.Resampling.BICUBIC)
                if rng.random() < 0.5:
                    glyph = glyph.filter(ImageFilter.MaxFilter(3))  # a heavier stroke
                ink = Image.new("L", glyph.size, rng.randint(20, 70))
                page.paste(ink, (x - s // 2, y - s // 3 + rng.randint(-4, 4)), glyph)
                x += s + rng.randint(2, 9)
        y += step
    if style == "printed":
        page = page.rotate(0.4, resample=Image.Resampling.BICUBIC, fillcolor=250)
    noise = Image.effect_noise((width, height), 12)
    page = Image.blend(page, noise, 0.08).filter(ImageFilter.GaussianBlur(0.6))
    buf = io.BytesIO()
    page.save(buf, format="PNG")
    return buf.getvalue()


def render_pdf(text: str, *, seed: int = 0) -> bytes:
    """The printed scan as a one-page PDF (what a scanner's "scan to PDF" writes)."""
    from PIL import Image

    image = Image.open(io.BytesIO(render(text, seed=seed)))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PDF", resolution=200.0)
    return buf.getvalue()


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(expected: str, got: str) -> float:
    """1 − edit distance / length, over the characters without white space."""
    a = "".join(expected.split())
    b = "".join(got.split())
    return max(0.0, 1 - _distance(a, b) / max(1, len(a)))
