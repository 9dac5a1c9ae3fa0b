"""The layers of DESIGN.md, enforced: channels, video_reception → intake → triage, storage.

Imports are read with ``ast`` from every module of the five packages. Also: each package resolves
to this repository, not to a PyPI distribution of the same name.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("intake", "channels", "triage", "video_reception", "storage")
KEY_MATERIAL = ("sqlalchemy", "alembic", "cryptography", "asyncpg", "aiosqlite", "sqlite3")

# What each package may import of ours.
ALLOWED = {
    "triage": {"triage"},
    "storage": {"storage"},
    "intake": {"intake", "triage", "storage"},
    "channels": {"channels", "intake"},
    "video_reception": {"video_reception", "intake"},
}
# The composition root: the command line hands channels.REGISTRY to the server, and build_app
# types its channel contexts. Listed one by one so that nothing else slips in.
EXCEPTIONS = {
    ("intake/cli.py", "channels"),
    ("intake/app.py", "channels.base"),
}


def imports_of(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def violations(package: str, rel: str, source: str) -> list[str]:
    bad = []
    for name in imports_of(source):
        top = name.split(".")[0]
        if top in PACKAGES and top not in ALLOWED[package] and (rel, name) not in EXCEPTIONS:
            bad.append(f"{rel} imports {name}")
        if top in KEY_MATERIAL and package != "storage":
            bad.append(f"{rel} imports {name}: only storage may touch databases and key material")
    return bad


def modules() -> list[tuple[str, str]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out.append((package, str(path.relative_to(ROOT))))
    return out


@pytest.mark.parametrize(("package", "rel"), modules())
def test_module_respects_the_layers(package: str, rel: str) -> None:
    assert violations(package, rel, (ROOT / rel).read_text("utf-8")) == []


def test_the_checker_catches_violations() -> None:
    assert violations("storage", "storage/x.py", "from intake.pipeline import Pipeline")
    assert violations("triage", "triage/x.py", "import storage.db")
    assert violations("channels", "channels/x/views.py", "from storage.database import Database")
    assert violations("channels", "channels/x/views.py", "import sqlalchemy as sa")
    assert violations("intake", "intake/other.py", "import channels")
    assert violations("intake", "intake/app.py", "import channels")  # only channels.base is excused
    assert not violations("intake", "intake/cli.py", "import channels")
    assert not violations("channels", "channels/x/views.py", "from intake.pipeline import Pipeline")


def test_triage_does_no_io_imports() -> None:
    io_modules = {"socket", "http", "urllib", "requests", "aiohttp", "subprocess", "sqlite3"}
    for path in (ROOT / "triage").rglob("*.py"):
        tops = {name.split(".")[0] for name in imports_of(path.read_text("utf-8"))}
        assert not tops & io_modules, path


@pytest.mark.parametrize("package", PACKAGES)
def test_package_resolves_to_this_repository(package: str) -> None:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT), spec.origin
