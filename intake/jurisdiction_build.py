"""``intake jurisdiction build``: a jurisdiction file for any province, city, county or township.

The data is the national division table (统计用区划代码, 国家统计局 2023, via
modood/Administrative-divisions-of-China), packaged as ``intake/data/division_tree.tsv.gz``: one
line per province, city, county and township, ``code<TAB>name``, a township's line followed by its
villages and communities as ``<TAB>SSSname`` (SSS the last three digits of the 12-digit code).
Gzip keeps the whole country, 620,000 villages included, near 3.7 MB. :func:`pack` rebuilds it.

What the builder writes (the file format is in docs/triage.md, "Configuration: the jurisdiction
file"):

* the chain of commissions above the division (province → city → county; 中央纪委国家监委 on top
  with ``central=True``), for routing upward;
* the division's own commission (the receiving unit) and every unit below it: a 省/市/州/县/区/
  县级市/旗 is a 纪委监委 (``commission``), a development zone or new area (codes ending
  71–79) a 纪工委 (``work_committee``), a 镇/乡/苏木 a 纪委 (``commission``, level
  ``township``), a 街道 or any other township-level area a 纪工委 (``work_committee``);
* with ``down_to="village"``, each village and community as an **intake point** (level
  ``village``, kind ``intake_point``): 「XX村村务监督委员会」, 「XX社区监督联络站」. It registers reports
  and forwards them; routing never makes it the handling unit.

Statistical placeholders in the city table are skipped, their counties hung on the province:
「市辖区」 (北京 1101, 天津, 上海, 重庆 5001), 「县」 (重庆 5002) and
「省/自治区直辖县级行政区划」 (河南 4190, 湖北 4290, 海南 4690, 新疆 6590). A prefecture city
without counties (东莞 4419, 中山, 儋州, 嘉峪关) appears again as its own only county-level row:
that row is folded into the city, whose townships hang on it directly.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA_FILE = "data/division_tree.tsv.gz"
SOURCE = "国家统计局统计用区划代码 (2023), via modood/Administrative-divisions-of-China"
PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
LEVEL_BY_LENGTH = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
DOWN_TO = ("township", "village")
CENTRAL = {
    "code": "0",
    "name": "中央纪委国家监委",
    "level": "central",
    "kind": "commission",
    "parent": None,
    "division_code": "0",
    "division_name": "全国",
}


class BuildError(ValueError):
    """Bad input to the builder (a malformed or unknown division code); the message says which."""


@dataclass
class _Node:
    code: str
    name: str
    parent: str | None
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DivisionTree:
    """The packaged division table: every division by code, placeholders folded away."""

    nodes: dict[str, _Node]
    villages: dict[str, tuple[tuple[str, str], ...]]
    placeholders: dict[str, str]  # code → placeholder name (市辖区 …), for a clear error

    def get(self, code: str) -> _Node | None:
        return self.nodes.get(code)

    def chain(self, code: str) -> list[_Node]:
        """``code``'s ancestors, the province first (the division itself not included)."""
        out: list[_Node] = []
        node = self.nodes[code]
        while node.parent is not None:
            node = self.nodes[node.parent]
            out.append(node)
        return out[::-1]

    def below(self, code: str) -> Iterator[_Node]:
        """Every division under ``code`` down to townships, parents first (depth first)."""
        todo = list(reversed(self.nodes[code].children))
        while todo:
            node = self.nodes[todo.pop()]
            yield node
            todo.extend(reversed(node.children))


@cache
def divisions() -> DivisionTree:
    """The packaged table, read once (about 1 s for the whole country with its villages)."""
    raw = resources.files("intake").joinpath(DATA_FILE).read_bytes()
    return _parse(gzip.decompress(raw).decode("utf-8").splitlines())


def _parse(lines: Iterable[str]) -> DivisionTree:
    nodes: dict[str, _Node] = {}
    villages: dict[str, tuple[tuple[str, str], ...]] = {}
    placeholders: dict[str, str] = {}
    for line in lines:
        code, name, *rest = line.split("\t")
        if len(code) == 4 and name in PLACEHOLDERS:
            placeholders[code] = name
        nodes[code] = _Node(code, name, None)
        if rest:
            villages[code] = tuple((code + v[:3], v[3:]) for v in rest)
    for code, node in nodes.items():
        node.parent = _parent_code(code, nodes, placeholders)
    # A prefecture city without counties: its one county-level row of the same name folds into it.
    counties: dict[str, list[str]] = {}
    for code in nodes:
        if len(code) == 6:
            counties.setdefault(code[:4], []).append(code)
    for city, below in counties.items():
        if len(below) == 1 and city in nodes and nodes[below[0]].name == nodes[city].name:
            placeholders[below[0]] = nodes[city].name
    for code, node in nodes.items():
        node.parent = _parent_code(code, nodes, placeholders)
    for code in placeholders:
        nodes.pop(code, None)
    for node in nodes.values():
        if node.parent is not None:
            nodes[node.parent].children.append(node.code)
    return DivisionTree(nodes, villages, placeholders)


def _parent_code(code: str, nodes: dict[str, _Node], skip: dict[str, str]) -> str | None:
    for length in (9, 6, 4, 2):
        if length < len(code) and code[:length] in nodes and code[:length] not in skip:
            return code[:length]
    return None


# -- names and kinds -------------------------------------------------------------------------


def _is_zone(code: str) -> bool:
    """A county-level development zone or new area (NBS codes xxxx71–xxxx79): a 党工委, no 县委.
    (xxxx01–20 are districts, 21–70 counties, 81–99 county-level cities.)"""
    return len(code) == 6 and "71" <= code[4:] <= "79"


def unit_for(node: _Node, level: str) -> dict[str, Any]:
    """The commission (or work committee) of one division."""
    name = node.name
    if level == "township":
        if name.endswith(("镇", "乡", "苏木")):
            kind, unit_name = "commission", f"{name}纪委"
        else:
            kind, unit_name = "work_committee", f"{name.removesuffix('管理委员会')}纪工委"
    elif level == "county" and _is_zone(node.code):
        kind, unit_name = "work_committee", f"{name.removesuffix('管委会')}纪工委"
    else:
        kind, unit_name = "commission", f"{name}纪委监委"
    return {
        "code": node.code,
        "name": unit_name,
        "level": level,
        "kind": kind,
        "parent": node.parent,
        "division_code": node.code,
        "division_name": name,
    }


def village_name(official: str) -> str:
    """A village's or community's short place name (周洛村村委会 → 周洛村, 开元路社区居委会 → 开元路社区)."""
    for suffix, keep in (
        ("村民委员会", "村"),
        ("社区居民委员会", "社区"),
        ("社区居委会", "社区"),
        ("社区委员会", "社区"),
        ("居民委员会", "社区"),
        ("居委会", "社区"),
        ("村委会", "村"),
    ):
        if official.endswith(suffix) and len(official) > len(suffix):
            stem = official[: -len(suffix)]
            return stem if stem.endswith(keep) else stem + keep
    return official


def intake_point_for(code: str, official: str, township: str) -> dict[str, Any]:
    place = village_name(official)
    unit_name = f"{place}村务监督委员会" if place.endswith("村") else f"{place}监督联络站"
    return {
        "code": code,
        "name": unit_name,
        "level": "village",
        "kind": "intake_point",
        "parent": township,
        "division_code": code,
        "division_name": place,
    }


# -- the builder -----------------------------------------------------------------------------


def check_code(code: str, tree: DivisionTree | None = None) -> str:
    """``code`` as a known province (2), city (4), county (6) or township (9) code, else BuildError."""
    if not (code.isascii() and code.isdigit() and len(code) in (2, 4, 6, 9)):
        raise BuildError(
            f"区划代码 {code!r} 格式不对：应为 2 位（省）、4 位（市）、6 位（县）或 9 位（乡镇）数字"
            f"（malformed division code {code!r}: 2, 4, 6 or 9 digits）"
        )
    tree = tree or divisions()
    if code in tree.placeholders:
        raise BuildError(
            f"区划代码 {code}（{tree.placeholders[code]}）是统计用的占位代码，不是一级行政区；"
            f"请改用上一级 {code[:2] if len(code) == 4 else code[:4]}"
            f"（{code} is a statistical placeholder, not a division）"
        )
    if tree.get(code) is None:
        raise BuildError(f"区划代码 {code} 不存在（unknown division code {code}）")
    return code


def build(
    division: str, *, down_to: str = "township", central: bool = False, name: str | None = None
) -> dict[str, Any]:
    """The jurisdiction document for ``division`` (see the module's docstring)."""
    if down_to not in DOWN_TO:
        raise BuildError(f"--down-to 只能是 township 或 village（got {down_to!r}）")
    tree = divisions()
    code = check_code(division, tree)
    top = tree.nodes[code]
    units: list[dict[str, Any]] = [dict(CENTRAL)] if central else []
    for node in (*tree.chain(code), top, *tree.below(code)):
        unit = unit_for(node, LEVEL_BY_LENGTH[len(node.code)])
        if central and unit["parent"] is None:
            unit["parent"] = CENTRAL["code"]
        units.append(unit)
        if down_to == "village" and len(node.code) == 9 and node.code.startswith(code):
            units.extend(intake_point_for(v, n, node.code) for v, n in tree.villages.get(node.code, ()))
    receiving = unit_for(top, LEVEL_BY_LENGTH[len(code)])
    return {
        "name": name or receiving["name"],
        "receiving_unit": code,
        "timezone": "Asia/Shanghai",
        "source": SOURCE,
        "division": code,
        "down_to": down_to,
        "units": units,
    }


def dumps(doc: dict[str, Any]) -> str:
    """JSON with one unit per line: small for a province, still readable in a diff."""
    head = {k: v for k, v in doc.items() if k != "units"}
    lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "units": [']
    units = [json.dumps(u, ensure_ascii=False, separators=(", ", ": ")) for u in doc["units"]]
    lines.append(",\n".join(f"  {u}" for u in units))
    lines.append(" ]\n}\n")
    return "\n".join(lines)


# -- the packaged data (developer tool) ----------------------------------------------------


def pack(source: Path, out: Path) -> int:
    """Write ``division_tree.tsv.gz`` from the division CSVs (``../shared/data/divisions``)."""

    def rows(name: str) -> list[tuple[str, str, str]]:
        with (source / name).open(encoding="utf-8", newline="") as fh:
            return [(r["code"], r["name"].strip(), r.get("streetCode", "")) for r in csv.DictReader(fh)]

    upper = sorted(
        row[:2] for name in ("provinces.csv", "cities.csv", "areas.csv", "streets.csv") for row in rows(name)
    )
    villages: dict[str, list[str]] = {}
    for code, name, street in rows("villages.csv"):
        villages.setdefault(street, []).append(code[9:] + name)
    lines = []
    for code, name in upper:
        tail = "".join("\t" + v for v in sorted(villages.get(code, ())))
        lines.append(f"{code}\t{name}{tail}\n")
    # mtime=0 keeps the file byte-identical between builds of the same data.
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write("".join(lines).encode("utf-8"))
    return len(upper) + sum(len(v) for v in villages.values())
