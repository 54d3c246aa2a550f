"""Pools and rate limits: a 429 is no health failure, load goes where it can be served soonest, and an
exhausted pool says why for every candidate.

The first half drives the pool's flow by hand with a fake clock (no network); the second runs against the
devnet, whose brokers answer the real per-user 429s (30/min, burst 5, 5 in flight).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

from zerog_compute import (
    DEFAULT_STRATEGY,
    AsyncZeroG,
    ExhaustedError,
    Network,
    PoolEvent,
    ProviderUnavailableError,
    RateLimit,
    RateLimitedError,
    ZeroG,
)
from zerog_compute._context import Context
from zerog_compute._io import Sleep
from zerog_compute.backend import Completed
from zerog_compute.failover import PoolConfig, PoolState, Strategy, complete_pooled
from zerog_compute.http_errors import provider_error
from zerog_compute.ratelimit import Limiter
from zerog_compute.services import Service
from zerog_compute.signer import Wallet
from zerog_compute.types import ZeroGRecord
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
C = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
NETWORK = Network(
    name="unit",
    chain_id=31337,
    rpc_url="http://127.0.0.1:9",  # closed: nothing here may reach a chain
    ledger="0x5FbDB2315678afecb367f032d93F642f64180aa3",
    inference="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
)
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
RPM_BODY = b'{"error":{"type":"rate_limit_error","message":"Rate limit exceeded. (limit: 30 requests/min)."}}'
ASK = [{"role": "user", "content": "What is 2 + 3?"}]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(address: str) -> Service:
    fields: dict[str, Any] = {
        "provider": address,
        "service_type": "chatbot",
        "url": "http://provider.test",
        "input_price": 1,
        "output_price": 1,
        "updated_at": 0,
        "model": "m",
        "verifiability": "",
        "additional_info": "{}",
        "tee_signer_address": "0x0000000000000000000000000000000000000000",
        "tee_signer_acknowledged": True,
    }
    return Service(**fields)


def too_many(address: str) -> RateLimitedError:
    error = provider_error(429, RPM_BODY, {}, address)
    assert isinstance(error, RateLimitedError)
    return error


class Pool:
    """A pool over scripted providers: each attempt pops the provider's next outcome (an error, or success)."""

    def __init__(self, *providers: str, max_retries: int = 2, **options: Any) -> None:
        self.clock = Clock()
        self.ctx = Context(NETWORK, Wallet(KEY))
        self.ctx.limiter = Limiter(RateLimit(), clock=self.clock)
        self.ctx.max_retries = max_retries
        for address in providers:
            self.ctx.services.put(address.lower(), service(address))
        self.events: list[PoolEvent] = []
        config = PoolConfig(providers=providers, on_event=self.events.append, **options)
        self.state = PoolState(config, clock=self.clock)
        self.script: dict[str, list[BaseException | float | None]] = {p: [] for p in providers}
        self.tried: list[str] = []
        self.sleeps: list[float] = []

    def attempt(self, svc: Service, timeout: float | None) -> Generator[Any, Any, Completed]:
        self.tried.append(svc.provider)
        outcome = self.script[svc.provider].pop(0) if self.script[svc.provider] else None
        if isinstance(outcome, float):  # hangs that long, then times out
            self.clock.now += outcome
            raise ProviderUnavailableError(f"provider {svc.provider} unreachable: ReadTimeout", provider=svc.provider)
        if outcome is not None:
            raise outcome
        return Completed(b"{}", {}, ZeroGRecord(provider=svc.provider, model="m", latency_ms=5.0))
        yield  # a flow

    def call(self) -> Completed:
        flow = complete_pooled(self.ctx, self.state, self.attempt)
        result: Any = None
        while True:
            try:
                op = flow.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            assert isinstance(op, Sleep), op
            self.sleeps.append(op.seconds)
            self.clock.now += op.seconds

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def test_a_429_never_cools_a_single_provider_down_the_pool_waits_for_its_next_slot() -> None:
    pool = Pool(A)
    pool.script[A] = [too_many(A)]
    done = pool.call()
    assert done.record.provider == A and pool.tried == [A, A]
    assert len(pool.sleeps) == 1 and 2.0 <= pool.sleeps[0] <= 2.5  # one token at 30/min, not 0.5 s and not 30 s
    assert pool.kinds() == ["attempt", "failover", "rate_limited", "wait", "attempt", "success"]
    assert pool.state.health[A.lower()].failures == 0  # the breaker never opened
    pool.events.clear()
    pool.call()  # and the next call goes straight to it
    assert pool.kinds() == ["attempt", "success"]


def test_the_wait_is_bounded_by_the_deadline_and_the_error_says_why_for_each_candidate() -> None:
    pool = Pool(A, B, deadline=1.0)
    pool.script[A] = [too_many(A)]
    pool.script[B] = [ProviderUnavailableError(f"provider {B} failed (HTTP 502: Bad Gateway)", provider=B)]
    with pytest.raises(ExhaustedError) as info:
        pool.call()
    assert pool.sleeps == [] and pool.tried == [A, B]  # no wait past the deadline
    error = info.value
    assert set(error.errors) == {A, B} and isinstance(error.errors[A], RateLimitedError)
    by = {c.provider: c for c in error.candidates}
    assert list(by) == [A, B]
    assert by[A].reason.startswith("rate-limited, next slot in 2.") and "> deadline (1.0 s left)" in by[A].reason
    assert by[A].retry_in is not None and 2.0 <= by[A].retry_in <= 2.5 and by[A].error is error.errors[A]
    assert by[B].reason.startswith("failed with ProviderUnavailableError: provider")
    assert by[B].reason.endswith("cooling down for 30.0 s")
    assert by[B].retry_in == 30.0
    assert A in str(error) and B in str(error) and "no provider was available" not in str(error)
    assert error.errors[A].retry_after == by[A].retry_in  # the estimate, kept on the error

    pool.clock.now += 0.5
    pool.tried.clear()
    with pytest.raises(ExhaustedError) as again:  # nothing can serve within the deadline: not even tried
        pool.call()
    assert pool.tried == [] and again.value.errors == {}
    by = {c.provider: c for c in again.value.candidates}
    assert by[B].reason.startswith("cooling down for 29.5 s after ProviderUnavailableError: provider")
    assert by[B].retry_in == 29.5
    assert by[A].reason.startswith("rate-limited, next slot in ") and by[A].retry_in is not None
    assert 1.5 <= by[A].retry_in <= 2.0


def test_when_the_deadline_passes_mid_call_the_untried_are_named_too() -> None:
    pool = Pool(A, B, C, deadline=3.0)
    pool.script[A] = [too_many(A)]
    pool.script[B] = [3.5]
    with pytest.raises(ExhaustedError, match=r"all providers failed \(deadline reached\)") as info:
        pool.call()
    assert pool.tried == [A, B]  # B could serve at once, A only after its slot
    by = {c.provider: c for c in info.value.candidates}
    assert by[A].reason.startswith("rate-limited, next slot in 0.0 s: deadline reached")
    assert by[B].reason.startswith("failed with ProviderUnavailableError: provider") and by[B].retry_in is not None
    assert by[C] == type(by[C])(C, "not tried: deadline reached")


def test_rate_limit_retries_in_a_call_follow_the_clients_budget_and_back_off() -> None:
    pool = Pool(A, max_retries=2)
    pool.script[A] = [too_many(A), too_many(A), too_many(A)]
    with pytest.raises(ExhaustedError) as info:
        pool.call()
    assert pool.tried == [A, A, A]
    assert 2.0 <= pool.sleeps[0] <= 2.5 and 4.0 <= pool.sleeps[1] <= 5.0  # doubling while the refusals go on
    (only,) = info.value.candidates
    assert only.reason.startswith("rate-limited 3x in this call, next slot in ") and "no retries left" in only.reason
    assert only.retry_in is not None and 8.0 <= only.retry_in <= 10.0
    assert "cooldown" not in pool.kinds()


def test_soonest_sends_to_whoever_can_take_the_request_first_ties_in_priority_order() -> None:
    pool = Pool(A, B, C)
    pool.ctx.limiter = Limiter(RateLimit(burst=6), clock=pool.clock)  # tokens for 5 requests: slots run out first
    assert pool.state.config.strategy == "soonest" == DEFAULT_STRATEGY
    pool.call()
    assert pool.tried == [A]  # all free: priority order
    limiter = pool.ctx.limiter
    assert limiter is not None
    for _ in range(limiter.limit.paced_burst):  # A's bucket is empty: its next token is 2 s away
        assert limiter.try_acquire(A) == 0.0
        limiter.release(A)
    pool.tried.clear()
    pool.call()
    assert pool.tried == [B]
    for _ in range(5):  # B's slots are all taken (in flight elsewhere): unknown wait
        assert limiter.try_acquire(B) == 0.0
    pool.tried.clear()
    pool.call()
    assert pool.tried == [C]


@pytest.mark.parametrize("strategy", ["priority", "price", "round_robin"])
def test_other_strategies_keep_their_order_but_put_refusing_providers_last(strategy: Strategy) -> None:
    pool = Pool(A, B, strategy=strategy)
    limiter = pool.ctx.limiter
    assert limiter is not None
    for _ in range(5):
        limiter.try_acquire(A)
        limiter.release(A)
    pool.call()
    assert pool.tried[0] == A or strategy == "round_robin"  # the client-side queue does not reorder them
    pool.tried.clear()
    pool.state.rate_limited(A, pool.clock.now + 2.0)  # A's broker refused us: B first, whatever the order
    pool.state.rate_limited(B, 0.0)
    pool.call()
    assert pool.tried == [B]


def test_attempts_in_flight_count_before_the_limiter_sees_them() -> None:
    pool = Pool(A, B)
    for _ in range(5):  # five of this pool's attempts picked A and have not reached the limiter yet
        assert pool.state.claim(A)
    pool.call()
    assert pool.tried == [B]
    for _ in range(5):
        pool.state.finished(A)
    pool.tried.clear()
    pool.call()
    assert pool.tried == [A]


# --------------------------------------------------------------------------- against the devnet


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b", "chat-c"])
    return devnet


def names(net: Devnet) -> dict[str, str]:
    return {net.provider(n).info.address: n for n in ("chat-a", "chat-b", "chat-c")}


def client(net: Devnet, **options: Any) -> ZeroG:
    return ZeroG(private_key=net.users[0].private_key, network=devnet_network(net), **options)


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


@pytest.mark.devnet
def test_after_a_429_storm_a_single_provider_pool_serves_the_next_call(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    events: list[PoolEvent] = []
    with client(funded) as zg:
        pool = zg.pool(providers=[provider(funded, "chat-a")], on_event=events.append)
        handle.faults.set(rate_limit_storm=True)
        later(0.5, handle.faults.clear)
        started = time.monotonic()
        reply = pool.chat.completions.create(messages=ASK)  # 429, wait for the next slot, served
        assert reply.zerog is not None and 2.0 <= time.monotonic() - started < 4.0
        kinds = [e.kind for e in events]
        assert kinds[:4] == ["attempt", "failover", "rate_limited", "wait"] and kinds[-1] == "success"
        assert "cooldown" not in kinds
        events.clear()
        started = time.monotonic()
        pool.chat.completions.create(messages=ASK)
        assert [e.kind for e in events] == ["attempt", "success"] and time.monotonic() - started < 1.0


@pytest.mark.devnet
def test_without_retries_a_429_fails_with_when_and_the_next_call_is_served(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    with client(funded, rate_limit=RateLimit(max_retries=0)) as zg:
        pool = zg.pool(providers=[provider(funded, "chat-a")])
        handle.faults.set(rate_limit_storm=True)
        started = time.monotonic()
        with pytest.raises(ExhaustedError) as info:
            pool.chat.completions.create(messages=ASK)
        assert time.monotonic() - started < 1.0
        (only,) = info.value.candidates
        assert only.provider == provider(funded, "chat-a") and "rate-limited 1x in this call" in only.reason
        assert only.retry_in is not None and 1.0 < only.retry_in <= 2.5
        limited = info.value.errors[only.provider]
        assert isinstance(limited, RateLimitedError) and limited.retry_after is not None
        handle.faults.clear()
        started = time.monotonic()
        reply = pool.chat.completions.create(messages=ASK)  # waits out the slot instead of a 30 s cool-down
        assert reply.zerog is not None and time.monotonic() - started < 3.0


@pytest.mark.devnet
@pytest.mark.anyio
async def test_after_a_429_storm_an_async_single_provider_pool_serves_the_next_call(funded: Devnet) -> None:
    handle = funded.provider("chat-a")
    network = devnet_network(funded)
    async with AsyncZeroG(private_key=funded.users[0].private_key, network=network) as zg:
        pool = zg.pool(model=handle.info.model, allow=[handle.info.address])
        handle.faults.set(rate_limit_storm=True)
        asyncio.get_running_loop().call_later(0.5, handle.faults.clear)
        reply = await pool.chat.completions.create(messages=ASK)
        assert reply.zerog is not None and names(funded)[reply.zerog.provider] == "chat-a"
        chunks = [c async for c in await pool.chat.completions.create(messages=ASK, stream=True)]
        assert chunks[-1].zerog is not None


@pytest.mark.devnet
@pytest.mark.anyio
async def test_a_burst_spreads_over_the_pool_instead_of_queueing_behind_the_first(funded: Devnet) -> None:
    network = devnet_network(funded)
    async with AsyncZeroG(private_key=funded.users[0].private_key, network=network) as zg:
        everyone = [provider(funded, n) for n in ("chat-a", "chat-b", "chat-c")]
        for address in everyone:  # warm (sessions, services): each has 3 of the 4 burst tokens the client paces at
            await zg.chat.completions.create(provider=address, messages=ASK)
        pool = zg.pool(providers=everyone)
        started = time.monotonic()
        replies = await asyncio.gather(*(pool.chat.completions.create(messages=ASK) for _ in range(9)))
        elapsed = time.monotonic() - started
    served = [names(funded)[r.zerog.provider] for r in replies if r.zerog is not None]
    assert sorted(served) == ["chat-a"] * 3 + ["chat-b"] * 3 + ["chat-c"] * 3
    assert elapsed < 2.0  # in priority order 6 of them would queue behind chat-a's bucket, 2 s per token
    assert all(r.zerog is not None and (r.zerog.queue_ms or 0.0) < 500 for r in replies)


@pytest.mark.devnet
def test_a_sync_burst_from_threads_spreads_too(funded: Devnet) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with client(funded) as zg:
        pool = zg.pool(providers=[provider(funded, n) for n in ("chat-a", "chat-b")])
        pool.chat.completions.create(messages=ASK)  # warm: sessions and services cached
        with ThreadPoolExecutor(8) as threads:
            replies = list(threads.map(lambda _: pool.chat.completions.create(messages=ASK), range(8)))
    served = {names(funded)[r.zerog.provider] for r in replies if r.zerog is not None}
    assert served == {"chat-a", "chat-b"}


@pytest.mark.devnet
def test_exhausted_names_every_candidate_and_its_reason(funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(rate_limit_storm=True)
    funded.provider("chat-b").faults.set(http_status=503)
    with client(funded) as zg:
        pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")], deadline=1.0)
        with pytest.raises(ExhaustedError) as info:
            pool.chat.completions.create(messages=ASK)
        first = {names(funded)[c.provider]: c for c in info.value.candidates}
        with pytest.raises(ExhaustedError) as again:
            pool.chat.completions.create(messages=ASK)
    assert "rate-limited, next slot in" in first["chat-a"].reason and "> deadline" in first["chat-a"].reason
    assert first["chat-b"].reason.startswith("failed with ProviderUnavailableError")
    assert isinstance(first["chat-a"].error, RateLimitedError)
    text = str(again.value)
    assert provider(funded, "chat-a") in text and provider(funded, "chat-b") in text
    second = {names(funded)[c.provider]: c for c in again.value.candidates}
    assert second["chat-b"].reason.startswith("cooling down for ") and "after ProviderUnavailableError" in text
    assert second["chat-b"].retry_in is not None and 28.0 < second["chat-b"].retry_in <= 30.0
    assert "no provider was available" not in text


@pytest.mark.devnet
def test_latency_excludes_the_client_side_queue(funded: Devnet) -> None:
    funded.provider("chat-b").faults.set(latency_ms=300)
    with client(funded) as zg:
        a, b = provider(funded, "chat-a"), provider(funded, "chat-b")
        for _ in range(5):  # chat-a's burst is used up: the next request to it queues ~2 s on the client
            zg.chat.completions.create(provider=a, messages=ASK)
        pool = zg.pool(providers=[a, b], strategy="latency")
        started = time.monotonic()
        queued = pool.chat.completions.create(messages=ASK).zerog
        wall = (time.monotonic() - started) * 1000
        assert queued is not None and queued.provider == a
        assert queued.queue_ms is not None and queued.queue_ms > 1000
        assert queued.latency_ms is not None and queued.latency_ms < 500 and queued.latency_ms + queued.queue_ms <= wall
        assert pool.chat.completions.create(messages=ASK).zerog.provider == b  # type: ignore[union-attr]  # untried
        assert pool.chat.completions.create(messages=ASK).zerog.provider == a  # type: ignore[union-attr]  # fastest
