"""Prometheus endpoint: scraped over real HTTP with aiohttp, parsed with prometheus_client."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import aiohttp
import pytest

from flowdeck.engine import Engine
from flowdeck.engine.telemetry.prometheus import MetricsServer
from tests.support.control import build_flows, burst, control_settings

parser = pytest.importorskip("prometheus_client.parser")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Series by name and labels, without this process's ``engine`` / ``pid`` labels."""
    out = {}
    own = {"engine": "ctl-test", "pid": str(os.getpid())}
    for fam in parser.text_string_to_metric_families(text):
        for s in fam.samples:
            labels = {k: v for k, v in s.labels.items() if own.get(k) != v}
            out[(s.name, tuple(sorted(labels.items())))] = s.value
    return out


async def scrape(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_metrics_endpoint(sock_path: Path) -> None:
    eng = Engine(control_settings(sock_path, control=False))
    flows = build_flows(eng)
    async with eng:
        metrics = MetricsServer(eng, "127.0.0.1", 0)
        metrics.peers = False  # this engine alone, whatever else runs on the host
        await metrics.start()
        try:
            await eng.run(flows["cache"], {"prompt": "a"})
            await eng.run(flows["cache"], {"prompt": "a"})  # a hit
            await eng.run(flows["cache"], {"prompt": "b", "tier": "slow"})
            await burst(eng, flows["plain"], 10)
            await eng.run(flows["fan"], 0)
            streamed = eng.stream(flows["cache"], {"prompt": "c"})
            async for _ in streamed:
                pass
            eng.caches["llm"].set_max_size(1)  # three entries down to one: two resize evictions
            status, ctype, text = await scrape(metrics.url)
        finally:
            await metrics.stop()
    assert status == 200 and ctype.startswith("text/plain")
    s = samples(text)
    assert s[("flowdeck_cache_hits_total", (("cache", "llm"), ("layer", "l1")))] == 1
    assert s[("flowdeck_cache_misses_total", (("cache", "llm"),))] == 3
    assert s[("flowdeck_cache_evictions_total", (("cache", "llm"), ("reason", "resize")))] == 2
    assert s[("flowdeck_route_requests_total", (("route", "a"), ("router", "plain")))] == 5
    assert s[("flowdeck_route_requests_total", (("route", "slow"), ("router", "tiers")))] == 1
    assert s[("flowdeck_provider_calls_total", (("provider", "p1"),))] == 2  # one streamed
    assert ("flowdeck_provider_cost_usd_total", (("provider", "p2"),)) in s
    assert s[("flowdeck_parallel_runs_total", (("parallel", "fan"),))] == 1
    assert s[("flowdeck_parallel_speedup", (("parallel", "fan"),))] >= 0
    assert s[("flowdeck_runs_total", ())] == 15
    # The OpenTelemetry GenAI time to first chunk, for the one streamed request.
    ttft = "gen_ai_client_operation_time_to_first_chunk_seconds_count"
    provider = streamed.completion.provider if streamed.completion else ""
    assert s[(ttft, (("provider", provider), ("source", "provider")))] == 1
    # Histograms fed from events: one p1 call, one p2 call; twelve routed requests.
    assert s[("flowdeck_provider_latency_seconds_count", (("provider", "p1"),))] == 2
    key = ("flowdeck_route_latency_seconds_count", (("route", "b"), ("router", "plain")))
    assert s[key] == 5
    assert s[("flowdeck_metrics_events_missed_total", ())] == 0


async def test_metrics_from_settings(sock_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    eng = Engine(control_settings(sock_path, metrics_port=port))
    build_flows(eng)
    async with eng:
        assert eng.metrics is not None and eng.metrics.port == port
        status, _, text = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'flowdeck_engine_info{engine="ctl-test"' in text
    assert eng.metrics._runner is None  # stopped with the engine
