"""Engine settings: environment (FLOWDECK_*, nested with __), an optional TOML file, code.

Precedence, highest first: arguments passed in code, environment variables, the TOML
file (``$FLOWDECK_CONFIG`` or ``./flowdeck.toml``), defaults. A bad value fails at
start with :class:`~engine.errors.SettingsError` naming the field and the value.
"""

from __future__ import annotations

import math
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as _SourceError

from flowdeck.engine.errors import SettingsError
from flowdeck.engine.fleet.scope import check_fleet_name, redis_db

ProviderKind = Literal["openai", "anthropic", "ollama", "simulated"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderSettingsBase(_Strict):
    """What every provider kind has: a model, retries, cooldown, prices (USD per 1,000 tokens)."""

    model: str
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_base: float = Field(default=0.25, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    price_in: float = Field(default=0.0, ge=0)
    price_out: float = Field(default=0.0, ge=0)
    cooldown_after: int = Field(default=3, ge=1, description="consecutive failures")
    cooldown: float = Field(default=30.0, ge=0, description="seconds a failing provider rests")

    @field_validator("backoff_base", "backoff_max", "price_in", "price_out", "cooldown")
    @classmethod
    def _finite(cls, v: float) -> float:
        return _check_finite(v)

    def secret(self) -> str | None:
        """The API key, if this kind has one (the simulator has none)."""
        return None


class HttpProviderSettings(ProviderSettingsBase):
    """A real endpoint (OpenAI-compatible, Anthropic or Ollama): it must name its model."""

    kind: Literal["openai", "anthropic", "ollama"]
    model: str = Field(min_length=1, description="the model the endpoint serves")
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key"
    )
    api_key: SecretStr | None = Field(default=None, description="the key itself (prefer env)")
    timeout: float = Field(default=60.0, gt=0, description="total seconds per attempt")
    connect_timeout: float = Field(default=5.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {v!r}")
        return v.rstrip("/") if v else v

    @field_validator("timeout", "connect_timeout")
    @classmethod
    def _finite_timeouts(cls, v: float) -> float:
        return _check_finite(v)

    def secret(self) -> str | None:
        """The API key: from ``api_key``, else from the environment variable named."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class SimulatedProviderSettings(ProviderSettingsBase):
    """The offline simulator: latency, failures and token counts drawn from a seeded RNG."""

    kind: Literal["simulated"]
    model: str = "sim-1"
    latency_ms: float = Field(default=200.0, ge=0, description="median latency")
    latency_jitter: float = Field(default=0.3, ge=0, description="lognormal sigma")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="failure share")
    tokens_out: int = Field(default=60, ge=1, description="mean completion tokens")
    seed: int | None = Field(default=None, description="RNG seed (default from the name)")
    ttft_ms: float | None = Field(
        default=None,
        ge=0,
        le=600_000,
        description="streamed: ms to the first delta (default: the latency draw)",
    )
    tokens_per_s: float | None = Field(
        default=None, gt=0, le=1_000_000, description="streamed: delta rate (default: all at once)"
    )

    @field_validator("latency_ms", "latency_jitter", "ttft_ms", "tokens_per_s")
    @classmethod
    def _finite_latency(cls, v: float | None) -> float | None:
        return v if v is None else _check_finite(v)


ProviderSettings = Annotated[
    HttpProviderSettings | SimulatedProviderSettings, Field(discriminator="kind")
]
"""One model endpoint, told apart by ``kind``: a field of another kind is an error."""

_PROVIDER = TypeAdapter(ProviderSettings)


def provider_settings(**fields: Any) -> HttpProviderSettings | SimulatedProviderSettings:
    """Build one provider's settings from keyword fields (the class is chosen by ``kind``)."""
    return _PROVIDER.validate_python(fields)


def _check_finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {v!r}")
    return v


class CacheSettings(_Strict):
    """Overrides for a Cache with the same name, applied when it is registered."""

    ttl: float | None = Field(default=None, gt=0)
    max_size: int | None = Field(default=None, ge=1)
    l2: bool | None = None

    @field_validator("ttl")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        return v if v is None else _check_finite(v)


class EngineSettings(BaseSettings):
    """Everything an engine reads at start."""

    model_config = SettingsConfigDict(
        env_prefix="FLOWDECK_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    name: str = Field(default="flowdeck", min_length=1, max_length=64)
    host: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=255,
        description="the host this engine reports in its identity (default: the hostname)",
    )
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    tiers: dict[str, list[str]] = Field(default_factory=dict)
    caches: dict[str, CacheSettings] = Field(default_factory=dict)
    redis_url: str | None = None
    socket: Path | None = Field(
        default=None,
        description="control socket path; unset: <name>.<pid>.sock in the runtime directory",
    )
    fleet: str = Field(
        default="flowdeck",
        description="fleet name: scopes every Redis key and channel (with the Redis DB)",
    )
    fleet_interval: float = Field(
        default=1.0, ge=0.05, le=60, description="seconds between fleet heartbeats"
    )
    control: bool = Field(default=True, description="serve the control socket")
    read_only: bool = False
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    event_ring: int = Field(default=1 << 17, ge=1024, le=1 << 24)
    stats_interval: float = Field(default=0.25, gt=0, le=60)
    config: Path | None = Field(default=None, description="TOML file (also $FLOWDECK_CONFIG)")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, got {v!r}")
        redis_db(v)  # a database that is not a number fails here, not at connect
        return v

    @field_validator("fleet")
    @classmethod
    def _fleet(cls, v: str) -> str:
        return check_fleet_name(v)

    @field_validator("fleet_interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v!r}")
        return v

    def model_post_init(self, __context: Any) -> None:
        for tier, names in self.tiers.items():
            if not names:
                raise ValueError(f"tiers.{tier}: needs at least one provider")
            for n in names:
                if n not in self.providers:
                    raise ValueError(
                        f"tiers.{tier}: unknown provider {n!r} (known: {sorted(self.providers)})"
                    )
        clash = set(self.tiers) & set(self.providers)
        if clash:
            raise ValueError(f"tiers: names also used by providers: {sorted(clash)}")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path(init_settings)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            except (tomllib.TOMLDecodeError, OSError) as exc:
                raise SettingsError(f"config: cannot read {str(path)!r}: {exc}") from None
        return tuple(sources)

    @classmethod
    def load(cls, **overrides: Any) -> EngineSettings:
        """Build settings, turning validation errors into one readable SettingsError."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(format_validation_error(exc)) from None
        except _SourceError as exc:
            raise SettingsError(_format_source_error(exc)) from None
        except ValueError as exc:
            raise SettingsError(f"invalid settings: {exc}") from None

    def safe_dict(self) -> dict[str, Any]:
        """Settings without secrets, for snapshots and logs."""
        data = self.model_dump(mode="json", exclude={"config"})
        for p in data.get("providers", {}).values():
            if p.get("api_key") is not None:
                p["api_key"] = "***"
            if p.get("base_url"):
                p["base_url"] = mask_url(p["base_url"])
        if data.get("redis_url"):
            data["redis_url"] = mask_url(data["redis_url"])
        return data


def mask_url(url: str) -> str:
    """``url`` with any password (``user:secret@`` or ``?password=``) replaced by ``***``."""
    url = re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url, flags=re.I)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.I)


def _config_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    given = init_settings().get("config") if callable(init_settings) else None
    raw = given or os.environ.get("FLOWDECK_CONFIG")
    if raw:
        path = Path(raw)
        if not path.is_file():
            raise SettingsError(f"config: file not found: {str(path)!r}")
        return path
    local = Path("flowdeck.toml")
    return local if local.is_file() else None


def format_validation_error(exc: ValidationError) -> str:
    lines = ["invalid settings:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in _without_tags(err.get("loc", ()))) or "(root)"
        value = err.get("input")
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            # The discriminator itself is wrong or missing: name the kind field.
            loc += ".kind"
            value = (err.get("ctx") or {}).get("tag")
            msg = "must be one of openai, anthropic, ollama, simulated"
            if err["type"] == "union_tag_not_found":
                msg = "field required (one of openai, anthropic, ollama, simulated)"
            lines.append(f"  {loc}: {msg} (got {_shown(loc, value)})")
            continue
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        if loc == "(root)":
            lines.append(f"  {msg}")
            continue
        msg = msg.split(", got ")[0]  # a validator's own ", got X": shown once, below
        lines.append(f"  {loc}: {msg} (got {_shown(loc, value)})")
    return "\n".join(lines)


_KINDS = frozenset(("openai", "anthropic", "ollama", "simulated"))


def _without_tags(loc: Any) -> list[Any]:
    """An error location without the union tag pydantic inserts (``providers.a.openai.x``)."""
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "providers" and parts[2] in _KINDS:
        del parts[2]
    return parts


def _shown(loc: str, value: Any) -> str:
    shown = "***" if "api_key" in loc and value is not None else repr(_redact(value))
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _redact(value: Any) -> Any:
    """A copy of a (nested) input with every api_key value masked, for error messages.

    A "field required" error carries the whole parent mapping as its input, which may
    hold a key next to the missing field.
    """
    if isinstance(value, dict):
        return {
            k: ("***" if "api_key" in str(k).lower() and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, SecretStr):
        return "***"
    return value


def _format_source_error(exc: Exception) -> str:
    """Name the field and the raw environment value pydantic-settings could not parse."""
    msg = str(exc)
    m = re.search(r'field "([^"]+)"', msg)
    if m is None:
        return f"invalid settings: {msg}"
    field = m.group(1)
    var = f"FLOWDECK_{field.upper()}"
    raw = os.environ.get(var)
    if raw is None:
        return f"invalid settings:\n  {field}: cannot parse the value"
    shown = "***" if "key" in raw.lower() else repr(raw if len(raw) <= 80 else raw[:77] + "...")
    return f"invalid settings:\n  {field}: ${var} is not valid JSON (got {shown})"
