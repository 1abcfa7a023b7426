"""Reply size limits (issue 12 item 6): max_response_bytes on provider replies, and
l2_max_bytes keeping big values out of Redis. Real aiohttp fakes and a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from flowdeck.engine import Cache, Engine, EngineSettings, Step
from flowdeck.engine.errors import ProviderError, SettingsError
from flowdeck.engine.providers import CLIENTS, ProviderClient
from flowdeck.engine.providers.request import validate_request
from flowdeck.engine.settings import provider_settings
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.telemetry.events import EventBus
from tests.support.providers import Big, FakeFleet, Reply
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

MB = 1024 * 1024


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trust_env=False) as s:
        yield s


def make(url: str, session: aiohttp.ClientSession, **kw: Any) -> ProviderClient:
    opts: dict[str, Any] = {"model": "m", "backoff_base": 0.0, "max_retries": 2, **kw}
    return CLIENTS["openai"]("p", provider_settings(kind="openai", base_url=url, **opts),
                             session, EventBus(1024))  # fmt: skip


@pytest.mark.parametrize("declared", [False, True])
async def test_a_50_mb_reply_fails_once_and_closes_the_connection(
    declared: bool, fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai", Big(50 * MB, declared=declared))
    client = make(fake.base_url, session)  # the default limit, 8 MiB
    with pytest.raises(ProviderError, match=r"^p: reply too large: .*max_response_bytes 8388608"):
        await client.complete({"prompt": "q"})
    assert fake.count == 1 and client.retries == 0  # not retried
    await until(lambda: fake.disconnects == 1)  # the server saw the client go
    assert fake.big_sent < 50 * MB and fake.finished == 0
    assert "max_response_bytes" in (client.last_error or "")


async def test_a_stream_whose_sum_is_over_the_limit_fails(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai", Big(50 * MB))
    client = make(fake.base_url, session, max_response_bytes=MB)
    stream = await client.open_stream(validate_request({"prompt": "q", "stream": True}))
    with pytest.raises(ProviderError, match=r"^p: stream failed after \d+ deltas: reply too large"):
        async for _ in stream:
            pass
    await until(lambda: fake.disconnects == 1)
    assert fake.count == 1 and client.retries == 0
    assert fake.big_sent < 50 * MB


async def test_a_complete_stream_call_over_the_limit_is_not_retried(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    fake = await fakes.start("openai", Big(4 * MB))
    client = make(fake.base_url, session, max_response_bytes=MB)
    with pytest.raises(ProviderError, match="over max_response_bytes 1048576"):
        await client.complete({"prompt": "q", "stream": True})
    assert fake.count == 1 and client.retries == 0


async def test_a_reply_under_the_limit_is_read_whole(
    fakes: FakeFleet, session: aiohttp.ClientSession
) -> None:
    text = "y" * (MB // 2)
    fake = await fakes.start("openai", Reply(text))
    assert (await make(fake.base_url, session, max_response_bytes=MB).complete({"prompt": "q"})
            ).text == text  # fmt: skip


@pytest.mark.parametrize("bad", [0, 1023, 2 * 1024**3, True, "8MB"])
def test_max_response_bytes_is_bounded(bad: Any) -> None:
    with pytest.raises(SettingsError, match="max_response_bytes"):
        EngineSettings.load(
            providers={"p": {"kind": "openai", "model": "m", "max_response_bytes": bad}}
        )


async def test_a_value_over_l2_max_bytes_stays_in_l1_only(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    name = f"big-{uuid.uuid4().hex[:8]}"
    calls = 0

    async def inner(data: Any) -> str:
        nonlocal calls
        calls += 1
        return "z" * (2 * MB) if data == "big" else "small"

    async with Engine(EngineSettings.load(redis_url=redis_server.url, control=False)) as eng:
        cache = Cache(Step(inner), name=name, ttl=60, max_size=10, l2_max_bytes=MB)
        assert len(await eng.run(cache, "big")) == 2 * MB
        await eng.run(cache, "small")
        await cache.wait_writes()
        assert await redis_raw.exists(f"flowdeck:cache:{name}:{digest('big')}") == 0
        assert await redis_raw.exists(f"flowdeck:cache:{name}:{digest('small')}") == 1
        assert len(await eng.run(cache, "big")) == 2 * MB  # an L1 hit
        assert calls == 2
        st = cache.stats()
        assert (st["l2_too_large"], st["l2_errors"], st["hits_l1"]) == (1, 0, 1)
        assert cache.describe()["l2_max_bytes"] == MB
        snap = eng.snapshot()["caches"][name]
        assert snap["stats"]["l2_too_large"] == 1


def test_l2_max_bytes_is_validated() -> None:
    with pytest.raises(ValueError, match="l2_max_bytes must be from 1024"):
        Cache(Step(str), name="c", ttl=1, max_size=1, l2_max_bytes=10)
    with pytest.raises(SettingsError, match="l2_max_bytes"):
        EngineSettings.load(caches={"c": {"l2_max_bytes": 0}})
    settings = EngineSettings.load(caches={"c": {"l2_max_bytes": 4096}})
    cache = Cache(Step(str), name="c", ttl=1, max_size=1)
    cache.apply_settings(settings.caches["c"])
    assert cache.l2_max_bytes == 4096
