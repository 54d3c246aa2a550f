"""Encoding and decoding contract calls (pure), and the chain flows built on them.

``call`` reads a view function; ``transact`` sends a signed transaction through the wallet's lane
(one chain write at a time, nonces tracked locally so concurrent writers never reuse one), waits
for the receipt and turns reverts into :class:`~zerog_compute.errors.ContractRevertError` with the
decoded custom error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address

from . import _abi
from ._io import Flow, Lane, Rpc, Sleep
from .errors import ChainError, ContractRevertError, InsufficientBalanceError, RpcError
from .signer import Wallet

log = logging.getLogger(__name__)

RECEIPT_TIMEOUT_S = 120.0
GAS_HEADROOM = 1.25


def _named(value: Any, param: dict[str, Any]) -> Any:
    """Turn decoded tuples into dicts keyed by the ABI component names (recursively)."""
    kind = str(param["type"])
    if not kind.startswith("tuple"):
        return value
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return [_named(item, element) for item in value]
    return {c["name"]: _named(v, c) for c, v in zip(param["components"], value, strict=True)}


@dataclass(frozen=True)
class Contract:
    """A contract address plus the ABI fragments the client uses."""

    address: str
    abi: Sequence[dict[str, Any]]
    _functions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for entry in self.abi:
            if entry.get("type") == "function":
                self._functions[entry["name"]] = entry

    def function(self, name: str) -> dict[str, Any]:
        return self._functions[name]

    def encode(self, name: str, args: Sequence[Any]) -> str:
        """Calldata for ``name(*args)``."""
        fn = self.function(name)
        types = [_abi.canonical_type(p) for p in fn["inputs"]]
        selector = function_abi_to_4byte_selector(fn)  # type: ignore[arg-type]
        return "0x" + (selector + abi_encode(types, list(args))).hex()

    def decode(self, name: str, data: str) -> Any:
        """Decode the return data of ``name``: one output → the value, several → a tuple."""
        fn = self.function(name)
        raw = bytes.fromhex(data[2:] if data.startswith("0x") else data)
        values = abi_decode([_abi.canonical_type(p) for p in fn["outputs"]], raw)
        named = [_named(v, p) for v, p in zip(values, fn["outputs"], strict=True)]
        return named[0] if len(named) == 1 else tuple(named)


def revert_from_rpc(exc: RpcError) -> ContractRevertError | None:
    """The decoded custom error inside a JSON-RPC error, if it carries revert data."""
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return None
    decoded = _abi.decode_revert(data)
    if decoded is None:
        return ContractRevertError(f"contract reverted with unknown error data {data[:10]}")
    name, args = decoded
    return ContractRevertError(_abi.revert_message(name, args), error_name=name, error_args=args)


def call(contract: Contract, name: str, *args: Any, block: str = "latest") -> Flow[Any]:
    """Read a view function."""
    request = {"to": contract.address, "data": contract.encode(name, args)}
    try:
        raw = yield Rpc("eth_call", (request, block))
    except RpcError as exc:
        raise revert_from_rpc(exc) or exc from None
    return contract.decode(name, raw)


@dataclass
class NonceTracker:
    """The next nonce the wallet's clients will use, and the hash of the last transaction they sent."""

    next: int = 0
    last_hash: str | None = None


def _next_nonce(nonces: NonceTracker, pending: int) -> Flow[int]:
    """The chain's pending count, unless it lags behind a transaction we sent that the node still knows."""
    if nonces.next <= pending or nonces.last_hash is None:
        return pending
    known = yield Rpc("eth_getTransactionByHash", (nonces.last_hash,))
    return nonces.next if known else pending  # unknown: dropped, or the chain went back (a devnet revert)


def transact(
    wallet: Wallet, chain_id: int, nonces: NonceTracker, contract: Contract, name: str, *args: Any, value: int = 0
) -> Flow[dict[str, Any]]:
    """Send ``name(*args)`` with ``value`` neuron and wait for a successful receipt."""
    receipt = yield Lane(_send(wallet, chain_id, nonces, contract, name, args, value))
    return receipt  # type: ignore[no-any-return]


def _send(
    wallet: Wallet, chain_id: int, nonces: NonceTracker, contract: Contract, name: str, args: Sequence[Any], value: int
) -> Flow[dict[str, Any]]:
    request = {"from": wallet.address, "to": contract.address, "data": contract.encode(name, args), "value": hex(value)}
    try:
        gas = int((yield Rpc("eth_estimateGas", (request,))), 16)
    except RpcError as exc:
        raise _explain(exc, wallet, value) from None
    gas_price = int((yield Rpc("eth_gasPrice")), 16)
    pending = int((yield Rpc("eth_getTransactionCount", (wallet.address, "pending"))), 16)
    nonce = yield from _next_nonce(nonces, pending)
    tx = {
        "to": to_checksum_address(contract.address),
        "data": request["data"],
        "value": value,
        "gas": int(gas * GAS_HEADROOM),
        "gasPrice": gas_price,
        "nonce": nonce,
        "chainId": chain_id,
    }
    raw = wallet.sign_transaction(tx)
    try:
        tx_hash = yield Rpc("eth_sendRawTransaction", ("0x" + raw.hex(),))
    except RpcError as exc:
        raise _explain(exc, wallet, value) from None
    nonces.next, nonces.last_hash = nonce + 1, str(tx_hash)
    log.info("sent %s(...) to %s in tx %s (nonce %d)", name, contract.address, tx_hash, nonce)
    receipt = yield from wait_for_receipt(str(tx_hash))
    if int(receipt["status"], 16) != 1:
        yield from _raise_replayed_revert(request, receipt, name, str(tx_hash))
    return receipt


def _explain(exc: RpcError, wallet: Wallet, value: int) -> ChainError | InsufficientBalanceError:
    revert = revert_from_rpc(exc)
    if revert is not None:
        return revert
    if "insufficient funds" in exc.rpc_message.lower():
        return InsufficientBalanceError(
            f"wallet {wallet.address} cannot pay {value} neuron plus gas: fund the wallet with 0G first"
        )
    return exc


def wait_for_receipt(tx_hash: str, timeout: float = RECEIPT_TIMEOUT_S) -> Flow[dict[str, Any]]:
    """Poll for the receipt with a growing interval (50 ms → 1 s)."""
    waited, delay = 0.0, 0.05
    while waited < timeout:
        receipt = yield Rpc("eth_getTransactionReceipt", (tx_hash,))
        if receipt:
            return receipt  # type: ignore[no-any-return]
        yield Sleep(delay)
        waited += delay
        delay = min(delay * 2, 1.0)
    raise ChainError(f"transaction {tx_hash} not mined after {timeout:.0f}s; check it on the explorer before retrying")


def _raise_replayed_revert(request: dict[str, Any], receipt: dict[str, Any], name: str, tx_hash: str) -> Flow[None]:
    try:
        yield Rpc("eth_call", (request, receipt["blockNumber"]))
    except RpcError as exc:
        revert = revert_from_rpc(exc)
        if revert is not None:
            raise revert from None
    raise ContractRevertError(f"{name} reverted in transaction {tx_hash}")
