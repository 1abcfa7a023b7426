"""Engine: registration, duplicate names, run accounting, snapshot, lifecycle."""

from __future__ import annotations

import pytest

from flowdeck.engine import Cache, Engine, EngineSettings, Parallel, RegistrationError, Router, Step
from flowdeck.engine.errors import ProviderError
from flowdeck.engine.telemetry.events import EventKind


def settings(**kw: object) -> EngineSettings:
    return EngineSettings.load(control=False, **kw)


async def echo(x: object) -> object:
    return x


async def test_run_registers_named_primitives() -> None:
    async with Engine(settings()) as eng:
        router = Router({"a": Step(echo), "b": Step(echo)}, name="r", select=lambda d: "a")
        flow = Step(echo) >> Parallel([router, Step(echo)], name="p")
        assert await eng.run(flow, 1) == [1, 1]
        assert eng.routers == {"r": router}
        assert set(eng.parallels) == {"p"}
        assert eng.get("r") is router
        assert eng.runs == 1 and eng.in_flight == 0
        # Running the same flow again does not re-register or complain.
        await eng.run(flow, 2)
        assert eng.runs == 2


async def test_duplicate_names_are_rejected() -> None:
    async with Engine(settings()) as eng:
        eng.add(Router({"a": Step(echo)}, name="dup", select=lambda d: "a"))
        with pytest.raises(RegistrationError, match="'dup'"):
            eng.add(Parallel([Step(echo)], name="dup"))
        same_flow = Parallel([Step(echo)], name="twice") >> Parallel([Step(echo)], name="twice")
        with pytest.raises(RegistrationError, match="'twice'"):
            eng.add(same_flow)


async def test_snapshot_shape_and_events_bound_to_engine_bus() -> None:
    async with Engine(settings(name="snap")) as eng:
        router = Router({"a": Step(echo)}, name="r", select=lambda d: "a")
        await eng.run(router, "x")
        snap = eng.snapshot()
        assert snap["engine"]["name"] == "snap"
        assert snap["engine"]["read_only"] is False
        assert snap["routers"]["r"]["stats"]["total"] == 1
        assert snap["seq"] == eng.bus.seq > 0
        assert any(e[2] == "route" for e in eng.bus.recent(10))
        st = eng.stats()
        assert st["workload"]["runs"] == 1


async def test_run_errors_counted_and_named_in_an_event() -> None:
    async def boom(x: object) -> None:
        raise RuntimeError("sk-live-secret-in-an-app-message")

    async def ours(x: object) -> None:
        raise ProviderError("tier 'fast': every provider failed")

    async with Engine(settings()) as eng:
        with pytest.raises(RuntimeError):
            await eng.run(Step(boom), 1)
        assert eng.run_errors == 1 and eng.in_flight == 0
        with pytest.raises(ProviderError):
            await eng.run(Cache(Step(ours), name="llm", ttl=60, max_size=10), 1)
        with pytest.raises(ProviderError):
            async for _ in eng.stream(Step(ours, name="streamed"), 1):
                pass
        errors = [e[3:] for e in eng.bus.recent(50) if e[2] == EventKind.RUN_ERROR]
        # An application's message may hold anything: only its type is told.
        assert errors == [
            ("boom", "RuntimeError"),
            ("llm", "ProviderError: tier 'fast': every provider failed"),
            ("streamed", "ProviderError: tier 'fast': every provider failed"),
        ]
        assert eng.run_errors == 3


async def test_unknown_provider_name() -> None:
    async with Engine(settings()) as eng:
        with pytest.raises(KeyError, match="no tier or provider named 'ghost'"):
            eng.provider("ghost")


async def test_close_is_idempotent_and_closes_session() -> None:
    eng = Engine(settings())
    await eng.start()
    session = eng.session
    await eng.close()
    await eng.close()
    assert session is not None and session.closed


def test_overrides_are_validated() -> None:
    from flowdeck.engine import SettingsError

    base = settings(name="base")
    assert Engine(base, name="other").settings.name == "other"
    with pytest.raises(SettingsError, match="stats_interval"):
        Engine(base, stats_interval=-1)


async def test_add_on_a_running_engine_starts_primitives() -> None:
    started: list[str | None] = []  # Step.name is optional (Primitive.name)

    class NeedsStart(Step):
        async def astart(self) -> None:
            started.append(self.name)

    async with Engine(settings()) as eng:
        flow = Step(echo) >> NeedsStart(echo, name="late")
        eng.add(flow)
        assert await eng.run(flow, 5) == 5
        assert started == ["late"]
