"""Theme loading: TOML files -> :class:`textual.theme.Theme`.

Built-in themes live in the ``themes`` package (found with importlib.resources, so they
work from an installed wheel); users add their own ``*.toml`` files to
``$XDG_CONFIG_HOME/flowdeck/themes`` (default ``~/.config/flowdeck/themes``). A file that
cannot be used never stops the panel: it is reported as a :class:`ThemeProblem` and
skipped. The file name is the theme's name (``NAME.toml`` is picked with ``--theme
NAME``); a ``name`` key, if given, must say the same, so the two cannot disagree.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "dark"
COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "background",
    "surface",
    "panel",
    "foreground",
    "success",
    "warning",
    "error",
    "border",
)
BORDER_VARIABLE = "box-border"  # the CSS variable the boxes draw their border with
_TOP_KEYS = {"name", "dark", "colors"}


class ThemeError(ValueError):
    """A theme file is malformed; the message names the problem."""


@dataclass(frozen=True)
class ThemeProblem:
    """A theme file that was skipped, and why."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def parse_theme(text: str, file_name: str | None = None) -> Theme:
    """Build a Theme from the text of a theme file (raises ThemeError). ``file_name``
    (``NAME.toml``) names the theme; a ``name`` key must then match it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        hint = "; colours go in a [colors] table" if any(k in COLOR_KEYS for k in unknown) else ""
        raise ThemeError(
            f"unknown key(s) {', '.join(unknown)} (expected name, dark, [colors]){hint}"
        )
    stem = file_name.removesuffix(".toml") if file_name else None
    name = data.get("name", stem)
    if stem is not None and name != stem:
        raise ThemeError(
            f"'name' is {name!r} but the file is {file_name!r}: the file name is the "
            f"theme's name (rename the file to {name}.toml, or drop or fix 'name')"
        )
    if not isinstance(name, str) or not name.strip():
        raise ThemeError("'name' must be a non-empty string")
    if any(ch.isspace() for ch in name):
        raise ThemeError(f"'name' must not contain spaces (got {name!r})")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"'dark' must be true or false (got {dark!r})")
    colors = data.get("colors")
    if not isinstance(colors, dict):
        raise ThemeError("missing [colors] table")
    bad_keys = sorted(set(colors) - set(COLOR_KEYS))
    if bad_keys:
        raise ThemeError(
            f"unknown colour(s) {', '.join(bad_keys)} (known: {', '.join(COLOR_KEYS)})"
        )
    if "primary" not in colors:
        raise ThemeError("colors.primary is required")
    for key, value in colors.items():
        if not isinstance(value, str):
            raise ThemeError(f"colors.{key} must be a string like '#1e90ff' (got {value!r})")
        try:
            Color.parse(value)
        except ColorParseError:
            raise ThemeError(f"colors.{key}: {value!r} is not a colour") from None
    border = colors.get("border")
    return Theme(
        name=name,
        dark=dark,
        variables={BORDER_VARIABLE: border} if border else {},
        **{k: colors[k] for k in COLOR_KEYS if k in colors and k != "border"},
    )


def border_color(theme: Theme) -> str:
    """The colour boxes draw their border with: the theme's ``border`` colour, else the
    panel colour lightened (Textual's ``$panel-lighten-2``, for themes that are not ours)."""
    return (
        theme.variables.get(BORDER_VARIABLE)
        or theme.to_color_system().generate()["panel-lighten-2"]
    )


def user_theme_dir() -> Path:
    """``$XDG_CONFIG_HOME/flowdeck/themes`` (``~/.config/flowdeck/themes`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "flowdeck" / "themes"


def builtin_theme_files() -> list[tuple[str, str]]:
    """``(source, text)`` of every theme file shipped in the ``themes`` package."""
    out = []
    for entry in sorted(resources.files("flowdeck.themes").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.is_file():
            out.append((f"themes/{entry.name}", entry.read_text(encoding="utf-8")))
    return out


def load_themes(user_dir: Path | None = None) -> tuple[dict[str, Theme], list[ThemeProblem]]:
    """All usable themes (built-in, then user files overriding by name) and the problems."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    sources: list[tuple[str, str | None, str | None]] = [
        (src, text, None) for src, text in builtin_theme_files()
    ]
    user_dir = user_theme_dir() if user_dir is None else user_dir
    if user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            try:
                sources.append((str(path), path.read_text(encoding="utf-8"), None))
            except (OSError, UnicodeDecodeError) as exc:
                sources.append((str(path), None, f"cannot read ({exc})"))
    for src, text, error in sources:
        if text is None:
            problems.append(ThemeProblem(src, error or "cannot read"))
            continue
        try:
            theme = parse_theme(text, Path(src).name)
        except ThemeError as exc:
            problems.append(ThemeProblem(src, str(exc)))
            continue
        themes[theme.name] = theme
    return themes, problems
