"""Stable cache keys: a digest of a canonical encoding of the input.

Why not ``hash()``: it is salted per process for strings, so two engines (or one engine
after a restart) would disagree about the key of the same prompt and could never share
L2 entries. Here the input is encoded canonically with msgpack (dict keys sorted, types
kept apart: ``1``, ``1.0``, ``True`` and ``"1"`` are four different keys) and hashed with
BLAKE2b; the result is the same in every process and on every machine.

Canonical rules: dicts are encoded with their keys sorted; lists and tuples are the same
sequence; sets are sorted by the encoding of their items; str, bytes, int, float, bool
and None are encoded as themselves. Anything else raises ``TypeError``: there is no
stable, meaningful encoding of an arbitrary object, and guessing (``repr``, ``id``) would
silently split or merge keys.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from hashlib import blake2b
from typing import Any

import msgpack

__all__ = [
    "DIGEST_SIZE",
    "SHORT_KEY",
    "canonical",
    "digest",
    "digest_of_local",
    "local_key",
    "short_key",
]

DIGEST_SIZE = 16  # bytes: 128 bits, 32 hex characters; collisions are not a concern
SHORT_KEY = 12  # hex characters of the key shown in events (cache.hit / miss / set)

_packb = msgpack.packb
_ExtType = msgpack.ExtType
_SCALARS = frozenset((str, int, float, bool, type(None), bytes))
_STR = frozenset((str,))
_TAGGED = frozenset((int, float, bool, type(None)))  # tagged with their type in local keys
_EXT_BIGINT = 1
_EXT_SET = 2
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def digest(data: Any) -> str:
    """The key of ``data``: 32 hex characters, equal for equal canonical inputs."""
    t = type(data)
    if t is str:
        return blake2b(_packb(data), digest_size=DIGEST_SIZE).hexdigest()
    if t is dict:
        try:
            items = sorted(data.items())  # dict keys are unique: values are never compared
        except TypeError:
            items = None  # keys of mixed types: the general path orders them by encoding
        if items is not None:
            for _, v in items:
                if type(v) not in _SCALARS or (type(v) is int and not _INT_MIN <= v <= _INT_MAX):
                    break
            else:
                return blake2b(_packb(dict(items)), digest_size=DIGEST_SIZE).hexdigest()
    return blake2b(canonical(data), digest_size=DIGEST_SIZE).hexdigest()


def local_key(data: Any) -> Hashable:
    """A key for in-process lookups, cheaper than :func:`digest` for common inputs.

    A str is its own key. A flat dict with str keys and str / int / float / bool /
    None values is the tuple of its sorted items, non-str values tagged with their type
    (so ``1``, ``1.0`` and ``True`` stay apart); hashing those is what a dict lookup
    does anyway. A value that is a list of dicts of two str keys with str values (chat
    ``messages``: role and content) is tagged ``dict`` and kept as one flat tuple of
    their sorted pairs' strs (:func:`_pairs_py`, in C where built); any other list of
    strs or of flat str-to-str dicts is tagged ``list`` and kept as a tuple of those
    (dicts as sorted item tuples), so a chat request needs no msgpack + BLAKE2b either
    (lists of up to 256 items; longer ones take the digest). Anything else is the
    binary digest. The three kinds (str, tuple, bytes) never compare equal to each
    other, and :func:`digest_of_local` turns any of them into the hex :func:`digest` of
    the original input, for keys that leave the process.
    """
    t = type(data)
    if t is str:
        return data
    if t is dict and 0 < len(data) <= 16:
        out: list[tuple[Any, ...]] = []
        for k, v in data.items():
            if type(k) is not str:
                break
            tv = type(v)
            if tv is str:
                out.append((k, v))
            elif tv in _TAGGED:
                out.append((k, tv, v))
            elif tv is list and (items := _pairs(v)) is not None:
                out.append((k, dict, items))  # chat messages: a list of 2-key dicts
            elif tv is list and (items := _flat_items(v)) is not None:
                out.append((k, list, items))  # a list of strs and flat dicts
            else:
                break
        else:
            if len(out) > 1:
                out.sort()  # by key: keys are unique, so nothing else is ever compared
            return tuple(out)
    return blake2b(canonical(data), digest_size=DIGEST_SIZE).digest()


def _pairs_py(items: object) -> tuple[str, ...] | None:
    """A list of dicts of exactly two str keys with str values (the commonest shape of
    chat ``messages``: ``{"role": ..., "content": ...}``) as one flat tuple of strs, each
    dict's key-value pairs sorted by key; None for any other list.

    One tuple of ``4 * len(items)`` strs, not a tuple of tuples: building and hashing the
    key of a chat request is most of its hit, and nested tuples are allocated and
    hashed again on every call. The ``dict`` tag beside it (not ``list``, which
    :func:`_flat_items` uses) keeps it apart from a list of strs of the same length.
    ``_pairs`` is this function in C (``_chat_pairs.c``) where it was built at install;
    this one is the fallback and the reference the C one is tested against.
    """
    if type(items) is not list or len(items) > 256:  # as the C helper (MAX_ITEMS)
        return None
    out: list[str] = []
    for item in items:
        if type(item) is dict and len(item) == 2:
            a, c = item
            b = item[a]
            d = item[c]
            if type(a) is type(b) is type(c) is type(d) is str:
                out += (a, b, c, d) if a < c else (c, d, a, b)
                continue
        return None
    return tuple(out)


try:  # the same function in C (_chat_pairs.c), about 10x faster; optional at install
    from ._chat_pairs import pairs as _pairs
except ImportError:  # pragma: no cover - where no compiler was at hand
    _pairs = _pairs_py


def _flat_items(items: list[Any]) -> tuple[Any, ...] | None:
    """A list of str items or of flat str-keyed dicts with str values (the shape of chat
    ``messages``) as a tuple of strs and sorted ``(key, value)`` tuples; None otherwise.

    A str item stays a str and a dict becomes a tuple, so the two never compare equal;
    the ``list`` tag beside them keeps the whole apart from a flat field's value.
    """
    if len(items) > 256:
        return None
    out: list[Any] = []
    append = out.append
    for item in items:
        ti = type(item)
        if ti is str:
            append(item)
        elif ti is not dict:
            return None
        elif len(item) == 2:  # {"role": ..., "content": ...}: no sort, no list
            p, q = item.items()
            if type(p[0]) is not str or type(q[0]) is not str:
                return None
            if type(p[1]) is not str or type(q[1]) is not str:
                return None
            append((p, q) if p[0] < q[0] else (q, p))
        elif len(item) <= 16 and _STR.issuperset(map(type, item.values())):
            if not _STR.issuperset(map(type, item)):
                return None
            append(tuple(sorted(item.items())))  # by key: keys are unique
        else:
            return None
    return tuple(out)


def digest_of_local(key: Hashable) -> str:
    """The hex :func:`digest` of the input a :func:`local_key` came from."""
    t = type(key)
    if t is str:
        return digest(key)
    if t is tuple:
        return digest({item[0]: _unflat(item) for item in key})  # type: ignore[attr-defined]  # a tagged tuple of (name, ...) items
    if t is bytes:
        assert isinstance(key, bytes)
        return key.hex()
    raise TypeError(f"not a local key: {type(key).__name__}")


@functools.lru_cache(maxsize=1024)  # hot keys are hit (and their events read) often
def short_key(key: Hashable) -> str:
    """The key shown in events for a :func:`local_key`: the first :data:`SHORT_KEY`
    hex characters of :func:`digest_of_local`."""
    return digest_of_local(key)[:SHORT_KEY]


def _unflat(item: tuple[Any, ...]) -> Any:
    """The value of one field of a dict's local key (see :func:`_flat_items`)."""
    if len(item) == 3:
        if item[1] is dict:  # see _pairs
            f = item[2]
            return [{f[i]: f[i + 1], f[i + 2]: f[i + 3]} for i in range(0, len(f), 4)]
        if item[1] is list:
            return [x if type(x) is str else dict(x) for x in item[2]]
    return item[-1]


def canonical(data: Any) -> bytes:
    """The canonical msgpack encoding of ``data`` (raises TypeError for unsupported types)."""
    return _packb(_canon(data, 0))


def _canon(obj: Any, depth: int) -> Any:
    if depth > 100:
        raise TypeError("cannot make a cache key: input nested more than 100 levels deep")
    t = type(obj)
    if t is str or t is float or t is bool or obj is None or t is bytes:
        return obj
    if t is int:
        return obj if _INT_MIN <= obj <= _INT_MAX else _ExtType(_EXT_BIGINT, str(obj).encode())
    if isinstance(obj, dict):
        pairs = [(_canon(k, depth + 1), _canon(v, depth + 1)) for k, v in obj.items()]
        try:
            pairs.sort(key=_first)
        except TypeError:  # keys of mixed types: order by their encoding instead
            pairs.sort(key=_first_packed)
        return dict(pairs)
    if isinstance(obj, list | tuple):
        return [_canon(v, depth + 1) for v in obj]
    if isinstance(obj, set | frozenset):
        packed = sorted(_packb(_canon(v, depth + 1)) for v in obj)
        return _ExtType(_EXT_SET, b"".join(packed))
    # Subclasses of the scalar types (str enums, int flags): encode as the base value
    # (through the base class's method: a subclass may override __str__ / __int__).
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, int):
        return _canon(int.__int__(obj), depth)
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj)
    raise TypeError(
        f"cannot make a stable cache key from a {t.__module__}.{t.__qualname__} value; "
        "pass key= to Cache to turn the input into str / int / float / bool / None / "
        "bytes, or dicts, lists and tuples of those"
    )


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _first_packed(pair: tuple[Any, Any]) -> bytes:
    return _packb(pair[0])
