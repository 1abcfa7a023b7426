"""Tiers through a real Engine: timeout fallback, cooldown, and secrets staying secret."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from flowdeck.engine import Engine, ProviderError, Router
from flowdeck.engine.telemetry.events import EventKind
from tests.support.providers import FORMATS, FakeFleet, Hang, Reply, Status

KEY = "sk-live-SECRET-9f8e7d6c5b4a"


def events(eng: Engine, kind: str) -> list[tuple[Any, ...]]:
    return [e[3:] for e in eng.bus.recent(eng.bus.capacity) if e[2] == kind]


def provider(kind: str, url: str, **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "base_url": url, "model": f"{kind}-m", "backoff_base": 0.01, **kw}


@pytest.mark.parametrize("kind", FORMATS)
async def test_hang_times_out_and_falls_back_to_the_next_provider(
    kind: str, fakes: FakeFleet
) -> None:
    backup_kind = FORMATS[(FORMATS.index(kind) + 1) % len(FORMATS)]
    slow = await fakes.start(kind, default=Hang())
    good = await fakes.start(backup_kind, default=Reply("from the backup"))
    settings = {
        "slow": provider(kind, slow.base_url, timeout=0.2, max_retries=0),
        "good": provider(backup_kind, good.base_url),
    }
    async with Engine(control=False, providers=settings, tiers={"fast": ["slow", "good"]}) as eng:
        c = await eng.run(eng.provider("fast"), "What is a tier?")

        assert c.text == "from the backup"
        assert c.provider == "good"
        assert (slow.count, good.count) == (1, 1)
        [fb] = events(eng, EventKind.PROVIDER_FALLBACK)
        assert fb[:3] == ("fast", "slow", "good")
        assert "timed out" in fb[3]
        assert eng.providers["slow"].health()["errors"] == 1
        assert "timed out" in eng.providers["slow"].health()["last_error"]


async def test_every_provider_failing_names_them_all(fakes: FakeFleet) -> None:
    a = await fakes.start("openai", default=Status(500))
    b = await fakes.start("ollama", default=Status(400))
    settings = {
        "a": provider("openai", a.base_url, max_retries=1),
        "b": provider("ollama", b.base_url),
    }
    async with Engine(control=False, providers=settings, tiers={"t": ["a", "b"]}) as eng:
        with pytest.raises(ProviderError) as info:
            await eng.run(eng.provider("t"), "hi")
    msg = str(info.value)
    assert msg.startswith("t: every provider failed (tried a, b)")
    assert "a: HTTP 500" in msg and "b: HTTP 400" in msg
    assert (a.count, b.count) == (2, 1)


async def test_cooldown_after_repeated_failures_skips_the_provider(fakes: FakeFleet) -> None:
    bad = await fakes.start("anthropic", default=Status(503))
    good = await fakes.start("openai", default=Reply("steady"))
    settings = {
        "bad": provider("anthropic", bad.base_url, max_retries=0, cooldown_after=2, cooldown=60),
        "good": provider("openai", good.base_url),
    }
    async with Engine(control=False, providers=settings, tiers={"t": ["bad", "good"]}) as eng:
        tier = eng.provider("t")
        for _ in range(2):
            assert (await eng.run(tier, "hi")).provider == "good"
        client = eng.providers["bad"]
        assert client.cooling_down()
        h = client.health()
        assert h["consecutive_failures"] == 2
        assert 0 < h["cooldown_remaining"] <= 60
        assert events(eng, EventKind.PROVIDER_COOLDOWN) == [("bad", 60.0, "failures")]

        for _ in range(3):
            assert (await eng.run(tier, "hi")).provider == "good"
        assert bad.count == 2  # not called while cooling down
        assert good.count == 5
        skips = [e for e in events(eng, EventKind.PROVIDER_FALLBACK) if e[3] == "cooldown"]
        assert len(skips) == 3
        assert eng.snapshot()["providers"]["bad"]["cooldown_remaining"] > 0


async def test_router_remaps_a_tier_at_runtime(fakes: FakeFleet) -> None:
    one = await fakes.start("openai", default=Reply("one"))
    two = await fakes.start("ollama", default=Reply("two"))
    settings = {"one": provider("openai", one.base_url), "two": provider("ollama", two.base_url)}
    async with Engine(control=False, providers=settings, tiers={"t": ["one", "two"]}) as eng:
        router = Router({"t": eng.provider("t")}, select=lambda d: "t", name="r")
        assert (await eng.run(router, "hi")).text == "one"
        router.set_model("t", "two")
        assert router.describe()["providers"] == {"t": ["two", "one"]}
        assert (await eng.run(router, "hi")).text == "two"


@pytest.mark.parametrize("kind", FORMATS)
async def test_api_key_never_leaves_the_process(
    kind: str,
    fakes: FakeFleet,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FAKE_PROVIDER_KEY", KEY)
    echo = {"error": {"message": f"invalid key {KEY}"}}
    fake = await fakes.start(
        kind,
        Status(500, body=echo),  # retried; the body echoes the key
        Reply("fine"),
        Status(401, body=echo),
        default=Status(500, body=echo),
    )
    settings = {
        "p": provider(
            kind, fake.base_url, api_key_env="FAKE_PROVIDER_KEY", max_retries=1, cooldown_after=2
        )
    }
    async with Engine(control=False, providers=settings) as eng:
        call = eng.provider("p")
        assert (await eng.run(call, "hi")).text == "fine"
        errors = []
        for _ in range(2):
            with pytest.raises(ProviderError) as info:
                await eng.run(call, "hi")
            errors.append(info.value)
        client = eng.providers["p"]

        # the key was really sent...
        sent = fake.requests[0].headers
        assert KEY in (sent.get("Authorization", "") + sent.get("x-api-key", ""))
        if kind == "ollama":
            assert sent["Authorization"] == f"Bearer {KEY}"
        # ...and appears nowhere an operator or a log reader could see it
        assert "authentication failed" in str(errors[0])
        assert "***" in str(errors[1])
        exposed = [
            repr(client),
            repr(vars(client)),
            repr(call),
            repr(eng.settings),
            str(eng.settings.safe_dict()),
            str(client.health()),
            str(eng.snapshot()),
            str(eng.stats()),
            str(eng.bus.recent(eng.bus.capacity)),
            *(str(e) for e in errors),
            *(repr(e.args) for e in errors),
            caplog.text,
        ]
        for text in exposed:
            assert KEY not in text
        assert client.cooling_down()  # the log line for this was captured above
        assert "cooling down" in caplog.text


async def test_key_given_inline_is_masked_everywhere(fakes: FakeFleet) -> None:
    fake = await fakes.start("openai", default=Status(400, body={"error": {"message": KEY}}))
    settings = {"p": provider("openai", fake.base_url, api_key=KEY)}
    async with Engine(control=False, providers=settings) as eng:
        with pytest.raises(ProviderError) as info:
            await eng.run(eng.provider("p"), "hi")
        assert fake.requests[0].headers["Authorization"] == f"Bearer {KEY}"
        assert KEY not in str(info.value)
        assert KEY not in repr(eng.settings) + str(eng.settings.safe_dict())
        assert KEY not in str(eng.providers["p"].health())
