"""triage.segment's tokenizer segments exactly as jieba's own does, with the same user words."""

from __future__ import annotations

import csv
import logging
import random

import jieba

import triage
from tests.conftest import shared_path
from triage import segment
from triage.normalize import normalize


def _reference() -> jieba.Tokenizer:
    """A stock ``jieba.Tokenizer`` with triage's dictionary as it stands (jieba's words, the user
    words and any jurisdiction's places other tests added)."""
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tok = segment.tokenizer()
    ref = jieba.Tokenizer()
    ref.initialize()
    ref.FREQ, ref.total = dict(tok.FREQ), tok.total
    return ref


def test_reference_dictionary_has_the_user_words() -> None:
    ref = _reference()
    stock = jieba.Tokenizer()
    stock.initialize()
    words = segment.user_words()
    assert all(ref.FREQ.get(w) for w in words)
    assert any(not stock.FREQ.get(w) for w in words)


def test_same_tokens_as_jieba_on_real_messages() -> None:
    path = shared_path("data/taidi2020/messages_unlabeled.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[:400]
    texts = [t for row in rows for t in (row["留言主题"], row["留言详情"]) if t]
    tok = segment.tokenizer()
    ref = _reference()
    differing = [t for t in texts for v in (t, normalize(t)) if tok.lcut(v) != ref.lcut(v)]
    assert len(texts) > 500
    assert differing == []


def test_same_tokens_as_jieba_on_edge_cases() -> None:
    ref = _reference()
    cases = [
        "",
        " ",
        "好",
        "举报长沙县黄兴镇金凤村党支部书记张某某优亲厚友",
        "ABC123，abc！ 中文English混排 2023年5月",
        "的的的的的的的的的",
        "欧阳某某和司马某在县教育局门口",
        "😀举报😀局长😀",
        "\n\t举报\r\n",
    ]
    for text in cases:
        assert segment.cut(text) == ref.lcut(text), text


def test_same_tokens_as_jieba_on_random_text() -> None:
    """Random mixes of what the fast path tells apart: dictionary words, pseudonyms, single
    characters the HMM joins, letters and numbers (re_han's and the HMM's runs), the separators
    kept as tokens, and characters outside every block (emoji, punctuation, rare CJK)."""
    ref = _reference()
    rnd = random.Random(19)
    alphabet = [
        *"的了是在举报长沙县镇村书记张某某甲乙丙丁贪污受贿挪用扶贫款",
        *"abcXYZ0123.%+#&_-",
        " ", "\n", "\r\n", "\t", "，", "。", "😀", "\u3000", "擧", "\U00020000",
    ]  # fmt: skip
    texts = ["".join(rnd.choices(alphabet, k=rnd.randint(0, 40))) for _ in range(3000)]
    differing = [t for t in texts if segment.cut(t) != ref.lcut(t)]
    assert differing == []


def test_search_words_are_jiebas_search_mode_from_the_cut_words() -> None:
    """The full-text index takes its words from triage's segmentation (issue 19: the service cut
    every report twice): :func:`triage.search_words` of the words is jieba's ``cut_for_search`` of
    the text."""
    ref = _reference()
    rnd = random.Random(7)
    alphabet = [*"中华人民共和国长沙县黄兴镇金凤村党支部书记张某某挪用低保金的了", *"ab12", " ", "，"]
    texts = ["".join(rnd.choices(alphabet, k=rnd.randint(0, 30))) for _ in range(2000)]
    texts += ["", "好", "中华人民共和国", "举报长沙县黄兴镇金凤村党支部书记张某某挪用低保金", "ABC123 低保金"]
    differing = [t for t in texts if triage.search_words(segment.cut(t)) != list(ref.cut_for_search(t))]
    assert differing == []
    # Pieces come before their word, two-character ones first, only dictionary words among them.
    assert triage.search_words(["低保金"]) == ["低保", "保金", "低保金"]
    assert triage.search_words(["张某某", "好"]) == ["张某", "某某", "张某某", "好"]
    # For an index queried with jieba's own dictionary: the longer dictionary words inside too.
    pieces = triage.search_words(["村党支部书记"], all_pieces=True)
    assert pieces[: pieces.index("村党支部书记") + 1] == triage.search_words(["村党支部书记"])
    assert "党支部书记" in pieces and "村党支部书记" not in pieces[pieces.index("村党支部书记") + 1 :]


def test_search_words_on_real_messages() -> None:
    path = shared_path("data/taidi2020/messages_unlabeled.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[:200]
    texts = [normalize(t) for row in rows for t in (row["留言主题"], row["留言详情"]) if t]
    ref = _reference()
    differing = [t for t in texts if triage.search_words(segment.cut(t)) != list(ref.cut_for_search(t))]
    assert len(texts) > 300
    assert differing == []
