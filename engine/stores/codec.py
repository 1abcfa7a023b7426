"""msgpack encoding of stored values (never pickle: Redis is shared, pickle runs code).

A :class:`~engine.completion.Completion` anywhere inside a value travels as a msgpack
extension type holding its fields in order, so it comes back as a ``Completion``
(and a user dict that happens to look like one stays a dict). Tuples come back as
lists, as in JSON. A value msgpack cannot encode raises ``TypeError``.

L2 records carry a fixed header before the msgpack body: magic ``b"FD"``, a version
byte, then three little-endian doubles: when it was stored (Unix seconds), the latency
of the call that produced it and its cost. The store time sits at a fixed offset (bytes
3-10), so a TTL change can read it inside Redis (a Lua script in the cache) without
moving the values: :data:`RETIME_LUA`, below the header it reads, is that script.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from flowdeck.engine.completion import Completion

EXT_COMPLETION = 1

_MAGIC = b"FD"
_VERSION = 1
_HEADER = struct.Struct("<2sBddd")
HEADER_SIZE = _HEADER.size

# KEYS: records; ARGV: ttl, now (Unix seconds). Reads each record's store time from its
# header (magic, version, then the store time as a little-endian double at bytes 3-10)
# and deletes the record or sets its remaining time to live; returns how many it deleted.
# Keep it beside _HEADER: a change of the header layout must change this script too.
RETIME_LUA = """
local ttl = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local deleted = 0
for _, key in ipairs(KEYS) do
  local head = redis.call('GETRANGE', key, 0, 10)
  if #head == 11 and string.sub(head, 1, 2) == 'FD' and string.byte(head, 3) == 1 then
    local stored = struct.unpack('<d', string.sub(head, 4, 11))
    local left = stored + ttl - now
    if left <= 0 then
      redis.call('UNLINK', key)
      deleted = deleted + 1
    else
      redis.call('PEXPIRE', key, math.max(1, math.floor(left * 1000)))
    end
  end
end
return deleted
"""


def _default(obj: Any) -> Any:
    if isinstance(obj, Completion):
        # Positional fields: decoding is one constructor call, not a dict walk.
        fields = [
            obj.text,
            obj.model,
            obj.provider,
            obj.tokens_in,
            obj.tokens_out,
            obj.cost,
            obj.latency,
            obj.extra,
        ]
        return msgpack.ExtType(EXT_COMPLETION, pack(fields))
    if isinstance(obj, set | frozenset):
        return list(obj)
    raise TypeError(f"cannot store a {type(obj).__qualname__} value (not msgpack-serialisable)")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_COMPLETION:
        fields = unpack(data)
        if type(fields) is list and len(fields) == 8:
            return Completion(*fields)
        raise ValueError("malformed Completion record")
    return msgpack.ExtType(code, data)


def pack(value: Any) -> bytes:
    """msgpack bytes of ``value`` (Completions as an extension type)."""
    return msgpack.packb(value, default=_default, use_bin_type=True)


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def pack_record(value: Any, stored_at: float, latency: float = 0.0, cost: float = 0.0) -> bytes:
    """A header (store time, latency, cost) followed by the msgpack body."""
    return _HEADER.pack(_MAGIC, _VERSION, stored_at, latency, cost) + pack(value)


def unpack_record(raw: bytes) -> tuple[Any, float, float, float]:
    """``(value, stored_at, latency, cost)``; ValueError if ``raw`` is not a record."""
    if len(raw) < HEADER_SIZE:
        raise ValueError("not a flowdeck record (too short)")
    magic, version, stored_at, latency, cost = _HEADER.unpack_from(raw)
    if magic != _MAGIC or version != _VERSION:
        raise ValueError(f"not a flowdeck record (magic {magic!r}, version {version})")
    try:
        value = unpack(raw[HEADER_SIZE:])
    except Exception as exc:
        raise ValueError(f"corrupt flowdeck record: {exc}") from exc
    return value, stored_at, latency, cost
