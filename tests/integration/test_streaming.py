"""Streaming end to end: real fake servers sending deltas over time, through Router + Cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from flowdeck.engine import Cache, Engine, Router
from flowdeck.engine.errors import ProviderError
from flowdeck.engine.primitives.base import Primitive, Step
from flowdeck.engine.telemetry.events import EventKind
from tests.support.providers import FORMATS, FakeFleet, Reply, Status
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

TEXT = "one two three four five six seven eight"


def http(kind: str, base_url: str, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "model": f"{kind}-m", "base_url": base_url, "backoff_base": 0.01, **kw}


@asynccontextmanager
async def engine(providers: dict[str, Any], **kw: Any) -> AsyncIterator[Engine]:
    async with Engine(control=False, providers=providers, **kw) as eng:
        yield eng


async def collect(eng: Engine, flow: Primitive, data: Any) -> tuple[list[str], Any]:
    stream = eng.stream(flow, data)
    deltas = [d async for d in stream]
    return deltas, stream.completion


@pytest.mark.parametrize("kind", FORMATS)
async def test_deltas_arrive_as_the_server_sends_them(kind: str, fakes: FakeFleet) -> None:
    fake = await fakes.start(kind, default=Reply(TEXT, tokens_in=9, tokens_out=8, gap=0.1))
    async with engine({"p": http(kind, fake.base_url, price_in=1.0, price_out=2.0)}) as eng:
        t0 = time.perf_counter()
        arrivals: list[float] = []
        stream = eng.stream(eng.provider("p"), {"prompt": "count"})
        async for _ in stream:
            arrivals.append(time.perf_counter() - t0)
        c = stream.completion
    assert c is not None and c.text == TEXT
    assert (c.tokens_in, c.tokens_out, c.source) == (9, 8, "provider")
    assert c.cost == pytest.approx((9 * 1.0 + 8 * 2.0) / 1000)
    # The first delta reached the caller long before the last one was sent.
    assert len(arrivals) == 8 and arrivals[0] < arrivals[-1] / 2
    assert c.ttft is not None and c.ttft == pytest.approx(arrivals[0], abs=0.02)
    assert fake.requests[0].body["stream"] is True


@pytest.mark.parametrize("kind", FORMATS)
async def test_truncated_stream_after_first_delta_names_provider(
    kind: str, fakes: FakeFleet
) -> None:
    fake = await fakes.start(kind, default=Reply(TEXT, truncate=True))
    async with engine({"p": http(kind, fake.base_url, max_retries=0)}) as eng:
        with pytest.raises(ProviderError, match=r"p: stream failed after 8 deltas: .*ended"):
            await collect(eng, eng.provider("p"), "hi")


async def test_anthropic_streamed_input_tokens_from_message_delta(fakes: FakeFleet) -> None:
    fake = await fakes.start("anthropic", default=Reply(TEXT, tokens_in=21, gateway=True))
    async with engine({"p": http("anthropic", fake.base_url, price_in=1.0)}) as eng:
        _, c = await collect(eng, eng.provider("p"), "hi")
    assert c.tokens_in == 21 and c.cost == pytest.approx(21 / 1000)


async def test_fallback_only_before_the_first_delta(fakes: FakeFleet) -> None:
    bad = await fakes.start("openai", default=Status(500))
    good = await fakes.start("anthropic", default=Reply(TEXT))
    providers = {
        "a": http("openai", bad.base_url, max_retries=0),
        "b": http("anthropic", good.base_url),
    }
    async with engine(providers, tiers={"t": ["a", "b"]}) as eng:
        deltas, c = await collect(eng, eng.provider("t"), "hi")
        assert "".join(deltas) == TEXT and c.provider == "b"
        falls = [e for e in eng.bus.recent(1000) if e[2] == EventKind.PROVIDER_FALLBACK]
        assert falls and falls[0][4:6] == ("a", "b")

    cut = await fakes.start("openai", default=Reply(TEXT, truncate=True))
    providers = {
        "a": http("openai", cut.base_url, max_retries=0),
        "b": http("anthropic", good.base_url),
    }
    before = good.count
    async with engine(providers, tiers={"t": ["a", "b"]}) as eng:
        with pytest.raises(ProviderError, match="a: stream failed after 8 deltas"):
            await collect(eng, eng.provider("t"), "hi")
    assert good.count == before  # never a silent switch mid-answer


def cached(eng: Engine, **kw: Any) -> Cache:
    router = Router({"fast": eng.provider("p")}, name="r", select=lambda d: "fast")
    return Cache(router, name="llm", ttl=60, max_size=100, **kw)


async def test_cache_miss_then_hit_and_run_shares_entries(fakes: FakeFleet) -> None:
    fake = await fakes.start("openai", default=Reply(TEXT, gap=0.01))
    async with engine({"p": http("openai", fake.base_url)}) as eng:
        flow = cached(eng)
        d1, c1 = await collect(eng, flow, {"prompt": "q"})
        await flow.wait_writes()
        d2, c2 = await collect(eng, flow, {"prompt": "q"})
        assert d1 == d2 and c2.text == TEXT and (c1.source, c2.source) == ("provider", "l1")
        assert (await eng.run(flow, {"prompt": "q"})).text == TEXT  # run after stream: a hit
        assert fake.count == 1
        await eng.run(flow, {"prompt": "other", "stream": True})  # the flag is not in the key
        _, c3 = await collect(eng, flow, {"prompt": "other"})
        assert c3.source == "l1" and fake.count == 2
        st = flow.stats()
        assert st["hits_l1"] == 3 and set(st["ttft"]) == {"provider", "l1"}
        assert eng.routers["r"].stats()["routes"]["fast"]["ttft_p50"] is not None
        assert eng.providers["p"].health()["ttft_p50"] is not None


async def test_concurrent_identical_streams_share_one_upstream(fakes: FakeFleet) -> None:
    fake = await fakes.start("ollama", default=Reply(TEXT, gap=0.02))
    async with engine({"p": http("ollama", fake.base_url)}) as eng:
        flow = cached(eng)
        first = eng.stream(flow, "q")
        got = [await first.__anext__(), await first.__anext__()]
        late = await asyncio.gather(*(collect(eng, flow, "q") for _ in range(9)))
        got += [d async for d in first]
    assert fake.count == 1
    assert "".join(got) == TEXT
    for deltas, c in late:
        assert "".join(deltas) == TEXT and c.source == "coalesced"


async def test_streams_joining_while_the_upstream_opens_wait_for_it(fakes: FakeFleet) -> None:
    """The provider answers its headers late; identical streams arriving meanwhile
    join the recording and wait for it to open instead of pulling from nothing, and one
    that leaves again does not close the recording under the opener."""
    fake = await fakes.start("openai", default=Reply(TEXT, gap=0.01, head_delay=0.3))
    async with engine({"p": http("openai", fake.base_url)}) as eng:
        flow = cached(eng)

        def users() -> int:
            return sum(r.users for r in flow.recordings.values())

        first = asyncio.ensure_future(collect(eng, flow, "q"))
        await until(lambda: flow.recordings, 5)  # the opener waits for the headers
        leaver = await eng.stream(flow, "q").__aenter__()  # joins the recording
        joined = asyncio.ensure_future(collect(eng, flow, "q"))
        await until(lambda: users() == 3, 5)
        await leaver.aclose()  # gone before the upstream opened
        (deltas, done), (late, late_done) = await asyncio.gather(first, joined)
        assert "".join(deltas) == TEXT and done.source == "provider"
        assert "".join(late) == TEXT and late_done.source == "coalesced"
        assert fake.count == 1 and flow.stats()["coalesced"] == 2

        # The opener cancelled while opening: who joined gets an error, not a cancel.
        opener = asyncio.ensure_future(collect(eng, flow, "other"))
        await until(lambda: flow.recordings, 5)
        joiner = asyncio.ensure_future(collect(eng, flow, "other"))
        await until(lambda: users() == 2, 5)
        opener.cancel()
        with pytest.raises(ProviderError, match="aborted before it opened"):
            await joiner
        assert opener.cancelled() and not flow.recordings


async def test_early_leavers_and_the_last_one_closes_upstream(fakes: FakeFleet) -> None:
    fake = await fakes.start("openai", default=Reply(TEXT, gap=0.05))
    async with engine({"p": http("openai", fake.base_url)}) as eng:
        flow = cached(eng)
        a, b = eng.stream(flow, "q"), eng.stream(flow, "q")
        assert await a.__anext__() == "one "
        await b.__anext__()
        await a.aclose()  # one leaves: the other goes on undisturbed
        rest = [d async for d in b]
        assert "one " + "".join(rest) == TEXT
        assert fake.finished == 1

        c = eng.stream(flow, "fresh")
        async for _ in c:
            break
        await c.aclose()
        await until(lambda: fake.disconnects == 1, 5)
        # the aborted stream was not stored: the next one goes upstream again
        _, done = await collect(eng, flow, "fresh")
        assert done.source == "provider" and fake.count == 3


async def test_paced_replay_and_replay_tps(fakes: FakeFleet) -> None:
    fake = await fakes.start("openai", default=Reply(TEXT, gap=0.03))
    async with engine({"p": http("openai", fake.base_url)}) as eng:
        flow = cached(eng, replay="paced")
        await collect(eng, flow, {"prompt": "q"})
        t0 = time.perf_counter()
        await collect(eng, flow, {"prompt": "q"})
        paced = time.perf_counter() - t0
        t0 = time.perf_counter()
        await collect(eng, flow, {"prompt": "q", "replay": "instant"})
        instant = time.perf_counter() - t0
        assert instant < paced  # ordering, not a timing budget
        with pytest.raises(ValueError, match="replay_tps"):
            await collect(eng, flow, {"prompt": "q", "replay_tps": -1})


async def test_l2_replays_the_deltas_on_another_engine(
    fakes: FakeFleet, redis_server: RedisServer
) -> None:
    fake = await fakes.start("openai", default=Reply(TEXT))
    providers = {"p": http("openai", fake.base_url)}
    name = f"llm-{time.monotonic_ns()}"
    async with engine(providers, redis_url=redis_server.url) as a:
        fa = Cache(a.provider("p"), name=name, ttl=60, max_size=10, l2=True)
        d1, _ = await collect(a, fa, "q")
        await fa.wait_writes()
    async with engine(providers, redis_url=redis_server.url) as b:
        fb = Cache(b.provider("p"), name=name, ttl=60, max_size=10, l2=True)
        d2, c2 = await collect(b, fb, "q")
    assert d2 == d1 and len(d2) == 8 and c2.source == "l2" and fake.count == 1


async def test_simulated_streams_with_ttft_and_rate() -> None:
    sim = {"kind": "simulated", "ttft_ms": 50, "tokens_per_s": 200, "latency_jitter": 0}
    async with engine({"s": sim}) as eng:
        whole = await eng.run(eng.provider("s"), "hello")
        deltas, c = await collect(eng, eng.provider("s"), "hello")
    assert "".join(deltas) == whole.text and len(deltas) > 1
    assert c.ttft is not None and c.ttft >= 0.05


async def test_non_streaming_leaf_is_one_delta_and_parallel_is_refused() -> None:
    async with engine({}) as eng:
        upper: Callable[[str], str] = str.upper
        deltas, c = await collect(eng, Step(lambda d: d) >> Step(upper), "abc")
        assert deltas == ["ABC"] and c.text == "ABC"
        with pytest.raises(TypeError, match="cannot stream through Parallel"):
            await collect(eng, Step(upper) | Step(upper), "abc")


async def test_stream_events_and_snapshot_ttft(fakes: FakeFleet) -> None:
    fake = await fakes.start("openai", default=Reply(TEXT, gap=0.05))
    async with engine({"p": http("openai", fake.base_url)}) as eng:
        _, c = await collect(eng, eng.provider("p"), "hi")
        kinds = {e[2]: e for e in eng.bus.recent(100)}
        assert kinds[EventKind.STREAM_FIRST][3] == "provider"
        end = kinds[EventKind.STREAM_END]
        assert end[3:8] == ("provider", "p", 8, 7, "ok") and end[8] == c.ttft
        ttft = eng.snapshot()["providers"]["p"]["ttft_p50"]
        assert ttft == pytest.approx(c.ttft, abs=0.02)


async def test_route_and_cache_ttft_count_the_wait_for_the_first_token(fakes: FakeFleet) -> None:
    # A provider that sends its headers only with the first token (most do): the TTFT
    # of the route and of the cache miss must include that wait, not start after it.
    fake = await fakes.start("openai", default=Reply(TEXT, gap=0.01, head_delay=0.15))
    async with engine({"p": http("openai", fake.base_url)}) as eng:
        router = Router({"only": eng.provider("p")}, select=lambda d: "only", name="r")
        flow = Cache(router, name="c", ttl=60, max_size=100)
        _, c = await collect(eng, flow, "hi")
        assert c.ttft is not None and c.ttft >= 0.15
        snap = eng.snapshot()
        route = snap["routers"]["r"]["stats"]["routes"]["only"]
        assert route["ttft_p50"] == pytest.approx(c.ttft, abs=0.02)
        provider = snap["caches"]["c"]["stats"]["ttft"]["provider"]
        assert provider["p50"] == pytest.approx(c.ttft, abs=0.02)
