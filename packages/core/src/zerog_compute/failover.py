"""Provider failover: one logical model served by several providers.

A :class:`ProviderPool` picks candidates (an explicit ordered list, or discovery by model and
service type with filters), orders them by a strategy (``soonest`` — the default: whoever can take
the request first by the rate limits, ties in priority order — ``priority``, ``price``, ``latency``,
``round_robin``) and tries them in turn. What happens after an error is decided in one place,
:func:`classify`:

* connection errors, timeouts, 5xx, a verification failure in ``enforce`` mode, a provider that
  refuses our balance or acknowledgement → **fail over** to the next candidate and cool the failed
  one down (circuit breaker with a half-open probe);
* 429 and the 503 global cap (``RateLimitedError``) → **fail over, no cool-down**: a busy provider is
  healthy. The pool notes when it should have a slot again and either waits for it (bounded by the
  call's deadline and the client's retry budget) or sends to a candidate that can serve sooner;
* a request the provider rejects as such (bad parameters, context too long, unknown model) and
  configuration or chain errors → **fail fast**: retrying it elsewhere would fail the same way.

The pool's loop is the only retry loop on its path: rate-limit retries of the single-provider
client are switched off inside it. Streams fail over only before the first chunk; afterwards a
:class:`~zerog_compute.errors.StreamInterruptedError` says how much arrived. Every step is reported
to ``on_event``; when no candidate answers, :class:`~zerog_compute.errors.ExhaustedError` says why for
each of them.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from . import ratelimit, services
from ._context import Context
from ._io import Flow, Sleep
from .backend import Completed, Progress
from .errors import (
    ChainError,
    ConfigurationError,
    ExhaustedError,
    InsufficientBalanceError,
    NotAcknowledgedError,
    PoolCandidate,
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

Strategy = Literal["soonest", "priority", "price", "latency", "round_robin"]
STRATEGIES: tuple[Strategy, ...] = ("soonest", "priority", "price", "latency", "round_robin")
DEFAULT_STRATEGY: Strategy = "soonest"
DISCOVERY_TTL_S = 600.0


class PoolEvent(BaseModel):
    """One step of the pool's work, for logs, traces and callbacks.

    ``latency_ms`` is the provider's latency for ``success``, the cool-down for ``cooldown``, the time until
    the next slot for ``rate_limited`` and the time the pool waits for that slot for ``wait``.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["attempt", "failover", "success", "cooldown", "rate_limited", "wait", "recovered", "exhausted"]
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
    strategy: Strategy = DEFAULT_STRATEGY
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
    trust_mode: str | None = None
    """``"private"``: Router mode only (``X-0G-Provider-Trust-Mode``); a Direct-mode pool refuses it."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigurationError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        seconds = [s for s in (self.cooldown, self.deadline, self.attempt_timeout) if s is not None]
        if not all(isinstance(s, int | float) and not isinstance(s, bool) and 0 < s < float("inf") for s in seconds):
            raise ConfigurationError("cooldown, deadline and attempt_timeout must be positive seconds (int or float)")
        if not self.providers and not self.model:
            raise ConfigurationError("a pool needs providers=[...] or a model=... to discover providers for")


PROBE_CLAIM_S = 60.0
_ERROR_CHARS = 300


@dataclass
class Health:
    """Circuit-breaker state of one provider: closed, open until ``open_until``, then half-open.

    ``limited_until`` is not part of the breaker: it is when a provider that answered 429 should have
    a slot for us again.
    """

    failures: int = 0
    open_until: float = 0.0
    probe_claimed_at: float | None = None
    latency_ms: float | None = None
    last_error: str | None = None
    limited_until: float = 0.0

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

    def excluded(self, now: float) -> tuple[str, float | None] | None:
        """Why the breaker keeps the provider out right now, and for how long (a peek: no probe is claimed)."""
        if self.failures == 0:
            return None
        if self.open_until > now:
            wait = self.open_until - now
            return f"cooling down for {wait:.1f} s after {self.last_error}", wait
        if self.probe_claimed_at is not None and now - self.probe_claimed_at < PROBE_CLAIM_S:
            return f"recovering from {self.last_error}: another call is probing it", None
        return None


@dataclass
class PoolState:
    """Mutable, thread-safe state of one pool: discovery cache, health, round-robin cursor, attempts in flight."""

    config: PoolConfig
    clock: Callable[[], float] = time.monotonic
    health: dict[str, Health] = field(default_factory=dict)
    discovered: tuple[float, list[Service]] | None = None
    in_flight: dict[str, int] = field(default_factory=dict)
    _cursor: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _health(self, provider: str) -> Health:
        return self.health.setdefault(provider.lower(), Health())

    def excluded(self, provider: str, now: float) -> PoolCandidate | None:
        """Why ``provider`` may not be tried now (cooling down, being probed), or None."""
        with self._lock:
            why = self._health(provider).excluded(now)
        return None if why is None else PoolCandidate(provider, *why)

    def claim(self, provider: str) -> bool:
        """Take ``provider`` for an attempt (the half-open probe, if it is recovering)."""
        with self._lock:
            if not self._health(provider).admit(self.clock()):
                return False
            self.in_flight[provider.lower()] = self.in_flight.get(provider.lower(), 0) + 1
            return True

    def finished(self, provider: str) -> None:
        """An attempt on ``provider`` is over (whatever its outcome)."""
        with self._lock:
            key = provider.lower()
            self.in_flight[key] = max(self.in_flight.get(key, 0) - 1, 0)

    def succeeded(self, provider: str, latency_ms: float) -> bool:
        """Record a success; returns True when the provider was recovering."""
        with self._lock:
            health = self._health(provider)
            recovered = health.failures > 0
            health.failures, health.open_until, health.probe_claimed_at = 0, 0.0, None
            health.latency_ms = latency_ms if health.latency_ms is None else 0.7 * health.latency_ms + 0.3 * latency_ms
            return recovered

    def failed(self, provider: str, error: ZeroGError) -> float:
        """Record a health failure and open the breaker; returns the cooldown in seconds."""
        with self._lock:
            health = self._health(provider)
            health.failures += 1
            cooldown = min(self.config.cooldown * 2.0 ** (health.failures - 1), self.config.max_cooldown)
            health.open_until = self.clock() + cooldown
            health.probe_claimed_at = None
            health.last_error = f"{type(error).__name__}: {str(error)[:_ERROR_CHARS]}"
            return cooldown

    def rate_limited(self, provider: str, until: float) -> None:
        """Note that ``provider`` refused us for its rate: no slot before ``until`` (the breaker stays as is)."""
        with self._lock:
            health = self._health(provider)
            health.limited_until = until
            if health.failures and health.probe_claimed_at is not None:
                health.probe_claimed_at = None  # it answered: let the next call probe it again

    def ready_in(self, ctx: Context, provider: str, now: float) -> tuple[float, float, float]:
        """``(refused, told, client)``: seconds until ``provider`` should have a slot for us after the 429 it
        answered, by the ``x-ratelimit-*`` headers of its last success, and by the client's limiter
        (``inf``: every slot busy, this pool's attempts on their way to the limiter included)."""
        with self._lock:
            refused = max(self._health(provider).limited_until - now, 0.0)
            ours = self.in_flight.get(provider.lower(), 0)
        limiter = ctx.limiter
        if limiter is None:
            return refused, 0.0, 0.0
        told = limiter.windows.wait(provider, limiter.limit.rpm)
        client = math.inf if ours >= limiter.limit.max_concurrent else limiter.ready_in(provider)
        return refused, told, client

    def latency(self, provider: str) -> float | None:
        return self._health(provider).latency_ms


def _rank(strategy: Strategy, candidates: Sequence[Service], state: PoolState, turn: int) -> list[Service]:
    """Candidates in the strategy's base order (``soonest`` refines ``priority`` by readiness later)."""
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
    """Whether an error should make the pool try the next provider (a 429 fails over without a cool-down)."""
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


@dataclass(frozen=True)
class _Option:
    """A candidate that may be tried now: its place in the strategy order and how long until it has a slot."""

    service: Service
    index: int
    refused: float  # the pool waits this out itself: the client's limiter does not know about it
    told: float
    client: float  # waited out in the limiter, when the request is sent

    @property
    def wait(self) -> float:
        """Seconds it will surely wait (the unknown wait for a busy client slot counts as none)."""
        return max(self.refused, self.told, self.client if math.isfinite(self.client) else 0.0)

    def key(self, strategy: Strategy) -> tuple[float, int]:
        if strategy == "soonest":
            return (max(self.refused, self.told, self.client), self.index)  # busy slots (inf) after known waits
        return (self.refused, self.index)  # the strategy's order; those that refused us last, soonest first


@dataclass(frozen=True)
class _Why:
    """Why a candidate is out of a call, until when (clock time; None: unknown), and its error in the call."""

    reason: str
    until: float | None = None
    error: ZeroGError | None = None

    @classmethod
    def of(cls, candidate: PoolCandidate, now: float) -> _Why:
        return cls(candidate.reason, None if candidate.retry_in is None else now + candidate.retry_in, candidate.error)


class Attempts:
    """One call through the pool: which candidate next (waiting for its slot), and what became of each."""

    def __init__(self, ctx: Context, state: PoolState, found: Sequence[Service]) -> None:
        self.ctx = ctx
        self.state = state
        self.ranked = _rank(state.config.strategy, found, state, next(state._cursor))
        self.started = state.clock()
        self.errors: dict[str, ZeroGError] = {}
        self.out: dict[str, _Why] = {}  # done with for this call: failed, or no rate-limit retries left
        self.skipped: dict[str, _Why] = {}  # passed over at the last pick
        self.limited: dict[str, int] = {}  # 429s per provider in this call
        self.retry_at: dict[str, float] = {}  # this call's backoff per provider (doubles per 429)
        self.count = 0
        self.deadline_hit = False

    def next(self) -> Flow[tuple[int, Service, float | None] | None]:
        """The next attempt ``(number, service, timeout)`` once its slot is due, or None when none is left."""
        while True:
            left = remaining(self.state, self.started)
            if left is not None and left <= 0:
                self.deadline_hit = True
                return None
            options = self._options(left)
            if not options:
                return None
            best = options[0]
            if best.refused > 0:
                provider = best.service.provider
                emit(self.state, PoolEvent(kind="wait", provider=provider, latency_ms=best.refused * 1000))
                yield Sleep(best.refused)
            if self.state.claim(best.service.provider):
                number, self.count = self.count, self.count + 1
                emit(self.state, PoolEvent(kind="attempt", provider=best.service.provider, attempt=number))
                timeout = attempt_timeout(self.state, remaining(self.state, self.started), len(options))
                return number, best.service, timeout

    def _options(self, left: float | None) -> list[_Option]:
        now, options = self.state.clock(), []
        self.skipped = {}
        for index, service in enumerate(self.ranked):
            provider = service.provider
            if provider in self.out:
                continue
            excluded = self.state.excluded(provider, now)
            if excluded is not None:
                self.skipped[provider] = _Why.of(excluded, now)
                continue
            refused, told, client = self.state.ready_in(self.ctx, provider, now)
            refused = max(refused, self.retry_at.get(provider, 0.0) - now)
            option = _Option(service, index, refused, told, client)
            if left is not None and option.wait > left:
                reason = f"rate-limited, next slot in {option.wait:.1f} s > deadline ({left:.1f} s left)"
                self.skipped[provider] = _Why(reason, now + option.wait, self.errors.get(provider))
                continue
            options.append(option)
        return sorted(options, key=lambda o: o.key(self.state.config.strategy))

    def failed(self, number: int, service: Service, error: ZeroGError, received: int = 0) -> None:
        """Re-raise unless the pool may move on (only before the first chunk, only for failover errors)."""
        if received > 0 or classify(error) == "raise":
            raise error
        provider = service.provider
        self.errors[provider] = error
        kind = type(error).__name__
        event = PoolEvent(kind="failover", provider=provider, attempt=number, error=str(error), error_type=kind)
        emit(self.state, event)
        if isinstance(error, RateLimitedError):
            self._rate_limited(number, provider, error)
            return
        cooldown = self.state.failed(provider, error)
        emit(self.state, PoolEvent(kind="cooldown", provider=provider, attempt=number, latency_ms=cooldown * 1000))
        reason = f"failed with {kind}: {str(error)[:_ERROR_CHARS]}; cooling down for {cooldown:.1f} s"
        self.out[provider] = _Why(reason, self.state.clock() + cooldown, error)

    def _rate_limited(self, number: int, provider: str, error: RateLimitedError) -> None:
        """No cool-down: note the provider's next slot, and retry it later in this call while the budget lasts."""
        facts = ratelimit.rate_facts(self.ctx.limiter, provider)
        refusals = self.limited.get(provider, 0)
        now = self.state.clock()
        backoff = ratelimit.estimate(error, refusals, **facts)  # this call backs off further per refusal ...
        first = backoff if refusals == 0 else ratelimit.next_slot(error, 0, **facts)  # ... others wait one slot
        self.state.rate_limited(provider, now + first)
        self.limited[provider], self.retry_at[provider] = refusals + 1, now + backoff
        emit(self.state, PoolEvent(kind="rate_limited", provider=provider, attempt=number, latency_ms=backoff * 1000))
        if refusals >= self.ctx.max_retries:
            reason = f"rate-limited {refusals + 1}x in this call, next slot in {backoff:.1f} s: no retries left"
            self.out[provider] = _Why(reason, now + backoff, error)

    def succeeded(self, number: int, service: Service, latency_ms: float) -> None:
        note_success(self.state, service.provider, number, latency_ms)

    def give_up(self) -> ExhaustedError:
        """The error saying, for each candidate, why it did not answer and when it could again."""
        why = "deadline reached" if self.deadline_hit else "every candidate failed, is cooling down or is rate-limited"
        report = [self._why_not(service.provider) for service in self.ranked]
        emit(self.state, PoolEvent(kind="exhausted", error=why))
        detail = "; ".join(f"{c.provider}: {c.reason}" for c in report)
        return ExhaustedError(f"all providers failed ({why}): {detail}", errors=dict(self.errors), candidates=report)

    def _why_not(self, provider: str) -> PoolCandidate:
        now = self.state.clock()
        known = self.out.get(provider) or self.skipped.get(provider)
        if known is not None:
            retry_in = None if known.until is None else round(max(known.until - now, 0.0), 3)
            return PoolCandidate(provider, known.reason, retry_in, known.error or self.errors.get(provider))
        excluded = self.state.excluded(provider, now)
        if excluded is not None:
            return excluded
        if provider in self.retry_at:  # rate-limited earlier in this call, retry still due
            wait = max(self.retry_at[provider] - now, 0.0)
            reason = f"rate-limited, next slot in {wait:.1f} s: deadline reached"
            return PoolCandidate(provider, reason, wait, self.errors.get(provider))
        return PoolCandidate(provider, "not tried: deadline reached")


def complete_pooled(
    ctx: Context, state: PoolState, attempt: Callable[[Service, float | None], Flow[Completed]]
) -> Flow[Completed]:
    """Try ``attempt(service, timeout)`` on the candidates, soonest or in strategy order, until one succeeds.

    ``attempt`` is the backend's single-provider request (verification policy included, retries off).
    """
    tries = Attempts(ctx, state, (yield from candidates(ctx, state)))
    while (pick := (yield from tries.next())) is not None:
        number, service, timeout = pick
        try:
            done = yield from attempt(service, timeout)
        except ZeroGError as error:
            tries.failed(number, service, error)
            continue
        finally:
            state.finished(service.provider)
        tries.succeeded(number, service, done.record.latency_ms or 0.0)
        return done
    raise tries.give_up()


def stream_pooled(
    ctx: Context, state: PoolState, attempt: Callable[[Service, float | None, Progress], Flow[None]]
) -> Flow[None]:
    """Stream from the first candidate that answers; fail over only before the first chunk was emitted."""
    tries = Attempts(ctx, state, (yield from candidates(ctx, state)))
    while (pick := (yield from tries.next())) is not None:
        number, service, timeout = pick
        progress, started = Progress(), state.clock()
        try:
            yield from attempt(service, timeout, progress)
        except ZeroGError as error:
            tries.failed(number, service, error, progress.emitted)
            continue
        finally:
            state.finished(service.provider)
        latency = progress.latency_ms if progress.latency_ms is not None else (state.clock() - started) * 1000
        tries.succeeded(number, service, latency)
        return
    raise tries.give_up()
