"""Chain writes that cannot lose track, against the devnet's anvil behind a loopback JSON-RPC proxy.

The proxy forwards every call to anvil except what the test plans: answer nothing after forwarding
``eth_sendRawTransaction`` (the connection drops after the node took it), drop it before forwarding,
go down altogether, or let another writer on the same wallet slip a transaction in first. Each time
exactly one transfer lands, and the client either returns it or raises TransactionUncertainError with
its hash; sync and async.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from zerog_compute import AsyncZeroG, TransactionUncertainError, ZeroG, funding
from zerog_compute.funding import FundingPolicy
from zerog_devnet import Devnet

from .conftest import devnet_network, provider

pytestmark = pytest.mark.devnet
G = 10**18
ASK = [{"role": "user", "content": "What is 2 + 3?"}]
Plan = Callable[[dict[str, Any]], str]  # a JSON-RPC request -> "forward", "forward-then-drop" or "drop"


class RpcProxy:
    """A JSON-RPC proxy on 127.0.0.1 in front of anvil that follows ``plan`` for each request."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.plan: Plan = lambda request: "forward"
        self.sent: list[str] = []  # the raw transactions that reached anvil through the proxy
        self.before_send: Callable[[], None] | None = None  # runs once, before the next send is forwarded
        self._upstream = httpx.Client(timeout=10.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, request: dict[str, Any]) -> bytes | None:
        action = self.plan(request)
        if action == "drop":
            return None
        if request["method"] == "eth_sendRawTransaction":
            hook, self.before_send = self.before_send, None
            if hook is not None:
                hook()
            self.sent.append(request["params"][0])
        content = self._upstream.post(self.target, json=request).content
        return None if action == "forward-then-drop" else content

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        content = self.server.proxy.answer(request)  # type: ignore[attr-defined]
        self.close_connection = True
        if content is None:
            return  # the client sees the connection close without an answer
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def once(method: str, action: str, then: str = "forward") -> Plan:
    """``action`` for the first call of ``method``, ``then`` for every call after it."""
    seen: list[bool] = []

    def plan(request: dict[str, Any]) -> str:
        if seen:
            return then
        if request["method"] == method:
            seen.append(True)
            return action
        return "forward"

    return plan


@pytest.fixture
def proxy(devnet: Devnet) -> Iterator[RpcProxy]:
    devnet.fund(devnet.users[0], [], ledger=10 * G)
    rpc = RpcProxy(devnet.rpc_url)
    yield rpc
    rpc.close()


def sync_client(net: Devnet, rpc: RpcProxy, **kwargs: Any) -> ZeroG:
    return ZeroG(private_key=net.users[0].private_key, network=devnet_network(net).with_rpc(rpc.url), **kwargs)


def async_client(net: Devnet, rpc: RpcProxy, **kwargs: Any) -> AsyncZeroG:
    return AsyncZeroG(private_key=net.users[0].private_key, network=devnet_network(net).with_rpc(rpc.url), **kwargs)


def balances(net: Devnet) -> tuple[int, int, int]:
    """The ledger's available funds, chat-a's sub-account balance and the wallet's nonce, read directly."""
    with ZeroG(private_key=net.users[0].private_key, network=devnet_network(net)) as reader:
        account = reader.ledger.sub_account(provider(net))
        nonce = net.w3.eth.get_transaction_count(net.users[0].address)  # type: ignore[arg-type]
        return reader.ledger.get().available, account.balance if account else 0, nonce


def hash_of(raw: str) -> str:
    return "0x" + keccak(hexstr=raw).hex()


def assert_one_transfer(net: Devnet, before: tuple[int, int, int], amount: int) -> None:
    available, balance, nonce = balances(net)
    assert (available, balance, nonce) == (before[0] - amount, before[1] + amount, before[2] + 1)


@pytest.mark.parametrize("action", ["forward-then-drop", "drop"])
def test_a_dropped_send_transfers_exactly_once(devnet: Devnet, proxy: RpcProxy, action: str) -> None:
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", action)
    with sync_client(devnet, proxy) as zg:
        account = zg.ledger.transfer(provider(devnet), "2")
    assert account.balance == 2 * G
    assert_one_transfer(devnet, before, 2 * G)
    assert len(set(proxy.sent)) == 1  # the same signed transaction, at most re-broadcast


@pytest.mark.anyio
@pytest.mark.parametrize("action", ["forward-then-drop", "drop"])
async def test_a_dropped_send_transfers_exactly_once_async(devnet: Devnet, proxy: RpcProxy, action: str) -> None:
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", action)
    async with async_client(devnet, proxy) as zg:
        account = await zg.ledger.transfer(provider(devnet), "2")
    assert account.balance == 2 * G
    assert_one_transfer(devnet, before, 2 * G)
    assert len(set(proxy.sent)) == 1


def test_rpc_down_after_the_send_raises_the_hash_and_the_transfer_landed_once(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", "forward-then-drop", then="drop")
    with sync_client(devnet, proxy) as zg, pytest.raises(TransactionUncertainError) as info:
        zg.ledger.transfer(provider(devnet), "2")
    [raw] = proxy.sent
    assert info.value.tx_hash == hash_of(raw) and info.value.tx_hash in str(info.value)
    mined = devnet.w3.eth.get_transaction(info.value.tx_hash)  # type: ignore[arg-type]
    assert mined["from"] == devnet.users[0].address and mined["nonce"] == info.value.nonce
    assert_one_transfer(devnet, before, 2 * G)


@pytest.mark.anyio
async def test_rpc_down_after_the_send_raises_the_hash_async(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", "forward-then-drop", then="drop")
    async with async_client(devnet, proxy) as zg:
        with pytest.raises(TransactionUncertainError) as info:
            await zg.ledger.transfer(provider(devnet), "2")
    assert [info.value.tx_hash] == [hash_of(raw) for raw in proxy.sent]
    assert_one_transfer(devnet, before, 2 * G)


def test_funding_after_an_uncertain_transfer_never_pays_twice(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", "forward-then-drop", then="drop")
    policy = FundingPolicy.of(min_balance="2", target_balance="3", budget="5")
    with sync_client(devnet, proxy, funding=policy) as zg:
        with pytest.raises(TransactionUncertainError) as info:
            zg.chat.completions.create(provider=provider(devnet), messages=ASK)
        assert zg.funding.transfers == [] and zg.funding.spent == 3 * G  # held against the budget
        proxy.plan = once("none", "forward")  # the RPC is back
        reply = zg.chat.completions.create(provider=provider(devnet), messages=ASK)
        assert reply.zerog is not None
        assert [e.amount for e in zg.funding.transfers] == [3 * G] and zg.funding.spent == 3 * G
    assert {hash_of(raw) for raw in proxy.sent} == {info.value.tx_hash}  # settled: nothing new was signed
    assert_one_transfer(devnet, before, 3 * G)


def test_funding_settles_a_still_pending_transfer_before_deciding_again(devnet: Devnet, proxy: RpcProxy) -> None:
    """The uncertain transfer sits unmined in the pool when funding looks again: it must wait for it."""
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", "forward-then-drop", then="drop")
    mine = threading.Timer(1.0, lambda: devnet.w3.provider.make_request("evm_mine", []))  # type: ignore[arg-type]
    devnet.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        with sync_client(devnet, proxy, funding=FundingPolicy.of(min_balance="2", target_balance="3")) as zg:
            with pytest.raises(TransactionUncertainError):
                zg.chat.completions.create(provider=provider(devnet), messages=ASK)
            proxy.plan = once("none", "forward")
            mine.start()  # the pending transfer is mined a second into the next request
            zg.chat.completions.create(provider=provider(devnet), messages=ASK)
            assert [e.amount for e in zg.funding.transfers] == [3 * G]
    finally:
        mine.join()
        devnet.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert_one_transfer(devnet, before, 3 * G)


@pytest.mark.anyio
async def test_funding_after_an_uncertain_transfer_never_pays_twice_async(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    proxy.plan = once("eth_sendRawTransaction", "drop", then="drop")  # this time the node never got it
    policy = FundingPolicy.of(min_balance="2", target_balance="3")
    async with async_client(devnet, proxy, funding=policy) as zg:
        with pytest.raises(TransactionUncertainError):
            await zg.chat.completions.create(provider=provider(devnet), messages=ASK)
        proxy.plan = once("none", "forward")
        await zg.chat.completions.create(provider=provider(devnet), messages=ASK)
        assert [e.amount for e in zg.funding.transfers] == [3 * G]
    assert len(set(proxy.sent)) == 1  # the held transfer was re-broadcast byte for byte, not decided again
    assert_one_transfer(devnet, before, 3 * G)


def test_background_funding_holds_an_uncertain_transfer_and_funds_the_others(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    first = once("eth_sendRawTransaction", "forward-then-drop")
    proxy.plan = lambda request: "drop" if request["method"] == "eth_getTransactionByHash" else first(request)
    policy = FundingPolicy.of(min_balance="2", target_balance="3", mode="background", interval=3600)
    chat_a, chat_b = provider(devnet, "chat-a"), provider(devnet, "chat-b")
    with sync_client(devnet, proxy, funding=policy) as zg:
        for address in (chat_a, chat_b):
            zg.funding.set_tally(address, funding.Tally(0, 0, 0, False, 0.0))
        zg._run(funding.background_round(zg._ctx, zg.funding))  # chat-a's transfer cannot be looked up
        assert [e.provider for e in zg.funding.transfers] == [chat_b]
        assert zg.funding.unsettled(chat_a) is not None and zg.funding.spent == 6 * G
        proxy.plan = once("none", "forward")
        zg._run(funding.background_round(zg._ctx, zg.funding))  # settled: it was mined
        assert [e.provider for e in zg.funding.transfers] == [chat_b, chat_a] and zg.funding.spent == 6 * G
    assert len({hash_of(raw) for raw in proxy.sent}) == 2  # one transaction per provider
    assert balances(devnet)[0::2] == (before[0] - 6 * G, before[2] + 2)


def another_writer(net: Devnet) -> Callable[[], None]:
    """A raw eth-account transaction from the same wallet, sent behind the client's back with its next nonce."""

    def send() -> None:
        user = net.users[0]
        nonce = net.w3.eth.get_transaction_count(user.address, "pending")  # type: ignore[arg-type]
        tx = {"to": net.users[1].address, "value": 1, "gas": 21_000, "gasPrice": net.w3.eth.gas_price}
        signed = Account.sign_transaction({**tx, "nonce": nonce, "chainId": net.chain_id}, user.private_key)
        net.w3.eth.wait_for_transaction_receipt(net.w3.eth.send_raw_transaction(signed.raw_transaction))

    return send


def test_nonce_too_low_from_another_writer_resyncs_and_succeeds(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    with sync_client(devnet, proxy) as zg:
        proxy.before_send = another_writer(devnet)
        account = zg.ledger.transfer(provider(devnet), "2")
        assert zg._ctx.nonces.next == before[2] + 2
    assert account.balance == 2 * G
    first, second = proxy.sent
    assert first != second  # the first was refused (nonce too low): signed again with the next nonce
    available, balance, nonce = balances(devnet)
    assert (available, balance, nonce) == (before[0] - 2 * G, 2 * G, before[2] + 2)  # ours once + the other


@pytest.mark.anyio
async def test_nonce_too_low_from_another_writer_resyncs_and_succeeds_async(devnet: Devnet, proxy: RpcProxy) -> None:
    before = balances(devnet)
    async with async_client(devnet, proxy) as zg:
        proxy.before_send = another_writer(devnet)
        account = await zg.ledger.transfer(provider(devnet), "2")
    assert account.balance == 2 * G and len(set(proxy.sent)) == 2
    assert balances(devnet) == (before[0] - 2 * G, 2 * G, before[2] + 2)
