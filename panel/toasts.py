"""Toasts that do not stack: a toast equal to one on screen replaces it (pressing ``+``
at the refresh limit shows one "Refresh every 0.1 s", not five), and at most
``MAX_TOASTS`` show at once (the oldest goes first), so a burst never covers the view."""

from __future__ import annotations

from collections.abc import Iterable

from textual.notifications import Notification

MAX_TOASTS = 4


def _same(a: Notification, b: Notification) -> bool:
    return (a.title, a.message, a.severity) == (b.title, b.message, b.severity)


def superseded(shown: Iterable[Notification], new: Notification) -> list[Notification]:
    """The toasts on screen to drop before ``new`` is shown."""
    kept = [n for n in shown if n.identity != new.identity]
    drop = [n for n in kept if _same(n, new)]
    rest = [n for n in kept if not _same(n, new)]
    rest.sort(key=lambda n: n.raised_at)
    return drop + rest[: max(0, len(rest) - (MAX_TOASTS - 1))]
