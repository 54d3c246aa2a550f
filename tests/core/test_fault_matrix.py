"""The reliability matrix: every devnet fault against a two-provider pool, sync and async.

For each fault: the call succeeds from the healthy provider or fails with the right typed error,
no funds move (or are double-sent), and the faulty provider serves again after its cooldown (after a
429, which is no health failure, as soon as its next slot is due).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from zerog_compute import AsyncZeroG, ChainError, Network, RateLimit, StreamInterruptedError, ZeroG
from zerog_compute.funding import FundingPolicy
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
COOLDOWN = 0.3
NEXT_SLOT = 60 / RateLimit().rpm * 1.25 + 0.1  # one token at the default 30/min, with the backoff's jitter
# fault -> what the pool must do: "failover" to chat-b, or raise this error type
MATRIX: dict[str, tuple[dict[str, Any], str | type[BaseException]]] = {
    "killed": ({}, "failover"),
    "hang past deadline": ({"hang": True}, "failover"),
    "5xx": ({"http_status": 500}, "failover"),
    "429 storm": ({"rate_limit_storm": True}, "failover"),
    "wrong signature": ({"wrong_signature": True}, "failover"),
    "signature over other content": ({"sign_other_content": True}, "failover"),
    "missing chat id": ({"missing_res_key": True}, "failover"),
    "stream cut after 2 chunks": ({"stream_cut_after": 2}, StreamInterruptedError),
}


def on_chain(net: Devnet, user: str) -> tuple[int, ...]:
    """Ledger available/total and the two sub-account balances: what must not change by accident."""
    with ZeroG(private_key=net.users[0].private_key, network=devnet_network(net)) as reader:
        ledger = reader.ledger.get()
        accounts = {a.provider: a.balance for a in reader.ledger.sub_accounts()}
    return ledger.available, ledger.total, *(accounts[provider(net, n)] for n in ("chat-a", "chat-b"))


def break_provider(net: Devnet, fault: str) -> None:
    if fault == "killed":
        net.provider("chat-a").stop()
    else:
        net.provider("chat-a").faults.set(**MATRIX[fault][0])


def heal_provider(net: Devnet, fault: str) -> None:
    if fault == "killed":
        net.provider("chat-a").restart()
    net.provider("chat-a").faults.clear()


def served_by(net: Devnet, reply: Any) -> str:
    names = {provider(net, n): n for n in ("chat-a", "chat-b")}
    return names[reply.zerog.provider]


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b"])
    return devnet


def make_pool(zg: Any, net: Devnet) -> Any:
    return zg.pool(providers=[provider(net, "chat-a"), provider(net, "chat-b")], cooldown=COOLDOWN, deadline=3.0)


@pytest.mark.parametrize("fault", list(MATRIX))
def test_fault_matrix_sync(funded: Devnet, fault: str) -> None:
    before = on_chain(funded, funded.users[0].address)
    expected = MATRIX[fault][1]
    with ZeroG(private_key=funded.users[0].private_key, network=devnet_network(funded), verification="enforce") as zg:
        pool = make_pool(zg, funded)
        break_provider(funded, fault)
        if expected == "failover":
            stream = fault in ("5xx", "killed")
            reply = list(pool.chat.completions.create(messages=ASK, stream=True))[-1] if stream else None
            reply = reply or pool.chat.completions.create(messages=ASK)
            assert served_by(funded, reply) == "chat-b"
        else:
            assert isinstance(expected, type)
            with pytest.raises(expected) as info:
                list(pool.chat.completions.create(messages=ASK, stream=True))
            assert info.value.received >= 1  # type: ignore[attr-defined]
        heal_provider(funded, fault)
        time.sleep(NEXT_SLOT if fault == "429 storm" else COOLDOWN * 1.5)
        assert served_by(funded, pool.chat.completions.create(messages=ASK)) == "chat-a"  # recovered
    assert on_chain(funded, funded.users[0].address) == before  # no funds moved by the client


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["killed", "5xx", "wrong signature", "stream cut after 2 chunks"])
async def test_fault_matrix_async(funded: Devnet, fault: str) -> None:
    expected = MATRIX[fault][1]
    network = devnet_network(funded)
    async with AsyncZeroG(private_key=funded.users[0].private_key, network=network, verification="enforce") as zg:
        pool = make_pool(zg, funded)
        break_provider(funded, fault)
        if expected == "failover":
            reply = await pool.chat.completions.create(messages=ASK)
            assert served_by(funded, reply) == "chat-b"
        else:
            with pytest.raises(StreamInterruptedError):
                _ = [c async for c in await pool.chat.completions.create(messages=ASK, stream=True)]
        heal_provider(funded, fault)
        await asyncio.sleep(COOLDOWN * 1.5)
        assert served_by(funded, await pool.chat.completions.create(messages=ASK)) == "chat-a"


class _Forwarder(socketserver.ThreadingTCPServer):
    """A TCP relay in front of anvil that the test can switch off and on (the RPC going down)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self.open: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Relay)

    def cut(self) -> None:
        """Stop listening and break every relayed connection, like an RPC node going away."""
        self.shutdown()
        self.server_close()
        for sock in list(self.open):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class _Relay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        upstream = socket.create_connection(self.server.target)  # type: ignore[attr-defined]
        sockets = [self.request, upstream]
        self.server.open.update(sockets)  # type: ignore[attr-defined]

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in sockets:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        other = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        other.start()
        pump(self.request, upstream)
        other.join(5)


@pytest.fixture
def switchable_rpc(devnet: Devnet) -> Iterator[tuple[str, Any]]:
    from zerog_devnet.anvil import free_port

    port = free_port()
    target = ("127.0.0.1", devnet.anvil.port)
    state: dict[str, _Forwarder | None] = {"server": None}

    def up() -> None:
        server = _Forwarder(port, target)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state["server"] = server

    def down() -> None:
        server = state["server"]
        if server is not None:
            server.cut()
            state["server"] = None

    up()
    yield f"http://127.0.0.1:{port}", (up, down)
    down()


def test_rpc_down_during_a_funding_top_up(devnet: Devnet, switchable_rpc: tuple[str, Any]) -> None:
    url, (up, down) = switchable_rpc
    devnet.fund(devnet.users[0], [], ledger=10 * 10**18)
    network: Network = devnet_network(devnet).with_rpc(url)
    policy = FundingPolicy.of(min_balance="2", target_balance="3")
    with ZeroG(private_key=devnet.users[0].private_key, network=network, funding=policy) as zg:
        zg.ledger.get()  # the chain id check passes while the RPC is up
        down()
        with pytest.raises(ChainError, match="cannot reach the RPC endpoint"):
            zg.chat.completions.create(provider=provider(devnet, "chat-a"), messages=ASK)
        assert zg.funding.transfers == []
        up()
        reply = zg.chat.completions.create(provider=provider(devnet, "chat-a"), messages=ASK)
        assert reply.zerog is not None
        assert [e.amount for e in zg.funding.transfers] == [3 * 10**18]  # funded exactly once, after recovery
        assert zg.ledger.get().available == 7 * 10**18
