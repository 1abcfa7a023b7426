"""Selection: what a table view shows selected, i.e. the target of the key actions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Selection:
    """The visible row's target (None: no visible row), a detail (the route of a router
    row), and the view's filter text (which says why no row is visible)."""

    name: str | None
    detail: str | None = None
    filter: str = ""
