"""One backoff policy for every retry loop: exponential growth, a cap, jitter.

Why one helper: the provider retry, the Redis recovery probe, Memory's write-behind
drain and the control client's reconnect each wrote their own loop, with different
jitter (none, half, full). Like redis-py's ``redis.backoff`` classes this is a small
object asked for the delay before retry ``n``; the loop stays the caller's.

Jitter is the fraction of the exponential step that is randomised: ``1.0`` is "full
jitter" (uniform in ``[0, step]``, what AWS's study recommends so that many clients
retrying one server spread out), ``0.5`` keeps at least half the step, ``0.0`` is
plain exponential. A server's ``Retry-After`` is a floor: the delay is never shorter
than what the server asked for (the cap does not shorten it; deciding whether a long
``Retry-After`` is worth waiting for is the caller's business).
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """``delay(n)`` = ``step * (1 - jitter * U[0, 1))`` with ``step = min(cap, base * 2**n)``.

    ``n`` counts failures so far, from 0. :meth:`next` / :meth:`reset` keep that count
    for loops that do not track it themselves.
    """

    __slots__ = ("_rng", "attempts", "base", "cap", "jitter")

    def __init__(
        self,
        base: float,
        cap: float,
        *,
        jitter: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        if not base >= 0:  # also refuses NaN
            raise ValueError(f"backoff base must be >= 0, got {base!r}")
        if not cap >= 0:
            raise ValueError(f"backoff cap must be >= 0, got {cap!r}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"backoff jitter must be within [0, 1], got {jitter!r}")
        self.base = float(base)
        self.cap = float(cap)
        self.jitter = float(jitter)
        self._rng = rng if rng is not None else random.Random()
        self.attempts = 0

    def step(self, attempt: int) -> float:
        """The un-jittered delay before retry ``attempt``: ``min(cap, base * 2**attempt)``."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt!r}")
        # 2.0**1100 overflows a float: past 64 doublings every delay is the cap anyway.
        return min(self.cap, self.base * (2.0 ** min(attempt, 64)))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (never less than ``retry_after``)."""
        step = self.step(attempt)
        if self.jitter and step > 0:
            step *= 1.0 - self.jitter * self._rng.random()
        if retry_after is not None and retry_after > step:
            return float(retry_after)
        return step

    def next(self, retry_after: float | None = None) -> float:
        """The delay for the next retry of this loop; counts the failure."""
        d = self.delay(self.attempts, retry_after)
        self.attempts += 1
        return d

    def reset(self) -> None:
        """A success: the next failure starts again at ``base``."""
        self.attempts = 0

    def __repr__(self) -> str:
        return f"Backoff(base={self.base:g}, cap={self.cap:g}, jitter={self.jitter:g})"
