"""Engine settings: environment (FLOWDECK_*, nested with __), an optional TOML file, code.

Long on purpose: every field with its bound and its error text in one model, so the
docs table and the validators cannot drift (helpers are in settings_inputs/_errors).

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
    FieldSerializationInfo,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as _SourceError

from flowdeck.engine.control.schema import MAX_SIZE, MAX_TTL, MIN_TTL
from flowdeck.engine.errors import SettingsError
from flowdeck.engine.fleet.scope import check_fleet_name, redis_db
from flowdeck.engine.redact import mask_secrets, mask_url
from flowdeck.engine.settings_errors import (
    format_source_error,
    format_validation_error,
    known_secrets,
)
from flowdeck.engine.settings_inputs import check_environment, check_types
from flowdeck.engine.stores.cache_l2 import MAX_L2_BYTES, MIN_L2_BYTES

__all__ = [  # mask_url lives in engine/redact.py; kept importable from here
    "CacheSettings",
    "EngineSettings",
    "HttpProviderSettings",
    "ProviderSettings",
    "ProviderSettingsBase",
    "SimulatedProviderSettings",
    "mask_url",
    "provider_settings",
]

REVEAL = {"reveal": True}
"""``model_dump(context=REVEAL)`` keeps URL passwords (to rebuild settings); any other
dump, and ``repr``, masks them."""


def _masked(url: str | None, info: FieldSerializationInfo) -> str | None:
    if url is None or (info.context or {}).get("reveal"):
        return url
    return mask_url(url)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ProviderKind = Literal["openai", "anthropic", "ollama", "simulated"]


MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""Default cap on one provider reply: far above any completion, far below a runaway body."""
MIN_RESPONSE_BYTES = 1024
MAX_RESPONSE_BYTES_CAP = 1024 * 1024 * 1024


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
    max_response_bytes: int = Field(
        default=MAX_RESPONSE_BYTES,
        ge=MIN_RESPONSE_BYTES,
        le=MAX_RESPONSE_BYTES_CAP,
        description="bytes of one reply (a whole body, or a stream's sum); over it the call fails",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {v!r}")
        return v.rstrip("/") if v else v

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            # Often the key itself pasted here: the message masks the value.
            raise ValueError("must be the name of an environment variable (letters, digits, _)")
        return v

    @field_validator("timeout", "connect_timeout")
    @classmethod
    def _finite_timeouts(cls, v: float) -> float:
        return _check_finite(v)

    @field_serializer("base_url")
    def _dump_url(self, v: str | None, info: FieldSerializationInfo) -> str | None:
        return _masked(v, info)

    def __repr_args__(self) -> Any:
        for k, v in super().__repr_args__():
            yield k, (mask_url(v) if k == "base_url" and isinstance(v, str) else v)

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

    # The control plane's bounds (schema), so a TTL or size set in a file is one an
    # operator could also set, and the panel shows and accepts.
    ttl: float | None = Field(default=None, ge=MIN_TTL, le=MAX_TTL)
    max_size: int | None = Field(default=None, ge=1, le=MAX_SIZE)
    l2: bool | None = None
    l2_max_bytes: int | None = Field(default=None, ge=MIN_L2_BYTES, le=MAX_L2_BYTES)

    @field_validator("ttl")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        return v if v is None else _check_finite(v)


class BudgetSettings(_Strict):
    """A USD budget for one provider or tier per period (fixed UTC windows)."""

    usd: float = Field(gt=0, description="USD per period")
    period: Literal["minute", "hour", "day"] = "hour"

    @field_validator("usd")
    @classmethod
    def _finite(cls, v: float) -> float:
        return _check_finite(v)


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
    budgets: dict[str, BudgetSettings] = Field(
        default_factory=dict, description="USD budgets by provider or tier name"
    )
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

    @field_serializer("redis_url")
    def _dump_redis_url(self, v: str | None, info: FieldSerializationInfo) -> str | None:
        return _masked(v, info)

    def __repr_args__(self) -> Any:
        for k, v in super().__repr_args__():
            yield k, (mask_url(v) if k == "redis_url" and isinstance(v, str) else v)

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
        for name in self.budgets:
            if name not in self.providers and name not in self.tiers:
                known = sorted(set(self.providers) | set(self.tiers))
                raise ValueError(
                    f"budgets.{name}: no provider or tier of that name (known: {known})"
                )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        unknown = check_environment(os.environ, _TOP, _NESTED)
        if unknown:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(unknown))
        path = _config_path(init_settings)
        sources: list[PydanticBaseSettingsSource] = [
            _Typed(settings_cls, init_settings, "code"),
            env_settings,
        ]
        if path is not None:
            try:
                toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
            except UnicodeDecodeError as exc:
                raise SettingsError(
                    f"config: {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x}"
                    f" at offset {exc.start})"
                ) from None
            except (tomllib.TOMLDecodeError, OSError) as exc:
                raise SettingsError(f"config: cannot read {str(path)!r}: {exc}") from None
            sources.append(_Typed(settings_cls, toml, f"config file {str(path)!r}"))
        return tuple(sources)

    @classmethod
    def load(cls, **overrides: Any) -> EngineSettings:
        """Build settings, turning validation errors into one readable SettingsError."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            secrets = known_secrets(overrides, os.environ)
            raise SettingsError(format_validation_error(exc, secrets, _fields_at)) from None
        except _SourceError as exc:
            raise SettingsError(format_source_error(exc, known_secrets({}, os.environ))) from None
        except ValueError as exc:
            raise SettingsError(f"invalid settings: {exc}") from None

    def with_overrides(self, **overrides: Any) -> EngineSettings:
        """These settings with ``overrides`` applied, validated again (``model_copy``
        would let a bad value through)."""
        return type(self).load(**{**self.model_dump(context=REVEAL), **overrides})

    def safe_dict(self) -> dict[str, Any]:
        """Settings without secrets, for snapshots and logs."""
        data = self.model_dump(mode="json", exclude={"config"})  # URLs come out masked
        for p in data.get("providers", {}).values():
            if p.get("api_key") is not None:
                p["api_key"] = "***"
        return data


def _config_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    given = init_settings().get("config") if callable(init_settings) else None
    raw = given or os.environ.get("FLOWDECK_CONFIG")
    path = Path(raw) if raw else Path("flowdeck.toml")
    if path.is_dir():
        raise SettingsError(f"config: {str(path)!r} is a directory, not a TOML file")
    if path.is_file():
        return path
    if raw:
        raise SettingsError(f"config: file not found: {str(path)!r}")
    return None  # no ./flowdeck.toml: defaults


class _Typed(PydanticBaseSettingsSource):
    """A source (code or the TOML file) whose values must have their field's type: the
    environment is the one place text is parsed (see engine/settings_inputs.py)."""

    def __init__(
        self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource, origin: str
    ) -> None:
        super().__init__(settings_cls)
        self.inner, self.origin = inner, origin

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        lines = check_types(data, EngineSettings, "")
        for group in ("providers", "caches"):
            entries = data.get(group)
            if not isinstance(entries, dict):
                continue
            for name, entry in entries.items():
                model = _entry_model(group, entry)
                if model is not None and isinstance(entry, dict):
                    lines += check_types(entry, model, f"{group}.{name}.")
        if lines:
            text = f"invalid settings (from {self.origin}):\n" + "\n".join(lines)
            raise SettingsError(mask_secrets(text, known_secrets(data, os.environ)))
        return data


def _entry_model(group: str, entry: Any) -> type[BaseModel] | None:
    if group == "caches":
        return CacheSettings
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if kind == "simulated":
        return SimulatedProviderSettings
    return HttpProviderSettings if kind in ("openai", "anthropic", "ollama") else None


_PROVIDER_FIELDS = sorted(
    set(HttpProviderSettings.model_fields) | set(SimulatedProviderSettings.model_fields)
)
_TOP: dict[str, type | None] = {
    name: {"providers": HttpProviderSettings, "caches": CacheSettings, "tiers": dict}.get(name)
    for name in EngineSettings.model_fields
}
_NESTED = {"providers": _PROVIDER_FIELDS, "caches": sorted(CacheSettings.model_fields)}


def _fields_at(loc: list[Any]) -> list[str]:
    """The valid field names inside the mapping at an error location (pydantic's, with
    the union tag: ``("providers", "a", "openai")``)."""
    if not loc:
        return list(EngineSettings.model_fields)
    if loc[0] == "caches" and len(loc) == 2:
        return list(CacheSettings.model_fields)
    if loc[0] == "providers" and len(loc) == 3:
        model = SimulatedProviderSettings if loc[2] == "simulated" else HttpProviderSettings
        return list(model.model_fields)
    return []
