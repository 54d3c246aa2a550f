"""Delayed settlement: batch the unsettled fee rows per user and call ``settleFeesWithTEE``.

Each user's rows become one ``TEESettlementData`` signed (EIP-712) by the TEE key, sent from the
provider wallet in batches of at most 50, on an interval, so sub-account balances drop in
batches. Statuses follow the contract: SUCCESS/PARTIAL settle (rows deleted), NO_TEE_SIGNER is
permanent (rows dropped), the rest are retried on the next round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3
from web3.logs import DISCARD

from . import signing
from .runtime import ProviderRuntime

log = logging.getLogger(__name__)

BATCH = 50
SUCCESS, PARTIAL, PROVIDER_MISMATCH, NO_TEE_SIGNER, INVALID_NONCE, INVALID_SIGNATURE = range(6)
_FINAL = {SUCCESS, PARTIAL, NO_TEE_SIGNER}


@dataclass
class Item:
    """One user's settlement and the rows it covers."""

    user: str
    rows: list[Any]
    data: tuple[Any, ...]


class Settler:
    """Settlement loop of one provider; ``settle_once`` can also be called on demand."""

    def __init__(self, rt: ProviderRuntime) -> None:
        self.rt = rt
        self.lock = asyncio.Lock()
        self._last_nonce: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.rt.config.settle_interval)
            try:
                await self.settle_once()
            except RuntimeError as exc:
                if "shutdown" in str(exc):  # interpreter exiting: executors are gone
                    return
                log.exception("settlement round of %s failed", self.rt.config.name)
            except Exception:
                log.exception("settlement round of %s failed", self.rt.config.name)

    async def settle_once(self) -> dict[str, Any]:
        """Run one full settlement round now; returns a summary."""
        async with self.lock:
            if not await self.rt.tee_signer_acknowledged():
                return {"settled": "0", "users": 0, "skipped": "TEE signer not acknowledged"}
            items = await self._build_items()
            settled = 0
            for start in range(0, len(items), BATCH):
                settled += await self._send(items[start : start + BATCH])
            self.rt.settled_total += settled
            return {"settled": str(settled), "users": len(items)}

    async def _build_items(self) -> list[Item]:
        items = []
        for user, rows in self.rt.fees.pending_by_user().items():
            total = sum(row.fee for row in rows) + max(0, self.rt.faults.state.overcharge)
            if total <= 0 or total < self.rt.config.min_settlement_fee:
                continue
            account = await self.rt.get_account(user)
            if account is None:
                self.rt.fees.drop_user(user)
                continue
            nonce = max(int(time.time()) * 10_000_000, account.nonce + 1, self._last_nonce.get(user, 0) + 1)
            self._last_nonce[user] = nonce
            checksummed = AsyncWeb3.to_checksum_address(user)
            items.append(Item(checksummed, rows, self._sign(checksummed, rows, total, nonce)))
        return items

    def _sign(self, user: str, rows: list[Any], total: int, nonce: int) -> tuple[Any, ...]:
        cfg = self.rt.config
        requests_hash = signing.requests_hash([row.hash_fields for row in rows])
        signature = signing.sign_settlement(
            chain_id=cfg.chain_id,
            verifying_contract=cfg.inference_address,
            requests_hash=requests_hash,
            nonce=nonce,
            provider=cfg.address,
            user=user,
            total_fee=total,
            private_key=cfg.tee_private_key,
        )
        return (user, cfg.address, total, requests_hash, nonce, signature)

    async def _send(self, batch: list[Item]) -> int:
        rt, cfg = self.rt, self.rt.config
        for item in batch:
            rt.fees.mark_settling(item.rows)
        call = rt.inference.functions.settleFeesWithTEE([item.data for item in batch])
        try:
            statuses = await call.call({"from": cfg.address})
            receipt = await self._transact(call)
        except Exception:
            log.exception("settleFeesWithTEE from %s failed", cfg.name)
            for item in batch:
                rt.fees.release(item.rows)
            return 0
        unsettled = _unsettled_by_user(rt, receipt)
        settled = 0
        for item, status in zip(batch, statuses, strict=True):
            if status in _FINAL:
                rt.fees.settled(item.rows)
                if status != NO_TEE_SIGNER:
                    settled += item.data[2] - unsettled.get(item.user.lower(), 0)
            else:
                log.warning("settlement for %s returned status %s; will retry", item.user, status)
                rt.fees.release(item.rows)
        return settled

    async def _transact(self, call: Any) -> Any:
        rt, cfg = self.rt, self.rt.config
        sender = AsyncWeb3.to_checksum_address(cfg.address)
        nonce = await rt.w3.eth.get_transaction_count(sender, "pending")
        tx = await call.build_transaction({"from": cfg.address, "nonce": nonce, "chainId": cfg.chain_id})
        signed = Account.sign_transaction(tx, cfg.private_key)
        tx_hash = await rt.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = await rt.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.02)
        if receipt["status"] != 1:
            raise RuntimeError(f"settleFeesWithTEE reverted: {tx_hash.hex()}")
        return receipt


def _unsettled_by_user(rt: ProviderRuntime, receipt: Any) -> dict[str, int]:
    events = rt.inference.events.TEESettlementResult().process_receipt(receipt, errors=DISCARD)
    return {str(e["args"]["user"]).lower(): int(e["args"]["unsettledAmount"]) for e in events}
