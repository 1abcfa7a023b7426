"""Decoding what other processes left in Redis: bounded, and never an exception."""

from __future__ import annotations

from typing import Any

import msgpack


def unpack_map(blob: Any, max_bytes: int = 1 << 16) -> dict[str, Any] | None:
    """The msgpack map in ``blob``, or None if it is not bytes, too large, or not a map."""
    if not isinstance(blob, bytes) or len(blob) > max_bytes:
        return None
    try:
        value = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except Exception:
        return None
    return value if isinstance(value, dict) else None
