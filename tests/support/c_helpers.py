"""The optional C helpers (engine/stores/*.c), imported for their tests.

A helper that was not built skips its tests, except under FLOWDECK_REQUIRE_C=1 (CI),
where a build that silently fell back to Python fails the suite instead.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def c_helper(name: str) -> ModuleType:
    """``flowdeck.engine.stores.<name>``, or skip / fail the test if it was not built."""
    try:
        return importlib.import_module(f"flowdeck.engine.stores.{name}")
    except ImportError:
        if os.environ.get("FLOWDECK_REQUIRE_C") == "1":
            pytest.fail(f"the C helper engine/stores/{name}.c was not built")
        pytest.skip("the C helper was not built (no compiler at install)")
