"""An offline provider: realistic latency, failures, token counts and prices, no network.

It is the demo's workhorse (thousands of calls a second), so a call is a few RNG
draws, one digest and one ``asyncio.sleep``. Behaviour is reproducible: the RNG is
seeded per client (``seed`` or a digest of the provider name), and the text depends
only on the model and the prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp

from flowdeck.engine.completion import Completion
from flowdeck.engine.providers.client import ProviderClient, RetryableError
from flowdeck.engine.providers.request import Request
from flowdeck.engine.providers.streaming import StreamAcc
from flowdeck.engine.settings import SimulatedProviderSettings
from flowdeck.engine.telemetry.events import EventBus

_WORDS = (
    "the a model cache route answer request token latency value result context memory "
    "fast quality balanced flow step branch merge index search store key policy budget "
    "signal trace window sample metric prompt reply system user engine panel tier "
    "provider fallback retry cooldown stream batch queue shard replica lease epoch "
    "is are was uses keeps needs returns improves reduces balances explains selects "
    "quickly carefully often rarely usually then because while so and but with for of in"
)
_VOCAB = tuple(_WORDS.split())
_NV = len(_VOCAB)
_MIN_SLEEP = 0.004  # seconds; shorter pauses are batched (the loop's timers are not finer)


def _stable_seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class SimulatedClient(ProviderClient):
    """A provider that never leaves the process.

    Latency is lognormal with median ``latency_ms`` and sigma ``latency_jitter``; a
    share ``error_rate`` of attempts fails like an HTTP 503 (and is retried like one);
    ``tokens_out`` is the mean completion length; prices come from the settings.
    """

    kind = "simulated"
    settings: SimulatedProviderSettings

    def __init__(
        self,
        name: str,
        settings: SimulatedProviderSettings,
        session: aiohttp.ClientSession | None,
        bus: EventBus,
    ) -> None:
        super().__init__(name, settings, session, bus)
        seed = settings.seed if settings.seed is not None else _stable_seed(name)
        self._rng = random.Random(seed)
        self._jitter = random.Random(seed ^ 0x5EED)  # backoff jitter reproducible too
        self._mu = math.log(settings.latency_ms / 1000.0) if settings.latency_ms > 0 else None

    def draw(self) -> tuple[float, bool]:
        """This attempt's latency (seconds) and whether it fails, from the seeded RNG."""
        s = self.settings
        rng = self._rng
        if self._mu is None:
            latency = 0.0
        elif s.latency_jitter > 0:
            latency = rng.lognormvariate(self._mu, s.latency_jitter)
        else:
            latency = s.latency_ms / 1000.0
        return latency, s.error_rate > 0 and rng.random() < s.error_rate

    async def _attempt(self, req: Request) -> Completion:
        # Draw before sleeping so concurrent calls consume the RNG in call order.
        latency, failed = self.draw()
        await asyncio.sleep(latency)
        if failed:
            raise RetryableError("simulated", "simulated HTTP 503 (error_rate)", status=503)
        return self._answer(req)

    async def _open_attempt(
        self, req: Request
    ) -> tuple[AsyncIterator[str], StreamAcc, Callable[[], Awaitable[None]] | None]:
        """The same text as :meth:`_attempt`, one word a delta: the first after
        ``ttft_ms`` (else the latency draw), the rest at ``tokens_per_s``."""
        latency, failed = self.draw()
        s = self.settings
        first = s.ttft_ms / 1000.0 if s.ttft_ms is not None else latency
        whole = self._answer(req)
        acc = StreamAcc()
        acc.model, acc.tokens_in, acc.tokens_out = whole.model, whole.tokens_in, whole.tokens_out
        return _paced(whole.text, first, failed, s.tokens_per_s), acc, None

    def _answer(self, req: Request) -> Completion:
        s = self.settings
        messages = req["messages"]
        words = 0
        for m in messages:
            words += len(m["content"].split())
        tokens_in = max(1, (words * 4 + 2) // 3)
        prompt = messages[-1]["content"] if len(messages) == 1 else _join(messages)
        digest = hashlib.blake2b(f"{self.model}\0{prompt}".encode(), digest_size=16).digest()
        # Mean tokens_out, spread 0.5x..1.5x by the digest, capped by max_tokens.
        tokens_out = max(1, round(s.tokens_out * (0.5 + digest[0] / 255.0)))
        if req["max_tokens"] is not None:
            tokens_out = min(tokens_out, req["max_tokens"])
        return Completion(
            text=_sentence(digest, max(1, (tokens_out * 3 + 3) // 4)),
            model=self.model,
            provider=self.name,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=self.cost_of(tokens_in, tokens_out),
        )


async def _paced(
    text: str, first: float, failed: bool, tokens_per_s: float | None
) -> AsyncIterator[str]:
    await asyncio.sleep(first)
    if failed:
        raise RetryableError("simulated", "simulated HTTP 503 (error_rate)", status=503)
    gap = 1.0 / tokens_per_s if tokens_per_s else 0.0
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, word in enumerate(words_of(text)):
        if i and gap:
            # Sleep only when a few ms are owed: at high rates words arrive in small
            # bursts on schedule instead of one timer wake-up per word.
            owed = start + i * gap - loop.time()
            if owed > _MIN_SLEEP:
                await asyncio.sleep(owed)
        yield word


def words_of(text: str) -> list[str]:
    """``text`` cut after each space: the pieces join back to exactly ``text``."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def _join(messages: list[dict[str, str]]) -> str:
    return "\n".join(f"{m['role']}:{m['content']}" for m in messages)


def _sentence(digest: bytes, n: int) -> str:
    """``n`` vocabulary words picked by the digest: same prompt, same text."""
    d = digest
    words = [_VOCAB[(d[i & 15] + 31 * (i >> 4) + d[(i * 7 + 3) & 15]) % _NV] for i in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."
