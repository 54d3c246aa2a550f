"""Auto-funding of provider sub-accounts: opt-in, bounded, observable.

A :class:`FundingPolicy` keeps each used sub-account's *estimated* usable balance — on-chain
balance minus pending refunds, minus the provider's unsettled fees, minus fees spent since — at
or above ``min_balance`` by transferring from the ledger up to ``target_balance``. Spend is
tracked locally from each response's fee, so warm requests need no chain call; the estimate is
reconciled with the chain and the provider's ``/unsettledfee`` whenever funding is considered.

Hooks (plain callables taking a :class:`FundingEvent`): ``before_fund`` may veto a transfer by
returning False; ``after_fund``, ``on_low_balance`` and ``on_budget_exhausted`` observe. Every
transfer goes through the wallet's single transaction lane and re-checks the balance inside it,
so concurrent requests never double-fund; a transfer that may have been sent is settled before the
next decision, so a dropped connection never does either. Funds never leave the ledger beyond ``budget``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import contracts, ledger
from ._context import Context
from ._io import Flow, Http, Lane, loads_json
from .errors import BudgetExhaustedError, ConfigurationError, TransactionUncertainError
from .services import Service, get_service
from .units import Amount, format_0g, to_neuron

log = logging.getLogger(__name__)

PROVIDER_MINIMUM = 10**18
NEW_SUB_ACCOUNT_MINIMUM = 10**18
UNSETTLED_TIMEOUT_S = 10.0

Hook = Callable[["FundingEvent"], Any]


class FundingEvent(BaseModel):
    """What the funding logic saw or did for one provider."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["low_balance", "before_fund", "funded", "vetoed", "budget_exhausted"]
    provider: str
    amount: int = 0
    """Neuron moved (or about to be moved) from the ledger."""
    estimated_balance: int = 0
    """Usable balance minus unsettled and recent fees, before the transfer (neuron)."""
    spent: int = 0
    """Neuron this policy has moved so far."""

    def __str__(self) -> str:
        amount, estimate = format_0g(self.amount), format_0g(self.estimated_balance)
        return f"{self.kind} {self.provider}: amount {amount}, estimate {estimate}"


class FundingPolicy(BaseModel):
    """When and how much to top up provider sub-accounts. Auto-funding is off unless you pass one."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    min_balance: int = Field(default=2 * 10**18)
    """Top up when the estimated usable balance falls below this (neuron; >= 1 0G, the provider's reserve)."""
    target_balance: int = Field(default=3 * 10**18)
    """Top up to this (neuron)."""
    max_per_transfer: int = Field(default=5 * 10**18)
    """Never move more than this in one transfer (neuron)."""
    budget: int | None = None
    """Total the policy may ever move (neuron); None = no cap."""
    mode: Literal["inline", "background"] = "inline"
    """``inline``: check before each request; ``background``: check every ``interval`` seconds."""
    interval: float = 30.0
    before_fund: Hook | None = None
    after_fund: Hook | None = None
    on_low_balance: Hook | None = None
    on_budget_exhausted: Hook | None = None

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:  # bad input is a ConfigurationError, as everywhere else
            problems = (
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"].removeprefix("Value error, ")
                for e in exc.errors()
            )
            raise ConfigurationError(f"invalid FundingPolicy: {'; '.join(problems)}") from None

    @model_validator(mode="before")
    @classmethod
    def _amounts(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for name in ("min_balance", "target_balance", "max_per_transfer", "budget"):
                if values.get(name) is not None and not isinstance(values[name], int | bool):
                    values = {**values, name: to_neuron(values[name], name=name)}
        return values

    @model_validator(mode="after")
    def _consistent(self) -> FundingPolicy:
        if self.min_balance < PROVIDER_MINIMUM:
            raise ConfigurationError("min_balance must be at least 1 0G: providers refuse requests below that reserve")
        if self.target_balance <= self.min_balance:
            raise ConfigurationError("target_balance must be greater than min_balance")
        if self.max_per_transfer < NEW_SUB_ACCOUNT_MINIMUM:
            raise ConfigurationError("max_per_transfer must be at least 1 0G (the minimum for a new sub-account)")
        if not 0 < self.interval < float("inf"):  # NaN too
            raise ConfigurationError("interval must be > 0 seconds")
        if self.budget is not None and self.budget < 0:
            raise ConfigurationError("budget must be >= 0 (or None for no cap)")
        return self

    @classmethod
    def of(
        cls,
        *,
        min_balance: Amount = "2",
        target_balance: Amount = "3",
        max_per_transfer: Amount = "5",
        budget: Amount | None = None,
        mode: Literal["inline", "background"] = "inline",
        interval: float = 30.0,
        before_fund: Hook | None = None,
        after_fund: Hook | None = None,
        on_low_balance: Hook | None = None,
        on_budget_exhausted: Hook | None = None,
    ) -> FundingPolicy:
        """A policy with amounts in 0G (``Decimal``/``str``; ``int`` = neuron), e.g. ``of(min_balance="2")``."""
        return cls(
            min_balance=to_neuron(min_balance, name="min_balance"),
            target_balance=to_neuron(target_balance, name="target_balance"),
            max_per_transfer=to_neuron(max_per_transfer, name="max_per_transfer"),
            budget=None if budget is None else to_neuron(budget, name="budget"),
            mode=mode,
            interval=interval,
            before_fund=before_fund,
            after_fund=after_fund,
            on_low_balance=on_low_balance,
            on_budget_exhausted=on_budget_exhausted,
        )


@dataclass
class Tally:
    """Locally tracked spend for one provider since the last reconciliation."""

    usable: int
    unsettled: int
    local: int
    exists: bool
    at: float

    @property
    def estimate(self) -> int:
        return self.usable - self.unsettled - self.local


@dataclass(frozen=True)
class Unsettled:
    """A transfer that may have been sent; it counts as spent until settled."""

    error: TransactionUncertainError
    amount: int
    estimate: int


class FundingState:
    """Tallies, uncertain transfers and the running spend of one client (thread-safe)."""

    def __init__(self, policy: FundingPolicy | None) -> None:
        self.policy = policy
        self.spent = 0
        self.transfers: list[FundingEvent] = []
        self._tallies: dict[str, Tally] = {}
        self._unsettled: dict[str, Unsettled] = {}
        self._lock = threading.Lock()

    def hold(self, provider: str, unsettled: Unsettled) -> None:
        """Remember an uncertain transfer and count it as spent."""
        with self._lock:
            self._unsettled[provider.lower()] = unsettled
            self.spent += unsettled.amount

    def unsettled(self, provider: str) -> Unsettled | None:
        with self._lock:
            return self._unsettled.get(provider.lower())

    def release(self, provider: str) -> None:
        with self._lock:
            self._unsettled.pop(provider.lower(), None)

    def tally(self, provider: str) -> Tally | None:
        with self._lock:
            return self._tallies.get(provider.lower())

    def set_tally(self, provider: str, tally: Tally) -> None:
        with self._lock:
            self._tallies[provider.lower()] = tally

    def record_fee(self, provider: str, fee: int) -> None:
        """Count a response's fee against the provider's estimate."""
        with self._lock:
            tally = self._tallies.get(provider.lower())
            if tally is not None:
                tally.local += fee

    def providers(self) -> list[str]:
        with self._lock:
            return list(self._tallies)


def needs_check(state: FundingState, provider: str) -> bool:
    """Whether the inline path must look at the chain (cold, or estimate below the threshold)."""
    policy = state.policy
    if policy is None:
        return False
    tally = state.tally(provider)
    return tally is None or tally.estimate < policy.min_balance


def ensure_funded(ctx: Context, state: FundingState, service: Service) -> Flow[None]:
    """Before a request: inline mode checks every time (free while the estimate is healthy);
    background mode checks only a provider it has never seen, then leaves it to the loop."""
    policy = state.policy
    if policy is None:
        return
    if policy.mode == "background" and state.tally(service.provider) is not None:
        return
    if needs_check(state, service.provider):
        yield Lane(top_up(ctx, state, service))


def reconcile(ctx: Context, state: FundingState, service: Service) -> Flow[Tally]:
    """Re-read the sub-account from the chain and the unsettled fee from the provider."""
    account = yield from ledger.sub_account(ctx, service.provider)
    unsettled = 0
    if account is not None and account.acknowledged:
        unsettled = (yield from unsettled_fee(ctx, service)) or 0  # None: the provider cannot tell, count 0
    tally = Tally(account.usable if account else 0, unsettled, 0, account is not None, time.monotonic())
    state.set_tally(service.provider, tally)
    return tally


def unsettled_fee(ctx: Context, service: Service, *, timeout: float = UNSETTLED_TIMEOUT_S) -> Flow[int | None]:
    """``GET /v1/user/{addr}/unsettledfee``: fees the provider billed us and has not settled on chain (neuron).

    None when the provider cannot tell (unreachable, an error status, an unreadable answer). Without an
    acknowledged sub-account no session token can be signed: NotAcknowledgedError.
    """
    from .direct import session_header

    header = yield from session_header(ctx, service)
    url = f"{service.url.rstrip('/')}/v1/user/{ctx.user}/unsettledfee"
    try:  # a provider that cannot answer must not block funding decisions nor listings
        result = yield Http("GET", url, {"Authorization": header}, timeout=timeout)
        if result.status != 200:
            log.info("the unsettled fee of %s is unknown: HTTP %s", service.provider, result.status)
            return None
        return int(loads_json(result.content)["unsettledFee"])
    except Exception as exc:
        log.warning("could not read the unsettled fee from %s: %s", service.provider, exc)
        return None


def provider_unsettled_fee(ctx: Context, provider: str, *, timeout: float = UNSETTLED_TIMEOUT_S) -> Flow[int | None]:
    """:func:`unsettled_fee` of a provider given by address (ServiceNotFoundError when it is not registered)."""
    service = yield from get_service(ctx, provider)
    return (yield from unsettled_fee(ctx, service, timeout=timeout))


def top_up(ctx: Context, state: FundingState, service: Service) -> Flow[None]:
    """Inside the lane: settle an uncertain earlier transfer, reconcile, decide, ask the hooks, transfer.

    A transfer that may have been sent (TransactionUncertainError) is held, counted against the budget,
    and settled before the next decision: the policy never pays twice for it.
    """
    policy = state.policy
    assert policy is not None
    yield from settle_unsettled(ctx, state, service.provider)
    tally = yield from reconcile(ctx, state, service)
    if tally.estimate >= policy.min_balance:
        return
    provider = service.provider
    _fire(policy.on_low_balance, _event("low_balance", provider, 0, tally, state))
    amount = min(policy.target_balance - tally.estimate, policy.max_per_transfer)
    if not tally.exists:
        amount = max(amount, NEW_SUB_ACCOUNT_MINIMUM)
    if policy.budget is not None and state.spent + amount > policy.budget:
        event = _event("budget_exhausted", provider, amount, tally, state)
        _fire(policy.on_budget_exhausted, event)
        raise BudgetExhaustedError(
            f"funding {provider} needs {format_0g(amount)} but the policy budget of {format_0g(policy.budget)} "
            f"has {format_0g(policy.budget - state.spent)} left: raise FundingPolicy.budget or fund manually"
        )
    if (
        policy.before_fund is not None
        and policy.before_fund(_event("before_fund", provider, amount, tally, state)) is False
    ):
        log.info("funding of %s vetoed by before_fund", provider)
        return
    try:
        account = yield from ledger.transfer(ctx, provider, amount)
    except TransactionUncertainError as exc:
        state.hold(provider, Unsettled(exc, amount, tally.estimate))
        log.warning("auto-funding %s with %s may have been sent in tx %s", provider, format_0g(amount), exc.tx_hash)
        raise
    with state._lock:
        state.spent += amount
    state.set_tally(provider, Tally(account.usable, tally.unsettled, 0, True, time.monotonic()))
    _funded(state, provider, amount, tally.estimate)


def settle_unsettled(ctx: Context, state: FundingState, provider: str) -> Flow[None]:
    """Before deciding again: settle a transfer to ``provider`` left uncertain (its very bytes re-broadcast,
    never a new transfer). Still undecidable: TransactionUncertainError, and nothing is sent."""
    held = state.unsettled(provider)
    if held is None:
        return
    receipt = yield from contracts.settle(ctx.wallet, held.error)
    state.release(provider)
    if receipt is not None and int(receipt["status"], 16) == 1:
        log.info("the uncertain transfer %s to %s was mined", held.error.tx_hash, provider)
        _funded(state, provider, held.amount, held.estimate)
        return
    log.info("the uncertain transfer %s to %s was never mined: nothing moved", held.error.tx_hash, provider)
    with state._lock:
        state.spent -= held.amount


def _funded(state: FundingState, provider: str, amount: int, estimate: int) -> None:
    event = FundingEvent(kind="funded", provider=provider, amount=amount, estimated_balance=estimate, spent=state.spent)
    state.transfers.append(event)
    log.info("auto-funded %s with %s", provider, format_0g(amount))
    assert state.policy is not None
    _fire(state.policy.after_fund, event)


def background_round(ctx: Context, state: FundingState) -> Flow[None]:
    """Background mode: one check of every provider used so far."""
    for provider in state.providers():
        service = yield from get_service(ctx, provider)
        try:
            yield Lane(top_up(ctx, state, service))
        except (BudgetExhaustedError, TransactionUncertainError) as exc:  # the other providers still get checked
            log.warning("%s", exc)


def _event(kind: Any, provider: str, amount: int, tally: Tally, state: FundingState) -> FundingEvent:
    return FundingEvent(
        kind=kind, provider=provider, amount=amount, estimated_balance=tally.estimate, spent=state.spent
    )


def _fire(hook: Hook | None, event: FundingEvent) -> None:
    if hook is None:
        return
    try:
        hook(event)
    except Exception:  # a broken observer must not break funding
        log.exception("funding hook %r failed on %s", hook, event.kind)
