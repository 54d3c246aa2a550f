"""Encoding and decoding contract calls (pure), and the chain flows built on them.

``call`` reads a view function; ``transact`` sends a signed transaction through the wallet's lane
(one chain write at a time, nonces tracked locally so concurrent writers never reuse one), waits
for the receipt and turns reverts into :class:`~zerog_compute.errors.ContractRevertError` with the
decoded custom error.

A send that fails without proof of rejection is settled by hash and nonce (:func:`look_up`, :func:`judge`):
known → its receipt; its nonce taken by another mined transaction → signed again with the next nonce;
otherwise the same bytes are re-broadcast, and when that cannot settle it,
:class:`~zerog_compute.errors.TransactionUncertainError` carries the hash (:func:`settle` finishes it later).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from . import _abi
from ._io import Flow, Lane, Rpc, Sleep
from .errors import ChainError, ContractRevertError, InsufficientBalanceError, RpcError, TransactionUncertainError
from .signer import Wallet

log = logging.getLogger(__name__)

RECEIPT_TIMEOUT_S = 120.0
GAS_HEADROOM = 1.25
SEND_ATTEMPTS = 5
RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0)  # before each re-broadcast
RECEIPT_READ_FAILURES = 5
# what nodes answer when a transaction's nonce is taken or it is already in the pool (geth, anvil, others)
_CONFLICT = (
    "nonce too low",
    "already known",
    "already imported",
    "known transaction",
    "replacement transaction underpriced",
)
# answers that prove the node refused the transaction
_REJECTED = (
    "insufficient funds",
    "intrinsic gas",
    "gas limit",
    "transaction underpriced",
    "fee cap",
    "base fee",
    "nonce too high",
    "invalid sender",
    "invalid signature",
    "chain id",
    "oversized data",
    "execution reverted",
)


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


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction: its bytes, hash (keccak256 of the bytes), nonce and sender."""

    raw: bytes = field(repr=False)
    tx_hash: str
    nonce: int | None
    sender: str


@dataclass(frozen=True)
class Sighting:
    """What the chain said about a sent transaction; ``latest`` is None when the look-up failed."""

    known: bool = False
    latest: int | None = None
    pending: int | None = None


SendFailure = Literal["rejected", "conflict", "ambiguous"]
Verdict = Literal["known", "void", "unknown"]


def classify_send_error(exc: ChainError) -> SendFailure:
    """What a failed ``eth_sendRawTransaction`` proves.

    ``rejected``: the node refused it, it was not sent. ``conflict``: its nonce is taken or it is already
    known (look it up). ``ambiguous``: transport error, timeout or an unexplained RPC error, it may have been sent.
    """
    if not isinstance(exc, RpcError):
        return "ambiguous"
    if revert_from_rpc(exc) is not None:
        return "rejected"
    message = exc.rpc_message.lower()
    if any(phrase in message for phrase in _CONFLICT):
        return "conflict"
    if any(phrase in message for phrase in _REJECTED):
        return "rejected"
    return "ambiguous"


def judge(seen: Sighting, nonce: int | None) -> Verdict:
    """``known``: the chain has the transaction (pending or mined). ``void``: another mined transaction used its
    nonce, so it can never be mined. ``unknown``: neither can be told (yet)."""
    if seen.known:
        return "known"
    if nonce is not None and seen.latest is not None and seen.latest > nonce:
        return "void"
    return "unknown"


def transact(
    wallet: Wallet, chain_id: int, nonces: NonceTracker, contract: Contract, name: str, *args: Any, value: int = 0
) -> Flow[dict[str, Any]]:
    """Send ``name(*args)`` with ``value`` neuron and wait for a successful receipt.

    A send whose fate is unclear (the RPC dropped the connection, say) is looked up by hash and nonce, and
    re-broadcast byte for byte: never a second transaction while the first may still be mined. When that
    cannot settle it: :class:`~zerog_compute.errors.TransactionUncertainError` with the hash.
    """
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
    fields = {
        "to": to_checksum_address(contract.address),
        "data": request["data"],
        "value": value,
        "gas": int(gas * GAS_HEADROOM),
        "gasPrice": gas_price,
        "chainId": chain_id,
    }
    tx = _sign(wallet, fields, (yield from _next_nonce(nonces, pending)))
    log.info("sending %s(...) to %s in tx %s (nonce %s)", name, contract.address, tx.tx_hash, tx.nonce)
    tx = yield from _deliver(wallet, nonces, fields, tx, value)
    receipt = yield from _receipt(tx, RECEIPT_TIMEOUT_S)
    if int(receipt["status"], 16) != 1:
        yield from _raise_replayed_revert(request, receipt, name, tx.tx_hash)
    return receipt


def _sign(wallet: Wallet, fields: dict[str, Any], nonce: int) -> SignedTx:
    raw = wallet.sign_transaction({**fields, "nonce": nonce})
    return SignedTx(raw, "0x" + keccak(raw).hex(), nonce, wallet.address)


def _deliver(wallet: Wallet, nonces: NonceTracker, fields: dict[str, Any], tx: SignedTx, value: int) -> Flow[SignedTx]:
    """Broadcast until the chain has ``tx``; re-sign only when another transaction took its nonce for good."""
    fresh, seen = True, Sighting()
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            yield Sleep(RETRY_DELAYS_S[attempt - 1])
        failure = yield from _broadcast(tx)
        if failure is None:
            break
        kind = classify_send_error(failure)
        if fresh and kind == "rejected" and isinstance(failure, RpcError):
            raise _explain(failure, wallet, value) from None
        log.warning("sending tx %s (nonce %s) failed (%s: %s); looking it up", tx.tx_hash, tx.nonce, kind, failure)
        seen = yield from look_up(tx)
        verdict = judge(seen, tx.nonce)
        if verdict == "known":
            break
        fresh = verdict == "void"
        if fresh:
            tx = _renewed(wallet, nonces, fields, tx, seen, last=attempt == SEND_ATTEMPTS - 1)
    else:
        raise _uncertain(tx, seen, f"sending it failed ({failure})")
    nonces.next, nonces.last_hash = (tx.nonce or 0) + 1, tx.tx_hash
    return tx


def _renewed(
    wallet: Wallet, nonces: NonceTracker, fields: dict[str, Any], tx: SignedTx, seen: Sighting, *, last: bool
) -> SignedTx:
    """``tx`` can never be mined (another transaction used its nonce): resynchronise and sign it again."""
    if last:
        raise ChainError(
            f"nonce {tx.nonce} of {tx.sender} went to another transaction (another writer on this wallet?), so "
            f"transaction {tx.tx_hash} was not sent and never will be; retrying is safe"
        )
    nonces.next = seen.pending if seen.pending is not None else (tx.nonce or 0) + 1
    renewed = _sign(wallet, fields, nonces.next)
    log.warning(
        "nonce %s of %s went to another transaction: %s will never be mined; signing it again as %s (nonce %s)",
        tx.nonce,
        tx.sender,
        tx.tx_hash,
        renewed.tx_hash,
        renewed.nonce,
    )
    return renewed


def _broadcast(tx: SignedTx) -> Flow[ChainError | None]:
    """``eth_sendRawTransaction`` of the signed bytes; the error when the node did not take them."""
    try:
        returned = yield Rpc("eth_sendRawTransaction", ("0x" + tx.raw.hex(),))
    except ChainError as exc:
        return exc
    if str(returned).lower() != tx.tx_hash:
        log.warning("the RPC answered tx hash %s for transaction %s", returned, tx.tx_hash)
    return None


def look_up(tx: SignedTx) -> Flow[Sighting]:
    """The sender's mined and pending nonce counts, then whether the chain knows ``tx`` by hash.

    In that order, so a transaction mined in between is seen by hash. Any failure: an empty ``Sighting``.
    """
    try:
        latest = int((yield Rpc("eth_getTransactionCount", (tx.sender, "latest"))), 16)
        pending = int((yield Rpc("eth_getTransactionCount", (tx.sender, "pending"))), 16)
        found = yield Rpc("eth_getTransactionByHash", (tx.tx_hash,))
    except ChainError as exc:
        log.warning("could not look up tx %s: %s", tx.tx_hash, exc)
        return Sighting()
    return Sighting(found is not None, latest, pending)


def settle(wallet: Wallet, uncertain: TransactionUncertainError) -> Flow[dict[str, Any] | None]:
    """Settle an uncertain transaction: its receipt once the chain has it, None when it can never be mined.

    Re-broadcasts the very same signed bytes (never a new transaction), so calling it again is safe; when
    the question still cannot be answered: TransactionUncertainError again.
    """
    tx = SignedTx(uncertain.raw_transaction or b"", uncertain.tx_hash, uncertain.nonce, wallet.address)
    failure = (yield from _broadcast(tx)) if tx.raw else None
    if failure is None and tx.raw:
        return (yield from _receipt(tx, RECEIPT_TIMEOUT_S))
    seen = yield from look_up(tx)
    verdict = judge(seen, tx.nonce)
    if verdict == "known":
        return (yield from _receipt(tx, RECEIPT_TIMEOUT_S))
    if verdict == "void":
        log.info("nonce %s of %s went to another transaction: %s will never be mined", tx.nonce, tx.sender, tx.tx_hash)
        return None
    raise _uncertain(tx, seen, "it is still unsettled")


def _uncertain(tx: SignedTx, seen: Sighting, why: str) -> TransactionUncertainError:
    if seen.latest is None:
        state = "the RPC could not tell whether it has it"
    elif seen.pending is not None and tx.nonce is not None and seen.pending > tx.nonce:
        state = f"another pending transaction holds nonce {tx.nonce}"
    else:
        state = "the node does not know it (yet)"
    return TransactionUncertainError(
        f"transaction {tx.tx_hash} (nonce {tx.nonce} of {tx.sender}) may have been sent: {why}; {state}. "
        f"Check it before retrying (eth_getTransactionByHash {tx.tx_hash}, or an explorer): if it is pending or "
        f"mined, do not send again; once {tx.sender}'s nonce count is past {tx.nonce} without it, it never will be",
        tx_hash=tx.tx_hash,
        nonce=tx.nonce,
        raw_transaction=tx.raw or None,
    )


def _explain(exc: RpcError, wallet: Wallet, value: int) -> ChainError | InsufficientBalanceError:
    revert = revert_from_rpc(exc)
    if revert is not None:
        return revert
    if "insufficient funds" in exc.rpc_message.lower():
        return InsufficientBalanceError(
            f"wallet {wallet.address} cannot pay {value} neuron plus gas: fund the wallet with 0G first"
        )
    return exc


def wait_for_receipt(
    tx_hash: str, timeout: float = RECEIPT_TIMEOUT_S, *, nonce: int | None = None
) -> Flow[dict[str, Any]]:
    """Poll for the receipt with a growing interval (50 ms → 1 s).

    TransactionUncertainError when it is not mined within ``timeout`` or the RPC keeps failing.
    """
    return (yield from _receipt(SignedTx(b"", tx_hash, nonce, ""), timeout))


def _receipt(tx: SignedTx, timeout: float) -> Flow[dict[str, Any]]:
    waited, delay, failures = 0.0, 0.05, 0
    while waited < timeout:
        try:
            receipt = yield Rpc("eth_getTransactionReceipt", (tx.tx_hash,))
        except ChainError as exc:
            failures += 1
            if failures >= RECEIPT_READ_FAILURES:
                raise _unread(tx, f"its receipt could not be read ({exc})") from exc
            receipt = None
        else:
            failures = 0
        if receipt:
            return receipt  # type: ignore[no-any-return]
        yield Sleep(delay)
        waited += delay
        delay = min(delay * 2, 1.0)
    raise _unread(tx, f"it was not mined within {timeout:.0f}s")


def _unread(tx: SignedTx, why: str) -> TransactionUncertainError:
    return TransactionUncertainError(
        f"transaction {tx.tx_hash} (nonce {tx.nonce}) was sent but {why}: check it (eth_getTransactionReceipt "
        f"{tx.tx_hash}, or an explorer) before retrying; it may still be mined",
        tx_hash=tx.tx_hash,
        nonce=tx.nonce,
        raw_transaction=tx.raw or None,
    )


def _raise_replayed_revert(request: dict[str, Any], receipt: dict[str, Any], name: str, tx_hash: str) -> Flow[None]:
    try:
        yield Rpc("eth_call", (request, receipt["blockNumber"]))
    except RpcError as exc:
        revert = revert_from_rpc(exc)
        if revert is not None:
            raise revert from None
    raise ContractRevertError(f"{name} reverted in transaction {tx_hash}")
