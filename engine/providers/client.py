"""The provider client base: retries, cooldown, health accounting, events, secrets.

Every wire format (OpenAI, Anthropic, Ollama) and the offline simulator share this
class, so a tier can fall back across kinds and the panel sees one health shape. A
subclass implements :meth:`ProviderClient._attempt` (one try, no retries); the base
decides whether and when to retry, counts everything, and keeps API keys out of
messages, events and ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from flowdeck.engine.backoff import Backoff
from flowdeck.engine.completion import Completion
from flowdeck.engine.control.schema import MAX_COOLDOWN, PROVIDER_STATES
from flowdeck.engine.errors import BadParams, ProviderError
from flowdeck.engine.providers.budget import Budget
from flowdeck.engine.providers.request import (
    Request,
    estimate_tokens,
    prompt_tokens,
    validate_request,
)
from flowdeck.engine.providers.streaming import ProviderStream, StreamAcc
from flowdeck.engine.redact import mask_fragments, mask_url
from flowdeck.engine.settings import ProviderSettingsBase
from flowdeck.engine.telemetry.events import EventBus, EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

log = logging.getLogger("flowdeck.engine.providers")

_perf = time.perf_counter
_monotonic = time.monotonic

T = TypeVar("T")

# Provider states (schema.PROVIDER_STATES, what the panel highlights).
OK, FAILING, RETRYING, OVER_BUDGET, COOLING = PROVIDER_STATES


class RetryableError(Exception):
    """One attempt failed in a way worth retrying (429, 5xx, timeout, connection)."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


# ---- the client base -------------------------------------------------------------------


class ProviderClient:
    """One configured model endpoint with retries, cooldown and health counters.

    ``complete(request)`` returns a :class:`Completion` or raises ProviderError once
    its retries are spent. After ``cooldown_after`` consecutive failed calls the
    client rests for ``cooldown`` seconds (``cooling_down()``); a tier skips it then.
    """

    kind = "base"

    def __init__(
        self,
        name: str,
        settings: ProviderSettingsBase,
        session: aiohttp.ClientSession | None,
        bus: EventBus,
    ) -> None:
        self.name = name
        self.settings = settings
        self.model = settings.model
        self._session = session
        self._bus = bus
        # Jitter only; the simulator keeps its own seeded RNG for its behaviour.
        self._jitter = random.Random()
        self.calls = 0
        self.errors = 0
        self.retries = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0
        self.latency = LatencyWindow(1024)
        self.ttft = LatencyWindow(1024)  # streamed calls: seconds to the first delta
        self.consecutive_failures = 0
        self.cooldown_until = 0.0
        self.cooldown_reason: str | None = None  # "failures" | "operator" (last started)
        self.cooldowns = 0  # cooldowns started (by failures or an operator)
        self.last_error: str | None = None
        self.in_flight = 0  # calls running (a streamed call until its first delta)
        self.waiting_retry = 0  # calls sleeping before their next attempt
        self.skipped = 0  # calls a tier sent elsewhere (cooling down or over budget)
        self.budget: Budget | None = None  # set by the engine from settings.budgets
        self._policy = Backoff(settings.backoff_base, settings.backoff_max, rng=self._jitter)

    def __repr__(self) -> str:
        url = getattr(self, "base_url", None)
        where = f" url={mask_url(url)}" if url else ""
        return f"<{type(self).__name__} {self.name!r} kind={self.kind} model={self.model!r}{where}>"

    # ---- secrets -------------------------------------------------------------------
    def _api_key(self) -> str | None:
        """Read at call time, never stored on the client (so it cannot leak via vars())."""
        return self.settings.secret()

    def scrub(self, text: str) -> str:
        """``text`` with the API key (if any) masked: error bodies sometimes echo it."""
        key = self._api_key()
        if not key or len(key) < 4:
            return text
        return mask_fragments(text.replace(key, "***"), key)

    # ---- cooldown --------------------------------------------------------------------
    def cooling_down(self) -> bool:
        return self.cooldown_until > _monotonic()

    def cooldown_remaining(self) -> float:
        return max(0.0, self.cooldown_until - _monotonic())

    def start_cooldown(self, seconds: float, reason: str = "operator") -> None:
        """Rest for ``seconds`` from now (an operator's drain, or failures): tiers skip
        this provider meanwhile (it stays a last resort)."""
        if not 0 < seconds <= MAX_COOLDOWN:
            raise BadParams(
                f"{self.name}: cooldown must be more than 0 and at most {MAX_COOLDOWN:g} s,"
                f" got {seconds!r}"
            )
        self.cooldown_until = _monotonic() + seconds
        self.cooldown_reason = reason
        self.cooldowns += 1
        self._bus.emit3(EventKind.PROVIDER_COOLDOWN, self.name, seconds, reason)

    def end_cooldown(self, reason: str = "operator") -> float:
        """End a cooldown now; returns the seconds that were left (0.0: none was on).
        The failure count starts again, so the next failure does not re-start it."""
        left = self.cooldown_remaining()
        self.cooldown_until = 0.0
        self.consecutive_failures = 0
        if left > 0:
            self._bus.emit3(EventKind.PROVIDER_RESUME, self.name, left, reason)
        return left

    def over_budget(self) -> bool:
        b = self.budget
        return b is not None and b.exhausted()

    def state(self) -> str:
        """``cooling down`` / ``over budget`` / ``retrying`` / ``failing`` / ``ok``."""
        if self.cooling_down():
            return COOLING
        if self.over_budget():
            return OVER_BUDGET
        if self.waiting_retry:
            return RETRYING
        if self.consecutive_failures:
            return FAILING
        return OK

    # ---- the call --------------------------------------------------------------------
    async def complete(self, request: dict[str, Any]) -> Completion:
        """Validate ``request`` and call the provider (with retries)."""
        return await self.complete_validated(validate_request(request))

    async def complete_validated(self, req: Request) -> Completion:
        """Call with a request already passed through :func:`validate_request`."""
        t0 = _perf()
        result = await self._call(lambda: self._attempt(req))
        self.record_success(result, _perf() - t0)
        return result

    async def open_stream(self, req: Request) -> ProviderStream:
        """Start a streamed call (validated ``req``): retried until the first delta."""
        t0 = _perf()

        async def attempt() -> ProviderStream:
            deltas, acc, close = await self._open_attempt(req)
            stream = ProviderStream(self, req, t0, deltas, acc, close)
            try:
                await stream.prime()
            except BaseException:
                await stream.aclose()
                raise
            return stream

        return await self._call(attempt)

    async def _call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt`` with retries; every failure becomes one counted ProviderError."""
        self.calls += 1
        self.in_flight += 1
        try:
            return await self._with_retries(attempt)
        except ProviderError as exc:
            self.record_failure(str(exc))
            raise
        except Exception as exc:
            # A bug or an unforeseen reply shape must still look like a provider
            # failure to the tier (so it falls back), not escape as a random type.
            # The traceback is logged as frames only: the raw message might hold a secret.
            message = f"{self.name}: unexpected {type(exc).__name__}: {self.scrub(str(exc))}"
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.warning("%s\n%s", message, frames)
            self.record_failure(message)
            raise ProviderError(message, provider=self.name) from None
        finally:
            self.in_flight -= 1

    def record_success(self, result: Completion, latency: float) -> None:
        """Account one finished call (plain or streamed) and emit ``provider.call``."""
        result.latency = latency
        self.latency.record(latency)
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.cost += result.cost
        self.consecutive_failures = 0
        if self.budget is not None:
            self.budget.spend(result.cost)
        self._bus.emit6(
            EventKind.PROVIDER_CALL,
            self.name,
            result.model,
            latency,
            result.tokens_in,
            result.tokens_out,
            result.cost,
        )

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        s = self.settings
        attempt = 0
        while True:
            try:
                return await call()
            except RetryableError as exc:
                message = self.scrub(str(exc))
                if attempt >= s.max_retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise ProviderError(
                        f"{self.name}: {message}{tries}", provider=self.name, status=exc.status
                    ) from None
                if exc.retry_after is not None and exc.retry_after > s.backoff_max:
                    # Never sleep longer than backoff_max: a long Retry-After fails the
                    # call now so the tier can fall back instead of stalling the caller.
                    raise ProviderError(
                        f"{self.name}: {message}; Retry-After {exc.retry_after:g}s"
                        f" exceeds backoff_max {s.backoff_max:g}s",
                        provider=self.name,
                        status=exc.status,
                    ) from None
                # engine/backoff.py: full jitter up to min(backoff_max, base * 2**n), and
                # a server's Retry-After (within backoff_max) as the floor.
                delay = self._policy.delay(attempt, exc.retry_after)
                attempt += 1
                self.retries += 1
                self._bus.emit4(EventKind.PROVIDER_RETRY, self.name, attempt, exc.reason, delay)
                log.debug("%s: retry %d in %.3fs (%s)", self.name, attempt, delay, exc.reason)
                self.waiting_retry += 1
                try:
                    await asyncio.sleep(delay)
                finally:
                    self.waiting_retry -= 1

    def record_failure(self, message: str) -> None:
        message = self.scrub(message)
        self.errors += 1
        self.consecutive_failures += 1
        self.last_error = message
        self._bus.emit2(EventKind.PROVIDER_ERROR, self.name, message)
        s = self.settings
        # Past the threshold every failure outside a cooldown starts one, so a provider
        # that fails its first call after resting goes straight back to rest.
        if (
            self.consecutive_failures >= s.cooldown_after
            and s.cooldown > 0
            and not self.cooling_down()
        ):
            self.start_cooldown(s.cooldown, "failures")
            log.warning(
                "%s: %d consecutive failures, cooling down for %.1fs (last: %s)",
                self.name,
                self.consecutive_failures,
                s.cooldown,
                message,
            )

    async def _attempt(self, req: Request) -> Completion:
        """One try. Raise RetryableError to retry, ProviderError to give up."""
        raise NotImplementedError

    async def _open_attempt(
        self, req: Request
    ) -> tuple[AsyncIterator[str], StreamAcc, Callable[[], Awaitable[None]] | None]:
        """One streamed try: the deltas, what the format learns on the way, a closer."""
        raise NotImplementedError

    # ---- accounting helpers for subclasses -------------------------------------------
    def cost_of(self, tokens_in: int, tokens_out: int) -> float:
        s = self.settings
        return (tokens_in * s.price_in + tokens_out * s.price_out) / 1000.0

    def completion(
        self,
        text: str,
        req: Request,
        *,
        model: Any = None,
        tokens_in: Any = None,
        tokens_out: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Assemble a Completion, estimating token counts the provider did not report."""
        t_in = tokens_in if _is_count(tokens_in) else prompt_tokens(req["messages"])
        t_out = tokens_out if _is_count(tokens_out) else estimate_tokens(text)
        return Completion(
            text=text,
            model=model if isinstance(model, str) and model else self.model,
            provider=self.name,
            tokens_in=t_in,
            tokens_out=t_out,
            cost=self.cost_of(t_in, t_out),
            extra=extra if extra is not None else {},
        )

    def fail(self, message: str, status: int | None = None) -> ProviderError:
        """A non-retryable error naming this provider, with secrets scrubbed."""
        return ProviderError(
            f"{self.name}: {self.scrub(message)}", provider=self.name, status=status
        )

    # ---- health ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        p50, p95 = self.latency.quantiles(0.5, 0.95)
        ttft50, ttft95 = self.ttft.quantiles(0.5, 0.95)
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "calls": self.calls,
            "errors": self.errors,
            "retries": self.retries,
            "p50": p50,
            "p95": p95,
            "ttft_p50": ttft50,
            "ttft_p95": ttft95,
            "cost": self.cost,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "consecutive_failures": self.consecutive_failures,
            "cooldown_remaining": self.cooldown_remaining(),
            "cooldown_reason": self.cooldown_reason if self.cooling_down() else None,
            "cooldowns": self.cooldowns,
            "last_error": self.last_error,
            "state": self.state(),
            "in_flight": self.in_flight,
            "skipped": self.skipped,
            "budget": self.budget.describe() if self.budget is not None else None,
        }


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
