"""Where usage records live: a SQLite file (default ``~/.zerog/usage.db``) or the Redis server of the wallet state.

A store appends batches (:meth:`UsageStore.write`), answers filtered reads and keeps the reconciliation's
cache of chain scans. Both stores hold the same JSON records, so either can be read by the same code.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..untrusted_json import parse_json
from .model import UsageFilter, UsageRecord

if TYPE_CHECKING:
    import redis

DEFAULT_PATH = Path("~/.zerog/usage.db")
CACHE_MAX_BYTES = 256 * 1024 * 1024
"""A scan cache may hold many settlements; it is our own file, still read with a bound."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (id TEXT PRIMARY KEY, time REAL, chain_id INTEGER, wallet TEXT, provider TEXT,
    data TEXT, verdict TEXT);
CREATE INDEX IF NOT EXISTS usage_by_wallet ON usage (chain_id, wallet, time);
CREATE TABLE IF NOT EXISTS scans (key TEXT PRIMARY KEY, data TEXT);
"""


@dataclass(frozen=True)
class VerdictUpdate:
    """A verdict that became known after its record was queued (warn mode verifies in the background)."""

    id: str
    verdict: str


Write = UsageRecord | VerdictUpdate


class UsageStore(ABC):
    """Append-only usage records plus the reconciliation cache; ``url`` names the store (no credentials)."""

    url: str

    @abstractmethod
    def write(self, batch: Sequence[Write]) -> None:
        """Append records and apply verdict updates, in order, in one transaction or pipeline."""

    @abstractmethod
    def _all(self, since: float | None, until: float | None) -> list[UsageRecord]:
        """Every record in the time window, oldest first."""

    def query(self, where: UsageFilter) -> list[UsageRecord]:
        """The records that pass ``where``, oldest first (the newest ``where.limit`` when set)."""
        found = [r for r in self._all(where.since, where.until) if where.matches(r)]
        return found[-where.limit :] if where.limit else found

    @abstractmethod
    def load_scan(self, key: str) -> dict[str, Any] | None:
        """The cached chain scan under ``key``."""

    @abstractmethod
    def save_scan(self, key: str, data: dict[str, Any]) -> None: ...

    def close(self) -> None:  # noqa: B027 - a store with nothing to release does nothing
        """Release connections (records stay)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def _record(data: str, verdict: str | None) -> UsageRecord:
    record = UsageRecord.model_validate(parse_json(data))
    return record.model_copy(update={"verdict": verdict}) if verdict else record


class SqliteUsageStore(UsageStore):
    """Usage records in the SQLite file ``path`` (its directory is created private, 0700); WAL mode, so readers
    in other processes never wait for the writer."""

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite://{self.path}"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._pid = 0
        self._conn: sqlite3.Connection
        self._connection().executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own)."""
        if self._pid != os.getpid():
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._pid = os.getpid()
        return self._conn

    def write(self, batch: Sequence[Write]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for item in batch:
                    if isinstance(item, VerdictUpdate):
                        conn.execute("UPDATE usage SET verdict = ? WHERE id = ?", (item.verdict, item.id))
                    else:
                        row = (item.id, item.time, item.chain_id, item.wallet, item.provider, item.model_dump_json())
                        conn.execute("INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?, ?, ?, NULL)", row)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _all(self, since: float | None, until: float | None) -> list[UsageRecord]:
        sql = "SELECT data, verdict FROM usage WHERE time >= ? AND time < ? ORDER BY time, id"
        with self._lock:
            rows = self._connection().execute(sql, (since or 0.0, until or float("inf"))).fetchall()
        return [_record(str(data), verdict) for data, verdict in rows]

    def load_scan(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._connection().execute("SELECT data FROM scans WHERE key = ?", (key,)).fetchone()
        return parse_json(str(row[0]), max_bytes=CACHE_MAX_BYTES) if row else None

    def save_scan(self, key: str, data: dict[str, Any]) -> None:
        import json

        with self._lock:
            self._connection().execute("INSERT OR REPLACE INTO scans VALUES (?, ?)", (key, json.dumps(data)))

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._conn.close()
            self._pid = 0


class RedisUsageStore(UsageStore):
    """Usage records on the Redis server of the wallet state, so every host sees one history.

    Keys (prefix ``zerog:usage``): a sorted set of record ids by time, a hash of id → record JSON, a hash of
    id → verdict (set once known) and a hash of scan caches.
    """

    def __init__(self, client: redis.Redis, url: str, *, prefix: str = "zerog:usage") -> None:
        self.client, self.url, self.prefix = client, url, prefix
        self._times, self._data = f"{prefix}:times", f"{prefix}:records"
        self._verdicts, self._scans = f"{prefix}:verdicts", f"{prefix}:scans"

    def write(self, batch: Sequence[Write]) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            for item in batch:
                if isinstance(item, VerdictUpdate):
                    pipe.hset(self._verdicts, item.id, item.verdict)
                else:
                    pipe.hsetnx(self._data, item.id, item.model_dump_json())
                    pipe.zadd(self._times, {item.id: item.time})
            pipe.execute()

    def _all(self, since: float | None, until: float | None) -> list[UsageRecord]:
        low = since if since is not None else "-inf"
        high = f"({until}" if until is not None else "+inf"
        ids: list[str] = self.client.zrangebyscore(self._times, low, high)  # type: ignore[assignment]
        if not ids:
            return []
        data: list[str | None] = self.client.hmget(self._data, ids)  # type: ignore[assignment]
        verdicts: list[str | None] = self.client.hmget(self._verdicts, ids)  # type: ignore[assignment]
        return [_record(d, v) for d, v in zip(data, verdicts, strict=True) if d is not None]

    def load_scan(self, key: str) -> dict[str, Any] | None:
        text: str | None = self.client.hget(self._scans, key)  # type: ignore[assignment]
        return parse_json(text, max_bytes=CACHE_MAX_BYTES) if text else None

    def save_scan(self, key: str, data: dict[str, Any]) -> None:
        import json

        self.client.hset(self._scans, key, json.dumps(data))
