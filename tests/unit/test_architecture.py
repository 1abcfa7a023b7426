"""The layers, pinned: who may import whom, and what the wheel installs.

See docs/architecture.md. A failure here names the file and the import that crosses a line.
"""

from __future__ import annotations

import ast
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
    "flowdeck.engine.version",
}


def _modules(folder: str) -> Iterator[Path]:
    yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (absolute names), wherever the import statement is."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


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
