"""Auto-funding, the client-side limiter and rate-limit retries, against real devnet providers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator

import pytest

from zerog_compute import AsyncZeroG, BudgetExhaustedError, NotAcknowledgedError, RateLimitedError, ZeroG
from zerog_compute.funding import FundingEvent, FundingPolicy
from zerog_compute.ratelimit import RateLimit
from zerog_devnet import Devnet, ProviderSpec

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
G = 10**18
ASK = [{"role": "user", "content": "hello there"}]
OPEN = {"rpm": 0, "max_concurrent": 100, "max_global_concurrent": 100}


@pytest.fixture(scope="module")
def bulk() -> Iterator[Devnet]:
    """A devnet whose providers do not rate-limit, one cheap and one expensive."""
    specs = [ProviderSpec("bulk", **OPEN), ProviderSpec("pricey", input_price=10**16, output_price=10**16, **OPEN)]
    with Devnet.start(specs, users=4, settle_interval=3600) as net:
        yield net


@pytest.fixture
def net(bulk: Devnet) -> Iterator[Devnet]:
    snapshot = bulk.snapshot()
    yield bulk
    bulk.revert(snapshot)


def client(net: Devnet, policy: FundingPolicy | None, **kwargs: object) -> ZeroG:
    return ZeroG(private_key=net.users[0].private_key, network=devnet_network(net), funding=policy, **kwargs)  # type: ignore[arg-type]


def ledger_only(net: Devnet, amount: int = 20 * G) -> None:
    net.fund(net.users[0], [], ledger=amount)


def test_fifty_concurrent_requests_fund_exactly_once(net: Devnet) -> None:
    ledger_only(net)
    funded: list[FundingEvent] = []
    policy = FundingPolicy.of(min_balance="2", target_balance="3", after_fund=funded.append)
    with client(net, policy, rate_limit=None) as zg:
        bulk_address = provider(net, "bulk")
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            replies = list(
                pool.map(lambda _: zg.chat.completions.create(provider=bulk_address, messages=ASK), range(50))
            )
        assert len(replies) == 50 and all(r.zerog is not None for r in replies)
        assert [e.amount for e in funded] == [3 * G]
        assert zg.ledger.get().available == 17 * G
        account = zg.ledger.sub_account(bulk_address)
        assert account is not None and account.balance == 3 * G
        owed = net.provider("bulk").unsettled(zg.address)
        assert owed == sum(r.zerog.fee for r in replies if r.zerog)


@pytest.mark.anyio
async def test_fifty_concurrent_tasks_fund_exactly_once(net: Devnet) -> None:
    ledger_only(net)
    policy = FundingPolicy.of(min_balance="2", target_balance="4")
    network = devnet_network(net)
    async with AsyncZeroG(private_key=net.users[0].private_key, network=network, funding=policy, rate_limit=None) as zg:
        address = provider(net, "bulk")
        replies = await asyncio.gather(*(zg.chat.completions.create(provider=address, messages=ASK) for _ in range(50)))
        assert len(replies) == 50
        assert [e.amount for e in zg.funding.transfers] == [4 * G]
        assert (await zg.ledger.get()).available == 16 * G


def test_spend_is_tracked_and_topped_up_to_target(net: Devnet) -> None:
    ledger_only(net)
    pricey = provider(net, "pricey")
    policy = FundingPolicy.of(min_balance="2", target_balance="3")
    with client(net, policy, rate_limit=None) as zg:
        zg.ledger.transfer(pricey, "2.5")
        spent = 0
        while not zg.funding.transfers:
            reply = zg.chat.completions.create(provider=pricey, messages=ASK)
            assert reply.zerog is not None
            spent += reply.zerog.fee
            assert spent < 2 * G, "should have topped up long before this"
        [event] = zg.funding.transfers
        # the estimate before the top-up was exactly the on-chain balance minus what the provider then held
        # unsettled (everything but the request that was about to be sent)
        held_before = net.provider("pricey").unsettled(zg.address) - reply.zerog.fee
        assert event.estimated_balance == 2 * G + G // 2 - held_before
        assert event.amount == 3 * G - event.estimated_balance
        assert event.estimated_balance < 2 * G <= event.estimated_balance + reply.zerog.fee + 1


def test_budget_is_never_exceeded(net: Devnet) -> None:
    ledger_only(net)
    exhausted: list[FundingEvent] = []
    policy = FundingPolicy.of(min_balance="2", target_balance="3", budget="2", on_budget_exhausted=exhausted.append)
    with client(net, policy) as zg:
        with pytest.raises(BudgetExhaustedError, match="budget"):
            zg.chat.completions.create(provider=provider(net, "bulk"), messages=ASK)
        assert len(exhausted) == 1 and exhausted[0].amount == 3 * G
        assert zg.ledger.get().available == 20 * G


def test_before_fund_can_veto(net: Devnet) -> None:
    ledger_only(net)
    policy = FundingPolicy.of(before_fund=lambda event: False)
    with client(net, policy) as zg:
        with pytest.raises(NotAcknowledgedError):
            zg.chat.completions.create(provider=provider(net, "bulk"), messages=ASK)
        assert zg.ledger.get().available == 20 * G


def test_no_policy_never_moves_funds(net: Devnet) -> None:
    ledger_only(net)
    with client(net, None) as zg:
        with pytest.raises(NotAcknowledgedError):
            zg.chat.completions.create(provider=provider(net, "bulk"), messages=ASK)
        assert zg.ledger.get().available == 20 * G


def test_provider_says_insufficient_then_reconcile_and_retry(net: Devnet) -> None:
    ledger_only(net)
    pricey = provider(net, "pricey")
    policy = FundingPolicy.of(min_balance="1.01", target_balance="2")
    with client(net, policy) as a, client(net, None) as b:
        a.ledger.transfer(pricey, "1.2")
        a.chat.completions.create(provider=pricey, messages=ASK)  # a's estimate: healthy
        while True:  # b spends from the same sub-account behind a's back
            try:
                b.chat.completions.create(provider=pricey, messages=ASK)
            except Exception:
                break
        reply = a.chat.completions.create(provider=pricey, messages=ASK)
        assert reply.zerog is not None and len(a.funding.transfers) == 1


def test_background_mode_tops_up_without_requests(net: Devnet) -> None:
    ledger_only(net)
    pricey = provider(net, "pricey")
    done = threading.Event()
    policy = FundingPolicy.of(
        min_balance="2", target_balance="3", mode="background", interval=0.2, after_fund=lambda e: done.set()
    )
    with client(net, policy, rate_limit=None) as zg:
        zg.chat.completions.create(provider=pricey, messages=ASK)  # first use: funded inline once
        assert len(zg.funding.transfers) == 1
        done.clear()
        while zg.ledger.sub_account(pricey).usable - net.provider("pricey").unsettled(zg.address) >= 2 * G:  # type: ignore[union-attr]
            zg.chat.completions.create(provider=pricey, messages=ASK)
        assert done.wait(10), "the background loop should top up on its own"
        assert len(zg.funding.transfers) == 2


def test_client_limiter_queues_instead_of_drawing_429(devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    network = devnet_network(devnet)
    unlimited = ZeroG(private_key=devnet.users[0].private_key, network=network, rate_limit=None)
    with unlimited as raw, pytest.raises(RateLimitedError):
        for _ in range(6):
            raw.chat.completions.create(provider=provider(devnet), messages=ASK)
    devnet.provider("chat-a").runtime.limits.reset()
    with ZeroG(private_key=devnet.users[0].private_key, network=network) as zg:
        for _ in range(6):
            zg.chat.completions.create(provider=provider(devnet), messages=ASK)


def test_rate_limited_answers_are_retried(devnet: Devnet) -> None:
    devnet.fund(devnet.users[0], ["chat-a"])
    handle = devnet.provider("chat-a")
    handle.faults.set(rate_limit_storm=True)
    threading.Timer(0.3, handle.faults.clear).start()
    network = devnet_network(devnet)
    with ZeroG(private_key=devnet.users[0].private_key, network=network, rate_limit=RateLimit(max_retries=3)) as zg:
        started = time.monotonic()
        reply = zg.chat.completions.create(provider=provider(devnet), messages=ASK)
    assert reply.zerog is not None and time.monotonic() - started >= 0.3
    handle.faults.set(rate_limit_storm=True)
    no_retry = ZeroG(private_key=devnet.users[0].private_key, network=network, rate_limit=RateLimit(max_retries=0))
    with no_retry as zg, pytest.raises(RateLimitedError):
        zg.chat.completions.create(provider=provider(devnet), messages=ASK)
