"""Letter OCR: character accuracy on test scans rendered with a CJK font (Debian: fonts-noto-cjk),
and seconds per page.

Three kinds of scan of the same letters (``tests/interchange/scans.py``): a printed page (PNG), the
printed page as a PDF (rendered back with pdfium at 300 dpi), and a clear handwriting-style page
(each character on its own slant, size, baseline and stroke weight, on lined paper). Accuracy is
1 − edit distance ÷ length over the characters without white space. The baseline in the same run
is tesseract's raw output for the same pages (``chi_sim``, before :func:`intake.ocr.tidy` takes
out its spaces, makes punctuation full width and joins the page's line breaks).

    .venv/bin/python bench/ocr_accuracy.py [--letters 3]

The last line is ``accuracy printed=… pdf=… handwriting=…``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from intake import ocr
from tests.interchange.scans import LETTERS, char_accuracy, render, render_pdf


def raw_text(data: bytes) -> str:
    return "\n".join(ocr._tesseract(png) for png in ocr.pages_of(data))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--letters", type=int, default=len(LETTERS))
    args = parser.parse_args()
    found = ocr.status()
    if not found.available:
        sys.exit(f"OCR not available: {found.detail}")
    letters = LETTERS[: args.letters]
    kinds = {
        "printed": lambda t, i: render(t, seed=i),
        "pdf": lambda t, i: render_pdf(t, seed=i),
        "handwriting": lambda t, i: render(t, style="handwriting", seed=i),
    }
    results = {}
    for kind, make in kinds.items():
        ours, raw, seconds = [], [], []
        for i, text in enumerate(letters):
            scan = make(text, i)
            started = time.perf_counter()
            got = ocr.recognise(scan)
            seconds.append(time.perf_counter() - started)
            ours.append(char_accuracy(text, got.text))
            raw.append(char_accuracy(text, raw_text(scan)))
        mean = sum(ours) / len(ours)
        results[kind] = mean
        print(
            f"{kind:<12} accuracy {mean:.3f} (per letter {', '.join(f'{a:.3f}' for a in ours)}); "
            f"raw tesseract {sum(raw) / len(raw):.3f}; {sum(seconds) / len(seconds):.1f} s per page"
        )
    print("accuracy " + " ".join(f"{k}={v:.3f}" for k, v in results.items()))


if __name__ == "__main__":
    main()
