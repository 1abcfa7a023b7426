"""Repaint intervals: the steps ``+`` / ``-`` move through and their bounds (the app's
refresh and the Fleet view's repaint use the same)."""

from __future__ import annotations

REFRESH_STEPS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
MIN_REFRESH, MAX_REFRESH = 0.1, 10.0


def bounded(rate: float) -> float:
    return min(MAX_REFRESH, max(MIN_REFRESH, rate))


def faster(rate: float) -> float:
    """The next shorter interval than ``rate`` (at least ``MIN_REFRESH``)."""
    shorter = [s for s in REFRESH_STEPS if s < rate - 1e-9]
    return shorter[-1] if shorter else MIN_REFRESH


def slower(rate: float) -> float:
    """The next longer interval than ``rate`` (at most ``MAX_REFRESH``)."""
    longer = [s for s in REFRESH_STEPS if s > rate + 1e-9]
    return longer[0] if longer else MAX_REFRESH
