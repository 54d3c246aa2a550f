"""Reconciliation: the fees we recorded, per provider, against what the provider settled on chain plus what it
still holds unsettled. See ``docs/usage.md`` for what a match proves.

:func:`audit` is the pure comparison; :func:`reconcile` is the flow that gathers its inputs (the usage
ledger, the chain's events via :mod:`.chain`, each provider's ``/unsettledfee``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .. import funding
from .._context import Context
from .._io import Flow, Rpc
from ..errors import ConfigurationError, ZeroGError
from ..units import format_0g
from . import chain
from .ledger import UsageLedger
from .model import AuditStatus, ProviderAudit, Reconciliation, Settlement, UnexplainedSettlement, UsageRecord

log = logging.getLogger("zerog_compute.usage")

UNSETTLED_TIMEOUT_S = 5.0
CLOCK_SLACK_S = 120.0
"""A request recorded up to this long after a settlement's block time may still be in it (clocks differ, and
block timestamps are whole seconds)."""
CATCH_UP_ROUNDS = 3
"""Times the scan catches up with blocks mined while the providers were asked for their unsettled fees."""


def audit(
    provider: str, records: Sequence[UsageRecord], settlements: Sequence[Settlement], unsettled: int | None
) -> ProviderAudit:
    """Compare one provider's recorded fees with its settled + unsettled fees (pure)."""
    recorded = sum(r.fee for r in records)
    amounts = [s.amount for s in settlements]
    settled = None if any(a is None for a in amounts) else sum(a for a in amounts if a is not None)
    status: AuditStatus
    difference: int | None = None
    if settled is None:
        status, detail = "incomplete", "a settlement's balance before lies before the scanned range (scan from earlier)"
    elif unsettled is None:
        status, detail = "incomplete", "the provider's unsettled fee could not be read"
    else:
        difference = settled + unsettled - recorded
        status, detail = _judge(difference, bool(records))
    return ProviderAudit(
        unexplained=unexplained(records, settlements),
        provider=provider,
        requests=len(records),
        recorded=recorded,
        settled=settled,
        unsettled=unsettled,
        settlements=len(settlements),
        status=status,
        difference=difference,
        detail=detail,
    )


def unexplained(
    records: Sequence[UsageRecord], settlements: Sequence[Settlement], slack: float = CLOCK_SLACK_S
) -> list[UnexplainedSettlement]:
    """Settlements (in chain order) that took the running total of settled fees past the fees of every request
    recorded before them, each with the excess it added (pure). Settlements without an amount or a time are
    passed over."""
    fees = sorted((r.time, r.fee) for r in records)
    found: list[UnexplainedSettlement] = []
    settled = worst = 0
    for s in sorted(settlements, key=lambda s: (s.block, s.log_index)):
        if s.amount is None or s.time is None:
            continue
        settled += s.amount
        excess = settled - sum(fee for at, fee in fees if at <= s.time + slack)
        if excess > worst:
            found.append(UnexplainedSettlement(block=s.block, tx_hash=s.tx_hash, amount=excess - worst))
            worst = excess
    return found


def _judge(difference: int, used: bool) -> tuple[AuditStatus, str]:
    if not used and difference > 0:
        return "never_used", f"charges {format_0g(difference)} for requests we never made (no record)"
    if difference > 0:
        return "overcharge", f"charges {format_0g(difference)} more than the recorded requests cost"
    if difference < 0:
        return "undercharge", f"charges {format_0g(-difference)} less than the recorded requests cost"
    return "match", "settled + unsettled equals the recorded fees"


def audit_all(
    records: Sequence[UsageRecord],
    settlements: Sequence[Settlement],
    unsettled: dict[str, int | None],
    providers: Sequence[str] | None = None,
) -> list[ProviderAudit]:
    """:func:`audit` for every provider in the records, the settlements or ``unsettled`` (or ``providers``)."""
    names = providers or sorted({r.provider for r in records} | {s.provider for s in settlements} | set(unsettled))
    return [
        audit(
            p.lower(),
            [r for r in records if r.provider == p.lower()],
            [s for s in settlements if s.provider == p.lower()],
            unsettled.get(p.lower()),
        )
        for p in names
    ]


def _unsettled(ctx: Context, provider: str, timeout: float) -> Flow[int | None]:
    try:
        return (yield from funding.provider_unsettled_fee(ctx, provider, timeout=timeout))
    except ZeroGError as exc:  # gone from the registry, sub-account not acknowledged: cannot tell
        log.info("the unsettled fee of %s is unknown: %s", provider, exc)
        return None


def reconcile(
    ctx: Context,
    ledger: UsageLedger,
    *,
    from_block: int = 0,
    to_block: int | None = None,
    providers: Sequence[str] | None = None,
    unsettled_timeout: float = UNSETTLED_TIMEOUT_S,
) -> Flow[Reconciliation]:
    """Audit the wallet's Direct-mode usage against the chain over ``[from_block, to_block]`` (default: latest).

    Records count from the timestamp of ``from_block`` (all records when it is 0). The unsettled fees are
    read only up to the latest block (a past block's are unknown: ``incomplete``).
    """
    if from_block < 0 or (to_block is not None and to_block < from_block):
        raise ConfigurationError(f"bad block range: from {from_block} to {to_block}")
    wallet, contract, chain_id = ctx.user.lower(), ctx.network.inference, ctx.network.chain_id
    latest = int(str((yield Rpc("eth_blockNumber"))), 16)
    end = latest if to_block is None else min(to_block, latest)
    known = yield from chain.scan(ledger.store, chain_id, contract, wallet, from_block, end)
    since = (yield from chain.block_time(from_block)) if from_block > 0 else None
    until = (yield from chain.block_time(end)) + 1 if to_block is not None else None
    records = ledger.records(wallet=wallet, chain_id=chain_id, backend="direct", since=since, until=until)
    names = [p.lower() for p in providers] if providers else None
    wanted = names or sorted({r.provider for r in records} | {s.provider for s in known.settlements})
    unsettled: dict[str, int | None] = dict.fromkeys(wanted)
    if to_block is None:
        for provider in wanted:
            unsettled[provider] = yield from _unsettled(ctx, provider, unsettled_timeout)
        end = yield from _catch_up(ctx, known, contract, wallet, unsettled, unsettled_timeout)
        ledger.store.save_scan(chain.scan_key(chain_id, contract, wallet, from_block), known.dump())
    in_range = [s for s in known.settlements if s.block <= end]
    return Reconciliation(
        chain_id=chain_id,
        wallet=wallet,
        contract=contract,
        from_block=from_block,
        to_block=end,
        since=since,
        providers=audit_all(records, in_range, unsettled, wanted),
        settlements=in_range,
        blocks_read=known.blocks_read,
    )


def _catch_up(
    ctx: Context, known: chain.Scan, contract: str, wallet: str, unsettled: dict[str, int | None], timeout: float
) -> Flow[int]:
    """Read blocks mined while the unsettled fees were asked; a provider that settled meanwhile is asked again
    (its fees moved from unsettled to settled). Returns the last block read."""
    for _ in range(CATCH_UP_ROUNDS):
        latest = int(str((yield Rpc("eth_blockNumber"))), 16)
        moved = {s.provider for s in (yield from chain.extend(known, contract, wallet, latest))}
        if not moved:
            return known.to
        for provider in moved & set(unsettled):
            unsettled[provider] = yield from _unsettled(ctx, provider, timeout)
    return known.to
