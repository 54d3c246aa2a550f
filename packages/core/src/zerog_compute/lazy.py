"""``LazyClients``: the client lifecycle a framework object needs, written once.

A LangChain chat model or a LlamaIndex LLM is configured up front, must do no network I/O until it is
used, may be called from many threads, and from several event loops in turn (apps call
``asyncio.run`` twice; an ``httpx.AsyncClient`` cannot outlive the loop it was opened on).
:class:`LazyClients` holds, for one configuration:

* the keyword arguments of ``ZeroG`` / ``AsyncZeroG``, the keys kept as ``SecretStr`` until a client is built;
* one ``ZeroG``, built on first use (thread-safe);
* one ``AsyncZeroG`` per running event loop; those of closed loops are dropped, with their pools;
* the failover pools it built, cached per option set (sync pools) and per loop (async pools), so their
  health and cooldowns survive between calls;
* injected clients (``client=``, ``async_client=``), used as they are and never closed by it.

Pickling and copying never carry a key, an RPC URL or a live client: a pickle holds the other constructor
arguments only (hooks included, so they must be picklable); an unpickled holder builds new clients and reads its
keys from ``$ZG_PRIVATE_KEY`` / ``$ZG_ROUTER_API_KEY`` and its RPC URL from ``$ZG_RPC_URL`` (else the public
endpoint of testnet or mainnet) then. ``copy.copy`` and ``copy.deepcopy`` return the holder
itself, so a copied framework object shares its clients, pools and keys instead of duplicating them.

Backend precedence (:func:`uses_router`): an explicit Router key wins over a wallet key (which stays for
Direct-only features); a Router key from the environment is used only when no wallet key is given.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .client import AsyncZeroG, ZeroG
from .failover import PoolEvent
from .funding import FundingPolicy
from .networks import Network
from .ratelimit import RateLimit
from .router import TrustMode, uses_router
from .verification import VerificationPolicy

if TYPE_CHECKING:
    from ._aresources import AsyncProviderPool
    from ._resources import ProviderPool

__all__ = ["LazyClients", "uses_router"]

log = logging.getLogger(__name__)
PoolHook = Callable[[PoolEvent], Any]
Key = str | bytes | SecretStr


@dataclass
class _LoopClients:
    """The async client of one event loop and the pools built on it."""

    loop: asyncio.AbstractEventLoop
    client: AsyncZeroG
    pools: dict[Hashable, AsyncProviderPool] = field(default_factory=dict)


class LazyClients:
    """``ZeroG`` / ``AsyncZeroG`` clients and their pools, built on first use (see the module docstring).

    Takes the keyword arguments of ``ZeroG`` (no I/O here), plus ``router_key_from_env`` (see
    :func:`uses_router`), ``on_pool_event`` (called with every event of every pool it builds, before the
    pool's own ``on_event``), and the injected ``client`` / ``async_client``.
    """

    def __init__(
        self,
        *,
        private_key: Key | None = None,
        router_api_key: Key | None = None,
        router_key_from_env: bool = False,
        router_url: str | None = None,
        network: str | Network | None = None,
        rpc_url: str | None = None,
        verification: VerificationPolicy = "warn",
        funding: FundingPolicy | None = None,
        rate_limit: RateLimit | None = RateLimit(),
        timeout: float | None = None,
        state: str | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
        usage: bool | str | None = None,
        trust_mode: TrustMode | None = None,
        on_pool_event: PoolHook | None = None,
        client: ZeroG | None = None,
        async_client: AsyncZeroG | None = None,
    ) -> None:
        self._private_key = _secret(private_key)
        self._router_api_key = _secret(router_api_key)
        self._settings: dict[str, Any] = {
            "router_key_from_env": router_key_from_env,
            "router_url": router_url,
            "network": network,
            "rpc_url": rpc_url,
            "verification": verification,
            "funding": funding,
            "rate_limit": rate_limit,
            "timeout": timeout,
            "state": state,
            "deadline": deadline,
            "max_response_bytes": max_response_bytes,
            "usage": usage,
            "trust_mode": trust_mode,
            "on_pool_event": on_pool_event,
        }
        self._given_sync = client
        self._given_async = async_client
        self._lock = threading.Lock()
        self._sync: ZeroG | None = client
        self._pools: dict[Hashable, ProviderPool] = {}
        self._loops: dict[int, _LoopClients] = {}

    # ------------------------------------------------------------------ configuration

    @property
    def router_mode(self) -> bool:
        """Whether the clients it builds run in Router mode (reads ``$ZG_ROUTER_API_KEY`` if no key is given)."""
        return uses_router(
            self._private_key, self._router_api_key, router_key_from_env=self._settings["router_key_from_env"]
        )

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword arguments it builds ``ZeroG`` / ``AsyncZeroG`` with (keys as ``SecretStr``)."""
        names = ("network", "rpc_url", "verification", "funding", "rate_limit")
        kwargs = {name: self._settings[name] for name in names}
        for name in ("timeout", "deadline", "max_response_bytes", "state", "usage", "trust_mode"):  # None: default
            if self._settings[name] is not None:
                kwargs[name] = self._settings[name]
        if self._private_key is not None:
            kwargs["private_key"] = self._private_key
        if self.router_mode:
            if self._router_api_key is not None:
                kwargs["router_api_key"] = self._router_api_key
            if self._settings["router_url"]:  # else the core's fallback: $ZG_ROUTER_URL, the devnet's, the hosted
                kwargs["router_url"] = self._settings["router_url"]
        return kwargs

    # ------------------------------------------------------------------ clients

    def sync(self) -> ZeroG:
        """The sync client (the injected one, else built on first use)."""
        with self._lock:
            return self._sync_locked()

    def aio(self) -> AsyncZeroG:
        """The async client of the running event loop (built on first use in that loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            return self._loop_locked(loop).client

    def pool(self, **options: Any) -> ProviderPool:
        """``sync().pool(**options)``, cached per option set (``on_event`` counts by identity)."""
        key = _options_key(options)
        with self._lock:
            found = self._pools.get(key)
            if found is None:
                found = self._pools[key] = self._sync_locked().pool(**self._tapped(options))
            return found

    def apool(self, **options: Any) -> AsyncProviderPool:
        """``aio().pool(**options)``, cached per option set in the running event loop."""
        loop, key = asyncio.get_running_loop(), _options_key(options)
        with self._lock:
            entry = self._loop_locked(loop)
            found = entry.pools.get(key)
            if found is None:
                found = entry.pools[key] = entry.client.pool(**self._tapped(options))
            return found

    def _sync_locked(self) -> ZeroG:
        if self._sync is None:
            self._sync = ZeroG(**self.client_kwargs())
        return self._sync

    def _loop_locked(self, loop: asyncio.AbstractEventLoop) -> _LoopClients:
        entry = self._loops.get(id(loop))
        if entry is None or entry.loop is not loop:
            self._prune_locked()
            client = self._given_async if self._given_async is not None else AsyncZeroG(**self.client_kwargs())
            entry = self._loops[id(loop)] = _LoopClients(loop, client)
        return entry

    def _prune_locked(self) -> None:
        """Forget the clients (and pools) of closed loops: their HTTP connections died with the loop."""
        for key, entry in list(self._loops.items()):
            if entry.loop.is_closed():
                del self._loops[key]
                log.debug("dropped the async client of a closed event loop")

    def _tapped(self, options: Mapping[str, Any]) -> dict[str, Any]:
        tap: PoolHook | None = self._settings["on_pool_event"]
        if tap is None:
            return dict(options)
        user_hook: PoolHook | None = options.get("on_event")

        def on_event(event: PoolEvent) -> None:
            tap(event)
            if user_hook is not None:
                user_hook(event)

        return {**options, "on_event": on_event}

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Close the sync client if it built it and forget the sync pools (a later call builds anew).

        Async clients are closed by :meth:`aclose` in their own loop.
        """
        with self._lock:
            built = self._sync if self._sync is not self._given_sync else None
            self._sync, self._pools = self._given_sync, {}
            self._prune_locked()
        if built is not None:
            built.close()

    async def aclose(self) -> None:
        """Close the running loop's async client (if it built it), then :meth:`close` the sync one."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._loops.pop(id(loop), None)
        if entry is not None and entry.loop is loop and entry.client is not self._given_async:
            await entry.client.aclose()
        self.close()

    def __enter__(self) -> LazyClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LazyClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ repr, pickling, copying

    def __repr__(self) -> str:
        network = self._settings["network"]
        name = network.name if isinstance(network, Network) else network
        given = (("private_key", self._private_key), ("router_api_key", self._router_api_key))
        keys = [name for name, value in given if value is not None]
        return f"{type(self).__name__}(network={name!r}, keys={keys})"

    def __reduce__(self) -> tuple[Any, ...]:
        settings = dict(self._settings, rpc_url=None)  # RPC URLs often embed an API key: never pickled
        if isinstance(settings["network"], Network):
            settings["network"] = settings["network"].with_rpc("")
        return (_rebuild, (type(self), settings))

    def __copy__(self) -> LazyClients:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyClients:
        return self


def _rebuild(cls: type[LazyClients], settings: dict[str, Any]) -> LazyClients:
    """An unpickled holder: the same settings, no key, nothing built."""
    return cls(**settings)


def _secret(key: Key | None) -> SecretStr | None:
    if key is None or isinstance(key, SecretStr):
        return key
    if isinstance(key, bytes):  # 32 raw bytes are a private key; anything else is text
        return SecretStr("0x" + key.hex()) if len(key) == 32 else SecretStr(key.decode())
    return SecretStr(key)


def _options_key(options: Mapping[str, Any]) -> Hashable:
    """One cache key per distinct option set: lists count by value, callables by identity."""
    return tuple(sorted(((str(name), _frozen(value)) for name, value in options.items()), key=lambda item: item[0]))


def _frozen(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, set | frozenset):
        return frozenset(_frozen(item) for item in value)
    if isinstance(value, Mapping):
        return _options_key(value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value  # type: ignore[no-any-return]
