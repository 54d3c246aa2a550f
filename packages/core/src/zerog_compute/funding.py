"""Auto-funding of provider sub-accounts: opt-in, bounded, observable.

A :class:`FundingPolicy` keeps each used sub-account's *estimated* usable balance — on-chain
balance minus pending refunds, minus the provider's unsettled fees, minus fees spent since — at
or above ``min_balance`` by transferring from the ledger up to ``target_balance``. Spend is
tracked locally from each response's fee, so warm requests need no chain call; the estimate is
reconciled with the chain and the provider's ``/unsettledfee`` whenever funding is considered.

Providers are not trusted: an unsettled fee above the sub-account's balance (or below 0) is clamped and
reported as an ``anomaly``; a provider whose last top-up changed nothing is not funded again (the funding
circuit breaker, :mod:`._breaker`); and every policy has a finite ``budget`` (:data:`DEFAULT_BUDGET` unless
you pass one, or ``unlimited_budget=True``).

Hooks (plain callables taking a :class:`FundingEvent`): ``before_fund`` may veto a transfer by
returning False; ``after_fund``, ``on_low_balance``, ``on_budget_exhausted``, ``on_anomaly`` and
``on_breaker_open`` observe. Every transfer goes through the wallet's single transaction lane and
re-checks the balance inside it, so concurrent requests never double-fund. Funds never leave the
ledger beyond ``budget``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import contracts, ledger
from ._breaker import FundingBreakers
from ._context import Context
from ._io import Flow, Http, Lane, loads_json
from .errors import (
    BudgetExhaustedError,
    ConfigurationError,
    ContractRevertError,
    FundingHaltedError,
    InsufficientBalanceError,
    TransactionUncertainError,
)
from .services import Service, get_service
from .units import Amount, format_0g, to_neuron

log = logging.getLogger(__name__)

PROVIDER_MINIMUM = 10**18
NEW_SUB_ACCOUNT_MINIMUM = 10**18
UNSETTLED_TIMEOUT_S = 10.0
DEFAULT_BUDGET = 10 * 10**18
"""What a policy may move in total unless told otherwise (neuron): 10 0G."""
BREAKER_COOLDOWN_S = 3600.0
MAX_ANOMALIES = 256
"""``zg.funding.anomalies`` keeps the latest this many events (a provider cannot grow it without bound)."""

Hook = Callable[["FundingEvent"], Any]


class FundingEvent(BaseModel):
    """What the funding logic saw or did for one provider."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["low_balance", "before_fund", "funded", "vetoed", "budget_exhausted", "anomaly", "breaker_open"]
    provider: str
    amount: int = 0
    """Neuron moved (or about to be moved) from the ledger."""
    estimated_balance: int = 0
    """Usable balance minus unsettled and recent fees, before the transfer (neuron)."""
    spent: int = 0
    """Neuron this policy has moved so far."""
    detail: str = ""
    """What was wrong (``anomaly``, ``breaker_open``)."""

    def __str__(self) -> str:
        amount, estimate = format_0g(self.amount), format_0g(self.estimated_balance)
        text = f"{self.kind} {self.provider}: amount {amount}, estimate {estimate}"
        return f"{text} ({self.detail})" if self.detail else text


class FundingPolicy(BaseModel):
    """When and how much to top up provider sub-accounts. Auto-funding is off unless you pass one."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    min_balance: int = Field(default=2 * 10**18)
    """Top up when the estimated usable balance falls below this (neuron; >= 1 0G, the provider's reserve)."""
    target_balance: int = Field(default=3 * 10**18)
    """Top up to this (neuron)."""
    max_per_transfer: int = Field(default=5 * 10**18)
    """Never move more than this in one transfer (neuron)."""
    budget: int | None = DEFAULT_BUDGET
    """Total the policy may ever move (neuron; default 10 0G); None (no cap) only with ``unlimited_budget=True``.
    Shared by every client of the wallet that uses a policy with the same :attr:`budget_key` (across processes and
    hosts too, with a shared state store)."""
    unlimited_budget: bool = False
    """Explicitly allow ``budget=None``: no cap on what the policy moves."""
    budget_name: str | None = None
    """Names the budget; unnamed policies are named by their amounts (equal policies share one budget)."""
    mode: Literal["inline", "background"] = "inline"
    """``inline``: check before each request; ``background``: check every ``interval`` seconds."""
    interval: float = 30.0
    breaker_cooldown: float = BREAKER_COOLDOWN_S
    """Seconds a provider's funding circuit breaker stays open (then it gets one top-up again)."""
    before_fund: Hook | None = None
    after_fund: Hook | None = None
    on_low_balance: Hook | None = None
    on_budget_exhausted: Hook | None = None
    on_anomaly: Hook | None = None
    on_breaker_open: Hook | None = None

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
            if values.get("unlimited_budget") and "budget" not in values:
                values = {**values, "budget": None}
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
        if not 0 <= self.breaker_cooldown < float("inf"):
            raise ConfigurationError("breaker_cooldown must be >= 0 seconds")
        if self.budget is not None and self.budget < 0:
            raise ConfigurationError("budget must be >= 0")
        if self.budget is None and not self.unlimited_budget:
            raise ConfigurationError(
                "budget=None means no cap on what auto-funding may move: pass unlimited_budget=True to ask for it "
                f"(the default budget is {format_0g(DEFAULT_BUDGET)})"
            )
        if self.budget is not None and self.unlimited_budget:
            raise ConfigurationError("unlimited_budget=True takes no budget: pass one or the other")
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
        budget: Amount | None = DEFAULT_BUDGET,
        budget_name: str | None = None,
        unlimited_budget: bool = False,
        mode: Literal["inline", "background"] = "inline",
        interval: float = 30.0,
        breaker_cooldown: float = BREAKER_COOLDOWN_S,
        before_fund: Hook | None = None,
        after_fund: Hook | None = None,
        on_low_balance: Hook | None = None,
        on_budget_exhausted: Hook | None = None,
        on_anomaly: Hook | None = None,
        on_breaker_open: Hook | None = None,
    ) -> FundingPolicy:
        """A policy with amounts in 0G (``Decimal``/``str``; ``int`` = neuron), e.g. ``of(min_balance="2")``.
        ``unlimited_budget=True`` (and no ``budget``) lifts the default cap of 10 0G."""
        if unlimited_budget and budget == DEFAULT_BUDGET:
            budget = None
        return cls(
            min_balance=to_neuron(min_balance, name="min_balance"),
            target_balance=to_neuron(target_balance, name="target_balance"),
            max_per_transfer=to_neuron(max_per_transfer, name="max_per_transfer"),
            budget=None if budget is None else to_neuron(budget, name="budget"),
            budget_name=budget_name,
            unlimited_budget=unlimited_budget,
            mode=mode,
            interval=interval,
            breaker_cooldown=breaker_cooldown,
            before_fund=before_fund,
            after_fund=after_fund,
            on_low_balance=on_low_balance,
            on_budget_exhausted=on_budget_exhausted,
            on_anomaly=on_anomaly,
            on_breaker_open=on_breaker_open,
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

    def __init__(
        self, policy: FundingPolicy | None, book: SharedBook | None = None, breakers: FundingBreakers | None = None
    ) -> None:
        self.policy = policy
        self.book: SharedBook = book if book is not None else FundingBook()
        self.breakers = breakers if breakers is not None else FundingBreakers()
        self.transfers: list[FundingEvent] = []
        self.anomalies: deque[FundingEvent] = deque(maxlen=MAX_ANOMALIES)
        """This client's ``anomaly`` and ``breaker_open`` events: what providers reported that was not plausible."""

    @property
    def halted(self) -> dict[str, str]:
        """``{provider: reason}`` of the providers auto-funding will not fund now (open circuit breakers)."""
        return self.breakers.snapshot()

    def reset_breaker(self, provider: str | None = None) -> None:
        """Allow funding ``provider`` (every provider when None) again before its cool-down ends."""
        self.breakers.reset(provider)

    @property
    def spent(self) -> int:
        """What the policy's budget has moved so far, by every client of the wallet sharing it."""
        return self.book.spent(self.policy.budget_key) if self.policy is not None else 0

    def tally(self, provider: str) -> Tally | None:
        return self.book.tally(provider)

    def set_tally(self, provider: str, tally: Tally) -> None:
        self.book.set_tally(provider, tally)

    def record_fee(self, provider: str, fee: int) -> None:
        """Count a response's fee against the provider's estimate (the provider served: see the breaker)."""
        self.book.record_fee(provider, fee)
        self.breakers.served(provider)

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
    if state.breakers.opened(service.provider) is not None:  # halted: the request goes ahead unfunded
        return
    if needs_check(state, service.provider):
        yield Lane(top_up(ctx, state, service))


def reconcile(ctx: Context, state: FundingState, service: Service) -> Flow[Tally]:
    """Re-read the sub-account from the chain and the unsettled fee from the provider (made plausible)."""
    tally, _ = yield from _reconcile(ctx, state, service)
    return tally


def _reconcile(ctx: Context, state: FundingState, service: Service) -> Flow[tuple[Tally, bool]]:
    """:func:`reconcile`, and whether the provider's unsettled fee was implausible."""
    account = yield from ledger.sub_account(ctx, service.provider)
    usable = account.usable if account else 0
    reported = None
    if account is not None and account.acknowledged:
        reported = yield from unsettled_fee(ctx, service)  # None: the provider cannot tell
    if reported is None:  # like the SDK's cached fee: what we know we were billed and have not seen settled
        unsettled = plausible_unsettled(_local_unsettled(state.tally(service.provider)), usable)
    else:
        unsettled = plausible_unsettled(reported, usable)
    if reported is not None and unsettled != reported:
        _anomaly(state, service.provider, reported, usable)
    tally = Tally(usable, unsettled, 0, account is not None, time.monotonic())
    state.set_tally(service.provider, tally)
    return tally, reported is not None and unsettled != reported


def _local_unsettled(previous: Tally | None) -> int:
    """The unsettled fee by our own tally: the last known unsettled fee plus the fees counted since.

    Used when ``/unsettledfee`` fails (0 would under-fund a sub-account the provider is about to settle from).
    It may count fees the provider settled meanwhile twice, which only errs towards funding.
    """
    return 0 if previous is None else previous.unsettled + previous.local


def plausible_unsettled(reported: int | None, usable: int) -> int:
    """What a provider's reported unsettled fee can be: never negative, never above the sub-account's usable
    on-chain balance (a provider cannot have billed more than it could settle)."""
    return min(max(reported or 0, 0), max(usable, 0))


def _anomaly(state: FundingState, provider: str, reported: int, usable: int) -> None:
    detail = f"reported an unsettled fee of {reported} neuron, the sub-account holds {format_0g(usable)}"
    log.warning("implausible answer from provider %s: %s; counted as %s", provider, detail, format_0g(max(usable, 0)))
    event = FundingEvent(kind="anomaly", provider=provider, spent=state.spent, detail=detail)
    state.anomalies.append(event)
    if state.policy is not None:
        _fire(state.policy.on_anomaly, event)


def unsettled_fee(ctx: Context, service: Service, *, timeout: float = UNSETTLED_TIMEOUT_S) -> Flow[int | None]:
    """``GET /v1/user/{addr}/unsettledfee``: fees the provider billed us and has not settled on chain (neuron).

    None when the provider cannot tell (unreachable, an error status, an unreadable answer). Without an
    acknowledged sub-account no session token can be signed: NotAcknowledgedError.
    """
    from .direct import session_header
    from .http_errors import scrub

    header = yield from session_header(ctx, service)
    url = f"{service.url.rstrip('/')}/v1/user/{ctx.user}/unsettledfee"
    try:  # a provider that cannot answer must not block funding decisions nor listings
        result = yield Http("GET", url, {"Authorization": header}, timeout=timeout)
        if result.status != 200:
            log.info("the unsettled fee of %s is unknown: HTTP %s", service.provider, result.status)
            return None
        return int(loads_json(result.content)["unsettledFee"])
    except Exception as exc:
        log.warning("could not read the unsettled fee from %s: %s", service.provider, scrub(str(exc), [header]))
        return None


def provider_unsettled_fee(ctx: Context, provider: str, *, timeout: float = UNSETTLED_TIMEOUT_S) -> Flow[int | None]:
    """:func:`unsettled_fee` of a provider given by address (ServiceNotFoundError when it is not registered)."""
    service = yield from get_service(ctx, provider)
    return (yield from unsettled_fee(ctx, service, timeout=timeout))


def top_up(ctx: Context, state: FundingState, service: Service, *, refused: bool = False) -> Flow[None]:
    """Inside the lane: settle an uncertain earlier transfer, reconcile, decide, ask the hooks, transfer.

    A transfer that may have been sent (TransactionUncertainError) is held, counted against the budget,
    and settled before the next decision: the policy never pays twice for it. A provider whose funding
    breaker is open is not funded: after it ``refused`` a request for lack of balance that raises
    FundingHaltedError, otherwise the request goes ahead unfunded.
    """
    policy = state.policy
    assert policy is not None
    provider = service.provider
    yield from settle_unsettled(ctx, state, provider)
    if _halted(state, provider, refused=refused):
        return
    tally, implausible = yield from _reconcile(ctx, state, service)
    if tally.estimate >= policy.min_balance:
        return
    _fire(policy.on_low_balance, _event("low_balance", provider, 0, tally, state))
    reason = _trip(state, provider, tally, implausible=implausible)
    if reason is not None:
        if refused:
            raise _halted_error(policy, provider, reason)
        return
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
    state.breakers.funded(provider, amount, implausible=implausible)
    _funded(state, provider, amount, tally.estimate)


def _trip(state: FundingState, provider: str, tally: Tally, *, implausible: bool) -> str | None:
    """Open the breaker of ``provider`` (event, log line) when another top-up would change nothing: why."""
    policy = state.policy
    assert policy is not None
    reason = state.breakers.why_not(provider, implausible=implausible)
    if reason is None:
        return None
    state.breakers.trip(provider, reason, policy.breaker_cooldown)
    event = _event("breaker_open", provider, 0, tally, state, detail=reason)
    state.anomalies.append(event)
    log.warning("auto-funding of %s halted for %.0f s: %s", provider, policy.breaker_cooldown, reason)
    _fire(policy.on_breaker_open, event)
    return reason


def _halted(state: FundingState, provider: str, *, refused: bool) -> bool:
    """Whether the breaker of ``provider`` is open; after the provider ``refused`` a request, FundingHaltedError."""
    policy = state.policy
    assert policy is not None
    reason = state.breakers.opened(provider)
    if reason is None:
        return False
    if refused:
        raise _halted_error(policy, provider, reason)
    log.debug("not funding %s (breaker open: %s); the request goes ahead unfunded", provider, reason)
    return True


def _halted_error(policy: FundingPolicy, provider: str, reason: str) -> FundingHaltedError:
    return FundingHaltedError(
        f"auto-funding will not top up provider {provider} again: {reason}. Its sub-account is not funded "
        f"further for {policy.breaker_cooldown:.0f} s (zg.funding.reset_breaker({provider!r}) to allow it now); "
        f"check the provider, use another one, or transfer by hand with zg.ledger.transfer({provider!r}, amount)",
        provider=provider,
        reason=reason,
    )


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
    budget = policy.budget or 0
    left = max(0, budget - state.spent)
    raise BudgetExhaustedError(
        f"auto-funding stopped: funding {provider} needs {format_0g(amount)} but the policy budget of "
        f"{format_0g(budget)} (default {format_0g(DEFAULT_BUDGET)}) has {format_0g(left)} left after moving "
        f"{format_0g(state.spent)}. Check why "
        "the sub-accounts keep running low, then pass a larger FundingPolicy budget (or unlimited_budget=True), "
        "or fund manually with zg.ledger.transfer"
    )


def background_round(ctx: Context, state: FundingState) -> Flow[None]:
    """Background mode: one check of every provider used so far."""
    for provider in state.providers():
        service = yield from get_service(ctx, provider)
        try:
            yield Lane(top_up(ctx, state, service))
        except (BudgetExhaustedError, TransactionUncertainError) as exc:  # the other providers still get checked
            log.warning("%s", exc)


def _event(kind: Any, provider: str, amount: int, tally: Tally, state: FundingState, detail: str = "") -> FundingEvent:
    return FundingEvent(
        kind=kind, provider=provider, amount=amount, estimated_balance=tally.estimate, spent=state.spent, detail=detail
    )


def _fire(hook: Hook | None, event: FundingEvent) -> None:
    if hook is None:
        return
    try:
        hook(event)
    except Exception:  # a broken observer must not break funding
        log.exception("funding hook %r failed on %s", hook, event.kind)
