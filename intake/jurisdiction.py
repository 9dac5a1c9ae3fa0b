"""The deployment's jurisdiction: its org tree of units, keyed by division code (data, not code).

The embedded default is the bundled demo, built by ``intake jurisdiction build`` (see
:mod:`intake.jurisdiction_build`): the whole of 长沙市 — 长沙市纪委监委, its districts' and counties'
commissions, their township commissions and street work committees, and the villages and
communities as intake points — with 湖南省 above it.

A file is checked when it is loaded (at start): a unit without a code, name, level or kind, with
an unknown level or kind, a code given twice, a parent that is not in the file, or a chain of
parents that loops is refused with a :class:`JurisdictionError` naming the unit. The units come
out parents first whatever the file's order (the units table is filled in that order).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from storage.records import UnitRecord
from triage.jurisdiction import INTAKE_POINT, UNIT_KINDS, UNIT_LEVELS

LEVELS = UNIT_LEVELS
KINDS = UNIT_KINDS
DEMO_FILE = "data/demo_jurisdiction.json"


class JurisdictionError(ValueError):
    """A jurisdiction file the server must not start with; the message names the unit at fault."""


@dataclass(frozen=True)
class Jurisdiction:
    name: str
    receiving_unit: str
    units: tuple[UnitRecord, ...]
    # The file as parsed: triage reads its routing data (management lists, 派驻 groups …) from it.
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- indexes (built once, on first use) ------------------------------------------------------

    @cached_property
    def _by_code(self) -> dict[str, UnitRecord]:
        return {u.code: u for u in self.units}

    @cached_property
    def _children(self) -> dict[str, tuple[UnitRecord, ...]]:
        below: dict[str, list[UnitRecord]] = {}
        for u in self.units:
            if u.parent_code is not None:
                below.setdefault(u.parent_code, []).append(u)
        return {code: tuple(units) for code, units in below.items()}

    # -- the tree --------------------------------------------------------------------------------

    def unit(self, code: str) -> UnitRecord | None:
        return self._by_code.get(code)

    def children(self, code: str) -> tuple[UnitRecord, ...]:
        """The units directly below ``code``, in the file's order (empty for a leaf or no unit)."""
        return self._children.get(code, ())

    def subtree(self, code: str) -> frozenset[str]:
        """The codes of ``code`` and of every unit below it (empty when there is no such unit)."""
        if code not in self._by_code:
            return frozenset()
        return frozenset(u.code for u in self._walk(code))

    def ancestors(self, code: str) -> tuple[UnitRecord, ...]:
        """The units above ``code``, its parent first (empty for a root or no unit)."""
        out: list[UnitRecord] = []
        unit = self._by_code.get(code)
        while unit is not None and unit.parent_code is not None:
            unit = self._by_code.get(unit.parent_code)
            if unit is not None:
                out.append(unit)
        return tuple(out)

    def is_intake_point(self, code: str) -> bool:
        """A village or community point that registers reports and forwards them, never a handler."""
        unit = self._by_code.get(code)
        return unit is not None and unit.kind == INTAKE_POINT

    def _walk(self, code: str) -> Iterator[UnitRecord]:
        todo = [self._by_code[code]]
        while todo:
            unit = todo.pop()
            yield unit
            todo.extend(self._children.get(unit.code, ()))

    # -- what the channels list ------------------------------------------------------------------

    def townships(self) -> list[UnitRecord]:
        """The township-level units of the receiving unit's tree, in the file's order (a county's
        own townships; a city's, all of its counties')."""
        inside = self.subtree(self.receiving_unit)
        return [u for u in self.units if u.level == "township" and u.code in inside]

    def divisions(self) -> tuple[str, ...]:
        """The division codes a report's location may name: the receiving unit's own and those of
        every unit below it, in the file's order. The units above (city, province) are in the
        file for routing, not places of this jurisdiction."""
        inside = self.subtree(self.receiving_unit)
        return tuple(dict.fromkeys(u.division_code for u in self.units if u.code in inside))


def load(path: Path | None = None) -> Jurisdiction:
    """Read and check a jurisdiction file (the bundled demo without a path)."""
    where = str(path) if path is not None else "intake/" + DEMO_FILE
    try:
        if path is None:
            text = resources.files("intake").joinpath(DEMO_FILE).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JurisdictionError(
            f"辖区文件 {where} 无法读取（cannot read the jurisdiction file: {exc}）"
        ) from None
    try:
        return from_document(doc)
    except JurisdictionError as exc:
        raise JurisdictionError(f"辖区文件 {where} 有误：{exc}") from None


def from_document(doc: Any) -> Jurisdiction:
    """A checked :class:`Jurisdiction` from a parsed file; :class:`JurisdictionError` if it is bad."""
    if not isinstance(doc, dict) or not isinstance(doc.get("units"), list) or not doc["units"]:
        raise JurisdictionError('没有单位列表（the file needs a non-empty "units" list）')
    units = [_record(i, u) for i, u in enumerate(doc["units"])]
    by_code: dict[str, UnitRecord] = {}
    for u in units:
        if u.code in by_code:
            raise JurisdictionError(f"单位 {u.code} 重复出现（unit {u.code} is given twice）")
        by_code[u.code] = u
    for u in units:
        if u.parent_code is not None and u.parent_code not in by_code:
            raise JurisdictionError(
                f"单位 {u.code}（{u.name}）的上级 {u.parent_code} 不在文件中"
                f"（unit {u.code} names a parent {u.parent_code} that is not in the file）"
            )
    depth = _depths(by_code)
    receiving = doc.get("receiving_unit")
    if not isinstance(receiving, str) or receiving not in by_code:
        raise JurisdictionError(
            f"受理单位 {receiving!r} 不在单位列表中（the receiving unit is not one of the units）"
        )
    if by_code[receiving].kind == INTAKE_POINT:
        raise JurisdictionError(
            f"受理单位 {receiving} 是受理点，不能作为辖区的受理机关"
            f"（the receiving unit {receiving} is an intake point）"
        )
    # Parents first (a stable sort keeps the file's order within a depth).
    ordered = tuple(sorted(units, key=lambda u: depth[u.code]))
    return Jurisdiction(str(doc.get("name") or receiving), receiving, ordered, doc)


def _record(index: int, row: Any) -> UnitRecord:
    if not isinstance(row, dict):
        raise JurisdictionError(f"第 {index + 1} 个单位不是对象（unit #{index + 1} is not an object）")
    code = row.get("code")
    if not isinstance(code, str) or not code:
        raise JurisdictionError(f"第 {index + 1} 个单位没有代码（unit #{index + 1} has no code）")
    for key in ("name", "level"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise JurisdictionError(f"单位 {code} 缺少 {key}（unit {code} has no {key}）")
    level, kind = row["level"], row.get("kind", "commission")
    if level not in LEVELS:
        raise JurisdictionError(
            f"单位 {code} 的级别 {level!r} 无法识别（unit {code} has unknown level {level!r}; "
            f"one of {', '.join(LEVELS)}）"
        )
    if kind not in KINDS:
        raise JurisdictionError(
            f"单位 {code} 的类型 {kind!r} 无法识别（unit {code} has unknown kind {kind!r}; "
            f"one of {', '.join(KINDS)}）"
        )
    if (level == "village") != (kind == INTAKE_POINT):
        raise JurisdictionError(
            f"单位 {code}：村级只设受理点（intake_point），受理点只设在村级"
            f"（unit {code}: level village goes with kind {INTAKE_POINT}, and only it）"
        )
    parent = row.get("parent", row.get("parent_code"))
    if parent is not None and not isinstance(parent, str):
        raise JurisdictionError(f"单位 {code} 的上级代码不是字符串（unit {code}: parent must be a string）")
    division = row.get("division_code") or code
    return UnitRecord(
        code,
        row["name"],
        level,
        kind,
        parent,
        str(division),
        str(row.get("division_name") or row["name"]),
    )


def _depths(by_code: Mapping[str, UnitRecord]) -> dict[str, int]:
    """Each unit's distance from its root; a chain of parents that comes back is refused."""
    depth: dict[str, int] = {}
    for start in by_code:
        chain: list[str] = []
        seen: set[str] = set()
        code: str | None = start
        while code is not None and code not in depth:
            if code in seen:
                loop = chain[chain.index(code) :]
                raise JurisdictionError(
                    f"单位 {code} 的上级关系成环：{' → '.join([*loop, code])}"
                    f"（unit {code} is its own ancestor: a cycle）"
                )
            seen.add(code)
            chain.append(code)
            code = by_code[code].parent_code
        base = -1 if code is None else depth[code]
        for i, c in enumerate(reversed(chain)):
            depth[c] = base + 1 + i
    return depth
