"""Level and unit: which commission must handle the report (分级受理, research note §2.2, §2.5).

Applied in order, each decision naming its rule:

* out of scope → the receiving unit itself, which forwards or informs (§2.3);
* **R8** the receiving commission's own head (县纪委书记 reported to the 县纪委) → the commission
  above, sealed, kept out of the platform (S1 art 15 ¶1);
* **R1** 中管干部 (省部级) → 中央纪委国家监委;
* **R9** vertically managed systems (税务, 海关, 金融监管 …) → that system's 纪检监察 organ (S1 art
  12); the local commission may accept only after coordinating;
* **R10/R11** a 派驻 host unit: its leadership → the 派出机关 (the group may join); everyone else
  its 党组 manages → the 派驻纪检监察组;
* **R7** village and 乡科级 cases booked for video reception start at the county;
* **R5** village party cadres (村党支部书记, party members of the 村“两委”) and township staff →
  the 乡镇纪委, with the county 监委 as a monitoring record (R6);
* **R6** non-party village 监察对象 (村委会主任, 村会计) → the county 监委, via the township's 派出
  监察办公室 where configured;
* **R2–R4** otherwise the commission at the managing level (省管 → province, 市管 → city, 县管 →
  county), at the accused's place;
* **R12** when that is not the receiving unit: upward (within 5 working days, sealed: S1 art 15),
  downward (S1 art 16) or sideways to a sibling;
* **R13** (clues handed over by 巡视巡察/审计) and **R14** (retired, resigned, dead) are noted.

The report's most senior accused (highest managing level) decides; the others are in the
evidence. With no accused the receiving unit keeps it (or its sibling when every place named is
elsewhere) with low confidence, so that a person triages it by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from triage.accused import Accused
from triage.gazetteer import Gazetteer, PlaceMatch
from triage.jurisdiction import Jurisdiction, Unit
from triage.lexicon import CODE_LENGTH_BY_LEVEL, LEVEL_RANK, MANAGED_BY_RANK, NON_COMMITTEE_VILLAGE_POSTS

CENTRAL_NAME = "中央纪委国家监委"
CENTRAL_DIVISION = "0"
# Forwarding outside the tree (R12): the deadline rule (intake.deadlines) by direction.
FORWARD_DEADLINES = {
    "upward": ("jjkg_upward_transfer", "S1 art 15"),
    "sideways": ("jc_transfer_other_jurisdiction", "S3 art 169"),
}
_LEVEL_OF_DIVISION = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}


@dataclass(frozen=True)
class UnitRef:
    id: str | None
    name: str
    # For a commission outside the tree (no id): the division it was named from ("0": central).
    division: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name}


@dataclass
class Route:
    level: str
    unit: UnitRef
    rules: list[str]
    confidence: float
    sealed: bool = False
    transfer: str | None = None  # upward · downward · sideways
    secondary: UnitRef | None = None
    notes: list[str] = field(default_factory=list)
    # Set when the handling unit is outside the deployment's tree: whom to forward to, by when.
    forward: dict[str, Any] | None = None

    def evidence(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"decision": "routing", "rule": " ".join(self.rules), "words": []}
        notes = list(self.notes)
        if self.transfer:
            notes.append(f"transfer={self.transfer}")
        if self.sealed:
            notes.append("sealed: send unopened, no copy, no platform entry (S1 art 15)")
        if self.secondary:
            notes.append(f"also={self.secondary.name}")
        if notes:
            doc["note"] = "; ".join(notes)
        return doc


def _ref(unit: Unit) -> UnitRef:
    return UnitRef(unit.code, unit.name)


def _informed(accused: Sequence[Accused]) -> Sequence[Accused]:
    """The accused whose managing level says something: not a 一般干部 placed only by the
    receiving unit's level (in a city's tree, a bare 教师 is not 市管), unless that is all."""
    told = [
        a
        for a in accused
        if a.management_rule or a.level_source != "prior" or MANAGED_BY_RANK.get(a.rank) is not None
    ]
    return told or accused


def _routing_level(level: str) -> str:
    return "township" if level == "village" else level


class Router:
    """Routing against one jurisdiction with the gazetteer for units outside its tree."""

    def __init__(self, jurisdiction: Jurisdiction, gazetteer: Gazetteer) -> None:
        self.j = jurisdiction
        self.g = gazetteer

    # -- units ---------------------------------------------------------------------------------

    def commission(self, level: str, division: str | None) -> UnitRef:
        """The commission at ``level`` over ``division``: from the tree, else named from the
        gazetteer (no id: it is outside this deployment)."""
        if level == "central":
            unit = self.j.commission_for("central", None)
            return _ref(unit) if unit else UnitRef(None, CENTRAL_NAME, CENTRAL_DIVISION)
        div_code = None
        if division:
            length = CODE_LENGTH_BY_LEVEL[level]
            div_code = division[:length] if len(division) >= length else None
        unit = self.j.commission_for(level, div_code)
        if unit is not None:
            return _ref(unit)
        if div_code is None:
            known = division and self.g.get(division)
            where = f"{known.name}所属" if known else "所在"
            suffix = {"province": "省级纪委监委", "city": "市级纪委监委", "county": "县级纪委监委"}
            return UnitRef(None, f"{where}{suffix.get(level, '乡镇纪委')}")
        div = self.g.get(div_code)
        name = div.name if div else div_code
        if level == "township":
            return UnitRef(None, f"{name}纪工委" if name.endswith("街道") else f"{name}纪委", div_code)
        return UnitRef(None, f"{name}纪委监委", div_code)

    def _county_of(self, a: Accused) -> str | None:
        if a.division and len(a.division) >= 6:
            return a.division[:6]
        return self.j.division_code[:6] if len(self.j.division_code) >= 6 else None

    # -- the rules -----------------------------------------------------------------------------

    def route(
        self,
        accused: Sequence[Accused],
        places: Sequence[PlaceMatch],
        *,
        scope: str,
        channel: str | None,
        handover: bool = False,
    ) -> Route:
        receiving = self.j.receiving
        if scope == "out_of_scope":
            return Route(receiving.level, _ref(receiving), ["§2.3 不予受理"], 0.8)
        route = self._route_accused(accused, places, channel)
        if route is None:
            route = self._route_without_accused(places)
        self._transfer(route)
        if handover and route.unit.id == receiving.code:
            route.rules.append("R13")
            route.notes.append("案件监督管理部门 receives clues handed over by other organs")
        if any(a.former for a in accused):
            route.rules.append("R14")
            route.notes.append("former office holder: still within jurisdiction for acts in office")
        return route

    def _route_without_accused(self, places: Sequence[PlaceMatch]) -> Route:
        receiving = self.j.receiving
        prior = self.j.division_code
        level = receiving.level
        if places and level != "central":
            inside = [
                p for p in places if p.division.code.startswith(prior) or prior.startswith(p.division.code)
            ]
            if not inside:
                # Every place is elsewhere: the same-level commission there (R12 sideways).
                best = places[0].division.code
                if len(best) >= CODE_LENGTH_BY_LEVEL.get(level, 99):
                    return Route(level, self.commission(level, best), ["R12 属地"], 0.55)
        return Route(level, _ref(receiving), ["no accused identified"], 0.45)

    def _route_accused(
        self, accused: Sequence[Accused], places: Sequence[PlaceMatch], channel: str | None
    ) -> Route | None:
        """The rules that need an accused, in their order: R8, R1, R9, R10/R11, R7, R5/R6, R2–R4."""
        if not accused:
            return None
        route = self._route_receiving_head(accused)
        if route is not None:
            return route
        a = min(_informed(accused), key=lambda x: (LEVEL_RANK[x.managed_by], x.start))
        conf, notes = self._senior_confidence(a, accused)
        # R1 中管干部.
        if a.managed_by == "central":
            return Route("central", self.commission("central", None), ["R1"], conf, notes=notes)
        route = self._route_vertical(a, conf, notes) or self._route_stationed(a, conf, notes)
        if route is not None:
            return route
        # R7 video reception: village and 乡科级 cases start at the county.
        if (
            channel == "video"
            and self.j.video_first_contact_county
            and a.managed_by in ("county", "township")
        ):
            return Route("county", self.commission("county", self._county_of(a)), ["R7"], conf, notes=notes)
        # Village cadres and township staff: R5 / R6.
        if a.rank == "村干部" or (a.managed_by == "township"):
            return self._route_grassroots(a, conf, notes)
        # R2–R4 by managing level.
        rule = {"province": "R2", "city": "R3", "county": "R4"}.get(a.managed_by, "R4")
        return Route(a.managed_by, self.commission(a.managed_by, a.division), [rule], conf, notes=notes)

    def _route_receiving_head(self, accused: Sequence[Accused]) -> Route | None:
        """R8, checked before all others: an accused who heads the receiving commission."""
        receiving = self.j.receiving
        if not any(a.commission_head and self._is_receiving_head(a) for a in accused):
            return None
        parent = self.j.parent(receiving)
        target = _ref(parent) if parent else UnitRef(None, "上一级纪检监察机关")
        level = parent.level if parent else "central"
        return Route(level, target, ["R8"], 0.9, sealed=True, notes=[f"accused heads {receiving.name}"])

    @staticmethod
    def _senior_confidence(a: Accused, accused: Sequence[Accused]) -> tuple[float, list[str]]:
        """Confidence from how the senior accused's level was found, less when the accused differ."""
        conf = {"unit": 0.9, "place": 0.9, "title": 0.85, "prior": 0.75}[a.level_source]
        if a.management_rule:
            conf = 0.95
        notes = []
        if len({x.managed_by for x in accused}) > 1:
            conf -= 0.05
            notes.append(f"{len(accused)} accused; routed by the most senior")
        return conf, notes

    def _route_vertical(self, a: Accused, conf: float, notes: list[str]) -> Route | None:
        """R9: a vertically managed system's own 纪检监察 organ."""
        for keyword, system in self.j.vertical_systems.items():
            if keyword in a.unit or keyword in a.title:
                unit = self.j.vertical_unit(system)
                ref = _ref(unit) if unit else UnitRef(None, f"{system}纪检监察机构（主管部门）")
                level = unit.level if unit else _routing_level(a.unit_level)
                notes.append("local commission may accept only after coordinating (S1 art 12)")
                return Route(level, ref, ["R9"], min(conf, 0.85), notes=notes)
        return None

    def _route_stationed(self, a: Accused, conf: float, notes: list[str]) -> Route | None:
        """R10 (the host unit's leadership → the 派出机关) and R11 (the 派驻 group)."""
        stationed = self._stationed_for(a)
        if stationed is None:
            return None
        group, is_host = stationed
        if is_host and a.leadership:
            parent = self.j.parent(group)
            if parent is not None:
                notes.append(f"{group.name} may join the preliminary check")
                return Route(parent.level, _ref(parent), ["R10"], conf, notes=notes)
        return Route(group.level, _ref(group), ["R11"], conf, notes=notes)

    def _route_grassroots(self, a: Accused, conf: float, notes: list[str]) -> Route:
        county = self.commission("county", self._county_of(a))
        township_code = a.division if a.division and len(a.division) >= 9 else None
        # A village post outside the 村“两委” (村会计, 村民小组长 …) whose holder is not said to be a
        # party member is a 监察对象 for the county 监委 (R6, 实施条例 art 42), not a township case.
        non_committee = a.title in NON_COMMITTEE_VILLAGE_POSTS and a.party is not True
        if a.party is False or non_committee:
            if non_committee and a.party is None:
                notes.append("village post outside the 村两委: county 监委 unless a party member (R5)")
                conf = min(conf, 0.75)
            if self.j.township_supervision_offices and township_code:
                office = self.commission("township", township_code)
                notes.append(f"via the 派出监察办公室 at {office.name}")
            return Route("county", county, ["R6"], conf, notes=notes)
        if township_code is None:
            notes.append("township not identified: the county assigns it")
            return Route(
                "township",
                UnitRef(None, "所在乡镇纪委（乡镇未识别）"),
                ["R5"],
                min(conf, 0.5),
                secondary=county,
                notes=notes,
            )
        township = self.commission("township", township_code)
        if a.party is None:
            notes.append("party membership not stated: 乡镇纪委 if a party member, else the county 监委 (R6)")
            conf = min(conf, 0.7)
        return Route("township", township, ["R5"], conf, secondary=county, notes=notes)

    def _is_receiving_head(self, a: Accused) -> bool:
        receiving = self.j.receiving
        if _routing_level(a.unit_level) != receiving.level:
            return False
        return a.division is None or a.division.startswith(receiving.division_code)

    def _stationed_for(self, a: Accused) -> tuple[Unit, bool] | None:
        """The 派驻 group whose host (True) or covered bodies (False) the accused works in."""
        if not a.unit:
            return None
        core = a.unit
        for group in self.j.stationed():
            if a.division and not a.division.startswith(group.division_code[: len(a.division)]):
                continue
            for host in group.hosts:
                host_core = host.lstrip("省市县区").removeprefix("直")
                if host_core and (host_core in core or core.endswith(host_core)):
                    # A body under the host (教育局下属中学) is covered, not the host itself.
                    covered = any(c in core.split(host_core, 1)[1] for c in group.covers)
                    return group, not covered
            if any(c in core for c in group.covers):
                return group, False
        return None

    def _transfer(self, route: Route) -> None:
        receiving = self.j.receiving
        if route.unit.id == receiving.code:
            return
        if "R8" in route.rules:
            route.transfer = "upward"
            return
        if route.unit.id is None and route.unit.division is not None:
            self._forward_outside(route, route.unit.division)
            return
        target, here = LEVEL_RANK[route.level], LEVEL_RANK[receiving.level]
        if target < here:
            route.transfer, route.sealed = "upward", True
            route.rules.append("R12")
            route.notes.append("upward transfer within 5 working days (S1 art 15)")
        elif target > here and self._below_receiving(route.unit.id):
            route.transfer = "downward"
            route.rules.append("R12")
            route.notes.append("downward transfer; the lower level accepts within 5 working days (S1 art 16)")
        elif target > here:
            # A lower unit in another branch of the tree (宁乡 receiving, 社港镇 of 浏阳 handling).
            route.transfer = "sideways"
            route.rules.append("R12")
            route.notes.append(
                "belongs to a unit in another branch of the tree: transfer within 5 working days"
            )
        else:
            unit = self.j.unit(route.unit.id)
            if unit is None or unit.kind not in ("stationed", "vertical"):
                route.transfer = "sideways"
                route.rules.append("R12")
                route.notes.append(
                    "belongs to another commission of the same level: transfer within 5 working days"
                )

    def _below_receiving(self, code: str | None) -> bool:
        """Whether unit ``code`` lies under the receiving unit (or its id is unknown: below, as
        before the tree knew its branches)."""
        unit = self.j.unit(code)
        while unit is not None:
            if unit.code == self.j.receiving_unit:
                return True
            unit = self.j.parent(unit)
        return code is None

    def _forward_outside(self, route: Route, division: str) -> None:
        """R12 to a commission outside the tree: upward when it is over the receiving unit's
        division (or central), else sideways; marked for forwarding within 5 working days."""
        above = division == CENTRAL_DIVISION or self.j.division_code.startswith(division)
        route.transfer = "upward" if above else "sideways"
        route.sealed = route.sealed or above
        route.rules.append("R12")
        deadline, basis = FORWARD_DEADLINES[route.transfer]
        route.forward = {
            "name": route.unit.name,
            "division": division,
            "level": route.level,
            "deadline": deadline,
            "working_days": 5,
            "basis": basis,
        }
        if above:
            route.notes.append("upward transfer within 5 working days (S1 art 15)")
        else:
            route.notes.append("belongs to another jurisdiction's commission: transfer within 5 working days")
        route.notes.append(
            f"outside this deployment's tree: forward to {route.unit.name} (not in the platform)"
        )
