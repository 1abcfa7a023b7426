"""Settings: env (FLOWDECK_*, nested __), TOML, precedence, errors that name field and value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flowdeck.engine import Engine
from flowdeck.engine.errors import SettingsError
from flowdeck.engine.settings import EngineSettings

KEY = "sk-settings-SECRET-31337"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No FLOWDECK_* variables from outside and no ./flowdeck.toml in the working dir."""
    for var in list(os.environ):
        if var.startswith("FLOWDECK_"):
            monkeypatch.delenv(var)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults() -> None:
    s = EngineSettings.load()
    assert (s.name, s.providers, s.tiers, s.redis_url, s.control) == (
        "flowdeck",
        {},
        {},
        None,
        True,
    )


def test_environment_with_nested_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_NAME", "from-env")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__KIND", "simulated")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__PRICE_IN", "0.5")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__B__KIND", "openai")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__B__MODEL", "gpt-x")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__B__API_KEY_ENV", "OPENAI_API_KEY")
    monkeypatch.setenv("FLOWDECK_TIERS__FAST", '["a", "b"]')
    monkeypatch.setenv("FLOWDECK_CACHES__LLM__TTL", "60")
    monkeypatch.setenv("FLOWDECK_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FLOWDECK_REQUIRE_REDIS", "1")  # not a setting; must not break loading
    s = EngineSettings.load()
    assert s.name == "from-env"
    assert s.providers["a"].kind == "simulated" and s.providers["a"].price_in == 0.5
    assert s.providers["b"].api_key_env == "OPENAI_API_KEY"
    assert s.tiers == {"fast": ["a", "b"]}
    assert s.caches["llm"].ttl == 60
    assert s.redis_url == "redis://127.0.0.1:6379/0"


def test_local_flowdeck_toml(clean_env: Path) -> None:
    write(
        clean_env / "flowdeck.toml",
        """
name = "from-toml"
redis_url = "redis://127.0.0.1:1/"

[providers.cheap]
kind = "simulated"
latency_ms = 5

[tiers]
fast = ["cheap"]

[caches.llm]
max_size = 100
""",
    )
    s = EngineSettings.load()
    assert s.name == "from-toml"
    assert s.providers["cheap"].latency_ms == 5
    assert s.tiers == {"fast": ["cheap"]}
    assert s.caches["llm"].max_size == 100


def test_flowdeck_config_wins_over_the_local_file(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(clean_env / "flowdeck.toml", 'name = "local"\n')
    other = write(tmp_path / "elsewhere.toml", 'name = "named"\n')
    monkeypatch.setenv("FLOWDECK_CONFIG", str(other))
    assert EngineSettings.load().name == "named"
    monkeypatch.delenv("FLOWDECK_CONFIG")
    assert EngineSettings.load().name == "local"
    assert EngineSettings.load(config=other).name == "named"


def test_precedence_code_then_env_then_file_then_default(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        clean_env / "flowdeck.toml",
        """
name = "file"
stats_interval = 2.0
event_ring = 4096

[providers.a]
kind = "simulated"
model = "file-model"
price_in = 0.1
""",
    )
    monkeypatch.setenv("FLOWDECK_NAME", "env")
    monkeypatch.setenv("FLOWDECK_STATS_INTERVAL", "3.0")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__MODEL", "env-model")
    s = EngineSettings.load(name="code")
    assert s.name == "code"  # code beats env
    assert s.stats_interval == 3.0  # env beats the file
    assert s.event_ring == 4096  # the file beats the default
    assert s.read_only is False  # the default
    # nested values merge field by field: env overrides one field of a file provider
    a = s.providers["a"]
    assert (a.kind, a.model, a.price_in) == ("simulated", "env-model", 0.1)


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_CONFIG", "/nonexistent/flowdeck-test.toml")
    with pytest.raises(SettingsError, match="config: file not found: '/nonexistent/flowdeck-"):
        EngineSettings.load()


def test_broken_toml_names_the_file(clean_env: Path) -> None:
    write(clean_env / "flowdeck.toml", "name = \n")
    with pytest.raises(SettingsError, match=r"config: cannot read 'flowdeck.toml': .*line 1"):
        EngineSettings.load()


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        ({"providers": {"a": {"kind": "gpt"}}}, "providers.a.kind", "'gpt'"),
        (
            {"providers": {"a": {"kind": "openai", "model": "m", "timeout": -1}}},
            "providers.a.timeout",
            "-1",
        ),
        (
            {"providers": {"a": {"kind": "openai", "model": "m", "base_url": "ftp://x"}}},
            "providers.a.base_url",
            "'ftp://x'",
        ),
        (
            {"providers": {"a": {"kind": "simulated", "backoff_max": float("inf")}}},
            "providers.a.backoff_max",
            "inf",
        ),
        (
            {"providers": {"a": {"kind": "simulated", "error_rate": 1.5}}},
            "providers.a.error_rate",
            "1.5",
        ),
        (
            {"providers": {"a": {"kind": "simulated", "colour": "red"}}},
            "providers.a.colour",
            "'red'",
        ),
        ({"redis_url": "http://localhost"}, "redis_url", "'http://localhost'"),
        ({"stats_interval": 0}, "stats_interval", "0"),
        ({"caches": {"llm": {"ttl": 0}}}, "caches.llm.ttl", "0"),
        ({"tiers": {"fast": "a"}}, "tiers.fast", "'a'"),
        ({"no_such_setting": 1}, "no_such_setting", "1"),
    ],
)
def test_bad_values_name_field_and_value(overrides: dict, field: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        EngineSettings.load(**overrides)
    msg = str(info.value)
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(f"{field}:")), None)
    assert line is not None, msg
    assert f"(got {value})" in line


def test_bad_environment_values_name_field_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__KIND", "simulated")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__PRICE_IN", "cheap")
    with pytest.raises(SettingsError, match=r"providers\.a\.price_in: .*\(got 'cheap'\)"):
        EngineSettings.load()
    monkeypatch.delenv("FLOWDECK_PROVIDERS__A__PRICE_IN")
    monkeypatch.setenv("FLOWDECK_TIERS", "{not json")
    with pytest.raises(SettingsError, match=r"tiers: \$FLOWDECK_TIERS .*\(got '\{not json'\)"):
        EngineSettings.load()


def test_tiers_must_name_known_providers() -> None:
    providers = {"a": {"kind": "simulated"}}
    with pytest.raises(SettingsError, match=r"tiers.fast: unknown provider 'b' \(known: \['a'\]\)"):
        EngineSettings.load(providers=providers, tiers={"fast": ["a", "b"]})
    with pytest.raises(SettingsError, match=r"tiers\.fast: needs at least one provider"):
        EngineSettings.load(providers=providers, tiers={"fast": []})
    with pytest.raises(SettingsError, match="names also used by providers"):
        EngineSettings.load(providers=providers, tiers={"a": ["a"]})


def test_engine_rejects_bad_settings_at_construction() -> None:
    with pytest.raises(SettingsError, match=r"providers\.p\.kind"):
        Engine(control=False, providers={"p": {"kind": "nope"}})


def test_api_key_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    s = EngineSettings.load(providers={"a": {"kind": "openai", "model": "m", "api_key": KEY}})
    assert s.providers["a"].secret() == KEY
    assert s.safe_dict()["providers"]["a"]["api_key"] == "***"
    assert KEY not in repr(s) + str(s.safe_dict()) + str(s.providers["a"])

    monkeypatch.setenv("MY_KEY_VAR", KEY)
    monkeypatch.setenv("FLOWDECK_PROVIDERS__B__KIND", "anthropic")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__B__MODEL", "claude-x")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__B__API_KEY_ENV", "MY_KEY_VAR")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__C__KIND", "openai")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__C__MODEL", "gpt-x")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__C__API_KEY", KEY)
    s = EngineSettings.load()
    assert s.providers["b"].secret() == KEY
    assert s.providers["c"].secret() == KEY
    assert s.safe_dict()["providers"]["b"]["api_key_env"] == "MY_KEY_VAR"
    assert KEY not in repr(s) + str(s.safe_dict())


@pytest.mark.parametrize(
    "providers",
    [
        {"a": {"api_key": KEY}},  # "kind: field required" carries the whole mapping
        {"a": {"kind": "openai", "model": "m", "api_key": KEY, "timeout": "soon"}},
        {"a": {"kind": "openai", "model": "m", "api_key": 12345}},
        {"a": {"kind": "gpt", "api_key": KEY}},
    ],
)
def test_api_key_never_in_error_messages(providers: dict) -> None:
    with pytest.raises(SettingsError) as info:
        EngineSettings.load(providers=providers)
    assert KEY not in str(info.value)
    assert "12345" not in str(info.value)


def test_safe_dict_masks_url_passwords() -> None:
    s = EngineSettings.load(
        redis_url="redis://:hunter2@127.0.0.1:6379/0",
        providers={
            "p": {"kind": "openai", "model": "m", "base_url": "https://u:pw-xyz@proxy.local/v1"}
        },
    )
    safe = s.safe_dict()
    assert safe["redis_url"] == "redis://:***@127.0.0.1:6379/0"
    assert safe["providers"]["p"]["base_url"] == "https://u:***@proxy.local/v1"
    assert s.redis_url == "redis://:hunter2@127.0.0.1:6379/0"  # the real value is kept
    unix = EngineSettings.load(redis_url="unix:///tmp/r.sock?db=1&password=hunter2")
    assert unix.safe_dict()["redis_url"] == "unix:///tmp/r.sock?db=1&password=***"


@pytest.mark.parametrize(
    ("provider", "field", "value"),
    [
        ({"kind": "openai", "model": "m", "latency_ms": 5}, "providers.a.latency_ms", "5"),
        ({"kind": "anthropic", "model": "m", "error_rate": 0.1}, "providers.a.error_rate", "0.1"),
        ({"kind": "simulated", "base_url": "http://x"}, "providers.a.base_url", "'http://x'"),
        ({"kind": "simulated", "api_key": "k"}, "providers.a.api_key", "***"),
        ({"kind": "ollama"}, "providers.a.model", "{'kind': 'ollama'}"),
        ({"kind": "openai", "model": ""}, "providers.a.model", "''"),
        ({"model": "m"}, "providers.a.kind", "None"),
    ],
)
def test_provider_fields_belong_to_their_kind(provider: dict, field: str, value: str) -> None:
    """Simulator-only fields are rejected on real providers (and the other way round);
    a real provider must name its model (it never silently becomes sim-1)."""
    with pytest.raises(SettingsError) as info:
        EngineSettings.load(providers={"a": provider})
    msg = str(info.value)
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(f"{field}:")), None)
    assert line is not None, msg
    assert f"(got {value})" in line, msg
