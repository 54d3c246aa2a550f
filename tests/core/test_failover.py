"""ProviderPool against devnet providers with injected faults: who serves, what is raised, recovery."""

from __future__ import annotations

import time

import pytest

from zerog_compute import AsyncZeroG, ConfigurationError, RequestRejectedError, StreamInterruptedError, Verdict, ZeroG
from zerog_compute.failover import ExhaustedError, PoolEvent
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b", "chat-c"])
    return devnet


def names(net: Devnet) -> dict[str, str]:
    return {net.provider(n).info.address: n for n in ("chat-a", "chat-b", "chat-c")}


def test_killed_provider_fails_over_cools_down_and_recovers(zg: ZeroG, funded: Devnet) -> None:
    events: list[PoolEvent] = []
    pool = zg.pool(
        providers=[provider(funded, "chat-a"), provider(funded, "chat-b")], cooldown=0.5, on_event=events.append
    )
    funded.provider("chat-a").stop()
    reply = pool.chat.completions.create(messages=ASK)
    assert reply.zerog is not None and names(funded)[reply.zerog.provider] == "chat-b"
    assert [e.kind for e in events] == ["attempt", "failover", "cooldown", "attempt", "success"]
    assert events[1].error_type == "ProviderUnavailableError"
    events.clear()
    pool.chat.completions.create(messages=ASK)  # chat-a is cooling down: not even tried
    assert [(e.kind, names(funded)[e.provider or ""]) for e in events if e.kind == "attempt"] == [("attempt", "chat-b")]
    funded.provider("chat-a").restart()
    time.sleep(0.6)
    events.clear()
    reply = pool.chat.completions.create(messages=ASK)
    assert names(funded)[reply.zerog.provider] == "chat-a"  # type: ignore[union-attr]
    assert "recovered" in [e.kind for e in events]


@pytest.mark.parametrize("fault", [{"http_status": 502}, {"rate_limit_storm": True}, {"drop_connection": True}])
def test_transient_faults_fail_over(zg: ZeroG, funded: Devnet, fault: dict[str, object]) -> None:
    funded.provider("chat-a").faults.set(**fault)
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")])
    reply = pool.chat.completions.create(messages=ASK)
    assert reply.zerog is not None and names(funded)[reply.zerog.provider] == "chat-b"


def test_request_errors_fail_fast(zg: ZeroG, funded: Devnet) -> None:
    events: list[PoolEvent] = []
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")], on_event=events.append)
    with pytest.raises(RequestRejectedError, match="model not supported"):
        pool.chat.completions.create(messages=ASK, model="no-such-model")
    assert [e.kind for e in events] == ["attempt"]


def test_discovery_by_model_and_price_strategy(zg: ZeroG, funded: Devnet) -> None:
    model = funded.provider("chat-a").info.model
    pool = zg.pool(model=model, strategy="price")
    reply = pool.chat.completions.create(messages=ASK)
    assert names(funded)[reply.zerog.provider] == "chat-b"  # type: ignore[union-attr]


def test_round_robin_spreads_requests(zg: ZeroG, funded: Devnet) -> None:
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")], strategy="round_robin")
    served = {pool.chat.completions.create(messages=ASK).zerog.provider for _ in range(4)}  # type: ignore[union-attr]
    assert len(served) == 2


def test_enforced_verification_failure_fails_over(devnet: Devnet, funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(wrong_signature=True)
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), verification="enforce") as zg:
        pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")])
        reply = pool.chat.completions.create(messages=ASK)
    assert reply.zerog is not None and names(funded)[reply.zerog.provider] == "chat-b"
    assert reply.zerog.verification.verdict is Verdict.verified


def test_everything_down_is_one_typed_error(zg: ZeroG, funded: Devnet) -> None:
    for name in ("chat-a", "chat-b"):
        funded.provider(name).faults.set(http_status=503)
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")])
    with pytest.raises(ExhaustedError) as info:
        pool.chat.completions.create(messages=ASK)
    assert set(info.value.errors) == {provider(funded, "chat-a"), provider(funded, "chat-b")}


def test_deadline_bounds_a_hanging_provider(zg: ZeroG, funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(hang=True)
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")], deadline=2.0)
    started = time.monotonic()
    reply = pool.chat.completions.create(messages=ASK)  # chat-a gets half the deadline, then chat-b answers
    assert names(funded)[reply.zerog.provider] == "chat-b"  # type: ignore[union-attr]
    assert time.monotonic() - started < 2.0 + 1.0
    funded.provider("chat-b").faults.set(hang=True)
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")], deadline=1.0)
    with pytest.raises(ExhaustedError):
        pool.chat.completions.create(messages=ASK)
    assert time.monotonic() - started < 5
    funded.provider("chat-a").faults.clear()
    funded.provider("chat-b").faults.clear()


def test_stream_fails_over_before_the_first_chunk(zg: ZeroG, funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(http_status=500)
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")])
    chunks = list(pool.chat.completions.create(messages=ASK, stream=True))
    assert chunks[-1].zerog is not None and names(funded)[chunks[-1].zerog.provider] == "chat-b"


def test_stream_cut_after_first_chunk_is_not_retried(zg: ZeroG, funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(stream_cut_after=2)
    pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")])
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in pool.chat.completions.create(messages=ASK, stream=True):
            received.append(chunk)
    assert len(received) >= 1 and info.value.received >= 1


@pytest.mark.anyio
async def test_async_pool(funded: Devnet) -> None:
    funded.provider("chat-a").stop()
    network = devnet_network(funded)
    async with AsyncZeroG(private_key=funded.users[0].private_key, network=network) as zg:
        pool = zg.pool(providers=[provider(funded, "chat-a"), provider(funded, "chat-b")])
        reply = await pool.chat.completions.create(messages=ASK)
        assert names(funded)[reply.zerog.provider] == "chat-b"  # type: ignore[union-attr]
        chunks = [c async for c in await pool.chat.completions.create(messages=ASK, stream=True)]
        assert chunks[-1].zerog is not None
    funded.provider("chat-a").restart()


def test_a_single_string_is_not_a_provider_list(zg: ZeroG, devnet: Devnet) -> None:
    with pytest.raises(ConfigurationError, match="list of addresses"):
        zg.pool(providers=provider(devnet))  # type: ignore[arg-type]
