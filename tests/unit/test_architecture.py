"""The layers, pinned: who may import whom, and what the wheel installs.

See docs/architecture.md. A failure here names the file and the import that crosses a line.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

PANEL_MAY_IMPORT = {
    # The panel talks to engines only through the control client and the wire contract.
    "flowdeck.engine.control.client",
    "flowdeck.engine.control.discovery",
    "flowdeck.engine.control.protocol",
    "flowdeck.engine.control.schema",
    "flowdeck.engine.fleet.reader",
    # Acknowledged fleet commands: a client of the fleet's wire contract, as the control
    # client is of the socket's (panel --redis).
    "flowdeck.engine.fleet.sender",
    # The one secret redactor: the panel shows Redis URLs and engine errors.
    "flowdeck.engine.redact",
    "flowdeck.engine.version",
    # How operators type durations (5m, 2h): the panel's dialogs and ctl read them alike.
    "flowdeck.engine.durations",
}


def _modules(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


PACKAGES = {"engine": "flowdeck.engine", "panel": "flowdeck.panel", "themes": "flowdeck.themes"}
"""Folder -> installed package name (pyproject's package-dir)."""


def _module_of(path: Path) -> str:
    """The dotted name ``path`` installs as (tests and bench: their own, not installed)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0] = PACKAGES.get(parts[0], parts[0])
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _path_of(module: str) -> Path | None:
    """The file of an installed ``flowdeck.*`` module, or None (third party, stdlib)."""
    for folder, package in PACKAGES.items():
        if module == package or module.startswith(package + "."):
            base = (
                ROOT.joinpath(folder, *module[len(package) + 1 :].split("."))
                if (module != package)
                else ROOT / folder
            )
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
    return None


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (never imported at run time)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                inside.update(id(n) for n in ast.walk(stmt))
    return inside


def _imports(path: Path, *, at_run_time: bool = False) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (absolute names, relative imports resolved),
    wherever the import statement is; ``at_run_time`` leaves out TYPE_CHECKING blocks."""
    me = _module_of(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    return _imports_of(path.read_text(), package, at_run_time=at_run_time)


def _imports_of(
    source: str, package: str, *, at_run_time: bool = False
) -> Iterator[tuple[int, str]]:
    """:func:`_imports` of ``source``, a module of ``package``."""
    tree = ast.parse(source)
    skip = _type_checking_only(tree) if at_run_time else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


EMBEDDED_HOST = "panel/embedded.py"
"""The one exception: it hosts the demo engine in the panel's process (when no engine is
running) and then talks to it through the socket like to any other engine."""


def _crossings(
    folder: str, forbidden: tuple[str, ...], allowed: set[str] | None = None
) -> list[str]:
    bad = []
    for path in _modules(folder):
        if str(path.relative_to(ROOT)) == EMBEDDED_HOST:
            continue
        for line, name in _imports(path):
            if not name.startswith(forbidden):
                continue
            if allowed is not None and any(name == a or name.startswith(a + ".") for a in allowed):
                continue
            # ``from flowdeck.engine.control import client`` names the allowed module too
            if allowed is not None and name.rsplit(".", 1)[0] in allowed:
                continue
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def test_panel_reaches_engines_only_through_the_control_client_and_contract() -> None:
    offenders = [
        b
        for b in _crossings("panel", ("flowdeck.engine",), PANEL_MAY_IMPORT)
        # "from flowdeck.engine.control import protocol as P" imports the package itself
        if not b.endswith(" imports flowdeck.engine.control")
    ]
    assert offenders == []


ENGINE_INSIDE = (
    "flowdeck.engine.engine",
    "flowdeck.engine.primitives",
    "flowdeck.engine.providers",
    "flowdeck.engine.stream",
    "flowdeck.engine.settings",
    "flowdeck.engine.control.server",
    "flowdeck.engine.control.connection",
)
"""What runs an engine: the client side of the wire contracts never reaches it."""


def test_the_client_side_the_panel_may_import_never_reaches_the_engine_inside() -> None:
    """Following every run-time import of PANEL_MAY_IMPORT (lazy ones too): what the panel
    gets is the socket client, the fleet client and the contract, not an engine."""
    seen: dict[str, str] = {}  # module -> the module that imported it
    todo = [(m, "panel") for m in sorted(PANEL_MAY_IMPORT)]
    while todo:
        module, by = todo.pop()
        path = _path_of(module)
        if path is None or _module_of(path) in seen:
            continue
        seen[_module_of(path)] = by
        todo += [(n, _module_of(path)) for _, n in _imports(path, at_run_time=True)]
    reached = sorted(m for m in seen if m.startswith(ENGINE_INSIDE))
    assert reached == [], [f"{m} (imported by {seen[m]})" for m in reached]
    assert "flowdeck.engine.control.client" in seen  # the walk did run


def test_relative_imports_and_type_checking_blocks_are_seen() -> None:
    """``from ..control import server`` in a primitive names flowdeck.engine.control.server;
    an import under TYPE_CHECKING counts for the layers, not for what runs."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ..control import server\n"
        "from . import base\n"
        "if TYPE_CHECKING:\n"
        "    from flowdeck.engine.engine import Engine\n"
    )
    names = {n for _, n in _imports_of(source, "flowdeck.engine.primitives")}
    assert {"flowdeck.engine.control.server", "flowdeck.engine.primitives.base"} <= names
    assert "flowdeck.engine.engine.Engine" in names
    running = {n for _, n in _imports_of(source, "flowdeck.engine.primitives", at_run_time=True)}
    assert "flowdeck.engine.engine.Engine" not in running
    assert _module_of(ROOT / "engine" / "primitives" / "cache.py") == (
        "flowdeck.engine.primitives.cache"
    )


def test_engine_never_imports_the_panel() -> None:
    assert _crossings("engine", ("flowdeck.panel",)) == []


def test_stores_never_import_primitives_or_control() -> None:
    assert (
        _crossings("engine/stores", ("flowdeck.engine.primitives", "flowdeck.engine.control")) == []
    )


def test_primitives_never_import_control() -> None:
    assert _crossings("engine/primitives", ("flowdeck.engine.control",)) == []


def test_primitives_see_the_engine_only_through_the_host_protocol() -> None:
    """Not even under TYPE_CHECKING: primitives depend on primitives/host.py's Host."""
    assert _crossings("engine/primitives", ("flowdeck.engine.engine",)) == []


@pytest.mark.parametrize("folder", ["engine", "panel", "themes", "tests", "bench"])
def test_nothing_imports_the_bare_top_level_names(folder: str) -> None:
    """Only ``flowdeck.*`` is installed; ``import engine`` would find a user's engine.py."""
    bare = ("engine", "panel", "themes")
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for p in _modules(folder)
        for line, name in _imports(p)
        if name.split(".")[0] in bare
    ]
    assert bad == []


def test_test_modules_never_import_each_other() -> None:
    """Shared helpers live in tests/support/; a test module is never imported."""
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {name}"
        for p in _modules("tests")
        for line, name in _imports(p)
        if name.startswith("tests.")
        and any(part.startswith("test_") or part == "conftest" for part in name.split("."))
    ]
    assert bad == []


def test_the_wheel_lists_every_package_of_the_tree() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    found = set()
    for dotted, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((dotted, *rel)))
    assert found == listed
    assert not any(p.startswith(("bench", "tests")) for p in listed)


def test_the_docs_import_flowdeck_names_only() -> None:
    """Code in README and docs/ runs as written: ``from engine import ...`` no longer does."""
    bare = re.compile(r"^\s*(from|import)\s+(engine|panel|themes)\b|`(engine|panel)\.[a-z_]+\.")
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    bad = [
        f"{p.relative_to(ROOT)}:{i} {line.strip()}"
        for p in docs
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert bad == []
