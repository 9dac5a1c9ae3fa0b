"""Text normalization: the first step of triage, before segmentation and place matching.

Reports arrive in simplified and traditional Chinese (台港澳 informants, some phone-transcription
engines), with full-width digits and letters, and with stray spaces between characters. jieba's
dictionary and the division gazetteer are simplified, so the text is brought to one form first:

1. NFKC (full-width ``１２３ＡＢＣ`` → ``123ABC``, compatibility ideographs → unified ones);
2. OpenCC ``t2s`` (traditional → simplified, character by character; phrase conversion such as
   ``tw2sp`` would also rewrite vocabulary, which changes what the informant wrote);
3. whitespace: any run of spaces or line breaks becomes one space, and spaces between two CJK
   characters disappear (``张 某 某`` → ``张某某``), because Chinese is written without them.

The OpenCC converter is loaded once, lazily, and is safe to share between threads.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Protocol


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


_lock = threading.Lock()
_converter: _Converter | None = None

_SPACES = re.compile(r"\s+")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")


def _opencc() -> _Converter:
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


_traditional: re.Pattern[str] | None = None


def _traditional_chars() -> re.Pattern[str]:
    """A character class of every character OpenCC ``t2s`` changes on its own (built once from the
    converter itself): a text without any is left as it is without calling OpenCC."""
    global _traditional
    if _traditional is None:
        converter = _opencc()  # before taking the lock, which _opencc takes too (not reentrant)
        with _lock:
            if _traditional is None:
                ranges = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))
                chars = "".join(chr(c) for r in ranges for c in range(*r))
                out = converter.convert(chars)
                if len(out) == len(chars):
                    changed = [a for a, b in zip(chars, out, strict=True) if a != b]
                else:
                    changed = [c for c in chars if converter.convert(c) != c]
                _traditional = re.compile("[" + re.escape("".join(changed)) + "]")
    return _traditional


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC ``t2s``); simplified text passes unchanged (and
    without the conversion's cost when it has no character ``t2s`` would change)."""
    if not _traditional_chars().search(text):
        return text
    return _opencc().convert(text)


def normalize(text: str) -> str:
    """The canonical form every other triage step works on."""
    return normalize_and_report(text)[0]


# NFKC's most common work on Chinese text, as a plain character table: full-width ASCII forms
# (，！？：１２３ＡＢＣ) and the ideographic space. A text that is NFKC-normal after this table skips
# the full normalization (which costs twice as much); any other text still gets it, so the
# result is always exactly NFKC.
_FULL_WIDTH = str.maketrans({**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}, 0x3000: 0x20})


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on typical Chinese reports."""
    text = text.translate(_FULL_WIDTH)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def normalize_and_report(text: str) -> tuple[str, bool]:
    """The canonical form, and whether traditional characters were converted."""
    text = nfkc(text)
    simplified = to_simplified(text)
    converted = simplified != text
    text = _SPACES.sub(" ", simplified).strip()
    return (_CJK_GAP.sub("", text) if " " in text else text), converted


def warm_up() -> None:
    """Load the converter now (at start-up) rather than on the first report."""
    _opencc()
    _traditional_chars()


def fold_for_search(text: str) -> str:
    """A copy of ``text`` of the same length where each character is in triage's form (full-width
    → ASCII, traditional → simplified, lower case) when that form is one character: a word found
    in it by ``str.find`` has the same offsets in the original text."""
    flat = text.translate(_FULL_WIDTH).lower()
    simplified = to_simplified(flat)
    if len(simplified) == len(flat):
        return simplified
    convert = _opencc().convert
    return "".join(s if len(s := convert(c)) == 1 else c for c in flat)
