"""The typed records of the usage ledger and of a reconciliation (pydantic: ``model_dump(mode="json")`` ready).

Amounts are in neuron (1 0G = 10**18 neuron) as Python ints; ``*_0g`` properties give them in 0G.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NEURON_PER_0G = 10**18
BackendName = Literal["direct", "router"]
AuditStatus = Literal["match", "overcharge", "undercharge", "never_used", "incomplete"]
"""``match``: recorded = settled + unsettled; ``overcharge``: the provider claims more than we recorded;
``undercharge``: less; ``never_used``: charges from a provider we have no record of using at all;
``incomplete``: a figure could not be read (the unsettled fee, or a settlement before the scanned range)."""


def _in_0g(neuron: int | None) -> Decimal | None:
    return None if neuron is None else Decimal(neuron) / NEURON_PER_0G


class UsageRecord(BaseModel):
    """One finished, billed request as the client saw it. Holds no secret (no key, token, prompt or answer)."""

    model_config = ConfigDict(frozen=True)

    id: str
    """A random id of this record (hex)."""
    time: float
    """When the response was complete (Unix seconds, UTC)."""
    chain_id: int
    wallet: str
    """The paying wallet (lower-case 0x address; empty for a Router client without a wallet)."""
    backend: BackendName
    provider: str
    """The provider that served it (lower-case 0x address; the Router's serving provider in Router mode)."""
    model: str
    service_type: str = "chatbot"
    chat_id: str | None = None
    request_id: str | None = None
    """The Router's request id (Router mode)."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    fee: int = 0
    """The fee charged, by the broker's formulas (neuron)."""
    verdict: str = "pending"
    """The verification verdict (``verified``, ``skipped``, ``invalid_signature``, …); ``pending`` until known."""
    latency_ms: float | None = None

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.time, tz=timezone.utc)

    @property
    def fee_0g(self) -> Decimal:
        return Decimal(self.fee) / NEURON_PER_0G


class UsageFilter(BaseModel):
    """Which records to read: every field narrows (None: no condition). ``since`` is inclusive, ``until`` not."""

    model_config = ConfigDict(frozen=True)

    wallet: str | None = None
    chain_id: int | None = None
    provider: str | None = None
    model: str | None = None
    backend: BackendName | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = Field(default=None, gt=0)
    """The newest ``limit`` records (all when None)."""

    def matches(self, record: UsageRecord) -> bool:
        """Whether ``record`` passes this filter (``limit`` aside)."""
        checks = (
            self.wallet is None or record.wallet == self.wallet.lower(),
            self.chain_id is None or record.chain_id == self.chain_id,
            self.provider is None or record.provider == self.provider.lower(),
            self.model is None or record.model == self.model,
            self.backend is None or record.backend == self.backend,
            self.since is None or record.time >= self.since,
            self.until is None or record.time < self.until,
        )
        return all(checks)


class UsageTotals(BaseModel):
    """Requests, tokens and fees of one group (a day, a provider, or a day and a provider)."""

    day: str | None = None
    """``YYYY-MM-DD`` (UTC) when grouped by day."""
    provider: str | None = None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    fee: int = 0

    @property
    def fee_0g(self) -> Decimal:
        return Decimal(self.fee) / NEURON_PER_0G


class Settlement(BaseModel):
    """One settlement of this wallet's fees by a provider, read from the chain's events."""

    model_config = ConfigDict(frozen=True)

    block: int
    tx_hash: str
    log_index: int
    provider: str
    amount: int | None
    """What the provider took from the sub-account (neuron): the balance before minus after. None when the
    balance before lies before the scanned range."""
    status: int
    """The contract's ``SettlementStatus``: 0 success, 1 partial (the rest stays unsettled)."""
    unsettled: int = 0
    """What the contract could not settle for lack of balance (``TEESettlementResult.unsettledAmount``)."""
    time: float | None = None
    """The block's timestamp (Unix seconds)."""


class UnexplainedSettlement(BaseModel):
    """A settlement that took more than every recorded request made before it could account for."""

    block: int
    tx_hash: str
    amount: int
    """The excess this settlement added (neuron): what it settled for requests not made (yet)."""


class ProviderAudit(BaseModel):
    """The reconciliation of one provider: what we recorded against what the provider claims."""

    provider: str
    requests: int
    recorded: int
    """Fees of our recorded requests (neuron)."""
    settled: int | None
    """Fees settled on chain in the range (neuron); None when a settlement's amount is unknown."""
    unsettled: int | None
    """Fees the provider reports as billed but not settled yet (``/unsettledfee``); None when it cannot tell."""
    settlements: int = 0
    status: AuditStatus
    difference: int | None
    """``settled + unsettled - recorded`` (neuron): positive is an overcharge. None when incomplete."""
    detail: str = ""
    unexplained: list[UnexplainedSettlement] = Field(default_factory=list)
    """Settlements whose running total exceeded the fees of the requests recorded before them."""

    @property
    def claimed(self) -> int | None:
        """``settled + unsettled``: everything the provider charges for (neuron)."""
        return None if self.settled is None or self.unsettled is None else self.settled + self.unsettled

    @property
    def difference_0g(self) -> Decimal | None:
        return _in_0g(self.difference)


class Reconciliation(BaseModel):
    """The audit of one wallet on one chain over a block range (see ``docs/usage.md``)."""

    chain_id: int
    wallet: str
    contract: str
    """The InferenceServing contract whose events were read."""
    from_block: int
    to_block: int
    since: float | None = None
    """Records counted from this time (the timestamp of ``from_block``; None: all records)."""
    providers: list[ProviderAudit] = Field(default_factory=list)
    settlements: list[Settlement] = Field(default_factory=list)
    blocks_read: int = 0
    """Blocks whose events this run read (the rest came from the cache)."""

    @property
    def ok(self) -> bool:
        """True when no provider overcharged or charged for requests we never made."""
        return not self.flagged

    @property
    def flagged(self) -> list[ProviderAudit]:
        """Providers that overcharged, charged for requests we never made, or settled ahead of the requests."""
        return [p for p in self.providers if p.status in ("overcharge", "never_used") or p.unexplained]
