"""The control wire: msgpack-RPC framing, method names, error codes, outgoing values.

Shared by the server, the client and the panel (which may import this module, the
client and ``schema``). The method table (validation, dispatch, read/write) is
``methods.py``; the event kinds, limits and reply shapes are ``schema.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowdeck.engine.control.schema import EVENT_FIELDS, event_dict  # (moved there)
from flowdeck.engine.version import PROTOCOL_VERSION

# ---- framing ---------------------------------------------------------------------------
REQUEST = 0
RESPONSE = 1
NOTIFY = 2

MAX_FRAME = 1 << 20
"""Largest message (bytes) a peer may send; bigger closes the connection."""
MAX_MSGID = (1 << 32) - 1

# ---- methods ---------------------------------------------------------------------------
HELLO = "hello"
SNAPSHOT = "snapshot"
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
CACHE_FLUSH = "cache.flush"
CACHE_SET_TTL = "cache.set_ttl"
CACHE_SET_MAX_SIZE = "cache.set_max_size"
ROUTER_PIN = "router.pin"
ROUTER_SET_MODEL = "router.set_model"
ROUTER_RESTORE = "router.restore"
ROUTER_SET_WEIGHTS = "router.set_weights"
PROVIDER_COOLDOWN = "provider.cooldown"
PROVIDER_RESUME = "provider.resume"
MEMORY_CLEAR = "memory.clear"
MEMORY_SEARCH = "memory.search"

# METHODS, WRITE_METHODS, check_method() and validate() derive from the method table:
# engine/control/methods.py (server side; this module stays importable by clients alone).

# ---- notifications (engine -> client) ---------------------------------------------------
EVENTS = "events"
STATS = "stats"
DROPPED = "dropped"
NOTIFICATIONS: tuple[str, ...] = (EVENTS, STATS, DROPPED)

# ---- error codes -------------------------------------------------------------------------
UNKNOWN_METHOD = "unknown_method"
BAD_PARAMS = "bad_params"
NOT_FOUND = "not_found"
READ_ONLY = "read_only"
BAD_REQUEST = "bad_request"
TOO_MANY_REQUESTS = "too_many_requests"
INTERNAL = "internal"
ERROR_CODES: tuple[str, ...] = (
    UNKNOWN_METHOD,
    BAD_PARAMS,
    NOT_FOUND,
    READ_ONLY,
    BAD_REQUEST,
    TOO_MANY_REQUESTS,
    INTERNAL,
)

# The result of an audited write that worked (audit records, fleet answers): it changed
# its value, or found it as asked already; the other results are the error codes above
# and "error".
APPLIED = "applied"
UNCHANGED = "unchanged"
WRITE_DONE: frozenset[str] = frozenset({APPLIED, UNCHANGED})


class ControlError(Exception):
    """An error response from the engine (or a params check): a stable code and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def default_socket_path() -> Path:
    """``$FLOWDECK_SOCKET``, else ``$XDG_RUNTIME_DIR/flowdeck/engine.sock``, else /tmp."""
    env = os.environ.get("FLOWDECK_SOCKET")
    if env:
        return Path(env)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "flowdeck" / "engine.sock"
    return Path(f"/tmp/flowdeck-{os.getuid()}") / "engine.sock"


# ---- outgoing values -----------------------------------------------------------------------
def to_wire(obj: Any) -> Any:
    """msgpack ``default`` hook: a packable stand-in for a value msgpack cannot pack."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, datetime.datetime | datetime.date):
        return obj.isoformat()
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    return repr(obj)


def sanitize(obj: Any, depth: int = 0) -> Any:
    """Deep copy of ``obj`` using only msgpack-safe types (slow path after a pack error)."""
    if depth > 32:
        return repr(obj)
    if obj is None or isinstance(obj, bool | float | str | bytes):
        return obj
    if isinstance(obj, int):
        return obj if -(1 << 63) <= obj < (1 << 64) else str(obj)
    if isinstance(obj, Mapping):
        return {
            (k if isinstance(k, str) else str(k)): sanitize(v, depth + 1) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [sanitize(v, depth + 1) for v in obj]
    converted = to_wire(obj)
    if isinstance(converted, str):
        return converted
    return sanitize(converted, depth + 1)


# ---- incoming requests ---------------------------------------------------------------------
MALFORMED = object()
"""Stands for the method of a request that does not have exactly 4 elements."""


def parse_request(msg: Any) -> tuple[int, Any, Any]:
    """Split a message into ``(msgid, method, params)``.

    Raises ``ValueError`` when the message cannot be answered at all (not a request,
    no usable msgid): the connection is then closed. Method and params are returned
    unchecked; ``methods.check_method`` and ``methods.validate`` check them.
    """
    if not isinstance(msg, list) or not msg or msg[0] != REQUEST or type(msg[0]) is not int:
        raise ValueError("not a msgpack-RPC request")
    if len(msg) < 2:
        raise ValueError("request without msgid")
    msgid = msg[1]
    if type(msgid) is not int or not 0 <= msgid <= MAX_MSGID:
        raise ValueError("msgid must be an unsigned 32-bit integer")
    if len(msg) != 4:
        return msgid, MALFORMED, None
    return msgid, msg[2], msg[3]


__all__ = [
    "BAD_PARAMS",
    "BAD_REQUEST",
    "DROPPED",
    "ERROR_CODES",
    "EVENTS",
    "EVENT_FIELDS",
    "INTERNAL",
    "MAX_FRAME",
    "NOTIFICATIONS",
    "NOTIFY",
    "NOT_FOUND",
    "PROTOCOL_VERSION",
    "READ_ONLY",
    "REQUEST",
    "RESPONSE",
    "STATS",
    "TOO_MANY_REQUESTS",
    "UNKNOWN_METHOD",
    "ControlError",
    "default_socket_path",
    "event_dict",
    "parse_request",
]
