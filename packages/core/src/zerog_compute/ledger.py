"""The ledger (main account) and per-provider sub-accounts.

Funds move wallet → ledger (``create``/``deposit``) → sub-account (``transfer``) and back
(``retrieve`` requests a refund that unlocks after the contract's lock time, ``refund`` returns
ledger funds to the wallet). Amounts are ``Decimal``/``str`` 0G or ``int`` neuron, never floats.
Contract minimums are checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from . import contracts
from ._context import Context
from ._io import Flow, Rpc
from .errors import (
    ConfigurationError,
    ContractRevertError,
    InsufficientBalanceError,
    LedgerError,
    LedgerNotFoundError,
    NotAcknowledgedError,
)
from .services import checksum, get_service
from .units import Amount, format_0g, to_0g, to_neuron

MIN_LEDGER = 3 * 10**18
MIN_NEW_SUB_ACCOUNT = 10**18
MAX_PROVIDERS_PER_RETRIEVE = 20


class LedgerInfo(BaseModel):
    """The wallet's ledger. ``locked`` is what sits in sub-accounts."""

    model_config = ConfigDict(frozen=True)

    user: str
    available: int
    total: int

    @property
    def locked(self) -> int:
        return self.total - self.available

    @property
    def available_0g(self) -> Decimal:
        return to_0g(self.available)

    @property
    def total_0g(self) -> Decimal:
        return to_0g(self.total)


class Refund(BaseModel):
    """A pending refund of a sub-account."""

    index: int
    amount: int
    created_at: int
    processed: bool


class SubAccount(BaseModel):
    """The user's sub-account with one provider. ``usable`` = balance − pending refunds."""

    model_config = ConfigDict(frozen=True)

    provider: str
    balance: int
    pending_refund: int
    acknowledged: bool
    generation: int
    revoked_bitmap: int
    nonce: int
    refunds: list[Refund] = []

    @property
    def usable(self) -> int:
        return self.balance - self.pending_refund

    @classmethod
    def from_chain(cls, raw: dict[str, Any]) -> SubAccount:
        valid = raw["refunds"][: raw["validRefundsLength"]]
        refunds = [
            Refund(index=r["index"], amount=r["amount"], created_at=r["createdAt"], processed=r["processed"])
            for r in valid
            if r["amount"]
        ]
        return cls(
            provider=checksum(raw["provider"]),
            balance=raw["balance"],
            pending_refund=raw["pendingRefund"],
            acknowledged=raw["acknowledged"],
            generation=raw["generation"],
            revoked_bitmap=raw["revokedBitmap"],
            nonce=raw["nonce"],
            refunds=refunds,
        )


def _send(ctx: Context, contract: contracts.Contract, name: str, *args: Any, value: int = 0) -> Flow[dict[str, Any]]:
    receipt = yield from contracts.transact(
        ctx.wallet, ctx.network.chain_id, ctx.nonces, contract, name, *args, value=value
    )
    return receipt


def wallet_balance(ctx: Context) -> Flow[int]:
    """The wallet's own native balance (neuron), outside the ledger: what a deposit can move."""
    result = yield Rpc("eth_getBalance", (ctx.user, "latest"))
    return int(str(result), 16)


def get(ctx: Context) -> Flow[LedgerInfo]:
    """The wallet's ledger; :class:`LedgerNotFoundError` when there is none."""
    try:
        raw = yield from contracts.call(ctx.ledger, "getLedger", ctx.user)
    except ContractRevertError as exc:
        if exc.error_name == "LedgerNotExists":
            raise LedgerNotFoundError(
                f"wallet {ctx.user} has no ledger on {ctx.network.name}: create one with zg.ledger.create(amount) "
                "(minimum 3 0G)"
            ) from None
        raise
    return LedgerInfo(user=ctx.user, available=raw["availableBalance"], total=raw["totalBalance"])


def _existing(ctx: Context) -> Flow[LedgerInfo | None]:
    try:
        info = yield from get(ctx)
    except LedgerNotFoundError:
        return None
    return info


def create(ctx: Context, amount: Amount) -> Flow[LedgerInfo]:
    """Open the ledger with ``amount`` (at least 3 0G)."""
    value = to_neuron(amount)
    if value < MIN_LEDGER:
        raise ConfigurationError(f"a new ledger needs at least 3 0G, got {format_0g(value)}: pass amount >= 3")
    if (yield from _existing(ctx)) is not None:
        raise LedgerError(f"wallet {ctx.user} already has a ledger: add funds with zg.ledger.deposit(amount)")
    yield from _send(ctx, ctx.ledger, "addLedger", "", value=value)
    return (yield from get(ctx))


def deposit(ctx: Context, amount: Amount) -> Flow[LedgerInfo]:
    """Add ``amount`` from the wallet to the ledger (creating it needs at least 3 0G)."""
    value = to_neuron(amount)
    if (yield from _existing(ctx)) is None and value < MIN_LEDGER:
        raise ConfigurationError(
            f"there is no ledger yet and creating one needs at least 3 0G, got {format_0g(value)}: deposit >= 3 0G"
        )
    yield from _send(ctx, ctx.ledger, "depositFund", value=value)
    return (yield from get(ctx))


def refund(ctx: Context, amount: Amount) -> Flow[LedgerInfo]:
    """Return ``amount`` of the ledger's available balance to the wallet."""
    value = to_neuron(amount)
    info = yield from get(ctx)
    if value > info.available:
        raise InsufficientBalanceError(
            f"the ledger has {format_0g(info.available)} available, cannot refund {format_0g(value)}; "
            "retrieve funds from sub-accounts first with zg.ledger.retrieve()"
        )
    remaining = info.total - value
    if 0 < remaining < MIN_LEDGER:
        raise ConfigurationError(
            f"a ledger must keep 0 or at least 3 0G; refunding {format_0g(value)} would leave {format_0g(remaining)}"
        )
    yield from _send(ctx, ctx.ledger, "refund", value)
    if remaining == 0:
        return LedgerInfo(user=ctx.user, available=0, total=0)
    return (yield from get(ctx))


def service_name(ctx: Context) -> Flow[str]:
    """The inference service's name in the ledger registry (e.g. ``inference-v1.0``), cached."""
    cached = ctx.service_names.get("inference")
    if cached is not None:
        return cached
    info = yield from contracts.call(ctx.ledger, "getServiceInfo", ctx.network.inference)
    name = str(info["fullName"])
    ctx.service_names["inference"] = name
    return name


def sub_account(ctx: Context, provider: str) -> Flow[SubAccount | None]:
    """The sub-account with ``provider`` (``None`` when it does not exist)."""
    address = checksum(provider)
    try:
        raw = yield from contracts.call(ctx.inference, "getAccount", ctx.user, address)
    except ContractRevertError as exc:
        if exc.error_name == "AccountNotExists":
            return None
        raise
    account = SubAccount.from_chain(raw)
    ctx.generations.put(address.lower(), account.generation)
    return account


def sub_accounts(ctx: Context) -> Flow[list[SubAccount]]:
    """Every sub-account of the wallet."""
    name = yield from service_name(ctx)
    providers = yield from contracts.call(ctx.ledger, "getLedgerProviders", ctx.user, name)
    found = []
    for provider in providers:
        account = yield from sub_account(ctx, provider)
        if account is not None:
            found.append(account)
    return found


def transfer(ctx: Context, provider: str, amount: Amount) -> Flow[SubAccount]:
    """Move ``amount`` from the ledger into the sub-account with ``provider``."""
    address = checksum(provider)
    value = to_neuron(amount)
    yield from get_service(ctx, address)
    existing = yield from sub_account(ctx, address)
    if existing is None and value < MIN_NEW_SUB_ACCOUNT:
        raise ConfigurationError(
            f"a new sub-account needs at least 1 0G, got {format_0g(value)}: transfer >= 1 0G to {address}"
        )
    info = yield from get(ctx)
    needed = value - min(value, existing.pending_refund) if existing else value
    if needed > info.available:
        raise InsufficientBalanceError(
            f"the ledger has {format_0g(info.available)} available but the transfer needs {format_0g(needed)}: "
            f"deposit at least {format_0g(needed - info.available)} with zg.ledger.deposit(amount)"
        )
    name = yield from service_name(ctx)
    yield from _send(ctx, ctx.ledger, "transferFund", address, name, value)
    account = yield from sub_account(ctx, address)
    assert account is not None
    return account


def retrieve(ctx: Context, providers: Sequence[str] | None = None) -> Flow[list[SubAccount]]:
    """Request refunds from sub-accounts (all when ``providers`` is None), 20 per transaction.

    Funds unlock after the contract's lock time; calling again after that moves them to the ledger.
    """
    if isinstance(providers, str):
        raise ConfigurationError(f"providers must be a list of addresses, e.g. [{providers!r}]")
    chosen = None if providers is None else [checksum(p) for p in providers]  # bad input fails before any I/O
    name = yield from service_name(ctx)
    if chosen is None:
        targets = list((yield from contracts.call(ctx.ledger, "getLedgerProviders", ctx.user, name)))
    else:
        targets = chosen
    for start in range(0, len(targets), MAX_PROVIDERS_PER_RETRIEVE):
        yield from _send(ctx, ctx.ledger, "retrieveFund", targets[start : start + MAX_PROVIDERS_PER_RETRIEVE], name)
    accounts = []
    for provider in targets:
        account = yield from sub_account(ctx, provider)
        if account is not None:
            accounts.append(account)
    return accounts


def acknowledge(ctx: Context, provider: str, amount: Amount | None = None) -> Flow[SubAccount]:
    """Make sure the sub-account with ``provider`` exists and is acknowledged.

    Moves funds only when ``amount`` is given (a transfer creates and acknowledges the sub-account).
    """
    address = checksum(provider)
    if amount is not None:
        to_neuron(amount)  # bad input fails before any I/O
    service = yield from get_service(ctx, address)
    if not service.tee_signer_acknowledged:
        raise NotAcknowledgedError(
            f"provider {address}'s TEE signer is not acknowledged by the contract owner; pick another provider"
        )
    if amount is not None:
        yield from transfer(ctx, address, amount)
    account = yield from sub_account(ctx, address)
    if account is None:
        raise NotAcknowledgedError(
            f"no sub-account with {address} yet and no funds were moved: call zg.acknowledge(provider, amount=1) "
            "to open it with 1 0G (the minimum)"
        )
    if not account.acknowledged:
        yield from _send(ctx, ctx.inference, "acknowledgeTEESigner", address, True)
        account = yield from sub_account(ctx, address)
        assert account is not None
    return account
