"""Fixtures: zerog-compute clients wired to the devnet (real chain, real HTTP)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from zerog_compute import AsyncZeroG, Network, ZeroG
from zerog_devnet import Devnet

from .._redis import redis_server


def devnet_network(net: Devnet) -> Network:
    return Network(
        name="devnet",
        chain_id=net.chain_id,
        rpc_url=net.rpc_url,
        ledger=net.contracts.ledger,
        inference=net.contracts.inference,
        fine_tuning=net.contracts.fine_tuning,
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def zg(devnet: Devnet) -> Iterator[ZeroG]:
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet)) as client:
        yield client


@pytest.fixture
async def azg(devnet: Devnet) -> AsyncIterator[AsyncZeroG]:
    async with AsyncZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet)) as client:
        yield client


def provider(net: Devnet, name: str = "chat-a") -> str:
    return net.provider(name).info.address


def expected_chat_fee(net: Devnet, usage: Any, name: str = "chat-a") -> int:
    info = net.provider(name).info
    return int(usage.prompt_tokens * info.input_price + usage.completion_tokens * info.output_price)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port, in a temporary directory, without persistence."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))
        except LookupError as exc:
            pytest.skip(str(exc))
        yield url
