"""The deployment's jurisdiction: its org tree of units, keyed by division code (data, not code).

The embedded default is the bundled demo: 长沙县纪委监委 (430121) with its township and street
commissions, and 长沙市 and 湖南省 above it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from storage.records import UnitRecord

LEVELS = ("central", "province", "city", "county", "township")


@dataclass(frozen=True)
class Jurisdiction:
    name: str
    receiving_unit: str
    units: tuple[UnitRecord, ...]
    # The file as parsed: triage reads its routing data (management lists, 派驻 groups …) from it.
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def unit(self, code: str) -> UnitRecord | None:
        return next((u for u in self.units if u.code == code), None)

    # Minimal tree walks (i16-units); the i16-tree branch brings the indexed versions.
    def children(self, code: str) -> list[UnitRecord]:
        return [u for u in self.units if u.parent_code == code]

    def subtree(self, code: str) -> frozenset[str]:
        """``code`` and every unit below it (empty when there is no such unit)."""
        if self.unit(code) is None:
            return frozenset()
        inside, todo = {code}, [code]
        while todo:
            below = [u.code for u in self.children(todo.pop()) if u.code not in inside]
            inside.update(below)
            todo.extend(below)
        return frozenset(inside)

    def ancestors(self, code: str) -> list[UnitRecord]:
        """The units above ``code``, nearest first."""
        out: list[UnitRecord] = []
        unit = self.unit(code)
        while unit is not None and unit.parent_code is not None and len(out) < len(self.units):
            unit = self.unit(unit.parent_code)
            if unit is not None:
                out.append(unit)
        return out

    def is_intake_point(self, code: str) -> bool:
        unit = self.unit(code)
        return unit is not None and unit.level == "village"

    def townships(self) -> list[UnitRecord]:
        return [u for u in self.units if u.level == "township" and u.parent_code == self.receiving_unit]

    def divisions(self) -> tuple[str, ...]:
        """The division codes a report's location may name: the receiving unit's own and those of
        every unit below it (the townships), in the file's order. The units above (city,
        province) are in the file for routing, not places of this jurisdiction."""
        inside, todo = {self.receiving_unit}, [self.receiving_unit]
        while todo:
            parent = todo.pop()
            below = [u.code for u in self.units if u.parent_code == parent and u.code not in inside]
            inside.update(below)
            todo.extend(below)
        return tuple(dict.fromkeys(u.division_code for u in self.units if u.code in inside))


def load(path: Path | None = None) -> Jurisdiction:
    if path is None:
        text = resources.files("intake").joinpath("data/demo_jurisdiction.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    doc = json.loads(text)
    units = tuple(
        UnitRecord(
            u["code"],
            u["name"],
            u["level"],
            u["kind"],
            u.get("parent"),
            u["division_code"],
            u["division_name"],
        )
        for u in doc["units"]
    )
    codes = {u.code for u in units}
    for u in units:
        if u.level not in LEVELS:
            raise ValueError(f"unit {u.code} has unknown level {u.level!r}")
        if u.parent_code is not None and u.parent_code not in codes:
            raise ValueError(f"unit {u.code} names a parent {u.parent_code} that is not in the file")
    if doc["receiving_unit"] not in codes:
        raise ValueError("the receiving unit is not one of the units")
    return Jurisdiction(doc["name"], doc["receiving_unit"], units, doc)
