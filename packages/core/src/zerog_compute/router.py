"""The hosted 0G Router as a second backend: one API key, one balance, server-side routing and failover.

Router mode is selected with ``router_api_key=`` (or ``$ZG_ROUTER_API_KEY`` when no ``private_key=`` is
passed); the base URL is ``router_url=``, else ``$ZG_ROUTER_URL``, else the devnet's Router (for
``network="devnet"``), else ``https://router-api.0g.ai/v1``. The same calls as in Direct mode work::

    zg = ZeroG(router_api_key="sk-…")
    zg.chat.completions.create(model="…", messages=[...])            # the Router picks the provider
    zg.chat.completions.create(model="…", provider="0x…", messages=[...])  # pinned: X-0G-Provider-Address

Results carry the usual ``zerog`` record: ``provider`` from the ``X-0G-Provider`` header (or
``x_0g_trace.provider``), ``chat_id`` from ``ZG-Res-Key``, ``fee`` = usage × the serving provider's price
from ``GET /v1/providers?model=`` (else the model's catalog price from ``GET /v1/models``; else 0, with
``fee_note`` saying why), and ``verification``. A Router client cannot check TEE signatures itself: with
``verification`` other than ``"off"`` it sends ``verify_tee: true`` and maps the Router's
``x_0g_trace.tee_verified`` to a :class:`~zerog_compute.verification.VerificationResult` whose detail says
that the Router verified it. Extra record fields: ``backend="router"``, ``request_id``, ``fee_note`` and
``rate_limit`` (the ``X-RateLimit-*-Requests`` values: ``limit``, ``remaining``, ``reset``).

Routing options: ``provider=`` pins; ``extra_headers={"X-0G-Provider-Sort": "price"}`` (or any
``X-0G-Provider-*`` header) is sent as is; a pool (``zg.pool(model=..., strategy="price"|"latency")``) maps
to the model and ``X-0G-Provider-Sort``. Everything here is written once as flows (see :mod:`._io`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from eth_account.messages import SignableMessage
from eth_utils.address import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from . import inference, ratelimit, sse
from ._context import Context, TTLCache
from ._io import Flow, Http, HttpResult, Sleep, loads_json
from .errors import (
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    ZeroGError,
)
from .networks import Network, devnet_file
from .services import Service
from .signer import Wallet
from .stream import ChunkStream
from .types import ChatCompletionChunk, ZeroGRecord
from .verification import Verdict, VerificationPolicy, VerificationResult, apply_policy

if TYPE_CHECKING:
    from .failover import PoolState

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ROUTER_URL",
    "ENV_ROUTER_KEY",
    "ENV_ROUTER_URL",
    "RouterBalance",
    "RouterCompleted",
    "RouterModel",
    "RouterProvider",
    "RouterRequest",
    "RouterState",
    "RouterStream",
    "error_from_response",
]

DEFAULT_ROUTER_URL = "https://router-api.0g.ai/v1"
ENV_ROUTER_KEY = "ZG_ROUTER_API_KEY"
ENV_ROUTER_URL = "ZG_ROUTER_URL"
ENV_MANAGEMENT_KEY = "ZG_ROUTER_MANAGEMENT_KEY"
LISTING_TTL_S = 600.0
TOP_UP = "top up at pc.0g.ai"
NEEDS_WALLET = (
    "it needs a wallet, and this client runs in Router mode without one. The Router bills your pc.0g.ai "
    "balance instead (zg.router.balance(management_key='mk-…')); pass private_key=... (or set $ZG_PRIVATE_KEY) "
    "to use Direct features as well"
)
DIRECT_ONLY = (
    "this is a Direct-mode feature (ledger, sub-accounts, acknowledgement, session tokens, on-chain API keys, "
    f"auto-funding): {NEEDS_WALLET}"
)
SORTS = {"price": "price", "latency": "latency"}
# pool options the Router cannot apply: refused, never silently ignored
_CLIENT_SIDE = ("providers", "allow", "deny", "max_input_price", "max_output_price", "verifiable_only")
_ROUTER_SECRET = re.compile(r"\b((?:sk|mk)-)[A-Za-z0-9_-]{8,}")
_KEY_CODES = frozenset({"invalid_api_key", "missing_authorization", "api_key_revoked"})


# --------------------------------------------------------------------------------------------------- config


class RouterState:
    """Router-mode configuration and caches of one client (the API key is a ``SecretStr``)."""

    def __init__(
        self,
        url: str,
        api_key: SecretStr,
        *,
        verification: VerificationPolicy = "warn",
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.url = url.rstrip("/")
        self._api_key = api_key
        self.verification: VerificationPolicy = verification
        self.timeout = timeout
        self.max_retries = max_retries
        self.models: TTLCache[str, list[RouterModel]] = TTLCache(LISTING_TTL_S)
        self.providers: TTLCache[str, list[RouterProvider]] = TTLCache(LISTING_TTL_S)

    def auth(self, key: SecretStr | None = None) -> dict[str, str]:
        """The Authorization header (built on demand; never stored in plain text)."""
        return {"Authorization": f"Bearer {(key or self._api_key).get_secret_value()}"}

    def __repr__(self) -> str:
        return f"RouterState(url={self.url!r}, api_key=SecretStr('**********'))"


def configure(
    api_key: str | SecretStr | None,
    url: str | None,
    network: Network,
    *,
    explicit_private_key: bool,
    verification: VerificationPolicy,
    timeout: float,
    max_retries: int,
) -> RouterState | None:
    """The Router configuration, or None for Direct mode.

    ``router_api_key=`` selects Router mode; without it ``$ZG_ROUTER_API_KEY`` does, unless a
    ``private_key=`` argument asks for Direct mode explicitly.
    """
    if api_key is None:
        if explicit_private_key:
            return None
        api_key = os.environ.get(ENV_ROUTER_KEY, "").strip() or None
        if api_key is None:
            return None
    value = (api_key.get_secret_value() if isinstance(api_key, SecretStr) else str(api_key)).strip()
    if not value:
        raise ConfigurationError("router_api_key is empty: pass the sk-… key created at pc.0g.ai")
    if value.startswith("app-sk-"):
        raise ConfigurationError(
            "router_api_key is a Direct-mode session token or provider API key (app-sk-…), not a Router key: "
            "Router keys start with sk- (pc.0g.ai → Dashboard → API Keys)"
        )
    return RouterState(
        router_url(url, network),
        SecretStr(value),
        verification=verification,
        timeout=timeout,
        max_retries=max_retries,
    )


def router_url(url: str | None, network: Network) -> str:
    """``router_url=``, else ``$ZG_ROUTER_URL``, else the devnet's Router, else the hosted Router."""
    chosen = url or os.environ.get(ENV_ROUTER_URL, "").strip()
    if chosen:
        if not chosen.startswith(("http://", "https://")):
            raise ConfigurationError(f"router_url must be an http(s) URL, got {chosen!r}")
        return chosen.rstrip("/")
    if network.name == "devnet":
        return devnet_router_url(network)
    return DEFAULT_ROUTER_URL


def devnet_router_url(network: Network) -> str:
    """The Router URL in the running devnet's description (``zerog-devnet up``)."""
    source = devnet_file()
    hint = "pass router_url=net.router.url (or start the devnet with its Router: `zerog-devnet up`)"
    try:
        data = json.loads(source.read_text())
        url = data["router"]["url"]
        described_rpc = data.get("rpc_url")
    except FileNotFoundError:
        raise ConfigurationError(f"Router mode on network 'devnet' needs the devnet's Router URL: {hint}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(f"{source} describes no Router: {hint}") from None
    if described_rpc != network.rpc_url:
        raise ConfigurationError(f"{source} describes another devnet (RPC {described_rpc}): {hint}")
    return str(url).rstrip("/")


def require(state: RouterState | None) -> RouterState:
    if state is None:
        raise ConfigurationError(
            "zg.router is for Router mode: create the client with router_api_key='sk-…' (or $ZG_ROUTER_API_KEY)"
        )
    return state


class NoWallet(Wallet):
    """The wallet of a Router-mode client without a private key: every use says it is Direct-only."""

    __slots__ = ()

    def __init__(self) -> None:  # no key at all
        pass

    @property
    def address(self) -> str:
        raise ConfigurationError(DIRECT_ONLY)

    def sign_message(self, message: SignableMessage) -> bytes:  # noqa: ARG002
        raise ConfigurationError(DIRECT_ONLY)

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:  # noqa: ARG002
        raise ConfigurationError(DIRECT_ONLY)

    def __repr__(self) -> str:
        return "Wallet(none: Router mode)"

    def __str__(self) -> str:
        return "no wallet (Router mode)"


def direct_context(client: Any, feature: str) -> Context:
    """The client's context, or ConfigurationError when ``feature`` needs the wallet a Router client lacks."""
    ctx: Context = client._ctx
    if isinstance(ctx.wallet, NoWallet):
        raise ConfigurationError(f"{feature} is a Direct-mode feature: {NEEDS_WALLET}")
    return ctx


def router_wallet() -> Wallet:
    """``$ZG_PRIVATE_KEY``'s wallet when set (Direct features stay available), else :class:`NoWallet`."""
    return Wallet.from_env() if os.environ.get("ZG_PRIVATE_KEY", "").strip() else NoWallet()


# --------------------------------------------------------------------------------------------------- listings


def _neuron(value: Any) -> int | None:
    """A neuron amount from an int or an integer string; None for anything else (e.g. USD decimals)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class _Listing(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    pricing: dict[str, Any] = Field(default_factory=dict)

    def prices(self) -> tuple[int, int] | None:
        """``(prompt, completion)`` in neuron per unit, or None when not given in neuron."""
        prompt, completion = _neuron(self.pricing.get("prompt")), _neuron(self.pricing.get("completion"))
        if prompt is None and completion is None:
            return None
        return prompt or 0, completion or 0


class RouterModel(_Listing):
    """One ``GET /v1/models`` entry (unknown fields are kept)."""

    id: str
    name: str | None = None
    type: str | None = None
    verifiability: str | None = None
    context_length: int | None = None
    provider_count: int | None = None
    supported_formats: list[str] = Field(default_factory=list)


class RouterProvider(_Listing):
    """One ``GET /v1/providers?model=`` entry (unknown fields are kept)."""

    address: str
    model: str | None = None
    service_type: str | None = None
    verifiability: str | None = None
    tee_signer: str | None = None
    latency_ms: float | None = None
    healthy: bool | None = None


class RouterBalance(BaseModel):
    """``GET /v1/account/balance``: amounts in neuron (1 0G = 10**18 neuron)."""

    model_config = ConfigDict(extra="allow")

    address: str | None = None
    deposit_balance: int = 0
    credit_balance: int = 0
    total_balance: int = 0
    balance: int = 0

    @field_validator("deposit_balance", "credit_balance", "total_balance", "balance", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        return 0 if value is None else int(str(value)) if str(value).strip().lstrip("-").isdigit() else value


def _get(state: RouterState, path: str, key: SecretStr | None = None) -> Flow[Any]:
    url = state.url + path
    try:
        result = yield Http("GET", url, {**state.auth(key), "Accept": "application/json"}, None, state.timeout)
    except ProviderUnavailableError as exc:
        raise _unreachable(state, exc) from None
    if result.status != 200:
        raise error_from_response(result.status, result.content, result.headers)
    try:
        return loads_json(result.content)
    except ValueError:
        raise ProviderError(f"the 0G Router answered {path} with non-JSON", status_code=result.status) from None


def _entries(payload: Any) -> list[Any]:
    data = payload.get("data") if isinstance(payload, dict) else payload
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def list_models(state: RouterState) -> Flow[list[RouterModel]]:
    """``GET /v1/models`` (cached 10 minutes)."""
    cached = state.models.get("")
    if cached is not None:
        return cached
    payload = yield from _get(state, "/models")
    models = [RouterModel.model_validate(entry) for entry in _entries(payload) if "id" in entry]
    state.models.put("", models)
    return models


def list_providers(state: RouterState, model: str | None = None) -> Flow[list[RouterProvider]]:
    """``GET /v1/providers?model=`` (cached 10 minutes per model; all providers without a model)."""
    cached = state.providers.get(model or "")
    if cached is not None:
        return cached
    path = f"/providers?model={quote(model, safe='')}" if model else "/providers"
    payload = yield from _get(state, path)
    providers = [RouterProvider.model_validate(entry) for entry in _entries(payload) if "address" in entry]
    state.providers.put(model or "", providers)
    return providers


def balance(state: RouterState, management_key: str | SecretStr | None = None) -> Flow[RouterBalance]:
    """``GET /v1/account/balance``; needs an ``mk-`` key (argument, else ``$ZG_ROUTER_MANAGEMENT_KEY``)."""
    raw = management_key if management_key is not None else os.environ.get(ENV_MANAGEMENT_KEY, "").strip() or None
    key = None if raw is None else raw if isinstance(raw, SecretStr) else SecretStr(raw)
    payload = yield from _get(state, "/account/balance", key)
    return RouterBalance.model_validate(payload if isinstance(payload, dict) else {})


# --------------------------------------------------------------------------------------------------- requests


@dataclass
class RouterRequest:
    """A request ready to send to the Router."""

    route: str
    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    model: str
    service_type: str
    verify: bool
    pinned: str | None = None
    started: float = field(default_factory=time.perf_counter)


@dataclass
class RouterCompleted:
    """A finished non-streamed Router request (the counterpart of ``calls.Completed``)."""

    request: RouterRequest
    content: bytes
    data: dict[str, Any]
    record: ZeroGRecord


def _model_of(state: RouterState, provider: str, service_type: str) -> Flow[str]:
    listing = yield from list_providers(state, None)
    for entry in listing:
        if entry.address.lower() == provider.lower() and entry.model and entry.service_type in (None, service_type):
            return entry.model
    raise ConfigurationError(
        f"the 0G Router lists no {service_type} model for provider {provider}: pass model=... "
        "(zg.router.models() lists the models)"
    )


def _check_pool(pool: PoolState) -> None:
    config = pool.config
    used = [name for name in _CLIENT_SIDE if getattr(config, name)]
    if used or config.strategy == "round_robin":
        names = ", ".join(used + (["strategy='round_robin'"] if config.strategy == "round_robin" else []))
        raise ConfigurationError(
            f"the Router chooses providers itself and cannot apply {names}: in Router mode a pool takes only "
            "model= and strategy='price'|'latency'|'priority' (pin one provider with provider=...)"
        )


def prepare(
    state: RouterState,
    route: str,
    payload: dict[str, Any],
    *,
    model: str | None = None,
    provider: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    pool: PoolState | None = None,
) -> Flow[RouterRequest]:
    """Resolve the model, add ``verify_tee`` per the policy and the routing headers, encode the body."""
    payload = dict(payload)
    extra = payload.pop("extra_headers", None) or {}
    if not isinstance(extra, Mapping):
        raise ConfigurationError("extra_headers must be a mapping of header names to values")
    service_type = inference.ROUTE_TYPES[route]
    headers: dict[str, str] = {}
    if pool is not None:
        _check_pool(pool)
        model = model or pool.config.model
        sort = SORTS.get(pool.config.strategy)
        if sort:
            headers["X-0G-Provider-Sort"] = sort
    if provider:
        if not is_address(provider):
            raise ConfigurationError(f"provider must be a 0x address to pin in Router mode, got {provider!r}")
        provider = to_checksum_address(provider)
        headers["X-0G-Provider-Address"] = provider
    if not model:
        if not provider:
            raise ConfigurationError(
                "Router mode routes by model: pass model=... (zg.router.models() lists them), "
                "and optionally provider='0x…' to pin one provider"
            )
        model = yield from _model_of(state, provider, service_type)
    if state.verification != "off":
        payload.setdefault("verify_tee", True)
    body, content_type = inference.encode_body(payload, model, files)
    headers.update({str(k): str(v) for k, v in extra.items() if str(k).lower() != "authorization"})
    headers.update(state.auth())
    headers["Content-Type"] = content_type
    return RouterRequest(
        route,
        state.url + route,
        headers,
        body,
        model,
        service_type,
        payload.get("verify_tee") is True,
        provider,
    )


def _unreachable(state: RouterState, exc: ProviderUnavailableError) -> ProviderUnavailableError:
    cause = exc.__cause__ or exc
    return ProviderUnavailableError(
        f"cannot reach the 0G Router at {state.url}: {type(cause).__name__}: {cause}; check router_url and retry"
    )


def after_failure(state: RouterState, error: ZeroGError, attempt: int) -> Flow[None]:
    """Wait and return to retry a rate-limited request (honouring Retry-After), else raise ``error``."""
    delay = ratelimit.retry_delay(error, attempt, state.max_retries)
    if delay is None:
        raise error
    yield Sleep(delay)


def send(state: RouterState, request: RouterRequest) -> Flow[HttpResult]:
    """POST the request, retrying 429s within the retry budget; returns a 200 response."""
    attempt = 0
    while True:
        try:
            result = yield Http("POST", request.url, request.headers, request.body, state.timeout)
        except ProviderUnavailableError as exc:
            raise _unreachable(state, exc) from None
        if result.status == 200:
            return result  # type: ignore[no-any-return]
        error = error_from_response(result.status, result.content, result.headers, provider=request.pinned)
        yield from after_failure(state, error, attempt)
        attempt += 1


def complete(
    state: RouterState,
    route: str,
    payload: dict[str, Any],
    *,
    model: str | None = None,
    provider: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    pool: PoolState | None = None,
) -> Flow[RouterCompleted]:
    """Send one request through the Router and build its record."""
    request = yield from prepare(state, route, payload, model=model, provider=provider, files=files, pool=pool)
    result = yield from send(state, request)
    try:
        data = loads_json(result.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"the 0G Router sent a body that is not a JSON object for {route}", status_code=200)
    record = yield from record_for(state, request, result.headers, data)
    return RouterCompleted(request, result.content, data, record)


# --------------------------------------------------------------------------------------------------- records


def _pricing_service(request: RouterRequest, provider: str, prices: tuple[int, int]) -> Service:
    return Service(
        provider=provider or "0x0000000000000000000000000000000000000000",
        service_type=request.service_type,
        url="",
        input_price=prices[0],
        output_price=prices[1],
        updated_at=0,
        model=request.model,
        verifiability="",
        additional_info="",
        tee_signer_address="0x0000000000000000000000000000000000000000",
        tee_signer_acknowledged=False,
    )


def _prices(state: RouterState, model: str, provider: str) -> Flow[tuple[tuple[int, int] | None, str | None]]:
    """The serving provider's prices, else the model's catalog prices (with a note), else None."""
    try:
        listing = yield from list_providers(state, model)
    except ZeroGError as exc:
        log.debug("cannot list the Router's providers of %s: %s", model, exc)
        listing = []
    for entry in listing:
        if provider and entry.address.lower() == provider.lower() and entry.prices() is not None:
            return entry.prices(), None
    try:
        models = yield from list_models(state)
    except ZeroGError as exc:
        log.debug("cannot list the Router's models: %s", exc)
        models = []
    for candidate in models:
        prices = candidate.prices()
        if candidate.id == model and prices is not None:
            return prices, "fee from the model's catalog price (GET /v1/models); the serving provider's is not listed"
    return None, f"fee unknown: the 0G Router lists no neuron pricing for {model!r}; see your pc.0g.ai usage"


def verification_from_trace(
    state: RouterState, request: RouterRequest, trace: Any, chat_id: str | None, provider: str | None
) -> VerificationResult:
    """Map ``x_0g_trace.tee_verified`` to a result (the Router verified; the client cannot in Router mode)."""
    if state.verification == "off":
        return VerificationResult.skipped(chat_id=chat_id, provider=provider)
    if not request.verify:
        return VerificationResult(
            verdict=Verdict.skipped, chat_id=chat_id, provider=provider, detail="verify_tee was not requested"
        )
    tee = trace.get("tee_verified") if isinstance(trace, dict) else None
    told = trace.get("detail") if isinstance(trace, dict) and isinstance(trace.get("detail"), str) else ""
    why = f" ({told})" if told else ""
    if tee is True:
        verdict = Verdict.verified
        detail = f"verified by the 0G Router (verify_tee), not by this client{why}"
    elif tee is False:
        verdict = Verdict.invalid_signature
        detail = f"the 0G Router reports that the provider's TEE signature did not verify{why}"
    else:
        verdict = Verdict.unavailable
        detail = "the 0G Router sent no x_0g_trace.tee_verified for this response: no TEE verification to report"
    return VerificationResult(verdict=verdict, chat_id=chat_id, provider=provider, detail=detail)


def rate_limit(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The ``X-RateLimit-{Limit,Remaining,Reset}-Requests`` values of a response (None when absent)."""
    found = {
        name.lower(): sse._header(headers, f"X-RateLimit-{name}-Requests") for name in ("Limit", "Remaining", "Reset")
    }
    values = {name: value for name, value in found.items() if value}
    return values or None


def record_for(
    state: RouterState, request: RouterRequest, headers: Mapping[str, str], data: dict[str, Any]
) -> Flow[ZeroGRecord]:
    """The ``zerog`` record of a Router response; applies the verification policy (enforce raises)."""
    raw_trace = data.get("x_0g_trace")
    trace: dict[str, Any] = raw_trace if isinstance(raw_trace, dict) else {}
    trace_provider = trace.get("provider")
    provider = (
        sse._header(headers, "X-0G-Provider")
        or (trace_provider if isinstance(trace_provider, str) else None)
        or request.pinned
        or ""
    )
    body_id = data.get("id") if isinstance(data.get("id"), str) else None
    chat_id = sse.chat_id(headers, body_id, request.service_type)
    fee = 0
    prices, note = yield from _prices(state, request.model, provider)
    if prices is not None:
        fee = inference.fee_for(_pricing_service(request, provider, prices), request.route, data, request.body)
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    result = verification_from_trace(state, request, trace or None, chat_id, provider or None)
    request_id = trace.get("request_id") or sse._header(headers, "X-Request-Id")
    fields: dict[str, Any] = {
        "provider": provider,
        "model": str(data.get("model") or request.model),
        "chat_id": chat_id,
        "fee": fee,
        "input_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "service_type": request.service_type,
        "latency_ms": (time.perf_counter() - request.started) * 1000,
        "verification": result,
        "backend": "router",
        "request_id": request_id,
        "fee_note": note,
        "rate_limit": rate_limit(headers),
    }
    record = ZeroGRecord(**fields)
    if state.verification == "enforce":
        apply_policy(result, "enforce")
    elif state.verification == "warn":
        inference.warn(result)
    return record


# --------------------------------------------------------------------------------------------------- streams


class RouterStream(ChunkStream):
    """A Router chat stream, independent of I/O: bytes in, chunks out, ``x_0g_trace`` picked up on the way.

    The Router sends ``x_0g_trace`` (when ``verify_tee`` was asked for) as a chunk with empty ``choices``
    just before ``[DONE]``; it is consumed here and never handed to the caller. As in Direct mode the last
    content/usage chunk is held back so it can carry the record.
    """

    def __init__(self, request: RouterRequest) -> None:
        super().__init__("the 0G Router")
        self.request = request
        self.trace: dict[str, Any] | None = None

    def _observe(self, event: sse.SSEEvent) -> None:
        if "x_0g_trace" not in event.data:
            return
        try:
            payload = loads_json(event.data)
        except ValueError:
            return
        trace = payload.get("x_0g_trace") if isinstance(payload, dict) else None
        if isinstance(trace, dict):
            self.trace = trace

    def _redact(self, text: str) -> str:
        return _redact(text)

    def _provider(self) -> str | None:
        return sse._header(self.headers, "X-0G-Provider")

    def _who(self) -> str:
        provider = self._provider()
        return f"the 0G Router (provider {provider})" if provider else "the 0G Router"

    def _unreachable(self, cause: BaseException) -> ProviderUnavailableError:
        return ProviderUnavailableError(f"cannot reach the 0G Router: {type(cause).__name__}: {cause}")

    def finish(self) -> list[ChatCompletionChunk]:
        """Flush and return the remaining chunks; raises when the stream failed or ended early."""
        return self.drain()

    def record(self, state: RouterState) -> Flow[ZeroGRecord]:
        """The record of the finished stream (the last chunk of :meth:`finish` should carry it)."""
        acc = self.accumulator
        data: dict[str, Any] = {
            "id": acc.chat_id_from_body,
            "model": acc.model or self.request.model,
            "usage": acc.usage.model_dump() if acc.usage is not None else {},
        }
        if self.trace is not None:
            data["x_0g_trace"] = self.trace
        record = yield from record_for(state, self.request, self.headers, data)
        return record


# --------------------------------------------------------------------------------------------------- errors


def _redact(text: str) -> str:
    return _ROUTER_SECRET.sub(lambda m: m.group(1) + "<redacted>", sse._redact(text))


def _parse_error(body: bytes) -> tuple[str, str, str, str | None]:
    """``(message, type, code, request_id)`` of an OpenAI-shaped Router error (lenient)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = loads_json(text)
    except ValueError:
        return text or "no error message", "", "", None
    if not isinstance(payload, dict):
        return text, "", "", None
    error = payload.get("error")
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    if isinstance(error, dict):
        message = str(error.get("message") or text)
        return message, str(error.get("type") or ""), str(error.get("code") or ""), request_id
    return str(error or payload.get("message") or text), "", "", request_id


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str], *, provider: str | None = None
) -> ZeroGError:
    """The typed error for a non-2xx Router answer.

    400 → RequestRejectedError (InvalidTokenError for a missing, invalid or revoked key); 401 →
    InvalidTokenError; 402 → InsufficientBalanceError; 403 → ConfigurationError for ``insufficient_scope``
    (wrong kind of key), else InvalidTokenError; 404 → ServiceNotFoundError; 429 → RateLimitedError with
    ``Retry-After``; 5xx (502 ``provider_error``, 503 ``no_available_provider``) → ProviderUnavailableError.
    Key material a body might echo is redacted.
    """
    raw_message, kind, code, request_id = _parse_error(body)
    message = _redact(raw_message)[:500]
    text = _redact(body.decode("utf-8", errors="replace"))[:16_384]
    parts = (f"HTTP {status}", code or kind, f"request {request_id}" if request_id else "")
    said = f"the 0G Router: {message} ({', '.join(part for part in parts if part)})"
    served_by = provider or sse._header(headers, "X-0G-Provider")
    kwargs: dict[str, Any] = {"status_code": status, "body": text, "provider": served_by}
    if status == 402 or code == "insufficient_balance":
        return InsufficientBalanceError(f"{said}: your Router balance is empty; {TOP_UP} and retry")
    if status == 401 or (status == 400 and code in _KEY_CODES):
        return InvalidTokenError(
            f"{said}: check router_api_key ($ZG_ROUTER_API_KEY); create or rotate keys at pc.0g.ai", **kwargs
        )
    if status == 403:
        if code == "insufficient_scope":
            return ConfigurationError(
                f"{said}: wrong kind of key for this call: inference needs an sk- key, /v1/account/* an mk- "
                "management key (zg.router.balance(management_key='mk-…'))"
            )
        return InvalidTokenError(f"{said}: this key may not do that", **kwargs)
    if status == 404:
        return ServiceNotFoundError(f"{said}: check the model id (zg.router.models() lists them)")
    if status == 429:
        wait = sse._retry_after(headers, message)
        when = f"retry in {wait:g} s" if wait is not None else "retry later"
        return RateLimitedError(f"{said}: {when}, or send fewer requests", retry_after=wait, **kwargs)
    if 400 <= status < 500:
        return RequestRejectedError(f"{said}: fix the request as the message says", **kwargs)
    advice = {
        "provider_error": "every provider the Router tried failed",
        "no_available_provider": "no provider is available for this model right now",
        "no_provider_for_trust_mode": "no provider meets the requested trust mode",
    }.get(code, "the Router failed")
    return ProviderUnavailableError(f"{said}: {advice}; retry later or pick another model", **kwargs)
