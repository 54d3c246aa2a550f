"""The chain-write lane's decisions, against a scripted JSON-RPC node (httpx.MockTransport, no anvil).

What a failed ``eth_sendRawTransaction`` proves, how the lane settles an ambiguous send by hash and
nonce, when it re-broadcasts the same bytes, when it signs again, and the typed error when it cannot tell.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from zerog_compute import (
    ChainError,
    InsufficientBalanceError,
    RpcError,
    TransactionUncertainError,
)
from zerog_compute import contracts as chain
from zerog_compute._abi import LEDGER_ABI
from zerog_compute.contracts import Contract, NonceTracker, Sighting, classify_send_error, judge
from zerog_compute.runners import SyncRunner
from zerog_compute.signer import Wallet

KEY = "0x" + "42" * 32
SENDER = Account.from_key(KEY).address
LEDGER = Contract("0x" + "ab" * 20, LEDGER_ABI)
CHAIN_ID = 31337
Send = Callable[["Node", str], Any]  # one scripted answer to eth_sendRawTransaction


class Node:
    """A scripted node: every transaction it accepts is mined at once; ``sends`` scripts each send."""

    def __init__(self, sends: list[Send], nonce: int = 7) -> None:
        self.sends = sends
        self.latest = self.pending = nonce
        self.mined: dict[str, str] = {}  # hash -> raw hex
        self.raws: list[str] = []  # every raw transaction the client sent
        self.down = False  # every call fails below HTTP
        self.methods: list[str] = []

    def mine(self, raw: str) -> str:
        tx_hash = "0x" + keccak(bytes.fromhex(raw[2:])).hex()
        self.mined[tx_hash] = raw
        self.latest += 1
        self.pending += 1
        return tx_hash

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        method, params = body["method"], body["params"]
        self.methods.append(method)
        if self.down:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if method == "eth_sendRawTransaction":
            self.raws.append(params[0])
            answer = self.sends.pop(0)(self, params[0]) if self.sends else accept(self, params[0])
        else:
            answer = self.read(method, params)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], **answer})

    def read(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method == "eth_getTransactionCount":
            return {"result": hex({"latest": self.latest, "pending": self.pending}[params[1]])}
        if method == "eth_getTransactionByHash":
            return {"result": {"hash": params[0]} if params[0] in self.mined else None}
        if method == "eth_getTransactionReceipt":
            receipt = {"status": "0x1", "blockNumber": "0x1", "transactionHash": params[0]}
            return {"result": receipt if params[0] in self.mined else None}
        constants = {"eth_chainId": hex(CHAIN_ID), "eth_estimateGas": hex(50_000), "eth_gasPrice": hex(10**9)}
        return {"result": constants[method]}


def accept(node: Node, raw: str) -> dict[str, Any]:
    if hash_of(raw) in node.mined:  # what anvil answers for a mined transaction sent again
        return {"error": {"code": -32003, "message": "nonce too low"}}
    return {"result": node.mine(raw)}


def accept_then_drop(node: Node, raw: str) -> dict[str, Any]:
    node.mine(raw)
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def drop(node: Node, raw: str) -> dict[str, Any]:
    raise httpx.ReadTimeout("timed out")


def accept_then_go_down(node: Node, raw: str) -> dict[str, Any]:
    node.mine(raw)
    node.down = True
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def error(message: str, code: int = -32003) -> Send:
    def answer(node: Node, raw: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    return answer


def another_writer_first(message: str = "nonce too low") -> Send:
    """Another transaction of the wallet is mined with our nonce just before ours arrives."""

    def answer(node: Node, raw: str) -> dict[str, Any]:
        node.mine("0x" + "ee" * 40)
        return {"error": {"code": -32003, "message": message}}

    return answer


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain, "RETRY_DELAYS_S", (0.0, 0.0, 0.0, 0.0))


@pytest.fixture
def run() -> Iterator[Callable[[Node, Any], Any]]:
    clients: list[httpx.Client] = []

    def run(node: Node, flow: Any) -> Any:
        rpc = httpx.Client(transport=httpx.MockTransport(node.handle))
        clients.append(rpc)
        return SyncRunner("http://rpc.test", CHAIN_ID, httpx.Client(), rpc).run(flow)

    yield run
    for client in clients:
        client.close()


def deposit(nonces: NonceTracker | None = None) -> Any:
    return chain.transact(Wallet(KEY), CHAIN_ID, nonces or NonceTracker(), LEDGER, "depositFund", value=10**18)


def hash_of(raw: str) -> str:
    return "0x" + keccak(bytes.fromhex(raw[2:])).hex()


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ChainError("cannot reach the RPC endpoint http://x: ReadTimeout"), "ambiguous"),
        (ChainError("RPC eth_sendRawTransaction answered HTTP 502 with non-JSON"), "ambiguous"),
        (RpcError("eth_sendRawTransaction", {"code": -32000, "message": "nonce too low"}), "conflict"),
        (RpcError("eth_sendRawTransaction", {"code": -32000, "message": "already known"}), "conflict"),
        (RpcError("eth_sendRawTransaction", {"code": -32003, "message": "transaction already imported"}), "conflict"),
        (RpcError("m", {"code": -32000, "message": "replacement transaction underpriced"}), "conflict"),
        (RpcError("m", {"code": -32003, "message": "Insufficient funds for gas * price + value"}), "rejected"),
        (RpcError("m", {"code": -32000, "message": "transaction underpriced"}), "rejected"),
        (RpcError("m", {"code": -32000, "message": "intrinsic gas too low"}), "rejected"),
        (RpcError("m", {"code": -32603, "message": "internal error"}), "ambiguous"),
        (RpcError("m", {"code": -32000, "message": "upstream request timeout"}), "ambiguous"),
    ],
)
def test_what_a_failed_send_proves(failure: ChainError, expected: str) -> None:
    assert classify_send_error(failure) == expected


@pytest.mark.parametrize(
    ("seen", "nonce", "expected"),
    [
        (Sighting(known=True, latest=8, pending=8), 7, "known"),  # mined
        (Sighting(known=True, latest=7, pending=8), 7, "known"),  # pending
        (Sighting(known=False, latest=8, pending=8), 7, "void"),  # another mined tx took nonce 7
        (Sighting(known=False, latest=7, pending=8), 7, "unknown"),  # another tx holds 7 but may still be replaced
        (Sighting(known=False, latest=7, pending=7), 7, "unknown"),  # not (yet) seen
        (Sighting(), 7, "unknown"),  # the look-up failed
        (Sighting(known=False, latest=9, pending=9), None, "unknown"),  # no nonce, no proof
    ],
)
def test_judging_a_sighting(seen: Sighting, nonce: int | None, expected: str) -> None:
    assert judge(seen, nonce) == expected


def test_the_hash_is_computed_before_sending_and_logged(run: Any, caplog: pytest.LogCaptureFixture) -> None:
    node = Node([])
    with caplog.at_level("INFO", logger="zerog_compute.contracts"):
        receipt = run(node, deposit())
    [raw] = node.raws
    assert receipt["transactionHash"] == hash_of(raw)
    sending = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sending depositFund")]
    assert sending == [f"sending depositFund(...) to {LEDGER.address} in tx {hash_of(raw)} (nonce 7)"]


def test_a_send_dropped_after_the_node_took_it_is_found_not_resent(run: Any) -> None:
    node, nonces = Node([accept_then_drop]), NonceTracker()
    receipt = run(node, deposit(nonces))
    [raw] = node.raws  # sent once: found by hash, not re-broadcast
    assert receipt["transactionHash"] == hash_of(raw)
    assert list(node.mined) == [hash_of(raw)]
    assert "eth_getTransactionByHash" in node.methods
    assert nonces.next == 8


def test_a_send_that_never_arrived_is_rebroadcast_byte_for_byte(run: Any) -> None:
    node = Node([drop, drop])
    receipt = run(node, deposit())
    assert len(node.raws) == 3 and len(set(node.raws)) == 1  # the same signed bytes, never a new transaction
    assert list(node.mined) == [receipt["transactionHash"]] == [hash_of(node.raws[0])]


def test_an_unexplained_rpc_error_is_looked_up_too(run: Any) -> None:
    node = Node([error("internal error", -32603)])
    receipt = run(node, deposit())
    assert len(set(node.raws)) == 1 and list(node.mined) == [receipt["transactionHash"]]


def test_rpc_down_after_the_send_raises_the_typed_error_with_the_hash(run: Any) -> None:
    node = Node([accept_then_go_down])
    with pytest.raises(TransactionUncertainError) as info:
        run(node, deposit())
    [raw] = set(node.raws)
    uncertain = info.value
    assert isinstance(uncertain, ChainError)
    assert (uncertain.tx_hash, uncertain.nonce, uncertain.raw_transaction) == (hash_of(raw), 7, bytes.fromhex(raw[2:]))
    assert hash_of(raw) in str(uncertain) and "may have been sent" in str(uncertain)
    assert "eth_getTransactionByHash" in str(uncertain)  # how to check
    assert KEY[2:] not in str(uncertain) and KEY[2:] not in repr(uncertain)


def test_a_rejected_send_is_not_looked_up(run: Any) -> None:
    node = Node([error("Insufficient funds for gas * price + value")])
    with pytest.raises(InsufficientBalanceError):
        run(node, deposit())
    assert "eth_getTransactionByHash" not in node.methods and node.mined == {}


def test_nonce_too_low_resyncs_and_signs_again(run: Any, caplog: pytest.LogCaptureFixture) -> None:
    node, nonces = Node([another_writer_first()]), NonceTracker(next=3)
    with caplog.at_level("WARNING", logger="zerog_compute.contracts"):
        receipt = run(node, deposit(nonces))
    first, second = node.raws
    assert Account.recover_transaction(first) == Account.recover_transaction(second) == SENDER
    assert hash_of(first) not in node.mined  # the first can never be mined: nonce 7 went to the other writer
    assert receipt["transactionHash"] == hash_of(second)
    assert nonces.next == 9  # resynchronised from the chain (8), then used
    assert any("went to another transaction" in r.getMessage() for r in caplog.records)


def test_replacement_underpriced_waits_for_the_other_writer(run: Any) -> None:
    def held_then_mined(node: Node, raw: str) -> dict[str, Any]:
        node.pending += 1  # another transaction holds our nonce in the pool
        return {"error": {"code": -32000, "message": "replacement transaction underpriced"}}

    def other_mined(node: Node, raw: str) -> dict[str, Any]:
        node.latest += 1
        return {"error": {"code": -32000, "message": "nonce too low"}}

    node = Node([held_then_mined, other_mined])
    receipt = run(node, deposit())
    assert node.raws[0] == node.raws[1] != node.raws[2]  # re-broadcast while unknown, re-signed once void
    assert receipt["transactionHash"] == hash_of(node.raws[2])


def test_already_known_is_success_without_a_new_transaction(run: Any) -> None:
    def known(node: Node, raw: str) -> dict[str, Any]:
        node.mine(raw)
        return {"error": {"code": -32000, "message": "already known"}}

    node = Node([known])
    receipt = run(node, deposit())
    assert len(node.raws) == 1 and receipt["transactionHash"] == hash_of(node.raws[0])


def test_retries_are_bounded(run: Any) -> None:
    node = Node([drop] * 10)
    with pytest.raises(TransactionUncertainError, match="the node does not know it"):
        run(node, deposit())
    assert len(node.raws) == chain.SEND_ATTEMPTS and node.mined == {}


def test_another_writer_every_time_gives_up_without_sending(run: Any) -> None:
    node = Node([another_writer_first()] * 10)
    with pytest.raises(ChainError, match="was not sent and never will be") as info:
        run(node, deposit())
    assert not isinstance(info.value, TransactionUncertainError)
    assert len(node.raws) == chain.SEND_ATTEMPTS and not set(map(hash_of, node.raws)) & set(node.mined)


def test_settle_finds_rebroadcasts_or_voids_an_uncertain_transaction(run: Any) -> None:
    node = Node([accept_then_go_down])
    with pytest.raises(TransactionUncertainError) as info:
        run(node, deposit())
    with pytest.raises(TransactionUncertainError):  # still down: still uncertain
        run(node, chain.settle(Wallet(KEY), info.value))
    node.down = False
    receipt = run(node, chain.settle(Wallet(KEY), info.value))  # mined: its receipt, nothing new sent
    assert receipt["transactionHash"] == info.value.tx_hash and len(node.mined) == 1

    lost = Node([drop] * 10)
    with pytest.raises(TransactionUncertainError) as info:
        run(lost, deposit())
    lost.sends = []
    receipt = run(lost, chain.settle(Wallet(KEY), info.value))  # the same bytes re-broadcast
    assert list(lost.mined) == [info.value.tx_hash]

    void = Node([drop] * 10)
    with pytest.raises(TransactionUncertainError) as info:
        run(void, deposit())
    void.sends = [another_writer_first()]
    assert run(void, chain.settle(Wallet(KEY), info.value)) is None  # its nonce went elsewhere
    assert info.value.tx_hash not in void.mined


def test_receipt_polling_survives_blips_then_gives_up_typed(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    node = Node([])
    node.mine("0x" + "01" * 40)
    tx_hash = next(iter(node.mined))
    blips = iter([True, True, False])
    handle = node.handle

    def flaky(request: httpx.Request) -> httpx.Response:
        if next(blips, False):
            raise httpx.ConnectError("connection refused")
        return handle(request)

    node.handle = flaky  # type: ignore[method-assign]
    assert run(node, chain.wait_for_receipt(tx_hash))["status"] == "0x1"
    node.down = True
    node.handle = handle  # type: ignore[method-assign]
    with pytest.raises(TransactionUncertainError, match="receipt could not be read") as info:
        run(node, chain.wait_for_receipt(tx_hash, nonce=3))
    assert (info.value.tx_hash, info.value.nonce) == (tx_hash, 3)
