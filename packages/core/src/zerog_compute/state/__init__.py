"""Where a wallet's shared state lives: this process, a SQLite file (processes of one machine) or Redis (hosts).

Choose it with ``state=`` on the clients, the adapters and ``zerog proxy --state``, or ``$ZG_STATE_URL``:

* ``None`` / ``"memory"`` — this process only (the default);
* ``"sqlite"`` (``~/.zerog/state.db``) or ``"sqlite:///abs/path.db"`` — every process of this machine;
* ``"redis://host:port/db"`` — every host that reaches the Redis server (``pip install zerog-compute[redis]``).

Shared there per (chain id, wallet): rate buckets and in-flight slots, budget spend, held uncertain transfers,
funding tallies and the chain-write lane with its nonce. Session tokens and caches stay per process; keys
never reach a store.
"""

from __future__ import annotations

import os
import threading

from ..errors import ConfigurationError
from ._common import MemoryStore, StateStore

__all__ = ["MemoryStore", "StateStore", "open_store"]

ENV = "ZG_STATE_URL"
ACCEPTED = '"memory", "sqlite", "sqlite:///absolute/path.db", "redis://host:port/db" (or "rediss://...")'
MEMORY = MemoryStore()
_STORES: dict[str, StateStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(state: str | StateStore | None = None) -> StateStore:
    """The store ``state`` names (``$ZG_STATE_URL`` when None), one instance per URL in the process."""
    if isinstance(state, StateStore):
        return state
    url = (state if state is not None else os.environ.get(ENV, "")).strip()
    if url in ("", "memory"):
        return MEMORY
    with _STORES_LOCK:
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = _create(url)
        return store


def _create(url: str) -> StateStore:
    if url == "sqlite" or url.startswith("sqlite://"):
        from .sqlite import DEFAULT_PATH, SqliteStore

        path = url.removeprefix("sqlite://") if url != "sqlite" else str(DEFAULT_PATH)
        if not path.startswith(("/", "~")):
            raise ConfigurationError(f"state={url!r}: a SQLite path must be absolute (sqlite:///abs/path.db)")
        return SqliteStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from .redis import RedisStore
        except ImportError:
            raise ConfigurationError(
                f"state={_safe(url)!r} needs the redis client: pip install 'zerog-compute[redis]'"
            ) from None
        return RedisStore(url)
    raise ConfigurationError(f"state={_safe(url)!r} is not a state store; accepted: None, {ACCEPTED}")


def _safe(url: str) -> str:
    """``url`` without a password (redis://:secret@host → redis://***@host)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url
