"""Fixtures: zerog-compute clients wired to the devnet (real chain, real HTTP)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from zerog_compute import AsyncZeroG, Network, ZeroG
from zerog_devnet import Devnet


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
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not installed (Debian: apt-get install redis-server; `make install` does it as root)"
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
