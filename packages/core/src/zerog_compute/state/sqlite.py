"""The SQLite state store: several processes of one machine share a wallet's state in one file.

Standard library ``sqlite3`` in WAL mode; every change is one short ``BEGIN IMMEDIATE`` transaction. Writes
nobody waits for (a slot given back, a fee counted) ride in the next transaction or read of this process, or
reach the file within a few milliseconds (:class:`~._common.WriteBehind`). Amounts
in neuron can exceed 64 bits, so they are stored as text and added up in Python inside the transaction.
The chain-write lane is an OS file lock (``flock``) on a file beside the database, one per wallet: the
kernel drops it when its process dies. In-flight slots are leases renewed while held.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..funding import Tally, Unsettled
from ..ratelimit import SLOT_WAIT_S, RateLimit
from ._common import (
    FLUSH_DELAY_S,
    LEASE_TTL_S,
    LeasedSlots,
    OuterLock,
    Renewer,
    StateStore,
    WriteBehind,
    dump_unsettled,
    load_unsettled,
    poll_lock_async,
    refill,
    tally_of,
    wallet_key,
)

DEFAULT_PATH = Path("~/.zerog/state.db")
BUSY_TIMEOUT_MS = 10_000
Write = tuple[str, tuple[object, ...]]
"""A queued statement and its parameters."""
ADD_FEE = "UPDATE tallies SET local = local + ? WHERE wallet = ? AND provider = ?"
SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (wallet TEXT, provider TEXT, tokens REAL, stamp REAL,
    PRIMARY KEY (wallet, provider));
CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, wallet TEXT, provider TEXT, expires REAL);
CREATE INDEX IF NOT EXISTS leases_by_provider ON leases (wallet, provider, expires);
CREATE TABLE IF NOT EXISTS spent (wallet TEXT, budget TEXT, amount TEXT, PRIMARY KEY (wallet, budget));
CREATE TABLE IF NOT EXISTS tallies (wallet TEXT, provider TEXT, usable TEXT, unsettled TEXT, local INTEGER,
    exists_ INTEGER, at REAL, PRIMARY KEY (wallet, provider));
CREATE TABLE IF NOT EXISTS held (wallet TEXT, provider TEXT, data TEXT, PRIMARY KEY (wallet, provider));
CREATE TABLE IF NOT EXISTS nonces (wallet TEXT PRIMARY KEY, next INTEGER, last_hash TEXT);
"""


class SqliteStore(StateStore):
    """A wallet state store in the SQLite file ``path`` (its directory is created private, 0700)."""

    def __init__(self, path: str | Path, *, lease_ttl: float = LEASE_TTL_S, write_delay: float = FLUSH_DELAY_S) -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite://{self.path}"
        self.lease_ttl = lease_ttl
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._leases: set[str] = set()  # the slot leases this process holds (renewed while held)
        self._renewer = Renewer(self._renew, lease_ttl / 3)
        self.behind: WriteBehind[Write] = WriteBehind(self.flush, delay=write_delay)
        with self._lock:
            self._connection().executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (a forked child opens its own). Call with ``_lock`` held or at setup."""
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (``BEGIN IMMEDIATE``: writers queue up front, none deadlocks)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            queued = self.behind.drain()
            try:
                for sql, args in queued:
                    conn.execute(sql, args)
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self.behind.requeue(queued)
                raise
            conn.execute("COMMIT")

    def read(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Rows of one query, after this process's queued writes (sent in the same transaction)."""
        if self.behind:
            with self.transaction() as conn:
                return conn.execute(sql, args).fetchall()
        with self._lock:
            return self._connection().execute(sql, args).fetchall()

    def read_beside_queue(self, sql: str, *args: object) -> tuple[list[tuple[Any, ...]], list[Write]]:
        """Rows of one query without sending the queue, and the queue as it stood (nothing sent in between)."""
        with self._lock:
            return self._connection().execute(sql, args).fetchall(), self.behind.queued()

    def flush(self) -> None:
        """Send this process's queued writes now."""
        if self.behind:
            with self.transaction():
                pass

    def buckets(self, chain_id: int, address: str) -> SqliteBuckets:
        return SqliteBuckets(self, wallet_key(chain_id, address))

    def book(self, chain_id: int, address: str) -> SqliteBook:
        return SqliteBook(self, wallet_key(chain_id, address))

    def outer_lock(self, chain_id: int, address: str) -> OuterLock:
        lanes = self.path.parent / f"{self.path.name}.lanes"
        lanes.mkdir(mode=0o700, exist_ok=True)
        return FileLock(self, lanes / f"{chain_id}-{address.lower()}.lock", wallet_key(chain_id, address))

    def hold_lease(self, lease: str) -> None:
        with self._lock:
            self._leases.add(lease)
        self._renewer.start()

    def drop_lease(self, lease: str) -> None:
        with self._lock:
            self._leases.discard(lease)

    def _renew(self) -> None:
        with self._lock:
            held = list(self._leases)
        if held:
            expires = time.time() + self.lease_ttl
            with self.transaction() as conn:
                conn.executemany("UPDATE leases SET expires = ? WHERE id = ?", [(expires, lease) for lease in held])

    def close(self) -> None:
        self._renewer.close()
        self.behind.close()
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class SqliteBuckets(LeasedSlots):
    """Token buckets and in-flight slot leases of one wallet in a :class:`SqliteStore`."""

    def __init__(self, store: SqliteStore, wallet: str) -> None:
        super().__init__(wallet)
        self.store = store

    def take(self, provider: str, limit: RateLimit) -> tuple[float, int | None]:
        """See :meth:`zerog_compute.ratelimit.RateBuckets.take`."""
        provider, version, lease = provider.lower(), self.slots.version, uuid.uuid4().hex
        with self.store.transaction() as conn:
            now = time.time()
            key = (self.wallet, provider)
            conn.execute("DELETE FROM leases WHERE wallet = ? AND provider = ? AND expires < ?", (*key, now))
            busy = conn.execute("SELECT COUNT(*) FROM leases WHERE wallet = ? AND provider = ?", key).fetchone()[0]
            if busy >= limit.max_concurrent:
                return SLOT_WAIT_S, version
            if limit.rpm:
                row = conn.execute(
                    "SELECT tokens, stamp FROM buckets WHERE wallet = ? AND provider = ?", key
                ).fetchone()
                tokens = refill(row[0], now - row[1], limit.rate, limit.paced_burst) if row else limit.paced_burst
                if tokens < 1.0:
                    return (1.0 - tokens) / limit.rate, None
                conn.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (*key, tokens - 1.0, now))
            conn.execute("INSERT INTO leases VALUES (?, ?, ?, ?)", (lease, *key, now + self.store.lease_ttl))
        self._keep(provider, lease)
        self.store.hold_lease(lease)
        return 0.0, None

    def release(self, provider: str) -> None:
        """Give one of this process's slots back and wake whoever waits for one here."""
        lease = self._pop(provider)
        if lease is None:
            return
        self.store.drop_lease(lease)
        self.store.behind.add(("DELETE FROM leases WHERE id = ?", (lease,)))
        self.slots.notify_all()

    def ready_in(self, provider: str, limit: RateLimit) -> float:
        """See :meth:`zerog_compute.ratelimit.RateBuckets.ready_in`."""
        key, now = (self.wallet, provider.lower()), time.time()
        if self.in_flight(provider) >= limit.max_concurrent:
            return float("inf")
        row = self.store.read("SELECT tokens, stamp FROM buckets WHERE wallet = ? AND provider = ?", *key)
        if not limit.rpm or not row:
            return 0.0
        tokens = refill(float(row[0][0]), now - float(row[0][1]), limit.rate, limit.paced_burst)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / limit.rate

    def in_flight(self, provider: str) -> int:
        sql = "SELECT COUNT(*) FROM leases WHERE wallet = ? AND provider = ? AND expires >= ?"
        return int(self.store.read(sql, self.wallet, provider.lower(), time.time())[0][0])


class SqliteBook:
    """A wallet's funding book (tallies, budget spend, held uncertain transfers) in a :class:`SqliteStore`."""

    def __init__(self, store: SqliteStore, wallet: str) -> None:
        self.store, self.wallet = store, wallet

    def hold(self, provider: str, unsettled: Unsettled) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO held VALUES (?, ?, ?)",
                (self.wallet, provider.lower(), dump_unsettled(unsettled)),
            )

    def unsettled(self, provider: str) -> Unsettled | None:
        rows = self.store.read("SELECT data FROM held WHERE wallet = ? AND provider = ?", self.wallet, provider.lower())
        return load_unsettled(str(rows[0][0])) if rows else None

    def release(self, provider: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM held WHERE wallet = ? AND provider = ?", (self.wallet, provider.lower()))

    def tally(self, provider: str) -> Tally | None:
        """The provider's tally with this process's queued fees counted (a read, no write transaction)."""
        sql = "SELECT usable, unsettled, local, exists_, at FROM tallies WHERE wallet = ? AND provider = ?"
        key = (self.wallet, provider.lower())
        rows, queued = self.store.read_beside_queue(sql, *key)
        if not rows:
            return None
        tally = tally_of(*rows[0])
        fees = sum(int(str(args[0])) for sql, args in queued if sql == ADD_FEE and args[1:] == key)
        return replace(tally, local=tally.local + fees) if fees else tally

    def set_tally(self, provider: str, tally: Tally) -> None:
        row = (
            self.wallet,
            provider.lower(),
            str(tally.usable),
            str(tally.unsettled),
            tally.local,
            int(tally.exists),
            tally.at,
        )
        with self.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO tallies VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def record_fee(self, provider: str, fee: int) -> None:
        """Count a response's fee against the provider's estimate, for every process (queued: see flush)."""
        self.store.behind.add((ADD_FEE, (fee, self.wallet, provider.lower())))

    def providers(self) -> list[str]:
        return [str(row[0]) for row in self.store.read("SELECT provider FROM tallies WHERE wallet = ?", self.wallet)]

    def spent(self, budget_key: str) -> int:
        rows = self.store.read("SELECT amount FROM spent WHERE wallet = ? AND budget = ?", self.wallet, budget_key)
        return int(str(rows[0][0])) if rows else 0

    def reserve(self, budget_key: str, amount: int, budget: int | None) -> bool:
        """Count ``amount`` against the budget unless that would exceed it (one transaction for all processes)."""
        with self.store.transaction() as conn:
            spent = self._spent(conn, budget_key)
            if budget is not None and spent + amount > budget:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO spent VALUES (?, ?, ?)", (self.wallet, budget_key, str(spent + amount))
            )
            return True

    def give_back(self, budget_key: str, amount: int) -> None:
        with self.store.transaction() as conn:
            left = max(0, self._spent(conn, budget_key) - amount)
            conn.execute("INSERT OR REPLACE INTO spent VALUES (?, ?, ?)", (self.wallet, budget_key, str(left)))

    def _spent(self, conn: sqlite3.Connection, budget_key: str) -> int:
        row = conn.execute(
            "SELECT amount FROM spent WHERE wallet = ? AND budget = ?", (self.wallet, budget_key)
        ).fetchone()
        return int(row[0]) if row else 0


class FileLock:
    """One wallet's lane across the processes of a machine: ``flock`` on a file (dropped by the kernel when
    the holder dies). The lane's nonce lives in the database."""

    def __init__(self, store: SqliteStore, path: Path, wallet: str) -> None:
        self.store, self.path, self.wallet = store, path, wallet
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def acquire(self) -> None:
        fcntl.flock(self._open(), fcntl.LOCK_EX)

    def _try(self) -> bool:
        try:
            fcntl.flock(self._open(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def acquire_async(self) -> None:
        await poll_lock_async(self._try)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def load_nonce(self) -> tuple[int, str | None] | None:
        rows = self.store.read("SELECT next, last_hash FROM nonces WHERE wallet = ?", self.wallet)
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def save_nonce(self, next_nonce: int, last_hash: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO nonces VALUES (?, ?, ?)", (self.wallet, next_nonce, last_hash))
