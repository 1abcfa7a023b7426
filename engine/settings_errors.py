"""Settings error messages: each line names the field and the value, secrets masked.

A value is shown as ``***`` when its field (or any field above it) has a secret-looking
name (``api_key``, a typo'd ``apikey``, ``token``, ``password``...), when it looks like a
credential itself (a key pasted into the wrong field), and wherever it contains a known
secret: a value under such a name in the input, or of an environment variable with such a
name (``OPENAI_API_KEY``). URLs lose their passwords.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import SecretStr, ValidationError

from flowdeck.engine.redact import MASK, mask_secrets, redact_value, secret_name
from flowdeck.engine.settings_inputs import nearest

KINDS = frozenset(("openai", "anthropic", "ollama", "simulated"))
_SHOWN_CHARS = 80


def known_secrets(given: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Secret strings an error message must not show, longest first."""
    found: set[str] = set()

    def walk(value: Any, under_secret: bool, depth: int) -> None:
        if depth > 16:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, under_secret or secret_name(k), depth + 1)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v, under_secret, depth + 1)
        elif isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif under_secret and value is not None:
            found.add(str(value))

    walk(given, False, 0)
    for name, value in environ.items():
        if secret_name(name):
            found.add(value)
    return sorted((s for s in found if len(s) >= 8), key=len, reverse=True)


def format_validation_error(
    exc: ValidationError, secrets: list[str], fields_at: Callable[[list[Any]], list[str]]
) -> str:
    """One line per error. ``fields_at(loc)`` lists the valid names beside ``loc`` (for a
    "did you mean" on an unknown key)."""
    lines = ["invalid settings:"]
    for err in exc.errors():
        raw_loc = list(err.get("loc", ()))
        parts = without_tags(raw_loc)
        loc = ".".join(str(p) for p in parts) or "(root)"
        value = err.get("input")
        kind = err.get("type")
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            # The discriminator itself is wrong or missing: name the kind field.
            loc += ".kind"
            value = (err.get("ctx") or {}).get("tag")
            msg = "must be one of openai, anthropic, ollama, simulated"
            if kind == "union_tag_not_found":
                msg = "field required (one of openai, anthropic, ollama, simulated)"
            lines.append(f"  {loc}: {msg} (got {shown(parts, value)})")
            continue
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        if loc == "(root)":
            lines.append(f"  {msg}")
            continue
        if kind == "extra_forbidden":
            best = nearest(str(parts[-1]), fields_at(raw_loc[:-1]))
            msg = "not a setting" + (f"; did you mean {best}?" if best else "")
        msg = msg.split(", got ")[0]  # a validator's own ", got X": shown once, below
        lines.append(f"  {loc}: {msg} (got {shown(parts, value)})")
    return mask_secrets("\n".join(lines), secrets)


def without_tags(loc: Iterable[Any]) -> list[Any]:
    """An error location without the union tag pydantic inserts (``providers.a.openai.x``)."""
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "providers" and parts[2] in KINDS:
        del parts[2]
    return parts


def shown(loc: list[Any], value: Any) -> str:
    """``value`` for a message: masked under a secret-looking name, cut to 80 characters
    (after masking, so a cut cannot leave a piece of a secret)."""
    if value is not None and any(secret_name(p) for p in loc if isinstance(p, str)):
        return MASK
    text = repr(redact_value(value))
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def format_source_error(exc: Exception, secrets: list[str]) -> str:
    """Name the field and the raw environment value pydantic-settings could not parse."""
    msg = str(exc)
    m = re.search(r'field "([^"]+)"', msg)
    if m is None:
        return mask_secrets(f"invalid settings: {msg}", secrets)
    field = m.group(1)
    var = f"FLOWDECK_{field.upper()}"
    raw = os.environ.get(var)
    if raw is None:
        return f"invalid settings:\n  {field}: cannot parse the value"
    text = "***" if "key" in raw.lower() or "token" in raw.lower() else shown([field], raw)
    return mask_secrets(
        f"invalid settings:\n  {field}: ${var} is not valid JSON (got {text})", secrets
    )
