"""Budget: an optional USD limit per provider or tier per period (minute / hour / day).

Periods are fixed windows on the wall clock (UTC): an hour budget starts again at every
full hour, a day budget at midnight UTC, so every engine and every operator agrees on
when a budget resets. A call that is already running when the budget runs out is not
stopped; the next one skips the provider or tier (like a cooldown) unless every option
is out, when the tier takes a last-resort choice (counted).

Spending is recorded per engine (each engine of a fleet keeps its own budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flowdeck.engine.telemetry.events import EventBus, EventKind

PERIODS: dict[str, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


class Budget:
    """``usd`` per ``period`` for one provider or tier; ``spend(cost)`` on every call."""

    __slots__ = (
        "_bus",
        "_time",
        "exhausted_count",
        "name",
        "period",
        "scope",
        "seconds",
        "skipped",
        "spent",
        "total",
        "usd",
        "window_start",
    )

    def __init__(
        self,
        name: str,
        scope: str,
        usd: float,
        period: str,
        bus: EventBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if period not in PERIODS:
            raise ValueError(f"budget {name!r}: period must be one of {list(PERIODS)}")
        if not usd > 0:
            raise ValueError(f"budget {name!r}: usd must be > 0, got {usd!r}")
        self.name = name
        self.scope = scope  # "provider" | "tier"
        self.usd = float(usd)
        self.period = period
        self.seconds = PERIODS[period]
        self._bus = bus
        self._time = clock  # wall clock (a test passes its own to cross a window)
        self.window_start = self._window(clock())
        self.spent = 0.0  # in the current window
        self.total = 0.0  # since start
        self.skipped = 0  # calls sent elsewhere because this budget was spent
        self.exhausted_count = 0  # windows that ran out

    def _window(self, now: float) -> float:
        return now - (now % self.seconds)

    def _roll(self, now: float) -> None:
        if now - self.window_start >= self.seconds:
            self.window_start = self._window(now)
            self.spent = 0.0

    def spend(self, cost: float) -> None:
        """Record ``cost`` USD (a finished call)."""
        if cost <= 0:
            return
        self._roll(self._time())
        was_open = self.spent < self.usd
        self.spent += cost
        self.total += cost
        if was_open and self.spent >= self.usd:
            self.exhausted_count += 1
            self._bus.emit4(EventKind.BUDGET, self.name, "exhausted", self.spent, self.usd)

    def exhausted(self) -> bool:
        """True while this period's spending has reached the budget."""
        if self.spent < self.usd:
            return False
        self._roll(self._time())
        return self.spent >= self.usd

    def describe(self) -> dict[str, Any]:
        now = self._time()
        self._roll(now)
        elapsed = max(1.0, now - self.window_start)
        burn = self.spent / elapsed * 3600.0  # USD per hour in this window
        remaining = max(0.0, self.usd - self.spent)
        return {
            "name": self.name,
            "scope": self.scope,
            "usd": self.usd,
            "period": self.period,
            "spent": self.spent,
            "remaining": remaining,
            "burn_per_hour": burn,
            "resets_in": self.window_start + self.seconds - now,
            "exhausted": self.spent >= self.usd,
            "skipped": self.skipped,
            "exhausted_count": self.exhausted_count,
            "total": self.total,
        }
