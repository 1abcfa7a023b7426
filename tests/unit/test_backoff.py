"""Backoff: the exponential step, its cap, the jitter fraction and the Retry-After floor."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from flowdeck.engine.backoff import Backoff


class FixedRandom(random.Random):
    """``random()`` returns a value the test sets: the jitter's two ends on demand."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_step_doubles_from_base_up_to_the_cap() -> None:
    b = Backoff(0.25, 3.0, jitter=0.0)
    assert [b.delay(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_huge_attempt_count_is_the_cap_not_an_overflow() -> None:
    assert Backoff(1.0, 8.0).step(10_000) == 8.0


def test_full_jitter_spans_zero_to_the_step() -> None:
    assert Backoff(1.0, 10.0, rng=FixedRandom(0.0)).delay(2) == 4.0
    assert Backoff(1.0, 10.0, rng=FixedRandom(0.999)).delay(2) == pytest.approx(0.004)


def test_partial_jitter_keeps_its_share_of_the_step() -> None:
    low = Backoff(1.0, 10.0, jitter=0.5, rng=FixedRandom(0.999999)).delay(1)
    assert low == pytest.approx(1.0, rel=1e-5)


def test_jittered_delays_stay_within_bounds_and_vary() -> None:
    b = Backoff(0.1, 1.0, rng=random.Random(7))
    seen = [b.delay(3) for _ in range(200)]
    assert all(0.0 <= d <= 0.8 for d in seen)
    assert len(set(seen)) > 150


def test_retry_after_is_a_floor_even_above_the_cap() -> None:
    b = Backoff(0.1, 1.0, jitter=0.0)
    assert b.delay(0, retry_after=5.0) == 5.0
    assert b.delay(3, retry_after=0.01) == 0.8


def test_next_counts_failures_and_reset_starts_over() -> None:
    b = Backoff(1.0, 100.0, jitter=0.0)
    assert [b.next(), b.next(), b.next()] == [1.0, 2.0, 4.0]
    assert b.attempts == 3
    b.reset()
    assert b.next() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"base": -1.0, "cap": 1.0}, "base"),
        ({"base": math.nan, "cap": 1.0}, "base"),
        ({"base": 1.0, "cap": -2.0}, "cap"),
        ({"base": 1.0, "cap": 1.0, "jitter": 1.5}, "jitter"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Backoff(**kwargs)


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        Backoff(1.0, 2.0).delay(-1)
