"""The layers of DESIGN.md, enforced: server → console → channels, video_reception → intake →
triage, storage. Every arrow points down; the composition root (``server``) is the one package that
may import every other, and there is no list of exceptions.

Every import of every Python file of the project (tests and benchmarks aside) is read with ``ast``:
plain and ``from`` imports at any depth, relative imports resolved, and ``importlib.import_module``
or ``__import__`` calls with a literal name. Also: each package resolves to this repository, not
to a PyPI distribution of the same name (``channels``, ``storage``, ``triage`` and ``intake`` all
exist there).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "console", "intake", "channels", "triage", "video_reception", "storage")
# Databases, migrations and cryptography: only storage touches them.
STORAGE_ONLY = ("sqlalchemy", "alembic", "cryptography", "asyncpg", "aiosqlite", "sqlite3", "psycopg", "nacl")
# Triage is pure: it loads its data and computes, it never talks to the network, a database or a process.
TRIAGE_IO = (
    "socket",
    "ssl",
    "http",
    "urllib",
    "urllib3",
    "requests",
    "httpx",
    "aiohttp",
    "subprocess",
    "multiprocessing",
    "smtplib",
    "ftplib",
    "sqlite3",
    "shelve",
    "dbm",
)
# Folders that are not the product: the layers do not apply to them.
SKIPPED = {"tests", "bench", ".venv", "venv", "build", "dist", "var", "node_modules"}

# The layers, top first: a package may import only its own layer's package and the layers below.
LAYERS = {
    "server": 4,
    "console": 3,
    "channels": 2,
    "video_reception": 2,
    "intake": 1,
    "triage": 0,
    "storage": 0,
}
# What each package may import of ours.
ALLOWED = {
    "server": set(PACKAGES),  # the composition root
    "console": {"console", "channels", "intake"},  # of channels, only the shared modules (below)
    "channels": {"channels", "intake"},
    "video_reception": {"video_reception", "intake"},
    "intake": {"intake", "triage", "storage"},
    "triage": {"triage"},
    "storage": {"storage"},
}
# The one verification module checks the platforms' own envelopes: WeChat's safe mode is the
# platform's AES-256-CBC, keyed by the platform's secret (not ours), so this module may use the
# block-cipher primitives (that module exactly) and nothing else of the cryptography libraries (issue 5).
PLATFORM_ENVELOPES = {"channels/verify.py": ("cryptography.hazmat.primitives.ciphers",)}


def _channel_folders() -> set[str]:
    """The channels' own folders (``web``, ``app``, …); the modules beside them are shared."""
    return {p.name for p in (ROOT / "channels").iterdir() if (p / "__init__.py").is_file()}


CHANNEL_FOLDERS = _channel_folders()


@dataclass(frozen=True)
class Import:
    module: str
    line: int
    scope: str  # the enclosing function ("<module>" at top level) or "TYPE_CHECKING"


def _package_of(rel: str) -> str:
    parts = Path(rel).with_suffix("").parts
    return ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, rel: str) -> None:
        self.package = _package_of(rel)
        self.scopes = ["<module>"]
        self.found: list[Import] = []

    def _add(self, module: str, node: ast.AST) -> None:
        self.found.append(Import(module, getattr(node, "lineno", 0), self.scopes[-1]))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scopes.append(node.name)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.scopes.append("TYPE_CHECKING")
            for child in node.body:
                self.visit(child)
            self.scopes.pop()
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0:
            base = node.module or ""
        else:  # relative: resolve against the module's own package
            parts = self.package.split(".") if self.package else []
            parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
            base = ".".join([*parts, node.module] if node.module else parts)
        if node.module is None:  # from . import a, b: each name may be a module
            for alias in node.names:
                self._add(f"{base}.{alias.name}" if base else alias.name, node)
        elif base:
            self._add(base, node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if (
            name in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self._add(node.args[0].value, node)
        self.generic_visit(node)


def imports_of(source: str, rel: str = "x.py") -> list[Import]:
    collector = _Collector(rel)
    collector.visit(ast.parse(source))
    return collector.found


def _envelope_cipher(rel: str, module: str) -> bool:
    return module in PLATFORM_ENVELOPES.get(rel, ())


def _channel_folder(module: str) -> str | None:
    """``web`` for ``channels.web.views``; None for a shared module (``channels.base``) or ``channels``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "channels" and len(parts) > 1 and parts[1] in CHANNEL_FOLDERS else None


def violations(rel: str, source: str) -> list[str]:
    """What the file at ``rel`` (relative to the repository) imports against the layers."""
    parts = Path(rel).parts
    package = parts[0] if len(parts) > 1 else ""
    own_folder = parts[1] if package == "channels" and len(parts) > 2 else None
    bad = []
    for imp in imports_of(source, rel):
        top = imp.module.split(".")[0]
        where = f"{rel}:{imp.line} imports {imp.module}"
        if top in PACKAGES and package in ALLOWED and top not in ALLOWED[package]:
            bad.append(f"{where}: {package} may import only {sorted(ALLOWED[package])} of ours")
        if (
            package == "console"
            and top == "channels"
            and (imp.module == "channels" or _channel_folder(imp.module))
        ):
            bad.append(f"{where}: the console uses only the channels' shared modules, never a channel")
        if own_folder is not None and _channel_folder(imp.module) not in (None, own_folder):
            bad.append(f"{where}: a channel imports no other channel")
        if top in STORAGE_ONLY and package != "storage" and not _envelope_cipher(rel, imp.module):
            bad.append(f"{where}: only storage may touch databases and key material")
        if top in TRIAGE_IO and package == "triage":
            bad.append(f"{where}: triage does no I/O")
    return bad


def project_files() -> list[str]:
    """Every Python file of the product, relative to the repository root."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in SKIPPED or any(p.startswith(".") or p.endswith(".egg-info") for p in rel.parts):
            continue
        out.append(rel.as_posix())
    return out


def test_every_package_is_scanned() -> None:
    files = project_files()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in files
    assert "server/cli.py" in files and "storage/db.py" in files


@pytest.mark.parametrize("rel", project_files())
def test_file_respects_the_layers(rel: str) -> None:
    assert violations(rel, (ROOT / rel).read_text("utf-8")) == []


def test_every_arrow_points_down() -> None:
    """Each package imports its own and lower layers only; only the root may import every package,
    and nothing imports the root."""
    assert set(LAYERS) == set(ALLOWED) == set(PACKAGES)
    for package, allowed in ALLOWED.items():
        for target in allowed - {package}:
            assert LAYERS[target] < LAYERS[package], f"{package} → {target} does not point down"
        assert package == "server" or "server" not in allowed
        assert package == "server" or allowed != set(PACKAGES)


def test_each_envelope_rule_is_still_needed() -> None:
    """A cipher allowance no file uses any more is removed, not kept as a loophole."""
    for rel, modules in PLATFORM_ENVELOPES.items():
        found = {i.module for i in imports_of((ROOT / rel).read_text("utf-8"), rel)}
        for module in modules:
            assert module in found, (rel, module)


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("storage/x.py", "from intake.pipeline import Pipeline"),
        ("storage/x.py", "import channels.web"),
        ("triage/x.py", "import storage.db"),
        ("triage/x.py", "def f():\n    from intake import pipeline"),
        ("triage/x.py", "import urllib.request"),
        ("triage/x.py", "from aiohttp import ClientSession"),
        ("triage/x.py", "import subprocess"),
        ("channels/x/views.py", "from storage.database import Database"),
        ("channels/x/views.py", "from storage import vault"),
        ("channels/x/views.py", "import sqlalchemy as sa"),
        ("channels/x/views.py", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM"),
        ("channels/x/views.py", "import importlib\nimportlib.import_module('storage.db')"),
        ("channels/x/views.py", "__import__('alembic')"),
        ("video_reception/rooms.py", "from storage.records import NewReport"),
        ("video_reception/rooms.py", "from channels.web import views"),
        ("intake/pipeline.py", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM"),
        ("intake/pipeline.py", "import alembic.command"),
        ("intake/other.py", "import channels"),
        ("intake/other.py", "from video_reception import rooms"),
        ("intake/app.py", "import channels"),
        ("intake/app.py", "from channels.base import ChannelContext"),
        ("intake/app.py", "def open_services():\n    from channels.base import ChannelContext"),
        ("intake/cli.py", "def _serve():\n    import channels"),
        ("intake/services.py", "from server.config import Settings"),
        ("intake/x.py", "import console"),
        ("channels/x/views.py", "from server.app import services_of"),
        ("channels/x/views.py", "from console.api import file_filed"),
        ("channels/web/views.py", "from channels.app import schema"),
        ("video_reception/views.py", "from console import pages"),
        ("video_reception/views.py", "import server"),
        ("console/pages.py", "from channels.web.forms import read_form"),
        ("console/pages.py", "import channels"),
        ("console/api.py", "from server.app import services_of"),
        ("console/api.py", "from video_reception import service"),
        ("console/api.py", "from storage.search import SearchIndex"),
        ("channels/verify.py", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM"),
        ("channels/verify.py", "from cryptography.hazmat.primitives import hashes"),
        ("channels/wechat/envelope.py", "from cryptography.hazmat.primitives.ciphers import Cipher"),
        ("server/app.py", "import sqlalchemy"),
        ("scripts/tool.py", "import sqlalchemy"),
        ("triage/sub/x.py", "from ... import storage"),
    ],
)
def test_the_checker_catches_violations(rel: str, source: str) -> None:
    assert violations(rel, source), f"{rel}: {source!r} should be refused"


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("server/cli.py", "def _serve():\n    import channels"),
        ("server/app.py", "from channels.base import ChannelContext\nimport console, video_reception"),
        ("server/app.py", "from storage import keys\nfrom triage import triage"),
        ("console/pages.py", "from channels.verify import new_form_token\nfrom channels.schema import M"),
        ("console/api.py", "from intake.forms import read_form\nfrom intake.workflow import Workflow"),
        ("channels/web/views.py", "from channels.web.forms import x\nfrom channels.base import y"),
        ("channels/verify.py", "from cryptography.hazmat.primitives.ciphers import Cipher"),
        ("channels/x/views.py", "from intake.pipeline import Pipeline"),
        ("channels/x/views.py", "from . import forms\nfrom .files import sniff"),
        ("video_reception/rooms.py", "from intake.domain import Submission"),
        ("intake/pipeline.py", "from storage import vault\nfrom triage import triage"),
        ("storage/vault.py", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM"),
        ("triage/x.py", "import json\nfrom importlib import resources\nimport jieba"),
    ],
)
def test_the_checker_lets_the_layers_through(rel: str, source: str) -> None:
    assert violations(rel, source) == []


def test_relative_imports_are_resolved() -> None:
    found = imports_of(
        "from . import forms\nfrom ..base import ChannelSpec\nfrom .x import y", "channels/web/v.py"
    )
    assert [i.module for i in found] == ["channels.web.forms", "channels.base", "channels.web.x"]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_resolves_to_this_repository(package: str) -> None:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, package
    assert Path(spec.origin).resolve().is_relative_to(ROOT), f"{package} comes from {spec.origin}"


# --- reach, private names, logs and settings (issue 15) ------------------------------------------

# The parts above the service layer reach it through their contexts: never the database, a
# store's private handle or the whole services bag.
NARROW = ("channels", "console", "video_reception")
REACH_ATTRIBUTES = {"db": "the database", "_store": "a store's private handle"}
REACH_MODULES = ("intake.services",)
REACH_NAMES = ("services_of", "notifier_of", "Services")
# A channel files, looks up and follows up through its ChannelIntake, never the pipeline itself.
CHANNEL_REACH_NAMES = ("Pipeline",)
CHANNEL_REACH_ATTRIBUTES = ("pipeline",)


def _top(rel: str) -> str:
    parts = Path(rel).parts
    return parts[0] if len(parts) > 1 else ""


def reach_violations(rel: str, source: str) -> list[str]:
    """Private names imported from another package; reach through ``.db``, ``._store`` or the
    services from the channels, the console and video reception."""
    package = _top(rel)
    bad = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            for alias in node.names:
                if top in PACKAGES and top != package and alias.name.startswith("_"):
                    bad.append(f"{rel}:{node.lineno} imports the private {node.module}.{alias.name}")
                if package in NARROW and alias.name in REACH_NAMES:
                    bad.append(f"{rel}:{node.lineno} imports {alias.name}: the services stay with the root")
                if package == "channels" and alias.name in CHANNEL_REACH_NAMES:
                    bad.append(f"{rel}:{node.lineno} imports {alias.name}: a channel gets its ChannelIntake")
            if package in NARROW and node.module in REACH_MODULES:
                bad.append(f"{rel}:{node.lineno} imports {node.module}: the services stay with the root")
        if package in NARROW and isinstance(node, ast.Attribute) and node.attr in REACH_ATTRIBUTES:
            bad.append(f"{rel}:{node.lineno} reaches {REACH_ATTRIBUTES[node.attr]} (.{node.attr})")
        if (
            package == "channels"
            and isinstance(node, ast.Attribute)
            and node.attr in CHANNEL_REACH_ATTRIBUTES
        ):
            bad.append(
                f"{rel}:{node.lineno} reaches the pipeline (.{node.attr}): a channel gets its ChannelIntake"
            )
        if package in NARROW and isinstance(node, ast.Name) and node.id == "services":
            bad.append(f"{rel}:{node.lineno} handles the services bag")
    return bad


@pytest.mark.parametrize("rel", project_files())
def test_file_reaches_only_what_it_is_given(rel: str) -> None:
    assert reach_violations(rel, (ROOT / rel).read_text("utf-8")) == []


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("channels/x/views.py", "from intake.conversations import _Outcome"),
        ("console/pages.py", "from channels.verify import _hmac"),
        ("channels/x/views.py", "async def f(p):\n    return await p.db.reports.get('x')"),
        ("channels/x/views.py", "def f(self):\n    return self._store.get('k')"),
        ("video_reception/views.py", "from intake.services import Services"),
        ("console/api.py", "from server.app import services_of"),
        ("channels/x/views.py", "def setup(app, services):\n    services.worker.register('k', f)"),
        ("channels/x/views.py", "from intake.pipeline import Pipeline"),
        ("channels/x/views.py", "async def f(ctx, sub):\n    return await ctx.pipeline.accept(sub)"),
    ],
)
def test_the_reach_checker_catches_violations(rel: str, source: str) -> None:
    assert reach_violations(rel, source), f"{rel}: {source!r} should be refused"


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("intake/x.py", "from intake.conversations import _Outcome"),  # within one package
        ("server/app.py", "from intake.services import Services, services_of"),
        ("intake/pipeline.py", "def f(self):\n    return self.db.reports"),
        ("channels/x/views.py", "from intake.conversations import Outcome, split_code"),
        ("channels/x/views.py", "async def f(ctx, sub):\n    return await ctx.intake.accept(sub)"),
        ("console/api.py", "async def f(ctx, sub):\n    return await ctx.pipeline.accept(sub)"),
    ],
)
def test_the_reach_checker_lets_through(rel: str, source: str) -> None:
    assert reach_violations(rel, source) == []


def _log_extra_keys(rel: str, source: str) -> list[tuple[int, str | None]]:
    """The keys of every ``extra={...}`` given to a call (None: a key that is not a literal)."""
    out: list[tuple[int, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg != "extra" or not isinstance(kw.value, ast.Dict):
                continue
            for key in kw.value.keys:
                value = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
                out.append((node.lineno, value))
    return out


def test_every_log_extra_key_is_written() -> None:
    """``intake.logs`` writes only the allow-listed fields of a record and drops the rest without a
    word: a key outside the list is a field someone expected to see and never will."""
    from intake.logs import SAFE_FIELDS

    bad = []
    for rel in project_files():
        for line, key in _log_extra_keys(rel, (ROOT / rel).read_text("utf-8")):
            if key not in SAFE_FIELDS:
                bad.append(f"{rel}:{line}: extra key {key!r} is not in intake.logs.SAFE_FIELDS")
    assert bad == []


SETTING = re.compile(r"\bINTAKE_[A-Z0-9_]*[A-Z0-9]\b")


def _documented_text() -> str:
    return "\n".join(
        p.read_text("utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    )


def test_every_setting_the_product_reads_is_documented() -> None:
    """Every ``INTAKE_*`` name in the product's code (a setting read, or a channel's section) is
    in README.md or docs/ (the Datasette habit: an undocumented setting fails the suite)."""
    import channels

    docs = _documented_text()
    names: set[str] = set()
    for rel in project_files():
        for node in ast.walk(ast.parse((ROOT / rel).read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(SETTING.findall(node.value))
    for spec in channels.REGISTRY:
        names.update(spec.settings_prefix + key for key in spec.required_settings)
    assert names, "no settings found: the scan is broken"
    assert sorted(n for n in names if n not in docs) == []
