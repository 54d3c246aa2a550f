"""Provider failover: one logical model served by several providers.

A :class:`ProviderPool` picks candidates (an explicit ordered list, or discovery by model and
service type with filters), orders them by a strategy (``priority``, ``price``, ``latency``,
``round_robin``) and tries them in turn. What happens after an error is decided in one place,
:func:`classify`:

* connection errors, timeouts, 5xx, 429 and the 503 global cap, a verification failure in
  ``enforce`` mode, a provider that refuses our balance or acknowledgement → **fail over** to the
  next candidate and cool the failed one down (circuit breaker with a half-open probe);
* a request the provider rejects as such (bad parameters, context too long, unknown model) and
  configuration or chain errors → **fail fast**: retrying it elsewhere would fail the same way.

The pool's loop is the only retry loop on its path: rate-limit retries of the single-provider
client are switched off inside it. Streams fail over only before the first chunk; afterwards a
:class:`~zerog_compute.errors.StreamInterruptedError` says how much arrived. Every switch is
reported to ``on_event``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from . import services
from ._context import Context
from ._io import Flow
from .backend import Completed, Progress
from .errors import (
    ChainError,
    ConfigurationError,
    ExhaustedError,
    InsufficientBalanceError,
    NotAcknowledgedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    VerificationError,
    ZeroGError,
)
from .services import Service

log = logging.getLogger(__name__)

Strategy = Literal["priority", "price", "latency", "round_robin"]
STRATEGIES = ("priority", "price", "latency", "round_robin")
DISCOVERY_TTL_S = 600.0


class PoolEvent(BaseModel):
    """One step of the pool's work, for logs, traces and callbacks."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["attempt", "failover", "success", "cooldown", "recovered", "exhausted"]
    provider: str | None = None
    attempt: int = 0
    error: str | None = None
    error_type: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class PoolConfig:
    """How the pool chooses and treats candidates."""

    model: str | None = None
    service_type: str = "chatbot"
    providers: tuple[str, ...] = ()
    strategy: Strategy = "priority"
    verifiable_only: bool = False
    max_input_price: int | None = None
    max_output_price: int | None = None
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    cooldown: float = 30.0
    max_cooldown: float = 300.0
    deadline: float | None = None
    attempt_timeout: float | None = None
    on_event: Callable[[PoolEvent], Any] | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigurationError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        seconds = [s for s in (self.cooldown, self.deadline, self.attempt_timeout) if s is not None]
        if not all(isinstance(s, int | float) and not isinstance(s, bool) and 0 < s < float("inf") for s in seconds):
            raise ConfigurationError("cooldown, deadline and attempt_timeout must be positive seconds (int or float)")
        if not self.providers and not self.model:
            raise ConfigurationError("a pool needs providers=[...] or a model=... to discover providers for")


PROBE_CLAIM_S = 60.0


@dataclass
class Health:
    """Circuit-breaker state of one provider: closed, open until ``open_until``, then half-open."""

    failures: int = 0
    open_until: float = 0.0
    probe_claimed_at: float | None = None
    latency_ms: float | None = None

    def admit(self, now: float) -> bool:
        """Closed: yes. Open: no. Half-open: yes for one caller at a time (the probe)."""
        if self.failures == 0:
            return True
        if self.open_until > now:
            return False
        if self.probe_claimed_at is not None and now - self.probe_claimed_at < PROBE_CLAIM_S:
            return False
        self.probe_claimed_at = now
        return True


@dataclass
class PoolState:
    """Mutable, thread-safe state of one pool: discovery cache, health, round-robin cursor."""

    config: PoolConfig
    clock: Callable[[], float] = time.monotonic
    health: dict[str, Health] = field(default_factory=dict)
    discovered: tuple[float, list[Service]] | None = None
    _cursor: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _health(self, provider: str) -> Health:
        return self.health.setdefault(provider.lower(), Health())

    def order(self, candidates: Sequence[Service]) -> list[Service]:
        """Candidates in strategy order, skipping open breakers (a half-open one is tried as a probe)."""
        ranked = _rank(self.config.strategy, candidates, self, next(self._cursor))
        now = self.clock()
        with self._lock:
            return [s for s in ranked if self._health(s.provider).admit(now)]

    def succeeded(self, provider: str, latency_ms: float) -> bool:
        """Record a success; returns True when the provider was recovering."""
        with self._lock:
            health = self._health(provider)
            recovered = health.failures > 0
            health.failures, health.open_until, health.probe_claimed_at = 0, 0.0, None
            health.latency_ms = latency_ms if health.latency_ms is None else 0.7 * health.latency_ms + 0.3 * latency_ms
            return recovered

    def failed(self, provider: str) -> float:
        """Record a failure and open the breaker; returns the cooldown in seconds."""
        with self._lock:
            health = self._health(provider)
            health.failures += 1
            cooldown = min(self.config.cooldown * 2.0 ** (health.failures - 1), self.config.max_cooldown)
            health.open_until = self.clock() + cooldown
            health.probe_claimed_at = None
            return cooldown

    def latency(self, provider: str) -> float | None:
        return self._health(provider).latency_ms


def _rank(strategy: Strategy, candidates: Sequence[Service], state: PoolState, turn: int) -> list[Service]:
    items = list(candidates)
    if strategy == "price":
        return sorted(items, key=lambda s: (s.input_price + s.output_price, s.input_price))
    if strategy == "latency":
        return sorted(items, key=lambda s: (state.latency(s.provider) is not None, state.latency(s.provider) or 0.0))
    if strategy == "round_robin" and items:
        start = turn % len(items)
        return items[start:] + items[:start]
    return items


def classify(error: BaseException) -> Literal["failover", "raise"]:
    """Whether an error should make the pool try the next provider."""
    if isinstance(error, RequestRejectedError | ConfigurationError | ChainError):
        return "raise"
    if isinstance(error, InsufficientBalanceError):
        return "failover"  # with a funding policy the single-provider path already topped up once
    if isinstance(error, ProviderUnavailableError | RateLimitedError | VerificationError | NotAcknowledgedError):
        return "failover"
    if isinstance(error, ServiceNotFoundError):
        return "failover"
    if isinstance(error, ProviderError):
        return "failover" if (error.status_code or 500) >= 500 else "raise"
    return "raise"


def _matches(config: PoolConfig, service: Service) -> bool:
    address = service.provider.lower()
    if config.allow and address not in config.allow:
        return False
    if address in config.deny:
        return False
    if config.max_input_price is not None and service.input_price > config.max_input_price:
        return False
    return config.max_output_price is None or service.output_price <= config.max_output_price


def candidates(ctx: Context, state: PoolState) -> Flow[list[Service]]:
    """The pool's candidates: the explicit list, or discovery (cached 10 minutes), filtered."""
    config = state.config
    if config.providers:
        found = []
        for address in config.providers:
            found.append((yield from services.get_service(ctx, address)))
    else:
        cached = state.discovered
        if cached is None or state.clock() - cached[0] > DISCOVERY_TTL_S:
            listed = yield from services.list_services(
                ctx, service_type=config.service_type, model=config.model, verifiable_only=config.verifiable_only
            )
            state.discovered = cached = (state.clock(), listed)
        found = cached[1]
    chosen = [s for s in found if _matches(config, s)]
    if not chosen:
        raise ServiceNotFoundError(
            f"no {config.service_type} provider matches the pool (model {config.model!r}, filters as configured): "
            "list them with zg.services.list()"
        )
    return chosen


def emit(state: PoolState, event: PoolEvent) -> None:
    """Log the event and hand it to ``on_event`` (a failing callback never breaks a request)."""
    log.info("pool %s %s %s", event.kind, event.provider or "", event.error or "")
    if state.config.on_event is not None:
        try:
            state.config.on_event(event)
        except Exception:
            log.exception("pool on_event callback failed")


def note_failure(state: PoolState, provider: str, error: ZeroGError, attempt: int) -> None:
    """Cool ``provider`` down and report the switch."""
    cooldown = state.failed(provider)
    kind = type(error).__name__
    emit(state, PoolEvent(kind="failover", provider=provider, attempt=attempt, error=str(error), error_type=kind))
    emit(state, PoolEvent(kind="cooldown", provider=provider, attempt=attempt, latency_ms=cooldown * 1000))


def note_success(state: PoolState, provider: str, attempt: int, latency_ms: float) -> None:
    if state.succeeded(provider, latency_ms):
        emit(state, PoolEvent(kind="recovered", provider=provider, attempt=attempt))
    emit(state, PoolEvent(kind="success", provider=provider, attempt=attempt, latency_ms=latency_ms))


def remaining(state: PoolState, started: float) -> float | None:
    """Seconds left of the pool's total deadline (None = no deadline)."""
    if state.config.deadline is None:
        return None
    return state.config.deadline - (state.clock() - started)


def attempt_timeout(state: PoolState, left: float | None, candidates_left: int) -> float | None:
    """Time for one attempt: the rest of the deadline shared with the candidates still to try,
    so one hanging provider cannot use up the whole deadline; capped by ``attempt_timeout``."""
    share = None if left is None else left / max(candidates_left, 1)
    cap = state.config.attempt_timeout
    if share is None:
        return cap
    return share if cap is None else min(share, cap)


def exhausted(state: PoolState, errors: dict[str, ZeroGError], why: str) -> ExhaustedError:
    emit(state, PoolEvent(kind="exhausted", error=why))
    detail = "; ".join(f"{p}: {type(e).__name__}: {e}" for p, e in errors.items()) or "no provider was available"
    return ExhaustedError(f"all providers failed ({why}): {detail}", errors=errors)


def complete_pooled(
    ctx: Context, state: PoolState, attempt: Callable[[Service, float | None], Flow[Completed]]
) -> Flow[Completed]:
    """Try ``attempt(service, timeout)`` on each candidate in order until one succeeds.

    ``attempt`` is the backend's single-provider request (verification policy included, retries off).
    """
    started, errors = state.clock(), dict[str, ZeroGError]()
    order = yield from candidates_in_order(ctx, state)
    for index, service in enumerate(order):
        left = remaining(state, started)
        if left is not None and left <= 0:
            raise exhausted(state, errors, "deadline reached")
        timeout = attempt_timeout(state, left, len(order) - index)
        emit(state, PoolEvent(kind="attempt", provider=service.provider, attempt=index))
        try:
            done = yield from attempt(service, timeout)
        except ZeroGError as error:
            if classify(error) == "raise":
                raise
            errors[service.provider] = error
            note_failure(state, service.provider, error, index)
            continue
        note_success(state, service.provider, index, done.record.latency_ms or 0.0)
        return done
    raise exhausted(state, errors, "every candidate failed or is cooling down")


def stream_pooled(
    ctx: Context, state: PoolState, attempt: Callable[[Service, float | None, Progress], Flow[None]]
) -> Flow[None]:
    """Stream from the first candidate that answers; fail over only before the first chunk was emitted."""
    tries = StreamAttempts(state, (yield from candidates_in_order(ctx, state)))
    for index, service in tries.attempts():
        timeout = tries.begin(index, service)
        progress = Progress()
        try:
            yield from attempt(service, timeout, progress)
        except ZeroGError as error:
            tries.received = progress.emitted
            tries.failed(index, service, error)
            continue
        tries.succeeded(index, service)
        return
    raise tries.give_up()


def candidates_in_order(ctx: Context, state: PoolState) -> Flow[list[Service]]:
    found = yield from candidates(ctx, state)
    return state.order(found)


class StreamAttempts:
    """Book-keeping of a streamed request through the pool; the client shells only drive it."""

    def __init__(self, state: PoolState, order: list[Service]) -> None:
        self.state = state
        self.order = order
        self.started = state.clock()
        self.errors: dict[str, ZeroGError] = {}
        self.received = 0

    def attempts(self) -> list[tuple[int, Service]]:
        return list(enumerate(self.order))

    def begin(self, attempt: int, service: Service) -> float | None:
        """Start an attempt; returns the timeout left (raises when the deadline has passed)."""
        left = remaining(self.state, self.started)
        if left is not None and left <= 0:
            raise exhausted(self.state, self.errors, "deadline reached")
        emit(self.state, PoolEvent(kind="attempt", provider=service.provider, attempt=attempt))
        self.received = 0
        return attempt_timeout(self.state, left, len(self.order) - attempt)

    def failed(self, attempt: int, service: Service, error: ZeroGError) -> None:
        """Re-raise unless the pool may move on (only before the first chunk, only for failover errors)."""
        if self.received > 0 or classify(error) == "raise":
            raise error
        self.errors[service.provider] = error
        note_failure(self.state, service.provider, error, attempt)

    def succeeded(self, attempt: int, service: Service) -> None:
        note_success(self.state, service.provider, attempt, (self.state.clock() - self.started) * 1000)

    def give_up(self) -> ExhaustedError:
        return exhausted(self.state, self.errors, "every candidate failed or is cooling down")
