"""Auto-funding of provider sub-accounts: opt-in, bounded, observable.

A :class:`FundingPolicy` keeps each used sub-account's *estimated* usable balance — on-chain
balance minus pending refunds, minus the provider's unsettled fees, minus fees spent since — at
or above ``min_balance`` by transferring from the ledger up to ``target_balance``. Spend is
tracked locally from each response's fee, so warm requests need no chain call; the estimate is
reconciled with the chain and the provider's ``/unsettledfee`` whenever funding is considered.

Hooks (plain callables taking a :class:`FundingEvent`): ``before_fund`` may veto a transfer by
returning False; ``after_fund``, ``on_low_balance`` and ``on_budget_exhausted`` observe. Every
transfer goes through the wallet's single transaction lane and re-checks the balance inside it,
so concurrent requests never double-fund. Funds never leave the ledger beyond ``budget``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import contracts, ledger
from ._context import Context
from ._io import Flow, Http, Lane, loads_json
from .errors import (
    BudgetExhaustedError,
    ConfigurationError,
    ContractRevertError,
    InsufficientBalanceError,
    TransactionUncertainError,
)
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
    """Total the policy may ever move (neuron); None = no cap. Shared by every client of the wallet that uses a
    policy with the same :attr:`budget_key` (across processes and hosts too, with a shared state store)."""
    budget_name: str | None = None
    """Names the budget; unnamed policies are named by their amounts (equal policies share one budget)."""
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

    @property
    def budget_key(self) -> str:
        """The budget this policy draws on, per wallet."""
        if self.budget_name:
            return f"name:{self.budget_name}"
        return f"amounts:{self.min_balance}:{self.target_balance}:{self.max_per_transfer}:{self.budget}"

    @classmethod
    def of(
        cls,
        *,
        min_balance: Amount = "2",
        target_balance: Amount = "3",
        max_per_transfer: Amount = "5",
        budget: Amount | None = None,
        budget_name: str | None = None,
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
            budget_name=budget_name,
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
    """A transfer that may have been sent: it counts against its budget until settled."""

    error: TransactionUncertainError
    amount: int
    estimate: int
    budget_key: str


class SharedBook(Protocol):
    """What auto-funding knows about one wallet, wherever it lives (:class:`FundingBook` in the process, or a
    state store's, see :mod:`zerog_compute.state`). ``reserve`` and ``give_back`` are atomic."""

    def hold(self, provider: str, unsettled: Unsettled) -> None: ...
    def unsettled(self, provider: str) -> Unsettled | None: ...
    def release(self, provider: str) -> None: ...
    def tally(self, provider: str) -> Tally | None: ...
    def set_tally(self, provider: str, tally: Tally) -> None: ...
    def record_fee(self, provider: str, fee: int) -> None: ...
    def providers(self) -> list[str]: ...
    def spent(self, budget_key: str) -> int: ...
    def reserve(self, budget_key: str, amount: int, budget: int | None) -> bool: ...
    def give_back(self, budget_key: str, amount: int) -> None: ...


class FundingBook:
    """What auto-funding knows about one wallet, shared by all its clients (thread-safe): the tally of each
    provider's sub-account, what each budget has spent, and transfers that may have been sent."""

    def __init__(self) -> None:
        self._tallies: dict[str, Tally] = {}
        self._spent: dict[str, int] = {}
        self._unsettled: dict[str, Unsettled] = {}
        self._lock = threading.Lock()

    def hold(self, provider: str, unsettled: Unsettled) -> None:
        """Remember an uncertain transfer (its amount stays reserved in its budget)."""
        with self._lock:
            self._unsettled[provider.lower()] = unsettled

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

    def spent(self, budget_key: str) -> int:
        with self._lock:
            return self._spent.get(budget_key, 0)

    def reserve(self, budget_key: str, amount: int, budget: int | None) -> bool:
        """Count ``amount`` against the budget unless that would exceed it (atomic)."""
        with self._lock:
            spent = self._spent.get(budget_key, 0)
            if budget is not None and spent + amount > budget:
                return False
            self._spent[budget_key] = spent + amount
            return True

    def give_back(self, budget_key: str, amount: int) -> None:
        """Undo a reservation whose transfer provably did not happen."""
        with self._lock:
            self._spent[budget_key] = max(0, self._spent.get(budget_key, 0) - amount)


class FundingState:
    """One client's auto-funding: its policy and transfers, over the wallet's shared :class:`SharedBook`."""

    def __init__(self, policy: FundingPolicy | None, book: SharedBook | None = None) -> None:
        self.policy = policy
        self.book: SharedBook = book if book is not None else FundingBook()
        self.transfers: list[FundingEvent] = []

    @property
    def spent(self) -> int:
        """What the policy's budget has moved so far, by every client of the wallet sharing it."""
        return self.book.spent(self.policy.budget_key) if self.policy is not None else 0

    def tally(self, provider: str) -> Tally | None:
        return self.book.tally(provider)

    def set_tally(self, provider: str, tally: Tally) -> None:
        self.book.set_tally(provider, tally)

    def record_fee(self, provider: str, fee: int) -> None:
        """Count a response's fee against the provider's estimate."""
        self.book.record_fee(provider, fee)

    def providers(self) -> list[str]:
        return self.book.providers()

    def unsettled(self, provider: str) -> Unsettled | None:
        """A transfer to ``provider`` that may have been sent and is not settled yet."""
        return self.book.unsettled(provider)


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
        _budget_exhausted(policy, state, provider, amount, tally)
    if (
        policy.before_fund is not None
        and policy.before_fund(_event("before_fund", provider, amount, tally, state)) is False
    ):
        log.info("funding of %s vetoed by before_fund", provider)
        return
    if not state.book.reserve(policy.budget_key, amount, policy.budget):
        _budget_exhausted(policy, state, provider, amount, tally)
    try:
        account = yield from ledger.transfer(ctx, provider, amount)
    except TransactionUncertainError as exc:
        state.book.hold(provider, Unsettled(exc, amount, tally.estimate, policy.budget_key))
        log.warning("auto-funding %s with %s may have been sent in tx %s", provider, format_0g(amount), exc.tx_hash)
        raise
    except (ContractRevertError, InsufficientBalanceError):  # provably not moved: the budget gets it back
        state.book.give_back(policy.budget_key, amount)
        raise
    state.set_tally(provider, Tally(account.usable, tally.unsettled, 0, True, time.monotonic()))
    _funded(state, provider, amount, tally.estimate)


def settle_unsettled(ctx: Context, state: FundingState, provider: str) -> Flow[None]:
    """Before deciding again: settle a transfer to ``provider`` left uncertain (its very bytes re-broadcast,
    never a new transfer). Still undecidable: TransactionUncertainError, and nothing is sent."""
    held = state.book.unsettled(provider)
    if held is None:
        return
    receipt = yield from contracts.settle(ctx.wallet, held.error)
    state.book.release(provider)
    if receipt is not None and int(receipt["status"], 16) == 1:
        log.info("the uncertain transfer %s to %s was mined", held.error.tx_hash, provider)
        _funded(state, provider, held.amount, held.estimate)
        return
    log.info("the uncertain transfer %s to %s was never mined: nothing moved", held.error.tx_hash, provider)
    state.book.give_back(held.budget_key, held.amount)


def _funded(state: FundingState, provider: str, amount: int, estimate: int) -> None:
    event = FundingEvent(kind="funded", provider=provider, amount=amount, estimated_balance=estimate, spent=state.spent)
    state.transfers.append(event)
    log.info("auto-funded %s with %s", provider, format_0g(amount))
    if state.policy is not None:
        _fire(state.policy.after_fund, event)


def _budget_exhausted(policy: FundingPolicy, state: FundingState, provider: str, amount: int, tally: Tally) -> NoReturn:
    event = _event("budget_exhausted", provider, amount, tally, state)
    _fire(policy.on_budget_exhausted, event)
    left = max(0, (policy.budget or 0) - state.spent)
    raise BudgetExhaustedError(
        f"funding {provider} needs {format_0g(amount)} but the policy budget of {format_0g(policy.budget or 0)} "
        f"has {format_0g(left)} left: raise FundingPolicy.budget or fund manually"
    )


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
