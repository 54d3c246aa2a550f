"""Lazy construction of the zerog-compute clients behind every LlamaIndex 0G component.

Construction of a component does no I/O: the clients are built on first use. The sync path uses one
:class:`zerog_compute.ZeroG`; the async path uses one :class:`zerog_compute.AsyncZeroG` *per event loop*
(httpx async connections belong to the loop that opened them, and LlamaIndex apps often call
``asyncio.run`` more than once), so async methods never touch the sync client.

The private key (Direct mode) and the Router API key (Router mode) are never pydantic fields: they live in
a :class:`ClientHolder`, which has no key in its ``repr`` and pickles to an empty holder, so ``to_dict()``,
``to_json()``, ``repr()``, pickles and callback/instrumentation payloads cannot carry them. Without
``private_key=...`` / ``router_api_key=...`` the core client reads ``$ZG_PRIVATE_KEY`` /
``$ZG_ROUTER_API_KEY`` when it is built (a Router key selects Router mode unless a private key is passed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr, SecretStr, WithJsonSchema

from zerog_compute import AsyncZeroG, Network, ZeroG
from zerog_compute.failover import PoolEvent
from zerog_compute.funding import FundingPolicy
from zerog_compute.ratelimit import RateLimit

log = logging.getLogger(__name__)

ENV_PRIVATE_KEY = "ZG_PRIVATE_KEY"
VerificationPolicy = Literal["off", "warn", "enforce"]
Strategy = Literal["priority", "price", "latency", "round_robin"]
PoolHook = Callable[[PoolEvent], Any]
# callables have no JSON schema: describe them the way llama-index-core describes its own callable fields
PoolHookField = Annotated[PoolHook | None, WithJsonSchema({"type": "string"})]
FundingField = Annotated[FundingPolicy | None, WithJsonSchema({"type": "object"})]
POOL_OPTIONS = frozenset(
    {"cooldown", "deadline", "verifiable_only", "max_input_price", "max_output_price", "allow", "deny"}
)


def _secret(private_key: str | bytes | SecretStr | None) -> SecretStr | None:
    if private_key is None or isinstance(private_key, SecretStr):
        return private_key
    if isinstance(private_key, bytes):
        return SecretStr("0x" + private_key.hex()) if len(private_key) == 32 else SecretStr(private_key.decode())
    return SecretStr(private_key)


def client_settings(
    *,
    network: Any,
    rpc_url: str | None,
    verification: Any,
    rate_limit: Any,
    timeout: float | None,
    funding: Any = None,
    router_url: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments every component passes to ``ZeroG``/``AsyncZeroG`` (keys excluded)."""
    settings: dict[str, Any] = {
        "network": network,
        "rpc_url": rpc_url,
        "verification": verification,
        "rate_limit": rate_limit,
        "timeout": timeout,
    }
    if funding is not None:
        settings["funding"] = funding
    if router_url:
        settings["router_url"] = router_url
    return settings


class ClientHolder:
    """The key and the zerog-compute clients of one component, built on first use (thread-safe)."""

    def __init__(
        self,
        settings: Callable[[], dict[str, Any]],
        *,
        private_key: str | bytes | SecretStr | None = None,
        router_api_key: str | SecretStr | None = None,
        client: ZeroG | None = None,
        async_client: AsyncZeroG | None = None,
    ) -> None:
        self._settings = settings
        self._key = _secret(private_key)
        self._router_key = _secret(router_api_key)
        self._sync = client
        self._owns_sync = client is None
        self._injected_async = async_client
        self._async: dict[int, tuple[asyncio.AbstractEventLoop, AsyncZeroG]] = {}
        self._pools: dict[tuple[int, str], Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "ClientHolder()"

    def __reduce__(self) -> tuple[Any, ...]:
        # never pickle the key or live clients: an unpickled component rebuilds them from the environment
        return (_empty_holder, ())

    def __copy__(self) -> ClientHolder:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientHolder:
        return self

    def _config(self) -> dict[str, Any]:
        config = dict(self._settings())
        config["private_key"] = self._key
        if self._router_key is not None:
            config["router_api_key"] = self._router_key
        return config

    def sync(self) -> ZeroG:
        """The sync client (built on first use)."""
        with self._lock:
            if self._sync is None:
                self._sync = ZeroG(**self._config())
            return self._sync

    def aio(self) -> AsyncZeroG:
        """The async client of the running event loop (built on first use in that loop)."""
        if self._injected_async is not None:
            return self._injected_async
        loop = asyncio.get_running_loop()
        with self._lock:
            for key, (old_loop, _) in list(self._async.items()):
                if old_loop.is_closed():  # its connections died with the loop
                    del self._async[key]
                    self._pools = {k: v for k, v in self._pools.items() if k[0] != key}
            entry = self._async.get(id(loop))
            if entry is None or entry[0] is not loop:
                entry = (loop, AsyncZeroG(**self._config()))
                self._async[id(loop)] = entry
            return entry[1]

    def pool(self, client: ZeroG | AsyncZeroG, options: dict[str, Any]) -> Any:
        """``client.pool(**options)``, cached per client so failover health survives between calls."""
        hook = options.get("on_event")
        plain = {k: v for k, v in options.items() if k != "on_event"}
        key = (id(client), json.dumps(plain, sort_keys=True, default=str) + f"|{id(hook)}")
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = client.pool(**options)
            return pool

    def close(self) -> None:
        """Close the sync client if this holder built it (async clients: :meth:`aclose`)."""
        with self._lock:
            client, self._sync = (self._sync, None) if self._owns_sync else (None, self._sync)
            if client is not None:
                self._pools = {k: v for k, v in self._pools.items() if k[0] != id(client)}
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async client (if this holder built it)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.pop(id(loop), None)
            if entry is not None:
                self._pools = {k: v for k, v in self._pools.items() if k[0] != id(entry[1])}
        if entry is not None and entry[0] is loop:
            await entry[1].aclose()


def _empty_holder() -> ClientHolder:
    return ClientHolder(dict)


class ZeroGConnection(BaseModel):
    """How a component reaches 0G: network, verification, funding, limits (the key is not a field)."""

    network: str | Network | None = Field(
        default=None,
        description="'testnet', 'mainnet', 'devnet' or a zerog_compute.Network; default $ZG_NETWORK, else testnet.",
    )
    rpc_url: str | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="RPC URL override (not serialised: RPC URLs often embed an API key); default $ZG_RPC_URL.",
    )
    verification: VerificationPolicy = Field(
        default="warn", description="TEE signature verification: 'off', 'warn' (background) or 'enforce'."
    )
    await_verification: bool = Field(
        default=False,
        description="In 'warn' mode, wait for the background verification so responses carry the final verdict.",
    )
    router_url: str | None = Field(
        default=None, description="Router mode: the Router's base URL; default $ZG_ROUTER_URL, else the hosted Router."
    )
    timeout: float = Field(default=60.0, gt=0, description="Per-request timeout in seconds.")
    rate_limit: RateLimit | None = Field(
        default_factory=RateLimit, description="Client-side per-provider limits (None: no client-side limiting)."
    )
    funding: FundingField = Field(
        default=None, exclude=True, description="Opt-in auto-funding policy; None never moves funds by itself."
    )

    _holder: ClientHolder = PrivateAttr(default_factory=_empty_holder)

    def __init__(self, **data: Any) -> None:  # cooperative: the LlamaIndex base takes the other fields
        super().__init__(**data)

    def _attach_clients(
        self,
        private_key: str | bytes | SecretStr | None,
        client: ZeroG | None,
        async_client: AsyncZeroG | None,
        router_api_key: str | SecretStr | None = None,
    ) -> None:
        self._holder = ClientHolder(
            self._client_settings,
            private_key=private_key,
            router_api_key=router_api_key,
            client=client,
            async_client=async_client,
        )

    def _client_settings(self) -> dict[str, Any]:
        return client_settings(
            network=self.network,
            rpc_url=self.rpc_url,
            verification=self.verification,
            rate_limit=self.rate_limit,
            timeout=self.timeout,
            funding=self.funding,
            router_url=self.router_url,
        )

    def close(self) -> None:
        """Close the HTTP clients this component opened for sync calls."""
        self._holder.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this component opened in the running event loop."""
        await self._holder.aclose()


def pool_settings(
    *,
    model: str | None,
    providers: list[str] | None,
    service_type: str,
    strategy: str,
    pool_options: dict[str, Any],
    on_event: PoolHook | None,
) -> dict[str, Any]:
    """The keyword arguments of ``client.pool(...)`` for a component's options."""
    unknown = set(pool_options) - POOL_OPTIONS
    if unknown:
        raise ValueError(f"unknown pool_options {sorted(unknown)}; allowed: {sorted(POOL_OPTIONS)}")
    options: dict[str, Any] = {"service_type": service_type, "strategy": strategy, **pool_options}
    if providers:
        options["providers"] = list(providers)
    if model:
        options["model"] = model
    if on_event is not None:
        options["on_event"] = on_event
    return options


def check_target(provider: str | None, providers: list[str] | None, model: str | None, what: str) -> None:
    """Validate the provider/providers/model choice of a component (no I/O)."""
    if provider and providers:
        raise ValueError(f"{what}: pass provider=... or providers=[...], not both")
    if not (provider or providers or model):
        raise ValueError(
            f"{what}: pass provider='0x...', providers=['0x...', ...] (failover) or model='...' (discovery)"
        )


def in_event_loop() -> bool:
    """True when called from a running event loop (where blocking I/O is not allowed)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
