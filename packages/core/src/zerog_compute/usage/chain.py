"""Reading a wallet's settlements from the InferenceServing contract's events, paged by block range and cached.

A provider settles with ``settleFeesWithTEE``; for each user it settles, the contract emits
``BalanceUpdated(user, provider, balance, pendingRefund)`` (the sub-account's new balance) and right after it
``TEESettlementResult(user, status, unsettledAmount)``. ``BalanceUpdated`` alone is a deposit, a transfer or a
refund. Both events index the user, so one ``eth_getLogs`` filter (both topics, our address) finds them all;
a settlement's amount is the balance before minus the balance after (:func:`fold`).

The scan of ``[start, latest]`` is cached in the usage store with the hash of its last block: the next run
reads only newer blocks, and starts again from ``start`` when that block changed (a devnet reverted, a reorg).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.crypto import keccak

from .._abi import INFERENCE_ABI, signature_text
from .._io import Flow, Rpc
from ..errors import RpcError
from .model import Settlement
from .store import UsageStore

SUCCESS, PARTIAL = 0, 1
PAGE_BLOCKS = 5_000
"""Blocks per ``eth_getLogs`` call at first; halved while the node refuses a range as too large."""
_TOO_LARGE = ("range", "limit", "too many", "too large", "exceed", "results", "response size")


def _topic(name: str) -> str:
    entry = next(e for e in INFERENCE_ABI if e["type"] == "event" and e["name"] == name)
    return "0x" + keccak(text=signature_text(entry)).hex()


BALANCE_UPDATED = _topic("BalanceUpdated")
SETTLEMENT_RESULT = _topic("TEESettlementResult")


@dataclass(frozen=True)
class Log:
    """One of our events, decoded: ``provider``/``balance`` for BalanceUpdated, ``status``/``unsettled`` else."""

    block: int
    tx_hash: str
    index: int
    settlement_result: bool
    provider: str = ""
    balance: int = 0
    status: int = 0
    unsettled: int = 0


def decode_log(raw: dict[str, Any]) -> Log | None:
    """A log of ``eth_getLogs`` as a :class:`Log`; None for anything else, malformed logs included."""
    try:
        return _decode(raw)
    except (KeyError, ValueError, TypeError, IndexError):
        return None


def _decode(raw: dict[str, Any]) -> Log | None:
    topics, data = raw.get("topics") or [], str(raw.get("data") or "0x")[2:]
    words = [int(data[i : i + 64], 16) for i in range(0, len(data) - 63, 64)]
    if not topics or len(words) < 2:
        return None
    block, index = int(str(raw["blockNumber"]), 16), int(str(raw["logIndex"]), 16)
    tx_hash = str(raw["transactionHash"]).lower()
    topic = str(topics[0]).lower()
    if topic == BALANCE_UPDATED and len(topics) >= 3:
        provider = "0x" + str(topics[2])[-40:].lower()
        return Log(block, tx_hash, index, settlement_result=False, provider=provider, balance=words[0])
    if topic == SETTLEMENT_RESULT:
        return Log(block, tx_hash, index, settlement_result=True, status=words[0], unsettled=words[1])
    return None


def fold(logs: Sequence[Log], balances: dict[str, int]) -> list[Settlement]:
    """The settlements among ``logs`` (pure). ``balances`` (provider → last known balance) is read and updated:
    a settlement's amount is the balance before it minus the balance it leaves, None when the balance before
    it is unknown (it lies before the scanned range). A ``TEESettlementResult`` with no ``BalanceUpdated`` just
    before it in the same transaction moved nothing (a failed or empty settlement) and is skipped."""
    ordered = sorted(logs, key=lambda log: (log.block, log.index))
    found: list[Settlement] = []
    for i, log in enumerate(ordered):
        if log.settlement_result:
            continue
        after = ordered[i + 1] if i + 1 < len(ordered) else None
        if after is not None and after.settlement_result and after.tx_hash == log.tx_hash:
            before = balances.get(log.provider)
            amount = None if before is None else before - log.balance
            found.append(
                Settlement(
                    block=log.block,
                    tx_hash=log.tx_hash,
                    log_index=log.index,
                    provider=log.provider,
                    amount=amount,
                    status=after.status,
                    unsettled=after.unsettled,
                )
            )
        balances[log.provider] = log.balance
    return found


def pages(start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """``[start, end]`` in inclusive block ranges of at most ``size`` blocks (pure)."""
    while start <= end:
        yield start, min(end, start + size - 1)
        start += size


def too_large(exc: RpcError) -> bool:
    """Whether a node refused an ``eth_getLogs`` range as too wide or its answer as too big."""
    text = str(exc).lower()
    return getattr(exc, "code", None) == -32005 or any(word in text for word in _TOO_LARGE)


def get_logs(contract: str, user: str, start: int, end: int, size: int = PAGE_BLOCKS) -> Flow[list[Log]]:
    """Our events in ``[start, end]``, page by page; a page the node refuses as too large is split."""
    user_topic = "0x" + user.lower().removeprefix("0x").rjust(64, "0")
    logs: list[Log] = []
    cursor = start
    while cursor <= end:
        last = min(end, cursor + size - 1)
        query = {
            "address": contract,
            "fromBlock": hex(cursor),
            "toBlock": hex(last),
            "topics": [[BALANCE_UPDATED, SETTLEMENT_RESULT], user_topic],
        }
        try:
            raw = yield Rpc("eth_getLogs", (query,))
        except RpcError as exc:
            if size == 1 or not too_large(exc):
                raise
            size = max(1, size // 2)
            continue
        logs.extend(log for item in raw if isinstance(item, dict) and (log := decode_log(item)) is not None)
        cursor = last + 1
    return logs


def block_hash(number: int) -> Flow[str | None]:
    block = yield Rpc("eth_getBlockByNumber", (hex(number), False))
    return str(block["hash"]).lower() if isinstance(block, dict) and block.get("hash") else None


def block_time(number: int) -> Flow[float]:
    block = yield Rpc("eth_getBlockByNumber", (hex(number), False))
    return float(int(str(block["timestamp"]), 16))


@dataclass
class Scan:
    """What is known of ``[start, to]``: the settlements and each provider's last balance."""

    start: int
    to: int = -1
    hash: str | None = None
    balances: dict[str, int] = field(default_factory=dict)
    settlements: list[Settlement] = field(default_factory=list)
    blocks_read: int = 0

    def dump(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "to": self.to,
            "hash": self.hash,
            "balances": {p: str(b) for p, b in self.balances.items()},
            "settlements": [s.model_dump(mode="json") for s in self.settlements],
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> Scan:
        return cls(
            int(data["start"]),
            int(data["to"]),
            data.get("hash"),
            {p: int(b) for p, b in data["balances"].items()},
            [Settlement.model_validate(s) for s in data["settlements"]],
        )


def scan_key(chain_id: int, contract: str, wallet: str, start: int) -> str:
    return f"{chain_id}:{contract.lower()}:{wallet.lower()}:{start}"


def scan(store: UsageStore, chain_id: int, contract: str, wallet: str, start: int, end: int) -> Flow[Scan]:
    """The settlements of ``wallet`` in ``[start, end]``: the cached part, plus the blocks after it read now."""
    key = scan_key(chain_id, contract, wallet, start)
    cached = store.load_scan(key)
    known = Scan.load(cached) if cached else Scan(start)
    if known.to >= start and (known.to > end or (yield from block_hash(known.to)) != known.hash):
        known = Scan(start)  # the chain changed under the cache (or a shorter range is asked): read again
    yield from extend(known, contract, wallet, end)
    store.save_scan(key, known.dump())
    return known


def extend(known: Scan, contract: str, wallet: str, end: int) -> Flow[list[Settlement]]:
    """Read ``(known.to, end]`` into ``known``; return the settlements found there."""
    first = max(known.start, known.to + 1)
    if first > end:
        return []
    logs = yield from get_logs(contract, wallet, first, end)
    new = fold(logs, known.balances)
    times: dict[int, float] = {}
    for block in sorted({s.block for s in new}):
        times[block] = yield from block_time(block)
    new = [s.model_copy(update={"time": times[s.block]}) for s in new]
    known.settlements.extend(new)
    known.blocks_read += end - first + 1
    known.to, known.hash = end, (yield from block_hash(end))
    return new
