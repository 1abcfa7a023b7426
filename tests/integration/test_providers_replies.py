"""Provider replies as real servers and gateways send them (issue 12 items 3, 6, 21-23)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from flowdeck.engine.errors import ProviderError
from flowdeck.engine.providers import CLIENTS, ProviderClient
from flowdeck.engine.settings import provider_settings
from flowdeck.engine.telemetry.events import EventBus
from tests.support.providers import FakeFleet, Malformed, Reply, Status

KEY = "sk-live-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trust_env=False) as s:
        yield s


def make(kind: str, url: str, session: aiohttp.ClientSession, **kw: Any) -> ProviderClient:
    opts: dict[str, Any] = {"model": "m", "backoff_base": 0.0, "max_retries": 2, **kw}
    settings = provider_settings(kind=kind, base_url=url, **opts)
    return CLIENTS[kind]("p", settings, session, EventBus(1024))


@pytest.mark.parametrize("status", [408, 409])
async def test_408_and_409_are_retried(
    status: int, fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai", Status(status), Reply("ok"))
    assert (await make("openai", fake.base_url, session).complete({"prompt": "q"})).text == "ok"
    assert fake.count == 2


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after-ms": "150"}, 0.15), ({"llm_provider-retry-after": "0.2"}, 0.2)],
)
async def test_retry_after_ms_and_gateway_header(
    headers: dict[str, str], wait: float, fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai", Status(429, headers=headers), Reply("ok"))
    await make("openai", fake.base_url, session).complete({"prompt": "q"})
    assert fake.gaps()[0] >= wait * 0.9  # waited as told (a lower bound, not a budget)


async def test_fastapi_detail_and_openai_shaped_error_from_messages(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai", Status(422, body={"detail": "model field is required"}))
    with pytest.raises(ProviderError, match="HTTP 422: model field is required"):
        await make("openai", fake.base_url, session).complete({"prompt": "q"})
    body = {"error": {"message": "no such model: m", "type": "invalid_request_error"}}
    fake = await fakes.start("anthropic", Status(400, body=body))
    with pytest.raises(ProviderError, match="HTTP 400: no such model: m"):
        await make("anthropic", fake.base_url, session).complete({"prompt": "q"})


async def test_base_url_ending_in_v1_gets_a_hint(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai")
    with pytest.raises(ProviderError, match=r"base_url ends in /v1.*drop the /v1"):
        await make("openai", fake.base_url + "/v1", session).complete({"prompt": "q"})


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_200_with_an_error_body_shows_the_message(
    kind: str, fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    body = json.dumps({"error": {"message": "quota exceeded for project"}}).encode()
    fake = await fakes.start(kind, Malformed(body))
    with pytest.raises(ProviderError, match="quota exceeded for project"):
        await make(kind, fake.base_url, session).complete({"prompt": "q"})


async def test_plain_json_as_text_plain_answers_a_stream_request(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    whole = {"model": "m", "choices": [{"message": {"content": "whole answer"}}]}
    fake = await fakes.start("openai", default=Malformed(json.dumps(whole).encode(), "text/plain"))
    client = make("openai", fake.base_url, session)
    assert (await client.complete({"prompt": "q", "stream": True})).text == "whole answer"
    stream = await client.open_stream({**client_request(), "stream": True})
    assert [d async for d in stream] == ["whole answer"]
    assert fake.count == 2  # one call each, never retried as a "broken stream"


def client_request() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "q"}], "temperature": None, "max_tokens": None}


async def test_sse_line_over_the_buffer_is_a_clear_error(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    body = b"data: " + b"x" * (600 * 1024) + b"\n\n"
    fake = await fakes.start("openai", Malformed(body, "text/event-stream"))
    with pytest.raises(ProviderError, match="malformed stream: a line is longer than"):
        await make("openai", fake.base_url, session).complete({"prompt": "q", "stream": True})


async def test_key_fragments_are_masked_even_across_the_cut(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    # The key sits where the 300-character cut falls, and a 20-character piece of it
    # appears on its own: neither the whole key nor any 8-character run may leak.
    message = "x" * 280 + KEY + " and again " + KEY[5:25]
    fake = await fakes.start("openai", default=Status(400, body={"error": {"message": message}}))
    client = make("openai", fake.base_url, session, api_key=KEY)
    with pytest.raises(ProviderError) as info:
        await client.complete({"prompt": "q"})
    text = str(info.value) + str(client.health()["last_error"])
    for i in range(len(KEY) - 8 + 1):
        assert KEY[i : i + 8] not in text
