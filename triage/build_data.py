"""Developer tool: build ``triage/data/divisions.tsv.gz`` from the national division tables.

Run from the repository root when the division tables change::

    .venv/bin/python -m triage.build_data ../shared/data/divisions --villages 430121

The output holds province → township for the whole country (统计用区划代码, 国家统计局) and the
villages (村/社区, 12-digit codes) of the counties named with ``--villages`` (the deployment's own
jurisdiction). One line per division, ``code<TAB>name<TAB>alias``: the level follows from the
code's length (2, 4, 6, 9, 12) and the parent from its prefix, so no parent column is stored; the
alias is the suffix-stripped short form the matcher may use (长沙县 → 长沙), left empty when there
is none or when it is an ordinary word (路口镇 → 路口, 和平区 → 和平). Computing aliases here keeps
the run-time load to splitting lines. Gzip keeps the whole country near 400 kB. This module is not
imported at run time.
"""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "divisions.tsv.gz"
NAME_TAGS = frozenset({"ns", "nr", "nrt", "nrfg", "nz"})


def _rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(row["code"], row["name"].strip()) for row in csv.DictReader(fh)]


def _jieba_words() -> dict[str, tuple[int, str]]:
    import jieba

    words: dict[str, tuple[int, str]] = {}
    with (Path(jieba.__file__).parent / "dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            word, freq, tag = line.split()
            words[word] = (int(freq), tag)
    return words


def is_common_word(alias: str, words: dict[str, tuple[int, str]]) -> bool:
    """A stem jieba knows as something other than a place name, with a real frequency."""
    freq, tag = words.get(alias, (0, "ns"))
    return (tag != "ns" and freq >= 50) or (tag not in NAME_TAGS and freq >= 5)


def build(source: Path, village_counties: list[str], out: Path = OUT) -> tuple[int, int]:
    """Write the compact table; returns (divisions written, aliases dropped as ordinary words)."""
    from triage.gazetteer import CITY_STEM_BLOCKLIST, aliases

    rows: list[tuple[str, str]] = []
    for name in ("provinces.csv", "cities.csv", "areas.csv", "streets.csv"):
        rows.extend(_rows(source / name))
    if village_counties:
        wanted = tuple(village_counties)
        with (source / "villages.csv").open(encoding="utf-8", newline="") as fh:
            rows.extend(
                (row["code"], row["name"].strip())
                for row in csv.DictReader(fh)
                if row["areaCode"].startswith(wanted)
            )
    rows.sort()
    words = _jieba_words()
    lines = []
    dropped = 0
    for code, name in rows:
        alias = next(iter(aliases(code, name)), "")
        if alias and len(code) in (6, 9) and is_common_word(alias, words):
            alias, dropped = "", dropped + 1
        if alias and len(code) == 4 and alias in CITY_STEM_BLOCKLIST:
            alias, dropped = "", dropped + 1
        lines.append(f"{code}\t{name}\t{alias}\n")
    # mtime=0 keeps the file byte-identical between builds of the same data.
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write("".join(lines).encode("utf-8"))
    return len(rows), dropped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="folder with provinces.csv … villages.csv")
    parser.add_argument("--villages", action="append", default=[], help="county code whose villages to keep")
    args = parser.parse_args()
    count, dropped = build(args.source, args.villages or ["430121"])
    print(
        f"wrote {count} divisions to {OUT} ({OUT.stat().st_size} bytes); {dropped} aliases are ordinary words"
    )


if __name__ == "__main__":
    main()
