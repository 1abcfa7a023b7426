"""The three HTTP wire formats against real loopback servers: shape, streaming, retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest

from flowdeck.engine.errors import ProviderError
from flowdeck.engine.providers import CLIENTS, ProviderClient
from flowdeck.engine.settings import provider_settings
from flowdeck.engine.telemetry.events import EventBus, EventKind
from tests.support.providers import (
    FORMATS,
    PATHS,
    Drop,
    FakeFleet,
    Malformed,
    Reply,
    Status,
    dead_url,
)

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trust_env=False) as s:
        yield s


@pytest.fixture
def bus() -> EventBus:
    return EventBus(4096)


def make(
    kind: str, base_url: str, session: aiohttp.ClientSession, bus: EventBus, **kw: Any
) -> ProviderClient:
    opts: dict[str, Any] = {"model": f"{kind}-model", "backoff_base": 0.01, "max_retries": 2}
    opts.update(kw)
    settings = provider_settings(kind=kind, base_url=base_url, **opts)
    return CLIENTS[kind](f"{kind}-1", settings, session, bus)


def events(bus: EventBus, kind: str) -> list[tuple[Any, ...]]:
    return [e[3:] for e in bus.recent(bus.capacity) if e[2] == kind]


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is a primitive?"},
]


# ---- success ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
async def test_success_sends_the_format_and_accounts(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start(kind, Reply("A primitive is a step.", tokens_in=12, tokens_out=6))
    client = make(kind, fake.base_url, session, bus, api_key=KEY, price_in=1.0, price_out=2.0)
    req = {"messages": MESSAGES, "temperature": 0.5, "max_tokens": 50}

    c = await client.complete(req)

    assert c.text == "A primitive is a step."
    assert (c.provider, c.model) == (f"{kind}-1", f"{kind}-model")
    assert (c.tokens_in, c.tokens_out) == (12, 6)
    assert c.cost == pytest.approx((12 * 1.0 + 6 * 2.0) / 1000)
    assert c.latency > 0
    [r] = fake.requests
    assert r.path == PATHS[kind]
    assert r.body["model"] == f"{kind}-model"
    if kind == "openai":
        assert r.headers["Authorization"] == f"Bearer {KEY}"
        assert r.body["messages"] == MESSAGES
        assert (r.body["temperature"], r.body["max_tokens"]) == (0.5, 50)
        assert "stream" not in r.body
    elif kind == "anthropic":
        assert r.headers["x-api-key"] == KEY
        assert r.headers["anthropic-version"] == "2023-06-01"
        assert "Authorization" not in r.headers
        assert r.body["system"] == "Be brief."
        assert r.body["messages"] == [MESSAGES[1]]
        assert (r.body["temperature"], r.body["max_tokens"]) == (0.5, 50)
    else:
        assert r.headers["Authorization"] == f"Bearer {KEY}"
        assert r.body["messages"] == MESSAGES
        assert r.body["stream"] is False  # Ollama streams unless told not to
        assert r.body["options"] == {"temperature": 0.5, "num_predict": 50}

    h = client.health()
    assert (h["calls"], h["errors"], h["retries"]) == (1, 0, 0)
    assert (h["tokens_in"], h["tokens_out"]) == (12, 6)
    assert h["cost"] == pytest.approx(c.cost)
    assert h["p50"] == pytest.approx(c.latency)
    [call] = events(bus, EventKind.PROVIDER_CALL)
    assert call == (f"{kind}-1", f"{kind}-model", c.latency, 12, 6, c.cost)


async def test_anthropic_defaults_max_tokens_and_clamps_temperature(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("anthropic")
    client = make("anthropic", fake.base_url, session, bus)
    await client.complete({"prompt": "hi", "temperature": 1.7})
    body = fake.requests[0].body
    assert body["max_tokens"] > 0
    assert body["temperature"] == 1.0
    assert "system" not in body
    assert "x-api-key" not in fake.requests[0].headers  # no key configured: none sent


async def test_response_model_and_missing_usage_are_handled(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("openai", Reply("four words of text", model="gpt-x-2024", usage=False))
    client = make("openai", fake.base_url, session, bus)
    c = await client.complete({"prompt": "count these words please"})
    assert c.model == "gpt-x-2024"
    assert c.tokens_in > 0 and c.tokens_out > 0  # estimated, not zero


# ---- streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
async def test_streaming_assembles_one_completion(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    text = "Streams arrive in many small pieces."
    fake = await fakes.start(kind, Reply(text, tokens_in=9, tokens_out=8))
    client = make(kind, fake.base_url, session, bus, price_out=1.0)

    c = await client.complete({"prompt": "stream please", "stream": True})

    assert c.text == text
    assert (c.tokens_in, c.tokens_out) == (9, 8)
    assert c.cost == pytest.approx(8 / 1000)
    assert c.extra.get("streamed") is True
    body = fake.requests[0].body
    assert body["stream"] is True
    if kind == "openai":
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("kind", FORMATS)
async def test_streaming_without_usage_estimates_tokens(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start(kind, Reply("eight characters!", usage=False))
    client = make(kind, fake.base_url, session, bus)
    c = await client.complete({"prompt": "hello there", "stream": True})
    assert c.text == "eight characters!"
    assert c.tokens_out > 0 and c.tokens_in > 0


async def test_stream_request_answered_with_plain_json(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("openai", Reply("plain anyway", plain=True))
    client = make("openai", fake.base_url, session, bus)
    c = await client.complete({"prompt": "x", "stream": True})
    assert c.text == "plain anyway"


@pytest.mark.parametrize("kind", FORMATS)
async def test_truncated_stream_is_retried(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start(kind, Reply("cut off here", truncate=True), Reply("whole answer"))
    client = make(kind, fake.base_url, session, bus)
    c = await client.complete({"prompt": "x", "stream": True})
    assert c.text == "whole answer"
    assert fake.count == 2
    assert client.retries == 1


# ---- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
async def test_429_retry_after_is_honoured(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start(kind, Status(429, retry_after="1"), Reply("after the wait"))
    # Backoff alone would wait at most 0.01 s: a ~1 s gap can only come from Retry-After.
    client = make(kind, fake.base_url, session, bus, backoff_base=0.01, backoff_max=5)

    c = await client.complete({"prompt": "hi"})

    assert c.text == "after the wait"
    assert fake.count == 2
    [gap] = fake.gaps()
    assert gap >= 0.95
    assert client.health()["retries"] == 1
    [retry] = events(bus, EventKind.PROVIDER_RETRY)
    assert retry == (f"{kind}-1", 1, "HTTP 429", 1.0)


async def test_503_retry_after_http_date_is_honoured(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    when = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1..2 s from now
    fake = await fakes.start("openai", Status(503, retry_after=when), Reply("ok"))
    client = make("openai", fake.base_url, session, bus, backoff_max=5)
    await client.complete({"prompt": "hi"})
    [gap] = fake.gaps()
    assert gap >= 0.9
    [retry] = events(bus, EventKind.PROVIDER_RETRY)
    assert retry[2] == "HTTP 503"


async def test_retry_after_longer_than_backoff_max_fails_fast(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("openai", Status(429, retry_after="3600"))
    client = make("openai", fake.base_url, session, bus, backoff_max=2)
    with pytest.raises(ProviderError, match="Retry-After 3600s exceeds backoff_max"):
        await client.complete({"prompt": "hi"})
    assert fake.count == 1


@pytest.mark.parametrize("kind", FORMATS)
async def test_500_then_success(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start(kind, Status(500), Reply("recovered"))
    client = make(kind, fake.base_url, session, bus)
    c = await client.complete({"prompt": "hi"})
    assert c.text == "recovered"
    assert fake.count == 2
    h = client.health()
    assert (h["calls"], h["errors"], h["retries"], h["consecutive_failures"]) == (1, 0, 1, 0)
    assert c.latency >= fake.gaps()[0]  # the completion's latency covers the retries


async def test_retries_are_bounded_and_reported(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("ollama", default=Status(502))
    client = make("ollama", fake.base_url, session, bus, max_retries=2)
    with pytest.raises(ProviderError, match=r"ollama-1: HTTP 502.*after 3 attempts") as info:
        await client.complete({"prompt": "hi"})
    assert info.value.status == 502
    assert info.value.provider == "ollama-1"
    assert fake.count == 3
    h = client.health()
    assert (h["calls"], h["errors"], h["retries"]) == (1, 1, 2)
    assert "HTTP 502" in h["last_error"]
    assert len(events(bus, EventKind.PROVIDER_ERROR)) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_other_4xx_is_not_retried(
    status: int, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    body = {"error": {"message": "model does not exist"}}
    fake = await fakes.start("openai", Status(status, body=body))
    client = make("openai", fake.base_url, session, bus)
    with pytest.raises(ProviderError, match=f"HTTP {status}: model does not exist") as info:
        await client.complete({"prompt": "hi"})
    assert info.value.status == status
    assert fake.count == 1
    assert client.retries == 0


async def test_dropped_connection_is_retried(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("anthropic", Drop(), Reply("second try"))
    client = make("anthropic", fake.base_url, session, bus)
    c = await client.complete({"prompt": "hi"})
    assert c.text == "second try"
    assert fake.count == 2
    [retry] = events(bus, EventKind.PROVIDER_RETRY)
    assert retry[2] == "connection"


async def test_connection_refused_is_a_provider_error(
    session: aiohttp.ClientSession, bus: EventBus
) -> None:
    client = make("openai", dead_url(), session, bus, max_retries=1)
    with pytest.raises(ProviderError, match="connection failed"):
        await client.complete({"prompt": "hi"})
    assert client.retries == 1


# ---- malformed replies -----------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>gateway page</html>", "malformed response: not JSON: '<html>gateway page"),
        (b"", r"malformed response: not JSON: \(empty body\)"),
        (b"[1, 2, 3]", "malformed response: expected a JSON object, got list"),
        (b'{"id": "x", "unexpected": true}', "malformed response: "),
    ],
)
async def test_malformed_reply_is_a_clear_provider_error(
    kind: str,
    body: bytes,
    match: str,
    fakes: FakeFleet,
    session: aiohttp.ClientSession,
    bus: EventBus,
) -> None:
    fake = await fakes.start(kind, default=Malformed(body))
    client = make(kind, fake.base_url, session, bus)
    with pytest.raises(ProviderError, match=match) as info:
        await client.complete({"prompt": "hi"})
    assert str(info.value).startswith(f"{kind}-1: ")
    assert fake.count == 1  # a malformed 200 is not retried
    assert client.health()["errors"] == 1


@pytest.mark.parametrize(
    ("kind", "frame"),
    [
        ("openai", b"data: {not json}\n\n"),
        ("openai", b'data: {"error": {"message": "overloaded"}}\n\n'),
        ("anthropic", b'event: message_start\ndata: {"type": "message_start"}\n\n'),
        ("ollama", b"this is not json\n"),
        ("ollama", b'{"error": "model not loaded"}\n'),
    ],
)
async def test_malformed_stream_is_a_clear_provider_error(
    kind: str, frame: bytes, fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    ctype = "application/x-ndjson" if kind == "ollama" else "text/event-stream"
    fake = await fakes.start(kind, default=Malformed(frame, content_type=ctype))
    client = make(kind, fake.base_url, session, bus)
    with pytest.raises(ProviderError, match=f"^{kind}-1: (malformed|stream error|error reply)"):
        await client.complete({"prompt": "hi", "stream": True})


# ---- timeouts --------------------------------------------------------------------------


async def test_stream_that_stalls_hits_the_total_timeout(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    fake = await fakes.start("openai", default=Reply("never finishes", hang_after=1))
    client = make("openai", fake.base_url, session, bus, timeout=0.2, max_retries=0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(ProviderError, match=r"timed out \(timeout 0.2s\)"):
        await client.complete({"prompt": "hi", "stream": True})
    assert loop.time() - t0 >= 0.15
    assert fake.count == 1


async def test_anthropic_overloaded_stream_event_is_retried(
    fakes: FakeFleet, session: aiohttp.ClientSession, bus: EventBus
) -> None:
    overloaded = (
        b'event: error\ndata: {"type": "error", "error": '
        b'{"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    )
    fake = await fakes.start(
        "anthropic", Malformed(overloaded, content_type="text/event-stream"), Reply("calm again")
    )
    client = make("anthropic", fake.base_url, session, bus)
    c = await client.complete({"prompt": "hi", "stream": True})
    assert c.text == "calm again"
    [retry] = events(bus, EventKind.PROVIDER_RETRY)
    assert retry[2] == "overloaded"
