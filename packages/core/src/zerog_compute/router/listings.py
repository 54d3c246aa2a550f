"""The Router's listings and account: ``/v1/models``, ``/v1/providers``, ``/v1/account/balance`` (flows)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .._io import Flow, Http, loads_json
from ..errors import DeadlineExceededError, ProviderError, ProviderTimeoutError, ProviderUnavailableError
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
        raise unreachable(state, exc) from None
    if result.status != 200:
        raise router_error(result.status, result.content, result.headers)
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


def unreachable(state: RouterState, exc: ProviderUnavailableError) -> ProviderUnavailableError:
    """The error for a Router that could not be reached at all."""
    if isinstance(exc, DeadlineExceededError):
        return exc  # the call's own deadline, not the Router's fault: stays a TimeoutError
    cause = exc.__cause__ or exc
    kind = ProviderTimeoutError if isinstance(exc, ProviderTimeoutError) else ProviderUnavailableError
    return kind(
        f"cannot reach the 0G Router at {state.url}: {type(cause).__name__}: {cause}; check router_url and retry"
    )
