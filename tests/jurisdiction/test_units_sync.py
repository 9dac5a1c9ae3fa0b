"""The units table follows the jurisdiction file at every start: a city's tree goes in at once
(parents first), a second start changes nothing, and a changed file updates what changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from intake import jurisdiction
from intake.jurisdiction_build import build
from storage import keys
from storage.database import Database


async def test_a_city_tree_is_synced_and_resynced(db_url: str, tmp_path: Path) -> None:
    tree = jurisdiction.from_document(build("4301", down_to="village"))
    db = Database(db_url, keys.load_or_create(tmp_path / "keys"), tmp_path / "data")
    await db.start()
    try:
        await db.units.sync(tree.units)
        stored = {u.code: u for u in await db.units.all()}
        assert stored == {u.code: u for u in tree.units}
        await db.units.sync(tree.units)  # the next start: nothing to do
        assert len(await db.units.all()) == len(tree.units)

        # The file changes: a unit renamed, a new township under a county, a village moved to it.
        renamed = dataclasses.replace(tree.unit("430181102"), name="社港镇纪委（改）")  # type: ignore[type-var]
        new_town = dataclasses.replace(renamed, code="430181199", name="新镇纪委", division_code="430181199")
        moved = dataclasses.replace(tree.unit("430181102224"), parent_code="430181199")  # type: ignore[type-var]
        changed = {u.code: u for u in tree.units} | {u.code: u for u in (renamed, moved)}
        units = [*changed.values()]
        units.insert(units.index(moved), new_town)
        await db.units.sync(units)
        stored = {u.code: u for u in await db.units.all()}
        assert stored["430181102"].name == "社港镇纪委（改）"
        assert stored["430181199"] == new_town and stored["430181102224"].parent_code == "430181199"
        assert len(stored) == len(tree.units) + 1
    finally:
        await db.close()
