"""Checks on raw settings inputs before pydantic sees them: the names of ``FLOWDECK_*``
environment variables, and strict types for values given in code or the TOML file.

The coercion rule (README "Configuration"): environment values are text, so they are
parsed (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``; numbers from their
digits). Values from code or TOML already have types and must have the field's own:
``read_only = "yes"`` or ``max_retries = "3"`` there is an error, not a guess.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from flowdeck.engine.redact import redact_value, secret_name

PREFIX = "FLOWDECK_"

NOT_SETTINGS = frozenset(
    (
        "FLOWDECK_EXPORT_DIR",  # the panel's export directory (panel/export.py)
        "FLOWDECK_REQUIRE_REDIS",  # test harness: a missing redis-server fails the suite
        "FLOWDECK_REQUIRE_C",  # test harness: a C helper that was not built fails the suite
        "FLOWDECK_UPDATE_SNAPSHOTS",  # test harness: rewrite the panel's SVG snapshots
        "FLOWDECK_LOAD_RATE",  # test harness: the panel load test's event rate
    )
)
"""``FLOWDECK_*`` variables that belong to the panel or the test harness, not to
EngineSettings. Any other ``FLOWDECK_*`` name must be a setting, or end in a secret word
(``_KEY``, ``_TOKEN``, ``_SECRET``, ``_PASSWORD``): that is a key named by ``api_key_env``."""


def nearest(name: str, choices: list[str]) -> str | None:
    """The choice closest to ``name`` (``readonly`` -> ``read_only``), if any is close."""
    squashed = {c.replace("_", ""): c for c in choices}
    if name.replace("_", "") in squashed:
        return squashed[name.replace("_", "")]
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def _hint(var: str, parts: list[str], best: str | None) -> str:
    if best is None:
        return ""
    segments = var[len(PREFIX) :].split("__")
    segments[len(parts) - 1] = best.upper()
    return f"; did you mean ${PREFIX}{'__'.join(segments)}?"


def check_environment(
    environ: Mapping[str, str],
    top: Mapping[str, type | None],
    nested: Mapping[str, list[str]],
) -> list[str]:
    """One line per ``FLOWDECK_*`` variable that names no setting.

    ``top``: each top-level setting -> the model of its per-name entries (providers,
    caches), ``dict`` for a plain mapping (tiers), None for a scalar. ``nested``: the field
    names of each per-name model.
    """
    lines = []
    for var in sorted(environ):
        upper = var.upper()
        if not upper.startswith(PREFIX) or upper in NOT_SETTINGS:
            continue
        parts = var[len(PREFIX) :].lower().split("__")
        head = parts[0]
        if head not in top:
            if len(parts) == 1 and secret_name(head):
                continue  # a key variable (api_key_env), not a setting
            lines.append(f"${var}: not a setting{_hint(var, [head], nearest(head, list(top)))}")
            continue
        kind = top[head]
        depth = 1 if kind is None else 2 if kind is dict else 3
        if len(parts) > depth:
            lines.append(f"${var}: {head} has nothing under {parts[depth]!r} to set")
        elif len(parts) == 3 and parts[2] not in nested[head]:
            best = nearest(parts[2], nested[head])
            lines.append(
                f"${var}: {head}.{parts[1]}.{parts[2]} is not a setting{_hint(var, parts, best)}"
            )
    return lines


def _scalar(annotation: Any) -> type | None:
    """``bool``, ``int`` or ``float`` for a field of that type (optional or not), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return annotation if annotation in (bool, int, float) else None


_WANT = {bool: "true or false", int: "a whole number", float: "a number"}


def _wrong(kind: type, value: Any) -> bool:
    if kind is bool:
        return not isinstance(value, bool)
    if kind is int:
        return isinstance(value, bool) or not isinstance(value, int)
    return isinstance(value, bool) or not isinstance(value, int | float)


def check_types(data: Mapping[str, Any], model: type[BaseModel], where: str) -> list[str]:
    """One line per boolean or number field in ``data`` whose value has another type
    (``None`` passes: pydantic judges it). ``where`` is ``location.`` of ``data``."""
    lines = []
    for name, value in data.items():
        field = model.model_fields.get(name)
        kind = _scalar(field.annotation) if field is not None else None
        if kind is None or value is None or not _wrong(kind, value):
            continue
        shown = "***" if secret_name(name) else repr(redact_value(value))
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        what = "text" if isinstance(value, str) else type(value).__name__
        lines.append(
            f"  {where}{name}: must be {_WANT[kind]}, not {what} (got {shown}); only "
            "environment values are parsed from text"
        )
    return lines
