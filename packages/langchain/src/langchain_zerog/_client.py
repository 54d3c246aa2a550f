"""Lazy construction of the core clients, shared by the chat model, the embeddings and the tools.

Nothing here does network I/O at construction: a :class:`ZeroGClients` builds one synchronous
``ZeroG`` on first use, and one ``AsyncZeroG`` per running event loop (an ``httpx.AsyncClient``
cannot outlive the loop it was created on, so ``asyncio.run(...)`` twice gets a fresh one).
Provider pools are cached per model so their circuit-breaker state survives between calls.

Pool events (failover, cooldown, ...) and funding events (low balance, funded, vetoed, ...) are
collected per request through a context variable, so concurrent requests (``batch``) never see
each other's events; the chat model turns them into callbacks and ``response_metadata``.

Two backends, as in ``zerog_compute``: Direct mode (a wallet key; this package's pools fail over
client-side) and Router mode (``router_api_key``: the hosted 0G Router routes, fails over and verifies
server-side; a "pool" is then just the model plus the Router's sort order).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.utils import secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from zerog_compute import AsyncZeroG, ConfigurationError, Network, ServiceNotFoundError, ZeroG, ZeroGRecord
from zerog_compute.funding import FundingPolicy
from zerog_compute.ratelimit import RateLimit

from ._events import observed_policy, record_pool_event

if TYPE_CHECKING:
    from zerog_compute._aresources import AsyncProviderPool
    from zerog_compute._resources import ProviderPool
    from zerog_compute.failover import PoolEvent

ENV_PRIVATE_KEY = "ZG_PRIVATE_KEY"
ENV_ROUTER_API_KEY = "ZG_ROUTER_API_KEY"
RECORDS_KEPT = 512
"""Pool restrictions a Router-mode client cannot enforce (the Router picks the provider server-side)."""


# --------------------------------------------------------------------------- the clients


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to build a core client (the key stays a ``SecretStr`` until then)."""

    private_key: SecretStr | None = field(default=None, repr=False)
    router_api_key: SecretStr | None = field(default=None, repr=False)
    router_url: str | None = None
    network: str | Network | None = None
    rpc_url: str | None = None
    verification: Literal["off", "warn", "enforce"] = "warn"
    funding: FundingPolicy | None = None
    rate_limit: RateLimit | None = RateLimit()
    timeout: float | None = None
    router_explicit: bool = False

    @property
    def router_mode(self) -> bool:
        """Router mode: a Router key passed explicitly, or found in the environment with no wallet key
        (the same precedence as ``zerog_compute``: an explicit ``private_key`` wins over ``$ZG_ROUTER_API_KEY``)."""
        return self.router_api_key is not None and (self.router_explicit or self.private_key is None)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``ZeroG`` / ``AsyncZeroG`` (the Router key is handed over as a ``SecretStr``)."""
        config: dict[str, Any] = {
            "network": self.network,
            "rpc_url": self.rpc_url,
            "verification": self.verification,
            "funding": observed_policy(self.funding),
            "rate_limit": self.rate_limit,
        }
        if self.private_key is not None:
            config["private_key"] = self.private_key.get_secret_value()
        if self.router_mode:
            config["router_api_key"] = self.router_api_key
            if self.router_url:  # else the core's own fallback: $ZG_ROUTER_URL, the devnet's Router, the hosted one
                config["router_url"] = self.router_url
        if self.timeout is not None:
            config["timeout"] = self.timeout
        return config


class ZeroGClients:
    """One ``ZeroG``, one ``AsyncZeroG`` per event loop, their pools, and recent records."""

    def __init__(
        self, config: ClientConfig, *, client: ZeroG | None = None, async_client: AsyncZeroG | None = None
    ) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._sync = client
        self._owns_sync = client is None
        self._given_async = async_client
        self._async: dict[int, tuple[asyncio.AbstractEventLoop, AsyncZeroG]] = {}
        self._pools: dict[Any, ProviderPool] = {}
        self._apools: dict[Any, AsyncProviderPool] = {}
        self._records: OrderedDict[str, ZeroGRecord] = OrderedDict()
        self._discovered: dict[str, list[str]] = {}

    def sync(self) -> ZeroG:
        with self._lock:
            if self._sync is None:
                self._sync = ZeroG(**self.config.kwargs())
            return self._sync

    def aio(self) -> AsyncZeroG:
        """The async client of the running loop (built on first use in that loop)."""
        if self._given_async is not None:
            return self._given_async
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.get(id(loop))
            if entry is None or entry[0] is not loop:
                for key, (old, _) in list(self._async.items()):
                    if old.is_closed():  # its HTTP client died with its loop
                        del self._async[key]
                        self._apools = {k: v for k, v in self._apools.items() if k[0] != key}
                entry = (loop, AsyncZeroG(**self.config.kwargs()))
                self._async[id(loop)] = entry
            return entry[1]

    def pool(self, **options: Any) -> ProviderPool:
        key = _pool_key(options)
        client = self.sync()
        with self._lock:
            found = self._pools.get(key)
            if found is None:
                found = self._pools[key] = client.pool(**_with_events(options))
            return found

    def apool(self, **options: Any) -> AsyncProviderPool:
        client = self.aio()
        key = (id(asyncio.get_running_loop()), _pool_key(options))
        with self._lock:
            found = self._apools.get(key)
            if found is None:
                found = self._apools[key] = client.pool(**_with_events(options))
            return found

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
        with self._lock:
            self._records[record.chat_id] = record
            self._records.move_to_end(record.chat_id)
            while len(self._records) > RECORDS_KEPT:
                self._records.popitem(last=False)

    def record(self, chat_id: str) -> ZeroGRecord | None:
        with self._lock:
            return self._records.get(chat_id)

    def close(self) -> None:
        """Close the sync client (if this object built it); async clients need :meth:`aclose`."""
        with self._lock:
            client, self._sync, self._pools = self._sync, None, {}
        if client is not None and self._owns_sync:
            client.close()

    async def aclose(self) -> None:
        """Close the async client of the running loop (and the sync client)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.pop(id(loop), None)
            self._apools = {k: v for k, v in self._apools.items() if k[0] != id(loop)}
        if entry is not None:
            await entry[1].aclose()
        self.close()


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


def _pool_key(options: dict[str, Any]) -> str:
    """One cached pool per distinct option set (the user's ``on_event`` callback does not count)."""
    return repr(sorted((k, v) for k, v in options.items() if k != "on_event"))


def _with_events(options: dict[str, Any]) -> dict[str, Any]:
    user_hook = options.get("on_event")

    def on_event(event: PoolEvent) -> None:
        record_pool_event(event)
        if user_hook is not None:
            user_hook(event)

    return {**options, "on_event": on_event}


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
    """Router base URL (Router mode); default ``$ZG_ROUTER_URL``, else the devnet's Router for ``network="devnet"``,
    else ``https://router-api.0g.ai/v1`` (resolved by ``zerog_compute``)."""
    network: str | Network | None = None
    """``"testnet"``, ``"mainnet"``, ``"devnet"`` or a ``Network``; default ``$ZG_NETWORK``, else testnet."""
    rpc_url: str | None = None
    verification: Literal["off", "warn", "enforce"] = "warn"
    """Per-response TEE verification: ``warn`` checks in the background, ``enforce`` before returning."""
    funding: FundingPolicy | None = Field(default=None, exclude=True)
    """Opt-in auto-funding of provider sub-accounts; ``None`` never moves funds."""
    rate_limit: RateLimit | None = Field(default_factory=RateLimit, exclude=True)
    """Client-side per-provider limiter (``None`` switches it off, and with it the 429 retries)."""
    timeout: float | None = Field(default=None, alias="request_timeout")
    """Seconds per request (core default 60)."""
    max_retries: int | None = None
    """Retries of rate-limited (429) answers; the failover pool never stacks them on its own loop."""
    client: Any = Field(default=None, exclude=True)
    """An existing ``zerog_compute.ZeroG`` to use instead of building one."""
    async_client: Any = Field(default=None, exclude=True)
    """An existing ``zerog_compute.AsyncZeroG`` to use instead of building one per event loop."""

    _clients: ZeroGClients | None = PrivateAttr(default=None)

    def _client_config(self) -> ClientConfig:
        rate_limit = self.rate_limit
        if rate_limit is not None and self.max_retries is not None:
            rate_limit = replace(rate_limit, max_retries=self.max_retries)
        return ClientConfig(
            private_key=self.private_key,
            router_api_key=self.router_api_key,
            router_url=self.router_url,
            network=self.network,
            rpc_url=self.rpc_url,
            verification=self.verification,
            funding=self.funding,
            rate_limit=rate_limit,
            timeout=self.timeout,
            router_explicit="router_api_key" in self.model_fields_set,
        )

    @property
    def zerog_clients(self) -> ZeroGClients:
        """The lazily built core clients (no I/O until a request is made)."""
        if self._clients is None:
            with _BUILD_LOCK:
                if self._clients is None:
                    self._clients = ZeroGClients(
                        self._client_config(), client=self.client, async_client=self.async_client
                    )
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
