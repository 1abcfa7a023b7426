"""A streamed provider call: text deltas as they arrive, one Completion at the end.

:meth:`ProviderClient.open_stream` retries until the first delta has arrived (so a tier
can still fall back); from then on the answer is committed to this provider, and a
failure raises a ProviderError naming it and how many deltas had arrived.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from flowdeck.engine.completion import Completion
from flowdeck.engine.errors import ProviderError

if TYPE_CHECKING:
    from flowdeck.engine.providers.budget import Budget
    from flowdeck.engine.providers.client import ProviderClient
    from flowdeck.engine.providers.request import Request

_perf = time.perf_counter


class StreamAcc:
    """What a wire format learns while streaming, besides the text (model, usage, stop)."""

    __slots__ = ("extra", "model", "tokens_in", "tokens_out")

    def __init__(self) -> None:
        self.model: Any = None
        self.tokens_in: Any = None
        self.tokens_out: Any = None
        self.extra: dict[str, Any] = {"streamed": True}


class ProviderStream:
    """Deltas from one provider (the first one already read), then ``completion``.

    ``aclose()`` before the end closes the upstream response (the server sees the
    connection go) and counts nothing as a failure.
    """

    source = "provider"

    def __init__(
        self,
        client: ProviderClient,
        req: Request,
        t0: float,
        deltas: AsyncIterator[str],
        acc: StreamAcc,
        close: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self._client = client
        self._req = req
        self._t0 = t0
        self._it = deltas
        self._acc = acc
        self._close = close
        self._parts: list[str] = []
        self._first: str | None = None
        self.completion: Completion | None = None
        self.ttft: float | None = None
        self.done = False
        self.budget: Budget | None = None  # a tier's budget, charged at the end

    async def prime(self) -> None:
        """Read the first delta (errors here are still retryable / fall back)."""
        try:
            self._first = await self._it.__anext__()
        except StopAsyncIteration:
            await self._finish()
            return
        self.ttft = _perf() - self._t0
        self._client.ttft.record(self.ttft)

    def __aiter__(self) -> ProviderStream:
        return self

    async def __anext__(self) -> str:
        first = self._first
        if first is not None:
            self._first = None
            self._parts.append(first)
            return first
        if self.done:
            raise StopAsyncIteration
        try:
            delta = await self._it.__anext__()
        except StopAsyncIteration:
            await self._finish()
            raise
        except BaseException as exc:
            await self._failed(exc)
            raise self._error(exc) from None
        self._parts.append(delta)
        return delta

    async def _finish(self) -> None:
        self.done = True
        await self._release()
        acc = self._acc
        client = self._client
        result = client.completion(
            "".join(self._parts),
            self._req,
            model=acc.model,
            tokens_in=acc.tokens_in,
            tokens_out=acc.tokens_out,
            extra=acc.extra,
        )
        result.ttft = self.ttft
        client.record_success(result, _perf() - self._t0)
        if self.budget is not None:
            self.budget.spend(result.cost)
        self.completion = result

    def _error(self, exc: BaseException) -> BaseException:
        if not isinstance(exc, Exception):
            return exc  # cancellation and the like pass through unchanged
        name = self._client.name
        text = str(exc).removeprefix(f"{name}: ")
        n = len(self._parts)
        return ProviderError(
            f"{name}: stream failed after {n} delta{'s' if n != 1 else ''}: {text}",
            provider=name,
        )

    async def _failed(self, exc: BaseException) -> None:
        self.done = True
        await self._release()
        if isinstance(exc, Exception):
            self._client.record_failure(str(self._error(exc)))

    async def _release(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            await close()
        closer = getattr(self._it, "aclose", None)
        if closer is not None:
            await closer()

    async def aclose(self) -> None:
        """Leave early: close the upstream; nothing is recorded as failed."""
        if not self.done:
            self.done = True
            await self._release()
