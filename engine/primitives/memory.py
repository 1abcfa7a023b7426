"""PLACEHOLDER — replaced by the storage work (see docs/internals.md)."""

from engine.primitives.base import Primitive


class Memory(Primitive):
    kind = "memory"
