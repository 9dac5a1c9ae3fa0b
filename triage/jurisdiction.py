"""The deployment's org tree as triage sees it: plain data handed in by the caller.

Triage imports nothing of the application, so the caller (``intake``) builds a
:class:`Jurisdiction` from its jurisdiction file — :meth:`Jurisdiction.from_dict` accepts the
parsed JSON of ``intake/data/demo_jurisdiction.json`` as it is — and passes it to
:func:`triage.triage`. Everything routing needs that differs between deployments lives here, as
data (research note §12.6): the units (纪委监委, 纪工委, 派驻纪检监察组, vertical systems' organs),
the management lists (干部管理权限 overrides, e.g. 县委书记 is 省管 in some provinces), the vertically
managed systems, and the local rules R6/R7 (乡镇监察办公室, county-first video booking).

A unit of kind ``stationed`` (派驻纪检监察组) names its host units (``hosts``: 驻在单位, e.g.
县教育局) and, in ``covers``, words for the bodies its host's 党组 manages (中学, 小学): the group
handles their staff (R11), its parent commission the hosts' own leadership (R10).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from triage.lexicon import LEVEL_RANK, LEVELS, VERTICAL_SYSTEMS

# A village or community intake point (村务监督委员会, 村（社区）监督联络站): it registers reports and
# visits and forwards them; there is no commission at village level, so it never handles one.
INTAKE_POINT = "intake_point"
UNIT_KINDS = ("commission", "work_committee", "stationed", "supervision_office", "vertical", INTAKE_POINT)
# The levels a unit may have: the handling levels and ``village`` (intake points only).
UNIT_LEVELS = (*LEVELS, "village")
HANDLING_KINDS = ("commission", "work_committee")


@dataclass(frozen=True)
class Unit:
    """One node of the org tree, keyed by its own code (the demo uses division codes)."""

    code: str
    name: str
    level: str
    parent_code: str | None
    division_code: str
    kind: str = "commission"
    hosts: tuple[str, ...] = ()
    covers: tuple[str, ...] = ()
    system: str | None = None

    def __post_init__(self) -> None:
        if self.level not in UNIT_LEVELS:
            raise ValueError(f"unit {self.code}: unknown level {self.level!r}")
        if self.kind not in UNIT_KINDS:
            raise ValueError(f"unit {self.code}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class ManagementRule:
    """A management-list entry: who matches it is managed at ``managed_by`` (a level).

    Every given field must match: ``name`` exactly, ``title`` exactly or as the end of the
    accused's full title (县委书记 matches 长沙县委书记), ``unit`` as a substring of the accused's
    unit phrase.
    """

    managed_by: str
    title: str | None = None
    unit: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.managed_by not in LEVELS:
            raise ValueError(f"management rule: unknown level {self.managed_by!r}")
        if not (self.title or self.unit or self.name):
            raise ValueError("management rule: give at least one of title, unit, name")

    def matches(self, *, name: str | None, title: str, unit: str) -> bool:
        if self.name is not None and self.name != name:
            return False
        full = unit + title
        if self.title is not None and not (self.title == title or full.endswith(self.title)):
            return False
        return self.unit is None or self.unit in unit


@dataclass(frozen=True)
class Jurisdiction:
    """The receiving commission, the units around it and the deployment's routing data."""

    name: str
    receiving_unit: str
    units: tuple[Unit, ...]
    management: tuple[ManagementRule, ...] = ()
    vertical_systems: Mapping[str, str] = field(default_factory=lambda: dict(VERTICAL_SYSTEMS))
    # R6: village 监察对象 reach the county 监委 through the township's 派出监察办公室.
    township_supervision_offices: bool = True
    # R7 (恩施州 practice): village and 乡科级 cases booked for video reception start at the county.
    video_first_contact_county: bool = True

    def __post_init__(self) -> None:
        codes = {u.code for u in self.units}
        if self.receiving_unit not in codes:
            raise ValueError(f"receiving unit {self.receiving_unit} is not one of the units")
        for u in self.units:
            if u.parent_code is not None and u.parent_code not in codes:
                raise ValueError(f"unit {u.code} names a parent {u.parent_code} that is not a unit")
        if self.receiving.kind == INTAKE_POINT:
            raise ValueError(f"receiving unit {self.receiving_unit} is an intake point, not a commission")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Jurisdiction:
        """Build from a parsed jurisdiction file (the shape of intake's demo_jurisdiction.json).

        Units may give ``parent`` or ``parent_code``; optional top-level keys: ``management``
        (list of {managed_by, title?, unit?, name?}), ``vertical_systems`` ({keyword: system}),
        ``township_supervision_offices`` and ``video_first_contact_county`` (booleans).
        """
        units = tuple(unit_from(u) for u in doc["units"])
        management = tuple(
            ManagementRule(
                managed_by=str(m["managed_by"]),
                title=m.get("title"),
                unit=m.get("unit"),
                name=m.get("name"),
            )
            for m in doc.get("management", ())
        )
        vertical = dict(VERTICAL_SYSTEMS)
        vertical.update(doc.get("vertical_systems", {}))
        return cls(
            name=str(doc.get("name", "")),
            receiving_unit=str(doc["receiving_unit"]),
            units=units,
            management=management,
            vertical_systems=vertical,
            township_supervision_offices=bool(doc.get("township_supervision_offices", True)),
            video_first_contact_county=bool(doc.get("video_first_contact_county", True)),
        )

    # -- lookups -----------------------------------------------------------------------------

    @cached_property
    def _by_code(self) -> dict[str, Unit]:
        return {u.code: u for u in self.units}

    def unit(self, code: str | None) -> Unit | None:
        return None if code is None else self._by_code.get(code)

    @cached_property
    def _views(self) -> dict[str, Jurisdiction]:
        return {}

    @cached_property
    def county_codes(self) -> tuple[str, ...]:
        """The division codes of the tree's county-level commissions (their townships' names are
        taught to the tokenizer)."""
        return tuple(
            dict.fromkeys(
                u.division_code for u in self.units if u.level == "county" and u.kind in HANDLING_KINDS
            )
        )

    def index(self) -> None:
        """Build every look-up table now (at start, by :func:`triage.warm_up`), not on first use."""
        for name in (
            "_by_code",
            "_commissions",
            "_central",
            "_stationed",
            "_vertical",
            "county_codes",
            "_views",
        ):
            getattr(self, name)

    def received_at(self, code: str | None) -> Jurisdiction:
        """The same tree with ``code`` as the receiving unit (a report filed at that unit's own
        entry point). An intake point receives for the commission above it, which handles or
        forwards what it registers. The views share this tree's indexes and are kept, so a
        report pays a dict look-up, not a rebuild. ``ValueError`` for a code not in the tree."""
        if code is None or code == self.receiving_unit:
            return self
        views = self._views
        view = views.get(code)
        if view is not None:
            return view
        unit = self._by_code.get(code)
        if unit is None:
            raise ValueError(f"receiving unit {code!r} is not a unit of the jurisdiction")
        while unit.kind not in HANDLING_KINDS and unit.parent_code is not None:
            unit = self._by_code[unit.parent_code]
        self.index()  # built once, then shared by the view
        view = copy.copy(self)
        object.__setattr__(view, "receiving_unit", unit.code)
        views[code] = view
        return view

    @property
    def receiving(self) -> Unit:
        unit = self._by_code[self.receiving_unit]
        return unit

    @property
    def division_code(self) -> str:
        """The receiving unit's division: the prior for bare place names."""
        return self.receiving.division_code

    def parent(self, unit: Unit) -> Unit | None:
        return self.unit(unit.parent_code)

    @cached_property
    def _commissions(self) -> dict[tuple[str, str], Unit]:
        """(level, division code) → the first 纪委监委 or 纪工委 of the tree there."""
        found: dict[tuple[str, str], Unit] = {}
        for u in self.units:
            if u.kind in HANDLING_KINDS and len(u.division_code) == _CODE_LENGTH.get(u.level, -1):
                found.setdefault((u.level, u.division_code), u)
        return found

    @cached_property
    def _central(self) -> Unit | None:
        return next((u for u in self.units if u.level == "central" and u.kind in HANDLING_KINDS), None)

    @cached_property
    def _stationed(self) -> tuple[Unit, ...]:
        return tuple(u for u in self.units if u.kind == "stationed")

    @cached_property
    def _vertical(self) -> dict[str, Unit]:
        found: dict[str, Unit] = {}
        for u in self.units:
            if u.kind == "vertical" and u.system is not None:
                found.setdefault(u.system, u)
        return found

    def commission_for(self, level: str, division_code: str | None) -> Unit | None:
        """The 纪委监委 (or 纪工委) at ``level`` over ``division_code``; None when not in the tree.

        Without a division, the receiving unit's own chain answers: its ancestor at ``level``, or
        itself. An intake point is never the answer (it handles nothing).
        """
        if division_code is None:
            unit: Unit | None = self.receiving
            while unit is not None:
                if unit.level == level and unit.kind in HANDLING_KINDS:
                    return unit
                unit = self.parent(unit)
            return self._central if level == "central" else None
        length = _CODE_LENGTH.get(level)
        if length is None:
            return next(
                (
                    u
                    for u in self.units
                    if u.level == level
                    and u.kind in HANDLING_KINDS
                    and division_code.startswith(u.division_code)
                ),
                None,
            )
        if len(division_code) < length:
            return None
        return self._commissions.get((level, division_code[:length]))

    def stationed(self) -> tuple[Unit, ...]:
        return self._stationed

    def vertical_unit(self, system: str) -> Unit | None:
        return self._vertical.get(system)

    def match_management(self, *, name: str | None, title: str, unit: str) -> ManagementRule | None:
        return next((m for m in self.management if m.matches(name=name, title=title, unit=unit)), None)

    def is_above_receiving(self, level: str) -> bool:
        return LEVEL_RANK[level] < LEVEL_RANK[self.receiving.level]


_CODE_LENGTH = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}


def national() -> Jurisdiction:
    """A placeholder tree (one central unit) for callers with no jurisdiction: routing still
    names levels and synthesizes unit names from the gazetteer, with no unit ids."""
    return Jurisdiction(
        name="（未配置辖区）",
        receiving_unit="0",
        units=(Unit("0", "中央纪委国家监委", "central", None, "0"),),
    )


def unit_from(row: Mapping[str, Any]) -> Unit:
    """A unit from a plain mapping (a jurisdiction file's entry); ``parent`` or ``parent_code``."""
    return Unit(
        code=str(row["code"]),
        name=str(row["name"]),
        level=str(row["level"]),
        parent_code=row.get("parent_code", row.get("parent")),
        division_code=str(row.get("division_code") or row["code"]),
        kind=str(row.get("kind", "commission")),
        hosts=tuple(row.get("hosts", ())),
        covers=tuple(row.get("covers", ())),
        system=row.get("system"),
    )
