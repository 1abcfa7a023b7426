"""Theme colours as plain Rich style strings (for DataTable cells, which are Rich Text)."""

from __future__ import annotations

from textual.app import App
from textual.color import Color, ColorParseError


def palette(app: App[object]) -> dict[str, str]:
    """``success``, ``warning``, ``error``, ``accent``, ``primary``, ``secondary``, ``muted``."""
    v = app.theme_variables
    out = {}
    for key in ("success", "warning", "error", "accent", "primary", "secondary", "foreground"):
        try:
            out[key] = Color.parse(v[key]).hex
        except (KeyError, ColorParseError):
            out[key] = ""
    try:
        bg = Color.parse(v.get("background", "#000000"))
        fg = Color.parse(v.get("foreground", "#ffffff"))
        out["muted"] = bg.blend(fg.with_alpha(1.0), 0.6).hex
    except ColorParseError:
        out["muted"] = "dim"
    return out
