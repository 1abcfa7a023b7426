"""Errors the engine raises to its callers."""

from __future__ import annotations


class FlowdeckError(Exception):
    """Base class for every error the engine raises on purpose."""


MAX_ERROR_TEXT = 200


def error_text(exc: BaseException) -> str:
    """What telemetry says of a failure: the exception's type, and for Flowdeck's own
    errors (whose messages are written to be shown, provider text already scrubbed)
    its message, cut. Another exception's message is left out: an application's
    exception may carry anything, a key or a customer's data included."""
    name = type(exc).__name__
    if isinstance(exc, FlowdeckError) and str(exc):
        return f"{name}: {str(exc)[:MAX_ERROR_TEXT]}"
    return name


class SettingsError(FlowdeckError):
    """A setting has a bad value; the message names the field and the value."""


class RegistrationError(FlowdeckError):
    """A flow could not be registered (for example two primitives share a name)."""


class ProviderError(FlowdeckError):
    """A provider call failed after its retries (and every fallback, for a tier)."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class EngineAlreadyRunning(FlowdeckError):
    """Another live engine already listens on the control socket path."""


class NotFound(FlowdeckError, KeyError):
    """A primitive has no item of that name (a route, a provider); control: ``not_found``.

    Also a ``KeyError`` so code that looked a name up in a dict keeps working.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class BadParams(FlowdeckError, ValueError):
    """A primitive refused an argument's value; control: ``bad_params``."""
