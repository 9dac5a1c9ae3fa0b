"""People's names in Chinese text, for the redaction of the informant's own (:mod:`intake.redaction`).

jieba's part-of-speech tagger proposes names (its ``nr`` tags); a surname list, the pieces jieba
splits a name into (欧阳|娜娜, 吴|桂兰, 赵国|强) joined back, and place suffixes (江背镇) decide.
After a self-introduction (我叫…, 本人…) a name may follow a few role words (一名退休教师).
"""

from __future__ import annotations

import threading
from typing import Any

_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    "崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文"
    "牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛"
    "曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏"
    "席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "令狐",
    "司徒",
    "夏侯",
)
_PLACE_SUFFIX = set("镇村乡县区市组路街省州")
_NAME_STOP = set("的是在住家电联身手现今年男女向反举实特因于从和与及对就说被把将也都还已曾于，,。；;、 ：:")
# Words that come between 我是 and a name without being one.
_ROLE_WORDS = (
    "一名",
    "一位",
    "一个",
    "退休",
    "教师",
    "老师",
    "村民",
    "居民",
    "党员",
    "群众",
    "农民",
    "职工",
    "员工",
    "工人",
    "干部",
    "学生",
    "家长",
    "业主",
    "个体户",
    "五保户",
    "低保户",
    "本村",
    "本组",
    "该村",
    "这里的",
    "当地",
    "普通",
    "老",
    "是",
    "系",
    " ",
    "　",
)


_POS_LOCK = threading.Lock()
_POS: Any = None


def warm_up() -> None:
    """Load jieba's tagger (about a second of CPU): call it off the event loop at start-up."""
    global _POS
    with _POS_LOCK:
        if _POS is None:
            import jieba
            import jieba.posseg

            jieba.setLogLevel(60)
            _POS = jieba.posseg.POSTokenizer(jieba.Tokenizer())
            _POS.tokenizer.initialize()


def is_warm() -> bool:
    """Whether :func:`redact` can no longer stall on loading the tagger."""
    return _POS is not None


def _pos_tokens(text: str) -> list[tuple[str, str]]:
    warm_up()
    with _POS_LOCK:
        return [(w.word, w.flag) for w in _POS.cut(text)]


def person_names(segment: str) -> list[tuple[int, int]]:
    """Spans of what look like people's names: jieba's person tags, checked against surnames, with the
    pieces jieba splits a name into (欧阳|娜娜, 吴|桂兰, 赵国|强) joined back."""
    tokens = _pos_tokens(segment)
    spans: list[tuple[int, int]] = []
    pos = 0
    i = 0
    while i < len(tokens):
        word, flag = tokens[i]
        compound = word in _COMPOUND_SURNAMES
        if (compound or flag.startswith("nr")) and starts_with_surname(word) and "某" not in word:
            name = word
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
            after = tokens[i + 2][0] if i + 2 < len(tokens) else ""
            if _joins_name(name, nxt, after, compound):
                name += nxt[0]
                i += 1
            if _looks_like_person(segment, pos, name):
                spans.append((pos, pos + len(name)))
            pos += len(name)
        else:
            pos += len(word)
        i += 1
    return spans


def _joins_name(name: str, nxt: tuple[str, str], after: str, compound: bool) -> bool:
    """Does the next token (``nxt``, word and tag; ``after``, the word after it) finish the name
    begun by ``name``: Han characters, not a stop, four characters at most in all?"""
    tail = nxt[0]
    han_tail = bool(tail) and all("\u4e00" <= ch <= "\u9fff" for ch in tail) and tail[0] not in _NAME_STOP
    single_then_break = len(tail) == 1 and (not after or after[0] in _NAME_STOP)
    return (
        han_tail
        and len(name) + len(tail) <= 4
        and (compound or len(name) == 1 or nxt[1].startswith("nr") or single_then_break)
    )


def _looks_like_person(segment: str, pos: int, name: str) -> bool:
    """Two to four characters, no 某, and not a place (江背镇, 黄兴镇: a place, not a person)."""
    return (
        2 <= len(name) <= 4
        and name[-1] not in _PLACE_SUFFIX
        and "某" not in name
        and segment[pos + len(name) : pos + len(name) + 1] not in _PLACE_SUFFIX
    )


def name_after(text: str, pos: int) -> tuple[int, int] | None:
    """The span of a person's name starting at or shortly after ``pos`` (role words skipped)."""
    window = text[pos : pos + 24]
    stop = next((i for i, ch in enumerate(window) if ch in "，,。；;：:（(\n　 "), len(window))
    for start, end in person_names(window[:stop]):
        skipped = window[:start]
        if len(skipped) > 12 or not _only_role_words(skipped):
            return None
        if window[end : end + 1] == "的":
            return None  # 我是张三的邻居: 张三 is someone else
        return pos + start, pos + end
    # jieba does not know every name: after an introduction, a short run of Han characters that
    # starts with a surname and ends at a pause is a name too (我叫何建平，).
    head = window[:stop]
    for cut in range(len(head)):
        if _only_role_words(head[:cut]) and 2 <= len(head) - cut <= 4:
            run = head[cut:]
            if (
                starts_with_surname(run)
                and "某" not in run
                and all("\u4e00" <= ch <= "\u9fff" and ch not in _NAME_STOP for ch in run)
            ):
                return pos + cut, pos + len(head)
    return None


def _only_role_words(skipped: str) -> bool:
    """本人 | 一名退休教师 | 村民 …: what may stand between an introduction and the name."""
    rest = skipped
    while rest:
        for word in sorted(_ROLE_WORDS, key=len, reverse=True):
            if rest.startswith(word):
                rest = rest[len(word) :]
                break
        else:
            return False
    return True


def starts_with_surname(word: str) -> bool:
    return bool(word) and (word[0] in _SURNAMES or word.startswith(_COMPOUND_SURNAMES))


__all__ = ["is_warm", "name_after", "person_names", "starts_with_surname", "warm_up"]
