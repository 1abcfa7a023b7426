"""Settings: env (FLOWDECK_*, nested __), TOML, precedence, errors that name field and value.

Long on purpose: one test per settings rule, beside the others it interacts with.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from flowdeck.engine import Engine
from flowdeck.engine.errors import SettingsError
from flowdeck.engine.settings import EngineSettings, HttpProviderSettings, SimulatedProviderSettings

KEY = "sk-settings-SECRET-31337"
KEY2 = "sk-probe-Zq9XwT4vLm2PaR7n"  # no common word inside: every 8-run is checkable


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
    b = s.providers["b"]
    assert isinstance(b, HttpProviderSettings)
    assert b.api_key_env == "OPENAI_API_KEY"
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
    cheap = s.providers["cheap"]
    assert isinstance(cheap, SimulatedProviderSettings)
    assert cheap.latency_ms == 5
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
        # the control plane's bounds (schema.MAX_TTL / MAX_SIZE) hold for files too
        ({"caches": {"llm": {"ttl": 2e9}}}, "caches.llm.ttl", "2000000000.0"),
        ({"caches": {"llm": {"max_size": 2 * 10**9}}}, "caches.llm.max_size", "2000000000"),
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


# ---- issue 12 item 3: secrets in config errors, URL passwords in repr / model_dump ------


@pytest.mark.parametrize(
    "overrides",
    [
        {"providers": {"a": {"kind": "openai", "model": "m", "apikey": KEY2}}},  # typo'd name
        {"providers": {"a": {"kind": "openai", "model": "m", "token": KEY2}}},
        {"providers": {"a": {"kind": "openai", "model": "m", "auth": {"bearer": KEY2}}}},
        {"token": KEY2},
        {"providers": {"a": {"kind": "openai", "model": "m", "timeout": KEY2}}},  # wrong field
        {"providers": {"a": {"kind": "openai", "model": "m", "api_key_env": KEY2}}},
        {"providers": {"a": {"kind": "openai", "model": "m", "api_key": [KEY2]}}},
        {"providers": {"a": {"kind": "openai", "model": "m", "api_key": {"v": KEY2}}}},
        {"name": "x" * 70 + KEY2},  # cut at 80 characters: no piece may survive
    ],
)
def test_config_errors_mask_secret_looking_values(overrides: dict) -> None:
    with pytest.raises(SettingsError) as info:
        EngineSettings.load(**overrides)
    msg = str(info.value)
    assert "***" in msg, msg
    for i in range(len(KEY2) - 8 + 1):
        assert KEY2[i : i + 8] not in msg, msg


def test_a_known_key_is_masked_wherever_it_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = "plainlowercasesecretvalue"  # no key shape: known from OPENAI_API_KEY
    monkeypatch.setenv("OPENAI_API_KEY", plain)
    with pytest.raises(SettingsError) as info:
        EngineSettings.load(providers={"a": {"kind": "openai", "model": "m", "timeout": plain}})
    assert plain[:8] not in str(info.value) and "providers.a.timeout" in str(info.value)


def test_nested_environment_json_masks_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FLOWDECK_PROVIDERS",
        json.dumps({"a": {"kind": "openai", "model": "m", "apikey": KEY2, "timeout": KEY2}}),
    )
    with pytest.raises(SettingsError) as info:
        EngineSettings.load()
    msg = str(info.value)
    assert "providers.a.apikey: not a setting; did you mean api_key?" in msg
    assert "providers.a.timeout" in msg and KEY2[:8] not in msg and KEY2[-8:] not in msg


def test_repr_and_model_dump_mask_url_passwords() -> None:
    s = EngineSettings.load(
        redis_url="redis://:hunter2secret@127.0.0.1:6379/0",
        providers={"p": {"kind": "openai", "model": "m", "base_url": "https://u:pw-xyz@p.io/v1"}},
    )
    shown = repr(s) + str(s) + repr(s.providers["p"]) + str(s.model_dump())
    shown += str(s.model_dump(mode="json")) + s.model_dump_json()
    assert "hunter2secret" not in shown and "pw-xyz" not in shown
    assert "redis://:***@127.0.0.1:6379/0" in shown and "https://u:***@p.io/v1" in shown
    # the real values stay usable, and re-validation with overrides keeps them
    assert s.redis_url == "redis://:hunter2secret@127.0.0.1:6379/0"
    again = s.with_overrides(name="other")
    assert again.redis_url == s.redis_url
    assert again.providers["p"].base_url == "https://u:pw-xyz@p.io/v1"  # type: ignore[union-attr]  # an openai provider has base_url


# ---- issue 12 item 4: unknown FLOWDECK_* names, one coercion rule, config paths ----------


@pytest.mark.parametrize(
    ("var", "hint"),
    [
        ("FLOWDECK_READONLY", "did you mean $FLOWDECK_READ_ONLY?"),
        ("FLOWDECK_REDIS_ULR", "did you mean $FLOWDECK_REDIS_URL?"),
        ("FLOWDECK_PROVIDERS__A__MODLE", "did you mean $FLOWDECK_PROVIDERS__A__MODEL?"),
        ("FLOWDECK_CACHES__LLM__TTLL", "did you mean $FLOWDECK_CACHES__LLM__TTL?"),
        ("FLOWDECK_NAME__X", "name has nothing under 'x' to set"),
        ("FLOWDECK_WHATEVER", "not a setting"),
    ],
)
def test_unknown_environment_variables_are_errors(
    monkeypatch: pytest.MonkeyPatch, var: str, hint: str
) -> None:
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__KIND", "simulated")
    monkeypatch.setenv(var, "true")
    with pytest.raises(SettingsError) as info:
        EngineSettings.load()
    assert f"${var}" in str(info.value) and hint in str(info.value)


def test_tool_variables_and_key_variables_are_not_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in (
        "FLOWDECK_REQUIRE_REDIS",
        "FLOWDECK_REQUIRE_C",
        "FLOWDECK_EXPORT_DIR",
        "FLOWDECK_UPDATE_SNAPSHOTS",
    ):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("FLOWDECK_OPENAI_KEY", KEY)  # named by api_key_env
    s = EngineSettings.load(
        providers={"a": {"kind": "openai", "model": "m", "api_key_env": "FLOWDECK_OPENAI_KEY"}}
    )
    assert s.providers["a"].secret() == KEY


def test_environment_text_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_READ_ONLY", "yes")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__KIND", "simulated")
    monkeypatch.setenv("FLOWDECK_PROVIDERS__A__MAX_RETRIES", "3")
    s = EngineSettings.load()
    assert s.read_only is True and s.providers["a"].max_retries == 3


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"read_only": "yes"}, "read_only: must be true or false, not text (got 'yes')"),
        ({"control": 1}, "control: must be true or false, not int (got 1)"),
        (
            {"providers": {"a": {"kind": "simulated", "max_retries": "3"}}},
            "providers.a.max_retries: must be a whole number, not text (got '3')",
        ),
        (
            {"providers": {"a": {"kind": "openai", "model": "m", "timeout": True}}},
            "providers.a.timeout: must be a number, not bool (got True)",
        ),
        ({"caches": {"llm": {"l2": "no"}}}, "caches.llm.l2: must be true or false"),
    ],
)
def test_code_values_are_strict(overrides: dict, line: str) -> None:
    with pytest.raises(SettingsError, match="from code") as info:
        EngineSettings.load(**overrides)
    assert line in str(info.value)


def test_toml_values_are_strict(clean_env: Path) -> None:
    write(clean_env / "flowdeck.toml", 'read_only = "yes"\n[providers.a]\nkind = "simulated"\n')
    with pytest.raises(SettingsError, match=r"from config file 'flowdeck.toml'.*\n  read_only"):
        EngineSettings.load()


def test_config_path_that_is_a_directory_or_not_utf8_is_named(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_CONFIG", str(tmp_path))
    with pytest.raises(SettingsError, match=re.escape(f"config: '{tmp_path}' is a directory")):
        EngineSettings.load()
    monkeypatch.delenv("FLOWDECK_CONFIG")
    (clean_env / "flowdeck.toml").mkdir()
    with pytest.raises(SettingsError, match=r"config: 'flowdeck\.toml' is a directory"):
        EngineSettings.load()
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(SettingsError, match=r"config: '.*latin1.toml' is not UTF-8 text"):
        EngineSettings.load(config=bad)
