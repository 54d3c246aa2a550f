"""The Router emulator's state, free of HTTP: keys and balances, request limits, provider choice, session tokens.

Everything here is plain synchronous code guarded by locks, so tests and the devnet's Python API can read
and change it from any thread while the Router serves requests on the provider host's event loop.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from web3 import Web3

from .accounts import DevAccount
from .broker.billing import Prices
from .errors import ConfigError

KeyKind = Literal["sk", "mk"]
Sort = Literal["price", "latency"]

DEFAULT_RPM = 120
DEFAULT_KEY_BALANCE = 100 * 10**18
DEFAULT_KEYS = 2
UNHEALTHY_COOLDOWN_S = 5.0
TOKEN_LIFETIME_MS = 24 * 3600 * 1000
TOKEN_RENEW_MS = 3600 * 1000
EPHEMERAL_TOKEN_ID = 255
_LATENCY_WEIGHT = 0.3


def _derive(label: str, index: int, length: int) -> str:
    """Deterministic hex from the public devnet seed: keys are dev material, like the anvil keys."""
    return hashlib.sha256(f"zerog-devnet router {label} {index}".encode()).hexdigest()[:length]


# ---------------------------------------------------------------------------------------------------------
# providers as the Router sees them


@dataclass(frozen=True)
class RoutedProvider:
    """One provider the Router can forward to (what the devnet registered on chain)."""

    name: str
    address: str
    url: str
    model: str
    service_type: str
    input_price: int
    output_price: int
    tee_signer: str
    acknowledged: bool = True

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/v1/proxy"

    @property
    def prices(self) -> Prices:
        return Prices(self.input_price, self.output_price)

    @property
    def price_key(self) -> int:
        """What ``X-0G-Provider-Sort: price`` orders by (prompt + completion price)."""
        return self.input_price + self.output_price

    def pricing(self) -> dict[str, str]:
        """The ``pricing`` object of the listings (neuron per token; per image / second for media)."""
        pricing = {"prompt": str(self.input_price), "completion": str(self.output_price)}
        if self.service_type == "text-to-image":
            pricing["image"] = str(self.output_price)
        if self.service_type == "speech-to-text":
            pricing["audio_second"] = str(self.input_price)
        return pricing


# ---------------------------------------------------------------------------------------------------------
# keys and accounts


@dataclass
class RouterAccount:
    """A Router account: one balance (neuron) shared by its keys, and its usage history."""

    address: str
    balance: int
    initial: int
    usage: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RouterKey:
    """An ``sk-`` inference key or an ``mk-`` management key (scope ``account:read``)."""

    secret: str
    kind: KeyKind
    account: RouterAccount
    key_id: str
    revoked: bool = False


class KeyRegistry:
    """The Router's keys and accounts (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, RouterKey] = {}
        self._accounts: list[RouterAccount] = []
        self._counter = itertools.count()

    def create_account(self, balance: int) -> RouterAccount:
        with self._lock:
            index = len(self._accounts)
            address = Web3.to_checksum_address("0x" + _derive("account", index, 40))
            account = RouterAccount(address, balance, balance)
            self._accounts.append(account)
            return account

    def create_key(self, account: RouterAccount, kind: KeyKind) -> str:
        with self._lock:
            index = next(self._counter)
            secret = f"{kind}-devnet-{_derive(kind, index, 48)}"
            self._keys[secret] = RouterKey(secret, kind, account, f"key-{index}")
            return secret

    def lookup(self, secret: str) -> RouterKey | None:
        with self._lock:
            return self._keys.get(secret)

    def get(self, secret: str) -> RouterKey:
        key = self.lookup(secret)
        if key is None:
            raise ConfigError("unknown Router key (use one of net.router.api_keys or create_key())")
        return key

    def keys(self, kind: KeyKind) -> list[str]:
        with self._lock:
            return [k.secret for k in self._keys.values() if k.kind == kind]

    def has_balance(self, key: RouterKey) -> bool:
        with self._lock:
            return key.account.balance > 0

    def debit(self, key: RouterKey, fee: int, row: dict[str, Any]) -> int:
        """Take ``fee`` from the key's account (the balance may end below zero); the new balance."""
        with self._lock:
            key.account.balance -= fee
            key.account.usage.append({**row, "api_key_id": key.key_id, "cost": str(fee)})
            return key.account.balance

    def set_balance(self, key: RouterKey, balance: int) -> None:
        with self._lock:
            key.account.balance = balance

    def revoke(self, key: RouterKey) -> None:
        with self._lock:
            key.revoked = True

    def reset(self) -> None:
        """Balances back to their initial values, usage forgotten, revocations undone."""
        with self._lock:
            for account in self._accounts:
                account.balance = account.initial
                account.usage.clear()
            for key in self._keys.values():
                key.revoked = False


# ---------------------------------------------------------------------------------------------------------
# per-key request limit


@dataclass(frozen=True)
class LimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    """Epoch seconds when the window resets."""

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))

    def headers(self) -> dict[str, str]:
        reset = datetime.fromtimestamp(self.reset_at, tz=timezone.utc).isoformat(timespec="seconds")
        return {
            "X-RateLimit-Limit-Requests": str(self.limit),
            "X-RateLimit-Remaining-Requests": str(self.remaining),
            "X-RateLimit-Reset-Requests": reset.replace("+00:00", "Z"),
        }


class RequestLimits:
    """A fixed one-minute window of ``rpm`` requests per key (or per anonymous client)."""

    def __init__(self, rpm: int = DEFAULT_RPM, clock: Callable[[], float] = time.time) -> None:
        self.rpm = rpm
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def admit(self, bucket: str) -> LimitDecision:
        with self._lock:
            now = self._clock()
            start, used = self._windows.get(bucket, (now, 0))
            if now - start >= 60.0:
                start, used = now, 0
            allowed = used < self.rpm
            used += allowed
            self._windows[bucket] = (start, used)
            return LimitDecision(allowed, self.rpm, max(self.rpm - used, 0), start + 60.0)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


# ---------------------------------------------------------------------------------------------------------
# provider choice


@dataclass
class _Health:
    latency_ms: float | None = None
    unhealthy_until: float = 0.0
    failures: int = 0
    served: int = 0


@dataclass(frozen=True)
class Routing:
    """The routing options of one request (headers, or the deprecated body ``provider`` object)."""

    pin: str | None = None
    sort: Sort | None = None
    allow_fallbacks: bool | None = None
    trust_mode: str | None = None

    @property
    def fallbacks(self) -> bool:
        """Default true, false when pinned, unless set explicitly."""
        if self.allow_fallbacks is not None:
            return self.allow_fallbacks
        return self.pin is None


class Selector:
    """Health, observed latency and round-robin counters; orders the candidates of a request."""

    def __init__(self, cooldown: float = UNHEALTHY_COOLDOWN_S) -> None:
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._health: dict[str, _Health] = {}
        self._turn: dict[str, int] = {}

    def _of(self, address: str) -> _Health:
        return self._health.setdefault(address.lower(), _Health())

    def healthy(self, address: str) -> bool:
        with self._lock:
            return self._of(address).unhealthy_until <= time.monotonic()

    def latency(self, address: str) -> float | None:
        with self._lock:
            return self._of(address).latency_ms

    def order(self, candidates: Sequence[RoutedProvider], routing: Routing) -> list[RoutedProvider]:
        """The providers to try, in order (healthy ones first; the pin alone without fallbacks)."""
        if routing.pin is not None:
            pinned = [p for p in candidates if p.address.lower() == routing.pin.lower()]
            if not routing.fallbacks:
                return pinned
            rest = [p for p in self._ranked(candidates, None) if p not in pinned]
            return pinned + rest
        if not routing.fallbacks:
            return self._ranked(candidates, routing.sort)[:1]
        return self._ranked(candidates, routing.sort)

    def _ranked(self, candidates: Sequence[RoutedProvider], sort: Sort | None) -> list[RoutedProvider]:
        with self._lock:
            now = time.monotonic()
            if sort == "price":
                ranked = sorted(candidates, key=lambda p: p.price_key)
            elif sort == "latency":
                # unmeasured providers first, so every provider gets measured
                ranked = sorted(candidates, key=lambda p: self._of(p.address).latency_ms or 0.0)
            else:
                model = candidates[0].model if candidates else ""
                turn = self._turn.get(model, 0)
                self._turn[model] = turn + 1
                shift = turn % len(candidates) if candidates else 0
                ranked = list(candidates[shift:]) + list(candidates[:shift])
            healthy = [p for p in ranked if self._of(p.address).unhealthy_until <= now]
            return healthy + [p for p in ranked if p not in healthy]

    def succeeded(self, address: str, latency_ms: float) -> None:
        with self._lock:
            health = self._of(address)
            health.served += 1
            health.unhealthy_until = 0.0
            previous = health.latency_ms
            health.latency_ms = latency_ms if previous is None else previous + _LATENCY_WEIGHT * (latency_ms - previous)

    def failed(self, address: str) -> None:
        with self._lock:
            health = self._of(address)
            health.failures += 1
            health.unhealthy_until = time.monotonic() + self.cooldown

    def reset(self) -> None:
        with self._lock:
            self._health.clear()
            self._turn.clear()


# ---------------------------------------------------------------------------------------------------------
# the Router's own session tokens (it is a Direct client of every provider)


class SessionSigner:
    """``Bearer app-sk-…`` ephemeral tokens of the Router's wallet, one per provider, renewed before expiry.

    Built the way the TS SDK builds them: ``rawMessage`` is the token JSON, signed EIP-191 over
    ``keccak256(rawMessage)``; the header carries ``base64(rawMessage + "|" + signature)``.
    """

    def __init__(self, wallet: DevAccount, generations: dict[str, int] | None = None) -> None:
        self.wallet = wallet
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[int, str]] = {}
        self.generations = {k.lower(): v for k, v in (generations or {}).items()}

    def header(self, provider: str) -> str:
        now = int(time.time() * 1000)
        with self._lock:
            cached = self._tokens.get(provider.lower())
            if cached is not None and cached[0] - now > TOKEN_RENEW_MS:
                return cached[1]
        expires = now + TOKEN_LIFETIME_MS
        token: dict[str, Any] = {
            "address": self.wallet.address,
            "provider": provider,
            "timestamp": now,
            "expiresAt": expires,
            "nonce": secrets.token_hex(16),
            "generation": self.generations.get(provider.lower(), 0),
            "tokenId": EPHEMERAL_TOKEN_ID,
        }
        raw = json.dumps(token, separators=(",", ":"))
        signed = Account.sign_message(encode_defunct(primitive=keccak(text=raw)), self.wallet.private_key)
        header = "Bearer app-sk-" + base64.b64encode(f"{raw}|0x{bytes(signed.signature).hex()}".encode()).decode()
        with self._lock:
            self._tokens[provider.lower()] = (expires, header)
        return header

    def invalidate(self, provider: str) -> None:
        with self._lock:
            self._tokens.pop(provider.lower(), None)


# ---------------------------------------------------------------------------------------------------------
# faults of the Router itself


@dataclass
class RouterFaultState:
    """What the Router does wrong, for client tests. All off by default."""

    http_status: int = 0
    """Answer inference requests with this status (500 internal_error, 502 provider_error, 503
    no_available_provider, 429 rate_limit_exceeded with Retry-After) before routing."""
    latency_ms: float = 0.0
    """Delay added before every inference request is routed."""
    tee_verified: bool | None = None
    """Force ``x_0g_trace.tee_verified`` to this value (None: report the real check)."""
    omit_trace: bool = False
    """Leave ``x_0g_trace`` out (the documented Router always sends it): the client must estimate the fee."""
    stream_trace: str = ""
    """Where a stream's trace goes: ``chunk`` (own chunk, empty choices), ``usage`` (a field of the last
    chunk), ``bare`` (an event holding only ``x_0g_trace``); empty: each in turn (the docs are silent)."""
    teetls_providers: tuple[str, ...] = ()
    """Providers the Router treats as TeeTLS (not private): ``X-0G-Provider-Trust-Mode: private`` skips them."""


class RouterFaults:
    """Thread-safe holder of a :class:`RouterFaultState` (``net.router.faults.set(http_status=503)``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = RouterFaultState()

    @property
    def state(self) -> RouterFaultState:
        with self._lock:
            return RouterFaultState(**asdict(self._state))

    def set(self, **changes: Any) -> RouterFaultState:
        known = {f.name for f in fields(RouterFaultState)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown Router fault(s) {sorted(unknown)}; known: {sorted(known)}")
        with self._lock:
            self._state = RouterFaultState(**{**asdict(self._state), **changes})
            return RouterFaultState(**asdict(self._state))

    def clear(self) -> None:
        with self._lock:
            self._state = RouterFaultState()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.state)


# ---------------------------------------------------------------------------------------------------------
# async image jobs


@dataclass
class ImageJobState:
    """One async image job: who owns it, who serves it, and the finished answer once there."""

    id: str
    model: str
    provider: str
    account: str
    created: int
    request_id: str
    status: str = "queued"
    body: bytes | None = None
    """The finished answer's JSON (images and trace), or the error object of a failed job."""
    res_key: str | None = None
    spec: Any = field(default=None, repr=False)
    """The request as forwarded (the verification on the poll compares the signed hashes with it)."""


class JobBook:
    """The emulator's async image jobs (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, ImageJobState] = {}

    def add(self, job: ImageJobState) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> ImageJobState | None:
        with self._lock:
            return self._jobs.get(job_id)

    def update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            for name, value in changes.items():
                if job is not None:
                    setattr(job, name, value)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
