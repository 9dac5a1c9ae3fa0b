"""Every unit's own entry points (四级平台): the place picker of its form, its QR code (码上反映).

A unit's form at ``/u/{code}/`` files to that unit. Its place picker lists the unit's own part
of the tree — the unit, its children, and their children while the list stays small — grouped
by the unit above them (``<optgroup>``), and a search (a plain GET of the same page, no script)
finds any place below the unit. With a province's ~30,000 villages no page lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from intake.errors import IntakeError, NotFound
from intake.jurisdiction import Jurisdiction

# The most places one picker lists before it stops going a level deeper; search finds the rest.
PICKER_LIMIT = 400
SEARCH_LIMIT = 50
MAX_QUERY = 50
LEVEL_WORDS = {
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "township": "乡镇（街道）",
    "village": "村（社区）",
}


class Unit(Protocol):
    """A unit of the jurisdiction's tree, as these pages read it."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def parent_code(self) -> str | None: ...
    @property
    def division_code(self) -> str: ...
    @property
    def division_name(self) -> str: ...


@dataclass(frozen=True)
class Place:
    code: str  # the division code the form sends
    name: str  # as the option reads


@dataclass(frozen=True)
class Group:
    label: str
    places: tuple[Place, ...]


def check_code(code: str) -> str:
    """A unit code from a URL: 2–12 ASCII digits (400 otherwise)."""
    if not (code.isascii() and code.isdigit() and 2 <= len(code) <= 12):
        raise IntakeError("单位代码应为 2 至 12 位数字。", code="invalid_unit", status=400)
    return code


class UnitPlaces:
    """The tree as the per-unit pages see it: which units have a form, and each form's picker."""

    def __init__(self, jurisdiction: Jurisdiction) -> None:
        self.jurisdiction = jurisdiction
        self.root = jurisdiction.receiving_unit
        # The units that take reports: the receiving unit and everything below it.
        self.units = jurisdiction.subtree(self.root)
        self._children: dict[str, list[Unit]] = {}
        self._by_code: dict[str, Unit] = {}
        for u in jurisdiction.units:
            if u.code in self.units:
                self._by_code[u.code] = u
                if u.parent_code is not None:
                    self._children.setdefault(u.parent_code, []).append(u)
        # Every unit below the root once, in code order: what a search walks.
        self._ordered = sorted(self._by_code.values(), key=lambda u: u.code)
        self.groups = lru_cache(maxsize=256)(self._groups)
        self.divisions = lru_cache(maxsize=256)(self._divisions)

    def unit(self, code: str) -> Unit:
        """The unit of ``/u/{code}/``: 400 for a malformed code, 404 for one not on this platform."""
        found = self._by_code.get(check_code(code))
        if found is None:
            raise NotFound("本平台没有这个单位，请核对地址或扫描的二维码。", code="unknown_unit")
        return found

    def children(self, code: str) -> list[Unit]:
        return self._children.get(code, [])

    def handler_of(self, code: str) -> Unit:
        """Who handles what an intake point (a village) registers: the nearest unit above it that
        is not an intake point."""
        unit = self._by_code[code]
        while self.jurisdiction.is_intake_point(unit.code) and unit.parent_code in self._by_code:
            unit = self._by_code[unit.parent_code]
        return unit

    def _divisions(self, code: str) -> frozenset[str]:
        """The division codes a report filed at ``code`` may name: the unit's and those below it."""
        return frozenset(self._by_code[c].division_code for c in self.jurisdiction.subtree(code))

    def _is_below(self, unit: Unit, code: str) -> bool:
        """Whether ``unit`` is ``code`` or below it (a walk up: the tree is a few levels deep)."""
        while unit.code != code:
            if unit.parent_code is None or unit.parent_code not in self._by_code:
                return False
            unit = self._by_code[unit.parent_code]
        return True

    def path(self, unit: Unit, below: str) -> str:
        """``长沙县 › 黄兴镇 › 接驾岭社区居委会``: the place's divisions from just below ``below``
        (the form's unit: its own name is the page's)."""
        names = [unit.division_name]
        while (
            unit.code != below and unit.parent_code not in (None, below) and unit.parent_code in self._by_code
        ):
            unit = self._by_code[unit.parent_code]
            names.append(unit.division_name)
        return " › ".join(reversed(names))

    def _groups(self, code: str) -> tuple[Group, ...]:
        """The picker of ``code``'s form: the unit and its children, then each child's children
        as a group of their own, as long as the whole list stays within :data:`PICKER_LIMIT`."""
        unit = self._by_code[code]
        children = self.children(code)
        own = [Place(unit.division_code, unit.division_name)]
        own += [Place(c.division_code, c.division_name) for c in children]
        first = Group(
            f"{unit.division_name}（{LEVEL_WORDS.get(unit.level, unit.level)}）", tuple(dict.fromkeys(own))
        )
        groups = [first]
        count = len(first.places)
        for child in children:
            below = self.children(child.code)
            if not below:
                continue
            if count + len(below) > PICKER_LIMIT:
                break
            places = tuple(Place(g.division_code, g.division_name) for g in below)
            groups.append(Group(child.division_name, places))
            count += len(below)
        return tuple(groups)

    def search(self, code: str, query: str) -> Group | None:
        """Places below ``code`` whose name contains ``query`` (at most :data:`SEARCH_LIMIT`),
        named by their path; None when nothing was asked."""
        query = query.strip()[:MAX_QUERY]
        if not query:
            return None
        found: list[Place] = []
        seen: set[str] = set()
        for u in self._ordered:
            if query in u.division_name and u.division_code not in seen and self._is_below(u, code):
                seen.add(u.division_code)
                found.append(Place(u.division_code, self.path(u, below=code)))
                if len(found) == SEARCH_LIMIT:
                    break
        return Group(f"查找“{query}”的结果", tuple(found))

    def picker(self, code: str, query: str = "", selected: str = "") -> tuple[Group, ...]:
        """The groups of the form's ``<select>``: search results first, then the unit's places;
        a place chosen earlier (from a search) stays listed when the form is shown again."""
        groups = list(self.groups(code))
        found = self.search(code, query)
        if found is not None:
            groups.insert(0, found)
        listed = {p.code for g in groups for p in g.places}
        if selected and selected not in listed:
            unit = next((u for u in self._by_code.values() if u.division_code == selected), None)
            if unit is not None and selected in self.divisions(code):
                groups.insert(0, Group("已选择", (Place(selected, self.path(unit, below=code)),)))
        return tuple(groups)


@lru_cache(maxsize=1024)
def qr_svg(url: str) -> str:
    """The QR code of ``url`` as an SVG (one path of its dark modules, a 4-module quiet zone),
    encoded by the ``qrcode`` library at level M (15% of the code may be soiled or torn). Kept
    once made: encoding costs ~15 ms and a unit's address does not change."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # the border included
    size = len(matrix)
    dark = "".join(f"M{x} {y}h1v1h-1z" for y, row in enumerate(matrix) for x, on in enumerate(row) if on)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size * 8}" height="{size * 8}" shape-rendering="crispEdges">'
        f"<title>{_xml(url)}</title>"
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{dark}" fill="#000"/></svg>\n'
    )


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
