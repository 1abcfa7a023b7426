"""ProviderCall (tier fallback, cooldown choice, remapping) and the client base's rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from flowdeck.engine import Completion, Engine, ProviderError
from flowdeck.engine.context import Context
from flowdeck.engine.providers import (
    CLIENTS,
    HttpProviderClient,
    ProviderCall,
    SimulatedClient,
    build_clients,
    validate_request,
)
from flowdeck.engine.providers.client import ProviderClient
from flowdeck.engine.providers.wire import parse_retry_after
from flowdeck.engine.settings import EngineSettings, SimulatedProviderSettings, provider_settings
from flowdeck.engine.telemetry.events import EventBus, EventKind

HEALTH_KEYS = {
    "state",
    "cooldowns",
    "cooldown_reason",
    "budget",
    "in_flight",
    "skipped",
    "name",
    "kind",
    "model",
    "calls",
    "errors",
    "retries",
    "p50",
    "p95",
    "ttft_p50",
    "ttft_p95",
    "cost",
    "tokens_in",
    "tokens_out",
    "consecutive_failures",
    "cooldown_remaining",
    "last_error",
}


def sim(**kw: Any) -> dict[str, Any]:
    return {"kind": "simulated", "latency_ms": 0, "max_retries": 0, **kw}


def fallbacks(eng: Engine) -> list[tuple[Any, ...]]:
    return [e[3:] for e in eng.bus.recent(1000) if e[2] == EventKind.PROVIDER_FALLBACK]


# ---- requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ("just a string", "request"),
        ({}, "request"),
        ({"prompt": 42}, "request.prompt"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "request"),
        ({"messages": []}, "request.messages"),
        ({"messages": "hi"}, "request.messages"),
        ({"messages": ["hi"]}, r"request.messages\[0\]"),
        ({"messages": [{"role": "user"}]}, r"request.messages\[0\].content"),
        ({"messages": [{"content": "x"}]}, r"request.messages\[0\].role"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": 1, "content": "y"}]},
            r"request.messages\[1\].role",
        ),
        ({"prompt": "x", "temperature": 2.5}, "request.temperature"),
        ({"prompt": "x", "temperature": -0.1}, "request.temperature"),
        ({"prompt": "x", "temperature": "hot"}, "request.temperature"),
        ({"prompt": "x", "temperature": float("nan")}, "request.temperature"),
        ({"prompt": "x", "temperature": True}, "request.temperature"),
        ({"prompt": "x", "max_tokens": 0}, "request.max_tokens"),
        ({"prompt": "x", "max_tokens": 1.5}, "request.max_tokens"),
        ({"prompt": "x", "max_tokens": True}, "request.max_tokens"),
        ({"prompt": "x", "stream": "yes"}, "request.stream"),
    ],
)
def test_bad_requests_name_the_field(request_: Any, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        validate_request(request_)


def test_good_requests_are_normalised() -> None:
    assert validate_request({"prompt": "hi", "temperature": 0, "max_tokens": 5}) == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "max_tokens": 5,
        "stream": False,
    }
    msgs = [{"role": "system", "content": ""}, {"role": "user", "content": "q"}]
    req = validate_request({"messages": msgs, "stream": True, "temperature": 2, "user": "x"})
    assert req["messages"] == msgs and req["stream"] is True


# ---- the client base -------------------------------------------------------------------


def test_retry_after_parsing() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 0.5 ", now) == 0.5
    assert parse_retry_after("-4", now) == 0.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:07 GMT", now) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("inf", now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_backoff_is_full_jitter_capped() -> None:
    """The client retries with engine/backoff.py (full jitter, capped at backoff_max)."""
    s = provider_settings(kind="openai", model="m", backoff_base=0.5, backoff_max=3.0)
    client = CLIENTS["openai"]("p", s, None, EventBus(64))
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (8, 3.0)]:
        draws = [client._policy.delay(attempt) for _ in range(300)]
        assert all(0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8  # spread over the whole range...
        assert min(draws) < cap * 0.2  # ...down to zero (full jitter)


def test_build_clients_makes_one_client_per_provider() -> None:
    settings = EngineSettings.load(
        providers={
            "o": {"kind": "openai", "model": "gpt-x"},
            "a": {"kind": "anthropic", "model": "claude-x", "base_url": "http://127.0.0.1:9/"},
            "l": {"kind": "ollama", "model": "llama3"},
            "s": {"kind": "simulated"},
        }
    )
    clients = build_clients(settings, None, EventBus(64))
    assert {n: c.kind for n, c in clients.items()} == {
        "o": "openai",
        "a": "anthropic",
        "l": "ollama",
        "s": "simulated",
    }
    assert http_url(clients["o"]) == "https://api.openai.com/v1/chat/completions"
    assert http_url(clients["a"]) == "http://127.0.0.1:9/v1/messages"
    assert http_url(clients["l"]) == "http://127.0.0.1:11434/api/chat"
    assert clients["l"].model == "llama3"
    for name, client in clients.items():
        assert isinstance(client, ProviderClient)
        h = client.health()
        assert set(h) == HEALTH_KEYS
        assert (h["name"], h["calls"], h["p50"], h["last_error"]) == (name, 0, None, None)


def http_url(client: ProviderClient) -> str:
    assert isinstance(client, HttpProviderClient)
    return client.url


def test_repr_masks_a_password_in_the_url() -> None:
    s = provider_settings(kind="openai", model="m", base_url="https://user:hunter2@proxy.local")
    client = CLIENTS["openai"]("p", s, None, EventBus(64))
    assert "hunter2" not in repr(client)
    assert "proxy.local" in repr(client)


async def test_http_client_without_a_session_fails_clearly() -> None:
    client = CLIENTS["ollama"](
        "p", provider_settings(kind="ollama", model="llama3"), None, EventBus(64)
    )
    with pytest.raises(ProviderError, match="no open HTTP session"):
        await client.complete({"prompt": "hi"})


# ---- ProviderCall ----------------------------------------------------------------------


async def test_execute_takes_a_prompt_or_a_request() -> None:
    async with Engine(control=False, providers={"a": sim()}) as eng:
        call = eng.provider("a")
        assert isinstance(call, ProviderCall)
        by_str = await eng.run(call, "What is a cache?")
        by_dict = await eng.run(call, {"prompt": "What is a cache?"})
        assert isinstance(by_str, Completion)
        assert by_str.text == by_dict.text
        with pytest.raises(TypeError, match="expected a prompt string or a request dict"):
            await eng.run(call, 42)
        with pytest.raises(ValueError, match=r"request\.max_tokens"):
            await eng.run(call, {"prompt": "x", "max_tokens": -1})
        assert eng.providers["a"].health()["calls"] == 2  # bad requests never reach it


async def test_provider_call_is_not_a_named_primitive() -> None:
    async with Engine(control=False, providers={"a": sim()}, tiers={"t": ["a"]}) as eng:
        call = eng.provider("t")
        assert isinstance(call, ProviderCall)
        assert (call.name, call.kind, call.label) == (None, "provider", "t")
        eng.add(call)
        assert eng.snapshot()["caches"] == {} and eng.routers == {}
        assert call.describe() == {
            "name": None,
            "kind": "provider",
            "label": "t",
            "providers": ["a"],
            "fallbacks": 0,
            "last_resort": 0,
        }
        with pytest.raises(KeyError, match="nope"):
            eng.provider("nope")


async def test_fallback_in_order_with_events() -> None:
    providers = {"a": sim(error_rate=1.0), "b": sim(error_rate=1.0), "c": sim()}
    async with Engine(control=False, providers=providers, tiers={"t": ["a", "b", "c"]}) as eng:
        c = await eng.run(eng.provider("t"), "hi")
        assert c.provider == "c"
        fbs = fallbacks(eng)
        assert [f[:3] for f in fbs] == [("t", "a", "b"), ("t", "b", "c")]
        assert "simulated HTTP 503" in fbs[0][3]
        assert not fbs[0][3].startswith("a:")  # the reason, without the provider prefix
        assert [eng.providers[n].health()["errors"] for n in "abc"] == [1, 1, 0]


async def test_success_resets_consecutive_failures() -> None:
    async with Engine(control=False, providers={"a": sim(cooldown_after=3)}) as eng:
        client = eng.providers["a"]
        client.settings = client.settings.model_copy(update={"error_rate": 1.0})
        for _ in range(2):
            with pytest.raises(ProviderError):
                await eng.run(eng.provider("a"), "x")
        assert client.consecutive_failures == 2
        client.settings = client.settings.model_copy(update={"error_rate": 0.0})
        await eng.run(eng.provider("a"), "x")
        assert client.consecutive_failures == 0
        assert not client.cooling_down()


async def test_cooldown_ends_and_the_provider_is_tried_again() -> None:
    providers = {
        "a": sim(error_rate=1.0, cooldown_after=1, cooldown=0.1),
        "b": sim(),
    }
    async with Engine(control=False, providers=providers, tiers={"t": ["a", "b"]}) as eng:
        tier, a = eng.provider("t"), eng.providers["a"]
        await eng.run(tier, "x")
        assert a.cooling_down() and a.calls == 1
        await eng.run(tier, "x")
        assert a.calls == 1  # skipped
        await asyncio.sleep(0.15)  # let the cooldown run out (time passing, not a sync point)
        assert not a.cooling_down()
        await eng.run(tier, "x")
        assert a.calls == 2  # tried again; failed again; resting again at once
        assert a.cooling_down()


async def test_all_cooling_down_tries_the_one_back_soonest() -> None:
    providers = {
        "a": sim(error_rate=1.0, cooldown_after=1, cooldown=60),
        "b": sim(error_rate=1.0, cooldown_after=1, cooldown=30),
    }
    async with Engine(control=False, providers=providers, tiers={"t": ["a", "b"]}) as eng:
        tier = eng.provider("t")
        assert isinstance(tier, ProviderCall)
        with pytest.raises(ProviderError):
            await eng.run(tier, "x")
        a, b = eng.providers["a"], eng.providers["b"]
        assert a.cooling_down() and b.cooling_down()
        with pytest.raises(ProviderError) as info:
            await eng.run(tier, "x")
        assert (a.calls, b.calls) == (1, 2)  # b rests for less time, so b is tried
        msg = str(info.value)
        assert "tried b" in msg and "skipped: a (cooldown)" in msg
        assert tier.last_resort == 1 and a.skipped == 1

        b.settings = b.settings.model_copy(update={"error_rate": 0.0})
        assert (await eng.run(tier, "x")).provider == "b"


async def test_remapped_puts_the_provider_first() -> None:
    providers = {"a": sim(), "b": sim(), "c": sim(), "x": sim()}
    async with Engine(control=False, providers=providers, tiers={"t": ["a", "b", "c"]}) as eng:
        call = eng.provider("t")
        assert isinstance(call, ProviderCall)
        assert call.providers == ["a", "b", "c"]
        moved = call.remapped("c")
        assert moved.providers == ["c", "a", "b"]
        assert moved.label == "t" and call.providers == ["a", "b", "c"]
        assert call.remapped("x").providers == ["x", "a", "b", "c"]
        assert call.remapped("a").providers == ["a", "b", "c"]
        assert (await eng.run(moved, "hi")).provider == "c"
        with pytest.raises(KeyError, match="'nope'"):
            call.remapped("nope")


async def test_a_provider_call_built_before_start_works_after() -> None:
    eng = Engine(control=False, providers={"a": sim()})
    call = eng.provider("a")
    with pytest.raises(ProviderError, match="is it started"):
        await call.execute("x", Context(eng))
    async with eng:
        assert (await eng.run(call, "x")).provider == "a"


async def test_an_unexpected_exception_is_a_provider_error_and_falls_back() -> None:
    class Broken(SimulatedClient):
        async def _attempt(self, req: dict[str, Any]) -> Completion:
            raise KeyError("choices")

    async with Engine(
        control=False, providers={"a": sim(), "b": sim()}, tiers={"t": ["a", "b"]}
    ) as eng:
        settings = eng.providers["a"].settings
        assert isinstance(settings, SimulatedProviderSettings)
        eng.providers["a"] = Broken("a", settings, None, eng.bus)
        c = await eng.run(eng.provider("t"), "x")
        assert c.provider == "b"
        assert eng.providers["a"].health()["last_error"] == "a: unexpected KeyError: 'choices'"
        with pytest.raises(ProviderError, match="unexpected KeyError"):
            await eng.run(eng.provider("a"), "x")
