"""The Redis state store: processes on several hosts share a wallet's state through one Redis server.

Token buckets and slot leases change in one Lua script each (atomic, timed by the server's clock). Writes
nobody waits for (a slot given back, a fee counted) are queued and sent in the pipeline of this process's next
command, or within a few milliseconds (:class:`~._common.WriteBehind`): a warm request makes two round trips,
the funding tally's read and the limiter's take. Amounts in
neuron can exceed what Lua's doubles hold exactly, so budgets change in ``WATCH``/``MULTI`` transactions. The
lane is ``SET NX PX`` with a random token, renewed while held, with a fencing counter: a holder whose lock
expired cannot write the nonce back over its successor's.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import NoScriptError

from ..funding import Tally, Unsettled
from ..ratelimit import SLOT_WAIT_S, RateLimit
from ._common import (
    FLUSH_DELAY_S,
    LEASE_TTL_S,
    LeasedSlots,
    Renewer,
    StateStore,
    WriteBehind,
    dump_unsettled,
    load_unsettled,
    log,
    poll_lock,
    poll_lock_async,
    tally_of,
    wallet_key,
)

BUCKET_TTL_MS = 3_600_000
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
TAKE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return '-1' end
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
if rate > 0 then
  local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
  local tokens = math.min(burst, (tonumber(b[1]) or burst) + math.max(0, now - (tonumber(b[2]) or now)) * rate)
  if tokens < 1 then return tostring((1 - tokens) / rate) end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'stamp', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return '0'
"""
)
READY = (
    _NOW
    + """
local busy = redis.call('ZCOUNT', KEYS[2], now, '+inf')
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
return {tostring(busy), b[1] or '', b[2] or '', tostring(now)}
"""
)
RENEW = _NOW + "for i, id in ipairs(ARGV) do redis.call('ZADD', KEYS[i], 'XX', now + %s, id) end return 0"
FEE = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'local', ARGV[1]) end return 0"
EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
SAVE_NONCE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'next', ARGV[2], 'last_hash', ARGV[3], 'fence', ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Command:
    """One Redis command for a pipeline: a client method and its arguments, or a script of the store by name."""

    name: str
    args: tuple[Any, ...] = ()
    keys: tuple[str, ...] = ()
    script: bool = False

    def add_to(self, pipe: redis.client.Pipeline, store: RedisStore) -> None:
        if self.script:
            pipe.evalsha(store.scripts[self.name].sha, len(self.keys), *self.keys, *self.args)
        else:
            getattr(pipe, self.name)(*self.args)

    def run_alone(self, store: RedisStore) -> Any:
        """The command by itself (a script is loaded first when the server does not know it)."""
        if self.script:
            return store.scripts[self.name](keys=list(self.keys), args=list(self.args))
        return getattr(store.client, self.name)(*self.args)


class RedisStore(StateStore):
    """A wallet state store on the Redis server at ``url`` (``redis://host:port/db``)."""

    def __init__(
        self, url: str, *, lease_ttl: float = LEASE_TTL_S, prefix: str = "zerog", write_delay: float = FLUSH_DELAY_S
    ) -> None:
        self.url = url
        self.lease_ttl = lease_ttl
        self.prefix = prefix
        self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)
        self._leases: dict[str, str] = {}  # lease id -> its zset key (renewed while held)
        self._lock = threading.Lock()
        self._renewer = Renewer(self._renew, lease_ttl / 3)
        self.scripts = {name: self.client.register_script(code) for name, code in _SCRIPTS.items()}
        self.scripts["renew"] = self.client.register_script(RENEW % lease_ttl)
        self.behind: WriteBehind[Command] = WriteBehind(self.flush, delay=write_delay)
        self._sending = threading.Lock()  # held while queued writes are on their way (see read_beside_queue)

    def key(self, wallet: str, *parts: str) -> str:
        return ":".join((self.prefix, wallet, *parts))

    def buckets(self, chain_id: int, address: str) -> RedisBuckets:
        return RedisBuckets(self, wallet_key(chain_id, address))

    def book(self, chain_id: int, address: str) -> RedisBook:
        return RedisBook(self, wallet_key(chain_id, address))

    def outer_lock(self, chain_id: int, address: str) -> RedisLock:
        return RedisLock(self, wallet_key(chain_id, address))

    def hold_lease(self, lease: str, key: str) -> None:
        with self._lock:
            self._leases[lease] = key
        self._renewer.start()

    def drop_lease(self, lease: str) -> None:
        with self._lock:
            self._leases.pop(lease, None)

    def _renew(self) -> None:
        with self._lock:
            held = list(self._leases.items())
        if held:
            self.scripts["renew"](keys=[key for _, key in held], args=[lease for lease, _ in held])

    def run(self, *commands: Command) -> list[Any]:
        """The answers to ``commands``, sent in one pipeline behind this process's queued writes."""
        with self._sending:
            queued = self.behind.drain()
            if queued:
                return self._pipeline(queued, commands)
        return self._pipeline([], commands)

    def read_beside_queue(self, command: Command) -> tuple[Any, list[Command]]:
        """The answer to one read without sending the queue, and the queue as it stood (nothing sent between)."""
        with self._sending:
            return command.run_alone(self), self.behind.queued()

    def _pipeline(self, queued: list[Command], commands: tuple[Command, ...]) -> list[Any]:
        batch = [*queued, *commands]
        with self.client.pipeline(transaction=False) as pipe:
            for command in batch:
                command.add_to(pipe, self)
            answers = pipe.execute(raise_on_error=False)
        for index, (command, answer) in enumerate(zip(batch, answers, strict=True)):
            if isinstance(answer, NoScriptError):  # the server lost its scripts (restart, SCRIPT FLUSH)
                answers[index] = answer = command.run_alone(self)
            if isinstance(answer, Exception):
                if index >= len(queued):
                    raise answer
                log.warning("a queued state write failed: %s", answer)
        return answers[len(queued) :]

    def flush(self) -> None:
        """Send this process's queued writes now."""
        if self.behind:
            self.run()

    def close(self) -> None:
        self._renewer.close()
        self.behind.close()
        self.client.close()


_SCRIPTS = {"take": TAKE, "ready": READY, "fee": FEE, "extend": EXTEND, "unlock": UNLOCK, "save_nonce": SAVE_NONCE}


class RedisBuckets(LeasedSlots):
    """Token buckets and in-flight slot leases of one wallet in a :class:`RedisStore`."""

    def __init__(self, store: RedisStore, wallet: str) -> None:
        super().__init__(wallet)
        self.store = store

    def _keys(self, provider: str) -> list[str]:
        return [self.store.key(self.wallet, "bucket", provider), self.store.key(self.wallet, "leases", provider)]

    def take(self, provider: str, limit: RateLimit) -> tuple[float, int | None]:
        """See :meth:`zerog_compute.ratelimit.RateBuckets.take`."""
        provider, version, lease = provider.lower(), self.slots.version, uuid.uuid4().hex
        keys = self._keys(provider)
        rate = limit.rate if limit.rpm else 0.0
        args: list[str | int | float] = [
            rate,
            limit.paced_burst,
            limit.max_concurrent,
            lease,
            self.store.lease_ttl,
            BUCKET_TTL_MS,
        ]
        answer = float(self.store.run(Command("take", tuple(args), tuple(keys), script=True))[0])
        if answer < 0:
            return SLOT_WAIT_S, version
        if answer > 0:
            return answer, None
        self._keep(provider, lease)
        self.store.hold_lease(lease, keys[1])
        return 0.0, None

    def release(self, provider: str) -> None:
        """Give one of this process's slots back and wake whoever waits for one here."""
        lease = self._pop(provider)
        if lease is None:
            return
        self.store.drop_lease(lease)
        self.store.behind.add(Command("zrem", (self._keys(provider.lower())[1], lease)))
        self.slots.notify_all()

    def ready_in(self, provider: str, limit: RateLimit) -> float:
        """See :meth:`zerog_compute.ratelimit.RateBuckets.ready_in`."""
        busy, tokens, stamp, now = self._ready(provider)
        if int(busy) >= limit.max_concurrent:
            return float("inf")
        if not limit.rpm or not tokens:
            return 0.0
        level = min(float(limit.paced_burst), float(tokens) + max(0.0, float(now) - float(stamp)) * limit.rate)
        return 0.0 if level >= 1.0 else (1.0 - level) / limit.rate

    def in_flight(self, provider: str) -> int:
        return int(self._ready(provider)[0])

    def _ready(self, provider: str) -> list[str]:
        answer: list[str] = self.store.run(Command("ready", keys=tuple(self._keys(provider.lower())), script=True))[0]
        return answer


class RedisBook:
    """A wallet's funding book (tallies, budget spend, held uncertain transfers) in a :class:`RedisStore`."""

    def __init__(self, store: RedisStore, wallet: str) -> None:
        self.store, self.wallet = store, wallet
        self.r = store.client
        self._held = store.key(wallet, "held")
        self._spent = store.key(wallet, "spent")
        self._providers = store.key(wallet, "providers")

    def _tally_key(self, provider: str) -> str:
        return self.store.key(self.wallet, "tally", provider.lower())

    def hold(self, provider: str, unsettled: Unsettled) -> None:
        self.store.flush()
        self.r.hset(self._held, provider.lower(), dump_unsettled(unsettled))

    def unsettled(self, provider: str) -> Unsettled | None:
        text: str | None = self.store.run(Command("hget", (self._held, provider.lower())))[0]
        return load_unsettled(text) if text else None

    def release(self, provider: str) -> None:
        self.store.run(Command("hdel", (self._held, provider.lower())))

    def tally(self, provider: str) -> Tally | None:
        """The provider's tally with this process's queued fees counted (one read, nothing sent with it)."""
        key = self._tally_key(provider)
        row: dict[str, str]
        row, queued = self.store.read_beside_queue(Command("hgetall", (key,)))
        if not row:
            return None
        fees = sum(int(c.args[0]) for c in queued if c.name == "fee" and c.keys == (key,))
        local = int(row["local"]) + fees
        return tally_of(row["usable"], row["unsettled"], local, int(row["exists"]), float(row["at"]))

    def set_tally(self, provider: str, tally: Tally) -> None:
        fields: dict[str, str | int | float] = {
            "usable": str(tally.usable),
            "unsettled": str(tally.unsettled),
            "local": tally.local,
            "exists": int(tally.exists),
            "at": tally.at,
        }
        self.store.flush()  # a queued fee first: this tally replaces it
        with self.r.pipeline() as pipe:  # MULTI/EXEC
            pipe.hset(self._tally_key(provider), mapping=fields)  # type: ignore[arg-type]
            pipe.sadd(self._providers, provider.lower())
            pipe.execute()

    def record_fee(self, provider: str, fee: int) -> None:
        """Count a response's fee against the provider's estimate, for every process and host (queued)."""
        self.store.behind.add(Command("fee", (fee,), (self._tally_key(provider),), script=True))

    def providers(self) -> list[str]:
        return sorted(self.store.run(Command("smembers", (self._providers,)))[0])

    def spent(self, budget_key: str) -> int:
        return int(self.store.run(Command("hget", (self._spent, budget_key)))[0] or 0)

    def reserve(self, budget_key: str, amount: int, budget: int | None) -> bool:
        """Count ``amount`` against the budget unless that would exceed it (WATCH/MULTI: atomic for all hosts)."""
        return self._add(budget_key, amount, budget)

    def give_back(self, budget_key: str, amount: int) -> None:
        self._add(budget_key, -amount, None)

    def _add(self, budget_key: str, amount: int, budget: int | None) -> bool:
        self.store.flush()
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._spent)  # type: ignore[no-untyped-call]
                    spent = int(pipe.hget(self._spent, budget_key) or 0)
                    if budget is not None and spent + amount > budget:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(self._spent, budget_key, str(max(0, spent + amount)))
                    pipe.execute()
                    return True
                except redis.WatchError:  # another process changed it in between: read again
                    continue


class RedisLock:
    """One wallet's lane across hosts: ``SET NX PX`` with a random token, renewed while held; every acquisition
    takes the next fencing number, and the nonce is written back only while the token still holds the lock."""

    def __init__(self, store: RedisStore, wallet: str) -> None:
        self.store = store
        self.key = store.key(wallet, "lane")
        self.nonce_key = store.key(wallet, "nonce")
        self.fence_key = store.key(wallet, "fence")
        self.token: str | None = None
        self.fence = 0
        self._ttl_ms = int(store.lease_ttl * 1000)
        self._renewer = Renewer(self._extend, store.lease_ttl / 3)

    def _try(self) -> bool:
        token = uuid.uuid4().hex
        if not self.store.client.set(self.key, token, nx=True, px=self._ttl_ms):
            return False
        self.token, self.fence = token, int(self.store.client.incr(self.fence_key))
        self._renewer.start()
        return True

    def acquire(self) -> None:
        poll_lock(self._try)

    async def acquire_async(self) -> None:
        await poll_lock_async(self._try)

    def _extend(self) -> None:
        token = self.token
        if token is not None and not self.store.scripts["extend"](keys=[self.key], args=[token, self._ttl_ms]):
            log.warning("the lane lock %s expired while held (fence %s)", self.key, self.fence)

    def release(self) -> None:
        token, self.token = self.token, None
        self._renewer.close()
        if token is not None:
            self.store.scripts["unlock"](keys=[self.key], args=[token])

    def load_nonce(self) -> tuple[int, str | None] | None:
        row: dict[str, str] = self.store.client.hgetall(self.nonce_key)  # type: ignore[assignment]
        return (int(row["next"]), row["last_hash"] or None) if row else None

    def save_nonce(self, next_nonce: int, last_hash: str | None) -> None:
        keys = [self.key, self.nonce_key]
        args: list[str | int] = [self.token or "", next_nonce, last_hash or "", self.fence]
        if not self.store.scripts["save_nonce"](keys=keys, args=args):
            log.warning("lane lock %s lost before the nonce was saved (fence %s): not saved", self.key, self.fence)
