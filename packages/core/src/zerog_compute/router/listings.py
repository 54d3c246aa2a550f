"""The Router's listings and account: models, providers, balance, funds, usage stats and history (flows)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .._io import Flow, Http, loads_json
from ..errors import (
    ConfigurationError,
    DeadlineExceededError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from ..http_errors import router_error
from .config import ENV_MANAGEMENT_KEY, RouterState


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


def _amount(value: Any) -> Any:
    """A neuron amount from an int or an (optionally negative) integer string; None stays None (then 0)."""
    if value is None:
        return 0
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else value


class RouterBalance(BaseModel):
    """``GET /v1/account/balance``: the Router ledger, in neuron (1 0G = 10**18 neuron).

    ``total_balance`` (deposit + credit) is the number to show; :attr:`balance` is an alias computed from it.
    """

    model_config = ConfigDict(extra="allow")

    address: str | None = None
    deposit_balance: int = 0
    credit_balance: int = 0
    total_balance: int = 0

    @field_validator("deposit_balance", "credit_balance", "total_balance", mode="before")
    @classmethod
    def _neuron(cls, value: Any) -> Any:
        return _amount(value)

    @model_validator(mode="before")
    @classmethod
    def _no_alias(cls, data: Any) -> Any:
        """A ``balance`` key (an older alias) is not read: :attr:`balance` comes from ``total_balance``."""
        return {k: v for k, v in data.items() if k != "balance"} if isinstance(data, dict) else data

    @property
    def balance(self) -> int:
        """Alias of :attr:`total_balance` (what older docs print)."""
        return self.total_balance


class RouterFunds(BaseModel):
    """``GET /v1/account/funds``: everything spendable, in neuron; ``total`` may be negative (owed).

    ``total`` = (deposit + credit − pending charge) + the Payment Layer vault balance. The Router sends the
    total and a breakdown; the breakdown's field names are kept as sent (unknown ones in ``model_extra``).
    """

    model_config = ConfigDict(extra="allow")

    address: str | None = None
    total: int = 0
    deposit_balance: int = 0
    credit_balance: int = 0
    pending_charge: int = 0
    vault_balance: int = 0
    vault_ratio: float | None = None

    @field_validator("total", "deposit_balance", "credit_balance", "pending_charge", "vault_balance", mode="before")
    @classmethod
    def _neuron(cls, value: Any) -> Any:
        return _amount(value)

    @classmethod
    def from_payload(cls, payload: Any) -> RouterFunds:
        """Lenient: the breakdown may sit at the top level or under ``breakdown``; the total may be computed."""
        data = dict(payload) if isinstance(payload, dict) else {}
        breakdown = data.pop("breakdown", None)
        if isinstance(breakdown, dict):
            data = {**breakdown, **data}
        for name in ("total_funds", "total_balance", "funds"):
            if "total" not in data and name in data:
                data["total"] = data[name]
        funds = cls.model_validate(data)
        if "total" not in data:
            owed = funds.deposit_balance + funds.credit_balance - funds.pending_charge
            funds.total = owed + funds.vault_balance
        return funds


class UsageStats(BaseModel):
    """``GET /v1/account/usage/stats``: totals of a window (tokens, requests, cost in neuron)."""

    model_config = ConfigDict(extra="allow")

    total_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    total_cost: int = 0

    @field_validator("*", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        return _amount(value)


class UsageEntry(BaseModel):
    """One billed request of ``GET /v1/account/usage/history`` (``cost`` in neuron)."""

    model_config = ConfigDict(extra="allow")

    request_id: str | None = None
    created_at: Any = None
    model: str | None = None
    provider: str | None = None
    endpoint: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: int = 0
    api_key_id: str | None = None
    source: str | None = None

    @field_validator("cost", mode="before")
    @classmethod
    def _cost(cls, value: Any) -> Any:
        return _amount(value)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UsageEntry:
        usage = row.get("usage")
        tokens = usage if isinstance(usage, dict) else {}
        return cls.model_validate({**{k: tokens.get(k) for k in ("prompt_tokens", "completion_tokens")}, **row})


class UsageHistory(BaseModel):
    """A page of ``GET /v1/account/usage/history``: newest first; ``total`` counts every matching request."""

    data: list[UsageEntry] = Field(default_factory=list)
    total: int | None = None
    limit: int
    offset: int


def _query(**params: Any) -> str:
    chosen = {k: str(v) for k, v in params.items() if v is not None}
    return f"?{urlencode(chosen)}" if chosen else ""


def _get(state: RouterState, path: str, key: SecretStr | None = None) -> Flow[Any]:
    url = state.url + path
    try:
        result = yield Http("GET", url, {**state.auth(key), "Accept": "application/json"}, None, state.timeout)
    except ProviderUnavailableError as exc:
        raise unreachable(state, exc) from None
    if result.status != 200:
        raise router_error(result.status, result.content, result.headers, network=state.network)
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


def management_key(key: str | SecretStr | None) -> SecretStr | None:
    """The key for ``/v1/account/*``: the argument, else ``$ZG_ROUTER_MANAGEMENT_KEY``, else the client's key."""
    raw = key if key is not None else os.environ.get(ENV_MANAGEMENT_KEY, "").strip() or None
    return None if raw is None else raw if isinstance(raw, SecretStr) else SecretStr(raw)


def balance(state: RouterState, key: str | SecretStr | None = None) -> Flow[RouterBalance]:
    """``GET /v1/account/balance`` (the Router ledger)."""
    payload = yield from _get(state, "/account/balance", management_key(key))
    return RouterBalance.model_validate(payload if isinstance(payload, dict) else {})


def funds(state: RouterState, key: str | SecretStr | None = None) -> Flow[RouterFunds]:
    """``GET /v1/account/funds`` (the Router ledger plus the Payment Layer vault; may be negative)."""
    payload = yield from _get(state, "/account/funds", management_key(key))
    return RouterFunds.from_payload(payload)


def usage_stats(state: RouterState, key: str | SecretStr | None = None, **filters: Any) -> Flow[UsageStats]:
    """``GET /v1/account/usage/stats`` with ``start_date``, ``end_date``, ``api_key_id``, ``source`` filters."""
    payload = yield from _get(state, "/account/usage/stats" + _query(**filters), management_key(key))
    data = payload.get("data") if isinstance(payload, dict) and isinstance(payload.get("data"), dict) else payload
    return UsageStats.model_validate(data if isinstance(data, dict) else {})


def usage_history(
    state: RouterState, key: str | SecretStr | None = None, *, limit: int = 50, offset: int = 0, **filters: Any
) -> Flow[UsageHistory]:
    """``GET /v1/account/usage/history``: one page, newest first."""
    if limit < 1 or offset < 0:
        raise ConfigurationError("limit must be >= 1 and offset >= 0")
    path = "/account/usage/history" + _query(limit=limit, offset=offset, **filters)
    payload = yield from _get(state, path, management_key(key))
    total = payload.get("total") if isinstance(payload, dict) else None
    rows = [UsageEntry.from_row(row) for row in _entries(payload)]
    return UsageHistory(data=rows, total=total if isinstance(total, int) else None, limit=limit, offset=offset)


def unreachable(state: RouterState, exc: ProviderUnavailableError) -> ProviderUnavailableError:
    """The error for a Router that could not be reached at all."""
    if isinstance(exc, DeadlineExceededError):
        return exc  # the call's own deadline, not the Router's fault: stays a TimeoutError
    cause = exc.__cause__ or exc
    kind = ProviderTimeoutError if isinstance(exc, ProviderTimeoutError) else ProviderUnavailableError
    return kind(
        f"cannot reach the 0G Router at {state.url}: {type(cause).__name__}: {cause}; check router_url and retry"
    )
