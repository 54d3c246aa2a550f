"""The hostile provider, registered on the devnet chain like any provider and found by ordinary discovery."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account

from tests.core.conftest import devnet_network
from zerog_compute import Network, ZeroG
from zerog_devnet import Devnet
from zerog_devnet.accounts import tee_account
from zerog_devnet.network import MAX_PROVIDERS

from .hostile import HostileProvider


@dataclass(frozen=True)
class Hostile:
    """The server, its on-chain address and a funded user who acknowledged it."""

    server: HostileProvider
    address: str
    model: str
    network: Network
    private_key: str
    tee_key: str = ""
    """The TEE signer key registered for it (a public devnet key): it signs whatever the test wants."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def hostile_server() -> Iterator[HostileProvider]:
    server = HostileProvider()
    yield server
    server.close()


@pytest.fixture
def hostile(devnet: Devnet, hostile_server: HostileProvider) -> Iterator[Hostile]:
    """Registered on chain (reverted after the test), with a ledger and an acknowledged sub-account."""
    hostile_server.reset()
    info = devnet.register_external("hostile", hostile_server.url)
    user = devnet.users[1]
    network = devnet_network(devnet)
    with ZeroG(private_key=user.private_key, network=network, verification="off") as zg:
        zg.ledger.create("10")
        zg.acknowledge(info.address, amount="2")
    tee_key = tee_account(MAX_PROVIDERS - 1).private_key  # register_external takes the last slot
    assert Account.from_key(tee_key).address == info.tee_signer
    yield Hostile(hostile_server, info.address, info.model, network, user.private_key, tee_key)
    hostile_server.reset()
