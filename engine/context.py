"""The per-run context: shared state carried through a flow without copying."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowdeck.engine.engine import Engine

_new = object.__new__


class Context:
    """State shared by every step of one run.

    A value set in step 1 is visible in step 2; parallel branches see the same
    context (they run on one event loop, so there is no data race, only interleaving).
    Nothing is copied between steps.
    """

    __slots__ = ("engine", "vars")

    def __init__(self, engine: Engine | None = None, **vars: Any) -> None:
        self.engine = engine
        self.vars: dict[str, Any] = vars

    if not TYPE_CHECKING:  # at runtime only: type checkers keep checking attribute names

        def __getattr__(self, name: str) -> Any:
            """``vars`` of a context made without calling ``__init__`` (``Engine.run``
            skips it: a run that never touches its vars allocates no dict)."""
            if name == "vars":
                self.vars = v = {}
                return v
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def fresh(cls, engine: Engine | None) -> Context:
        """``Context(engine)``, made the way ``Engine.run`` does (vars on first use)."""
        ctx = _new(cls)
        ctx.engine = engine
        return ctx

    def __getitem__(self, key: str) -> Any:
        return self.vars[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.vars[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.vars

    def get(self, key: str, default: Any = None) -> Any:
        return self.vars.get(key, default)

    def __repr__(self) -> str:
        return f"Context({', '.join(sorted(self.vars))})"
