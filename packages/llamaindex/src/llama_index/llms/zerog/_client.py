"""How the LlamaIndex 0G components reach 0G: their connection fields and the zerog-compute clients behind them.

Construction of a component does no I/O: its :class:`zerog_compute.LazyClients` builds the clients on first
use. The sync path uses one :class:`zerog_compute.ZeroG`; the async path uses one
:class:`zerog_compute.AsyncZeroG` *per event loop* (httpx async connections belong to the loop that opened
them, and LlamaIndex apps often call ``asyncio.run`` more than once), so async methods never touch the sync
client. Failover pools are cached there too, so their health survives between calls.

The private key (Direct mode) and the Router API key (Router mode) are never pydantic fields: they live in
the ``LazyClients``, which has no key in its ``repr`` and pickles without keys or clients, so ``to_dict()``,
``to_json()``, ``repr()``, pickles and callback/instrumentation payloads cannot carry them. Without
``private_key=...`` / ``router_api_key=...`` the core client reads ``$ZG_PRIVATE_KEY`` /
``$ZG_ROUTER_API_KEY`` when it is built (a Router key selects Router mode unless a private key is passed).

RPC URLs often embed an API key, so they get the same care whichever way they are given: ``rpc_url=`` is a field
kept out of ``repr`` and serialisation, and the URL inside ``network=Network(rpc_url=...)`` moves into it at
validation (the ``network`` field keeps the Network without its URL). Pickles leave both out; an unpickled or
deserialised component takes its RPC URL from ``rpc_url=`` / ``$ZG_RPC_URL`` (else the public endpoint of
testnet or mainnet), exactly as it takes its key from the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr, SecretStr, WithJsonSchema, model_validator

from zerog_compute import (
    AsyncZeroG,
    FundingPolicy,
    LazyClients,
    Network,
    PoolEvent,
    RateLimit,
    VerificationPolicy,
    ZeroG,
)

from ._options import CHAT_BODY_PARAMS, sort_options, with_retries

PoolHook = Callable[[PoolEvent], Any]
# callables have no JSON schema: describe them the way llama-index-core describes its own callable fields
PoolHookField = Annotated[PoolHook | None, WithJsonSchema({"type": "string"})]
FundingField = Annotated[FundingPolicy | None, WithJsonSchema({"type": "object"})]
POOL_OPTIONS = frozenset(
    {"cooldown", "deadline", "verifiable_only", "max_input_price", "max_output_price", "allow", "deny"}
)


def cached_pool(holder: LazyClients, client: ZeroG | AsyncZeroG, options: dict[str, Any]) -> Any:
    """``client.pool(**options)`` from the holder's cache (for an async client: the running loop's pool)."""
    return holder.apool(**options) if isinstance(client, AsyncZeroG) else holder.pool(**options)


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
        default=None,
        description="Router mode: the Router's base URL; default $ZG_ROUTER_URL, else the network's hosted Router.",
    )
    trust_mode: Literal["private"] | None = Field(
        default=None,
        description="Router mode: 'private' sends X-0G-Provider-Trust-Mode: private (only TeeML providers).",
    )
    timeout: float = Field(default=60.0, gt=0, description="Per-request timeout in seconds.")
    max_retries: int | None = Field(
        default=None,
        ge=0,
        description="Retries of a rate-limited (429) answer (None: the rate_limit's, 2). Connection errors, timeouts "
        "and 5xx are not retried on the same provider (a paid request may be billed twice): with providers=[...] or "
        "model=... they fail over.",
    )
    deadline: float | None = Field(
        default=None, gt=0, description="Seconds one call may take in total (None: the core's 300 s)."
    )
    max_response_bytes: int | None = Field(
        default=None, gt=0, description="The largest decoded answer accepted (None: the core's 32 MiB)."
    )
    rate_limit: RateLimit | None = Field(
        default_factory=RateLimit, description="Client-side per-provider limits (None: no client-side limiting)."
    )
    funding: FundingField = Field(
        default=None, exclude=True, description="Opt-in auto-funding policy; None never moves funds by itself."
    )
    state: str | None = Field(
        default=None,
        description="Where the wallet's shared state lives: 'sqlite', 'sqlite:///path.db' or 'redis://host:port/db'; "
        "default $ZG_STATE_URL, else this process only.",
    )
    usage: bool | str | None = Field(
        default=None,
        description="The usage ledger of every request: False switches it off, or where it lives "
        "('sqlite:///path.db', 'redis://...'); default $ZG_USAGE, else on.",
    )

    _holder: LazyClients = PrivateAttr(default_factory=LazyClients)
    _body_params: ClassVar[frozenset[str]] = CHAT_BODY_PARAMS

    def __init__(self, **data: Any) -> None:  # cooperative: the LlamaIndex base takes the other fields
        fields = type(self).model_fields
        declared = {*fields, *(field.alias for field in fields.values() if field.alias)}
        super().__init__(**sort_options(type(self).__name__, declared, data, self._body_params))

    @model_validator(mode="before")
    @classmethod
    def _split_rpc_url(cls, data: Any) -> Any:
        """Move the RPC URL of ``network=Network(rpc_url=...)`` into the unserialised ``rpc_url`` field."""
        if not isinstance(data, dict):
            return data
        network = data.get("network")
        if isinstance(network, dict):
            network = Network.model_validate(network)
        if isinstance(network, Network) and network.rpc_url:
            data = {**data, "network": network.with_rpc(""), "rpc_url": data.get("rpc_url") or network.rpc_url}
        return data

    def __getstate__(self) -> dict[str, Any]:
        """A pickle without the RPC URL and without the clients (whose settings hold it)."""
        state: dict[str, Any] = super().__getstate__()
        state["__dict__"] = {**state["__dict__"], "rpc_url": None}
        state["__pydantic_private__"] = {
            name: value for name, value in (state.get("__pydantic_private__") or {}).items() if name != "_holder"
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild through ``__init__``: new clients, the key and the RPC URL from the environment."""
        type(self).__init__(self, **state["__dict__"])

    def _attach_clients(
        self,
        private_key: str | bytes | SecretStr | None,
        client: ZeroG | None,
        async_client: AsyncZeroG | None,
        router_api_key: str | SecretStr | None = None,
    ) -> None:
        self._holder = LazyClients(
            private_key=private_key,
            router_api_key=router_api_key,
            router_url=self.router_url,
            trust_mode=self.trust_mode,
            network=self.network,
            rpc_url=self.rpc_url,
            verification=self.verification,
            funding=self.funding,
            rate_limit=with_retries(self.rate_limit, self.max_retries),
            timeout=self.timeout,
            state=self.state,
            usage=self.usage,
            deadline=self.deadline,
            max_response_bytes=self.max_response_bytes,
            client=client,
            async_client=async_client,
        )

    def close(self) -> None:
        """Close the HTTP clients this component opened for sync calls."""
        self._holder.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this component opened in the running event loop, and the sync ones."""
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
