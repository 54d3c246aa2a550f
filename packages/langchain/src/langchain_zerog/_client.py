"""The core clients behind the chat model, the embeddings and the tools, and what LangChain adds to them.

The lifecycle is ``zerog_compute.LazyClients``: no network I/O at construction, one ``ZeroG`` built on
first use, one ``AsyncZeroG`` per running event loop (``asyncio.run(...)`` twice gets a fresh one), provider
pools cached per option set so their circuit-breaker state survives between calls, and the backend
precedence (a ``router_api_key`` passed explicitly wins over a wallet key; one read from
``$ZG_ROUTER_API_KEY`` is used only without a wallet key). :class:`ZeroGClients` adds the LangChain side:
recent records by chat id (for ``verdict(msg)``), discovery of a service type's providers
(:meth:`~ZeroGClients.target`), and every pool event reported to the current request's event log.

Pool events (failover, cooldown, ...) and funding events (low balance, funded, vetoed, ...) are
collected per request through a context variable, so concurrent requests (``batch``) never see
each other's events; the chat model turns them into callbacks and ``response_metadata``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from langchain_core.utils import secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr
from typing_extensions import Self

from zerog_compute import (
    AsyncZeroG,
    ConfigurationError,
    FundingPolicy,
    LazyClients,
    Network,
    RateLimit,
    ServiceNotFoundError,
    VerificationPolicy,
    ZeroG,
    ZeroGRecord,
)

from ._events import observed_policy, record_pool_event

ENV_PRIVATE_KEY = "ZG_PRIVATE_KEY"
ENV_ROUTER_API_KEY = "ZG_ROUTER_API_KEY"
RECORDS_KEPT = 512


# --------------------------------------------------------------------------- the clients


class ZeroGClients(LazyClients):
    """The core clients (``zerog_compute.LazyClients``), plus recent records and discovered providers."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._records: OrderedDict[str, ZeroGRecord] = OrderedDict()
        self._records_lock = threading.Lock()
        self._discovered: dict[str, list[str]] = {}

    def target(
        self,
        service_type: str,
        *,
        provider: str | None = None,
        providers: list[str] | None = None,
        model: str | None = None,
        **options: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """What to call for a service type: ``(client, {"provider": addr})`` for one provider, else
        ``(pool, {})``; with no provider and no model, every provider of ``service_type`` forms the pool
        (Direct mode; in Router mode the Router needs the model and says so)."""
        client = self.sync()
        if provider:
            return client, {"provider": provider}
        if not providers and not model and not is_router(client):
            providers = self._discovered.get(service_type)
            if providers is None:
                providers = _addresses(service_type, client.services.list(service_type=service_type))
                self._discovered[service_type] = providers
        _check_router_target(client, service_type, model)
        return self.pool(service_type=service_type, providers=providers, model=model, **options), {}

    async def atarget(
        self,
        service_type: str,
        *,
        provider: str | None = None,
        providers: list[str] | None = None,
        model: str | None = None,
        **options: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """Async :meth:`target`."""
        client = self.aio()
        if provider:
            return client, {"provider": provider}
        if not providers and not model and not is_router(client):
            providers = self._discovered.get(service_type)
            if providers is None:
                providers = _addresses(service_type, await client.services.list(service_type=service_type))
                self._discovered[service_type] = providers
        _check_router_target(client, service_type, model)
        return self.apool(service_type=service_type, providers=providers, model=model, **options), {}

    def remember(self, record: ZeroGRecord | None) -> None:
        """Keep a record by chat id so its verification can be awaited later."""
        if record is None or not record.chat_id:
            return
        with self._records_lock:
            self._records[record.chat_id] = record
            self._records.move_to_end(record.chat_id)
            while len(self._records) > RECORDS_KEPT:
                self._records.popitem(last=False)

    def record(self, chat_id: str) -> ZeroGRecord | None:
        with self._records_lock:
            return self._records.get(chat_id)


def is_router(client: ZeroG | AsyncZeroG) -> bool:
    """Whether a core client runs in Router mode (hosted 0G Router) rather than Direct mode."""
    return getattr(client, "backend", "direct") == "router"


def _check_router_target(client: ZeroG | AsyncZeroG, service_type: str, model: str | None) -> None:
    if is_router(client) and not model:
        raise ConfigurationError(
            f"Router mode routes by model: pass model=... for this {service_type} service (zg.router.models() "
            "lists them), or provider='0x…' to pin one provider"
        )


def _addresses(service_type: str, services: list[Any]) -> list[str]:
    if not services:
        raise ServiceNotFoundError(
            f"no acknowledged {service_type} provider on this network: pass provider=... or model=..."
        )
    return [s.provider for s in services]


# --------------------------------------------------------------------------- pydantic fields


class ZeroGClientFields(BaseModel):
    """Connection settings shared by every class of this package; the core client is built lazily."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    private_key: SecretStr | None = Field(default_factory=secret_from_env(ENV_PRIVATE_KEY, default=None))
    """Wallet key for Direct mode (from ``$ZG_PRIVATE_KEY``). Never serialised, logged or shown."""
    router_api_key: SecretStr | None = Field(
        default_factory=secret_from_env(ENV_ROUTER_API_KEY, default=None), alias="api_key"
    )
    """0G Router key (``sk-...``, from ``$ZG_ROUTER_API_KEY``): Router mode. Passed explicitly it wins over a
    wallet key; from the environment it is used only when there is no wallet key. Never serialised, logged or shown."""
    router_url: str | None = None
    """Router base URL (Router mode); default ``$ZG_ROUTER_URL``, else the network's Router (mainnet, testnet, the
    devnet's), resolved by ``zerog_compute``."""
    trust_mode: Literal["private"] | None = None
    """Router mode: ``"private"`` sends ``X-0G-Provider-Trust-Mode: private`` (only TeeML providers, which keep
    prompts hidden); refused in Direct mode."""
    network: str | Network | None = None
    """``"testnet"``, ``"mainnet"``, ``"devnet"`` or a ``Network``; default ``$ZG_NETWORK``, else testnet."""
    rpc_url: str | None = None
    verification: VerificationPolicy = "warn"
    """Per-response TEE verification: ``warn`` checks in the background, ``enforce`` before returning."""
    funding: FundingPolicy | None = Field(default=None, exclude=True)
    """Opt-in auto-funding of provider sub-accounts; ``None`` never moves funds."""
    rate_limit: RateLimit | None = Field(default_factory=RateLimit, exclude=True)
    """Client-side per-provider limiter (``None`` switches it off, and with it the 429 retries)."""
    timeout: float | None = Field(default=None, alias="request_timeout")
    """Seconds to connect and per read (core default 60)."""
    deadline: float | None = None
    """Seconds one call may take in total, however slowly the provider answers (core default 300)."""
    max_response_bytes: int | None = None
    """The largest decoded answer accepted from a provider (core default 32 MiB)."""
    max_retries: int | None = None
    """Retries of rate-limited (429) answers; the failover pool never stacks them on its own loop."""
    state: str | None = None
    """Where the wallet's shared state lives: ``"sqlite"``, ``"sqlite:///path.db"``, ``"redis://host:port/db"``;
    default ``$ZG_STATE_URL``, else this process only (see ``zerog_compute.state``)."""
    usage: bool | str | None = None
    """The usage ledger of every request: False to switch it off, or where it lives (``"sqlite:///path.db"``,
    ``"redis://..."``); default ``$ZG_USAGE``, else on (see ``zerog_compute.usage``)."""
    client: Any = Field(default=None, exclude=True)
    """An existing ``zerog_compute.ZeroG`` to use instead of building one."""
    async_client: Any = Field(default=None, exclude=True)
    """An existing ``zerog_compute.AsyncZeroG`` to use instead of building one per event loop."""

    _clients: ZeroGClients | None = PrivateAttr(default=None)

    # A copy is another configuration: it gets its own core clients (built lazily from its own fields), so a
    # copy with another private_key bills that wallet and one with another timeout uses it.

    def __copy__(self) -> Self:
        copied = super().__copy__()
        copied._forget_clients()
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        memo = {} if memo is None else memo
        if self._clients is not None:
            memo[id(self._clients)] = None  # never deep-copy live connections and threads
        copied = super().__deepcopy__(memo)
        copied._forget_clients()
        return copied

    def _forget_clients(self) -> None:
        """Drop what was built from the original's fields (a copy builds its own on first use)."""
        self._clients = None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with its own core clients; ``update`` may use aliases (``api_key``) and plain-string keys."""
        if update:
            update = {_field_name(type(self), key): value for key, value in update.items()}
            for name in _SECRET_FIELDS:
                if isinstance(update.get(name), str):
                    update[name] = SecretStr(update[name])
        return super().model_copy(update=update, deep=deep)

    def _client_config(self) -> dict[str, Any]:
        """The arguments of :class:`ZeroGClients` (``zerog_compute.LazyClients``) for these fields."""
        rate_limit = self.rate_limit
        if rate_limit is not None and self.max_retries is not None:
            rate_limit = replace(rate_limit, max_retries=self.max_retries)
        return {
            "private_key": self.private_key,
            "router_api_key": self.router_api_key,
            "router_key_from_env": "router_api_key" not in self.model_fields_set,
            "router_url": self.router_url,
            "trust_mode": self.trust_mode,
            "network": self.network,
            "rpc_url": self.rpc_url,
            "verification": self.verification,
            "funding": observed_policy(self.funding),
            "rate_limit": rate_limit,
            "timeout": self.timeout,
            "state": self.state,
            "usage": self.usage,
            "deadline": self.deadline,
            "max_response_bytes": self.max_response_bytes,
            "on_pool_event": record_pool_event,
            "client": self.client,
            "async_client": self.async_client,
        }

    @property
    def zerog_clients(self) -> ZeroGClients:
        """The lazily built core clients (no I/O until a request is made)."""
        if self._clients is None:
            with _BUILD_LOCK:
                if self._clients is None:
                    self._clients = ZeroGClients(**self._client_config())
        return self._clients

    def close(self) -> None:
        """Close the core clients' HTTP connections (a later call builds new ones)."""
        if self._clients is not None:
            self._clients.close()

    async def aclose(self) -> None:
        """Close the async client of the running loop, and the sync client."""
        if self._clients is not None:
            await self._clients.aclose()


_BUILD_LOCK = threading.Lock()
_SECRET_FIELDS = ("private_key", "router_api_key")


def _field_name(model: type[BaseModel], key: str) -> str:
    """The field name for ``key``, a field name or an alias."""
    if key in model.model_fields:
        return key
    return next((name for name, field in model.model_fields.items() if field.alias == key), key)
