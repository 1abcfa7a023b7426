"""Every Redis key and channel Flowdeck uses, scoped by fleet name and Redis database.

Keys already live in one Redis database, so a key only needs the fleet name:
``<fleet>:cache:<name>:<digest>``, ``<fleet>:memory:<namespace>``, ``<fleet>:hb:<id>``.
Pub/sub channels are global to a Redis server (they ignore SELECT), so a channel also
names the database: ``<fleet>:db<n>:control``. The default fleet, ``flowdeck``, keeps
the cache and memory key names of earlier versions (``flowdeck:cache:...``), so an
upgrade keeps reading the L2 entries and memory namespaces already stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

DEFAULT_FLEET = "flowdeck"
FLEET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_fleet_name(name: object) -> str:
    """A fleet name: 1-64 of ``A-Z a-z 0-9 _ . -`` (no ``:`` and no glob characters,
    so a key prefix can never reach into another fleet's keys)."""
    if not isinstance(name, str) or FLEET_NAME.fullmatch(name) is None:
        raise ValueError(f"fleet must be 1-64 characters of A-Z a-z 0-9 _ . -, got {name!r}")
    return name


def redis_db(url: str | None) -> int:
    """The database number a Redis URL selects (``/2`` or ``?db=2``; default 0)."""
    if not url:
        return 0
    parts = urlsplit(url)
    db = parse_qs(parts.query).get("db")
    if db:
        return _db_number(db[0], url)
    path = parts.path.strip("/")
    if parts.scheme in ("redis", "rediss") and path:
        return _db_number(path, url)
    return 0


def _db_number(text: str, url: str) -> int:
    if not text.isdigit():
        raise ValueError(f"redis_url: the database must be a number, got {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Scope:
    """Names of one fleet's keys and channels on one Redis database."""

    fleet: str = DEFAULT_FLEET
    db: int = 0

    @classmethod
    def of(cls, fleet: str, redis_url: str | None) -> Scope:
        return cls(check_fleet_name(fleet), redis_db(redis_url))

    def key(self, *parts: str) -> str:
        """``<fleet>:<part>:<part>...``: a key in this fleet (the database is implicit)."""
        return ":".join((self.fleet, *parts))

    def cache_prefix(self, cache: str) -> str:
        return f"{self.fleet}:cache:{cache}:"

    def memory_key(self, namespace: str) -> str:
        return f"{self.fleet}:memory:{namespace}"

    @property
    def control_channel(self) -> str:
        """Operator actions and fleet commands of this fleet on this database."""
        return f"{self.fleet}:db{self.db}:control"

    @property
    def engines(self) -> str:
        """The sorted set of live engine ids, scored by last heartbeat (Unix seconds)."""
        return self.key("engines")

    def heartbeat(self, engine_id: str) -> str:
        return self.key("hb", engine_id)

    def reply(self, command_id: str) -> str:
        """The list where engines push their answers to one fleet command."""
        return self.key("ack", command_id)

    @property
    def overrides(self) -> str:
        """The hash of fleet-wide runtime settings (field = ``method:name``)."""
        return self.key("overrides")

    @property
    def overrides_version(self) -> str:
        return self.key("overrides", "version")

    @property
    def audit(self) -> str:
        """The capped stream of audit records of the fleet."""
        return self.key("audit")
