"""``ZeroG`` and ``AsyncZeroG``: the clients. Both are thin shells over the same flows.

Construction does no network I/O. Configuration is keyword-only with environment fallbacks:
``private_key`` ← ``$ZG_PRIVATE_KEY``, ``network`` ← ``$ZG_NETWORK`` (default testnet),
``rpc_url`` ← ``$ZG_RPC_URL``.

Providers are untrusted: ``timeout=`` (default 60 s) bounds connecting and each read, ``deadline=`` (default
300 s) a whole exchange with a provider or the Router (every try, every read of a slow or endless answer:
:class:`~zerog_compute.errors.DeadlineExceededError`), and ``max_response_bytes=`` (default 32 MiB) the decoded
size of any answer, stream or image (:class:`~zerog_compute.errors.ResponseTooLargeError`).

Router mode (the hosted 0G Router, see :mod:`zerog_compute.router`): ``router_api_key`` ←
``$ZG_ROUTER_API_KEY`` (the environment is used only when no ``private_key=`` is passed),
``router_url`` ← ``$ZG_ROUTER_URL`` (default: the network's Router — mainnet, testnet, or the devnet's for
``network="devnet"``; a hosted Router URL of another network is refused). Inference then goes through the
Router with the same calls; no wallet is needed. ``trust_mode="private"`` sends
``X-0G-Provider-Trust-Mode: private`` with every inference request (only TeeML providers, which keep prompts
hidden; Router mode only).

``usage`` ← ``$ZG_USAGE``: the usage ledger every finished request is recorded in (on by default: ``~/.zerog/usage.db``,
or the Redis server of ``state=``); ``False`` / ``"off"`` switches it off (see :mod:`zerog_compute.usage`).

``state`` ← ``$ZG_STATE_URL``: where the wallet's shared state lives (rate buckets and slots, budget, funding
tallies, the chain-write lane): this process (default), ``"sqlite"`` for the processes of one machine, or
``"redis://host:port/db"`` for several hosts (see :mod:`zerog_compute.state`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from . import failover, funding, ledger, signatures
from . import router as _router
from ._bounds import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES
from ._context import DIRECT_ONLY, Context
from ._io import Flow, T
from .backend import Backend, BackendName
from .direct import DirectBackend
from .errors import ConfigurationError
from .failover import DEFAULT_STRATEGY, PoolConfig, PoolState, Strategy
from .funding import FundingPolicy, FundingState
from .ledger import SubAccount
from .networks import Network, resolve_network
from .ratelimit import Limiter, RateLimit
from .runners import AsyncRunner, SyncRunner
from .signer import Wallet
from .state import StateStore, open_store
from .units import Amount
from .usage.ledger import Recorder, UsageLedger, open_ledger
from .verification import AttestationReport, VerificationPolicy, VerificationResult
from .wallet_state import wallet_state

if TYPE_CHECKING:
    from ._aresources import AsyncProviderPool
    from ._resources import ProviderPool

log = logging.getLogger(__name__)
POLICIES = ("off", "warn", "enforce")


class _ClientBase:
    """Configuration shared by both clients; the backend (Direct or Router) is chosen here, once."""

    def __init__(
        self,
        *,
        private_key: str | None = None,
        network: str | Network | None = None,
        rpc_url: str | None = None,
        verification: VerificationPolicy = "warn",
        funding: FundingPolicy | None = None,
        rate_limit: RateLimit | None = RateLimit(),
        timeout: float = 60.0,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        router_api_key: str | SecretStr | None = None,
        router_url: str | None = None,
        trust_mode: _router.TrustMode | None = None,
        state: str | StateStore | None = None,
        usage: bool | str | UsageLedger | None = None,
        check_upstream_certificate: bool = False,
    ) -> None:
        _check_options(verification, funding, rate_limit, timeout)
        if not isinstance(check_upstream_certificate, bool):
            raise ConfigurationError("check_upstream_certificate must be True or False")
        _check_bounds(deadline, max_response_bytes)
        store = open_store(state)
        resolved = resolve_network(network, rpc_url)
        self._router = _router.configure(
            router_api_key,
            router_url,
            resolved,
            explicit_private_key=private_key is not None,
            verification=verification,
            timeout=timeout,
            max_retries=rate_limit.max_retries if rate_limit is not None else 0,
            trust_mode=trust_mode,
        )
        if private_key is not None:
            wallet: Wallet | None = Wallet(private_key)
        elif self._router is not None:
            wallet = _router.router_wallet()
        else:
            wallet = Wallet.from_env()
        if funding is not None and wallet is None:
            raise ConfigurationError(f"funding= {DIRECT_ONLY}")
        shared = wallet_state(resolved.chain_id, wallet.address if wallet is not None else None, store)
        self._ctx = Context(
            resolved,
            wallet,
            verification,
            timeout,
            nonces=shared.nonces,
            sessions=shared.sessions,
            generations=shared.generations,
            check_upstream_certificate=check_upstream_certificate,
        )
        self._ctx.funding = FundingState(funding, shared.funding, shared.breakers)
        self._ctx.limiter = Limiter(rate_limit, shared.buckets) if rate_limit is not None else None
        self._wallet_state = shared
        self._ctx.max_retries = rate_limit.max_retries if rate_limit is not None else 0
        self._ctx.deadline, self._ctx.max_response_bytes = float(deadline), max_response_bytes
        if self._router is not None:
            self._router.deadline, self._router.max_response_bytes = float(deadline), max_response_bytes
        self._usage = open_ledger(usage, store)
        self._ctx.usage = Recorder(self._usage, resolved.chain_id, wallet.address if wallet is not None else None)
        if self._router is not None:
            self._router.usage = self._ctx.usage
        self._backend: Backend = (
            _router.RouterBackend(self._router) if self._router is not None else DirectBackend(self._ctx)
        )

    @property
    def funding(self) -> FundingState:
        """Auto-funding state: the policy, what it has spent and every transfer it made."""
        return self._ctx.funding

    @property
    def address(self) -> str:
        """The wallet address (Router mode without a wallet: raises ConfigurationError)."""
        return self._ctx.user

    @property
    def backend(self) -> BackendName:
        """``"router"`` (hosted 0G Router, ``router_api_key=``) or ``"direct"`` (wallet and providers)."""
        return self._backend.name

    @property
    def network(self) -> Network:
        return self._ctx.network

    @property
    def rpc_calls(self) -> int:
        """JSON-RPC calls made so far (for diagnostics and benchmarks)."""
        return int(self._runner_base().rpc_counter.count)

    def _runner_base(self) -> Any:
        raise NotImplementedError

    def _pool_state(
        self,
        *,
        model: str | None = None,
        providers: Sequence[str] | None = None,
        service_type: str = "chatbot",
        strategy: Strategy = DEFAULT_STRATEGY,
        verifiable_only: bool = False,
        max_input_price: int | None = None,
        max_output_price: int | None = None,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        cooldown: float = 30.0,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        on_event: Callable[[failover.PoolEvent], Any] | None = None,
        trust_mode: _router.TrustMode | None = None,
    ) -> PoolState:
        if trust_mode is not None and self._router is None:
            raise ConfigurationError(
                "trust_mode= is a Router option (X-0G-Provider-Trust-Mode); a Direct-mode pool picks TeeML providers "
                "with verifiable_only=True"
            )
        config = pool_config(
            model=model,
            providers=providers,
            service_type=service_type,
            strategy=strategy,
            verifiable_only=verifiable_only,
            max_input_price=max_input_price,
            max_output_price=max_output_price,
            allow=allow,
            deny=deny,
            cooldown=cooldown,
            deadline=deadline,
            attempt_timeout=attempt_timeout,
            on_event=on_event,
            trust_mode=trust_mode,
        )
        return PoolState(config)

    def __repr__(self) -> str:
        if self._router is not None:
            return f"{type(self).__name__}(router={self._router.url!r}, network={self.network.name!r})"
        return f"{type(self).__name__}(address={self.address!r}, network={self.network.name!r})"


def _check_options(
    verification: Any, funding: FundingPolicy | None, rate_limit: RateLimit | None, timeout: float
) -> None:
    if verification not in POLICIES:
        raise ConfigurationError(f"verification must be one of {POLICIES}, got {verification!r}")
    if funding is not None and not isinstance(funding, FundingPolicy):
        raise ConfigurationError("funding must be a FundingPolicy (or None to never move funds automatically)")
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise ConfigurationError("rate_limit must be a RateLimit(...) (or None to switch client-side limiting off)")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < float("inf"):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _check_bounds(deadline: Any, max_response_bytes: Any) -> None:
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not 0 < deadline < float("inf"):
        raise ConfigurationError(f"deadline must be a positive number of seconds, got {deadline!r}")
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes <= 0:
        raise ConfigurationError(f"max_response_bytes must be a positive number of bytes, got {max_response_bytes!r}")


def _bound(runner: SyncRunner | AsyncRunner, ctx: Context) -> None:
    """Give the runner the client's limits: they apply to every HTTP answer that does not set its own."""
    runner.deadline, runner.max_response_bytes = ctx.deadline, ctx.max_response_bytes


class ZeroG(_ClientBase):
    """Synchronous client. Use as a context manager or call :meth:`close`.

    ``http_client=`` (providers, Router) and ``rpc_http_client=`` (chain RPC) take your own ``httpx.Client``
    (proxies, TLS, hooks, transports); you own them: :meth:`close` closes only the clients it created.
    """

    def __init__(
        self, *, http_client: httpx.Client | None = None, rpc_http_client: httpx.Client | None = None, **config: Any
    ) -> None:
        super().__init__(**config)
        self._http = http_client or httpx.Client(timeout=self._ctx.timeout)
        self._rpc_http = rpc_http_client or httpx.Client(timeout=30.0)
        self._owned_http = [
            own for own, given in ((self._http, http_client), (self._rpc_http, rpc_http_client)) if given is None
        ]
        self._runner = SyncRunner(
            self.network.rpc_url, self.network.chain_id, self._http, self._rpc_http, self._wallet_state.lane
        )
        _bound(self._runner, self._ctx)
        self._stop = threading.Event()
        self._funder: threading.Thread | None = None
        self._start_background()
        from ._resources import ApiKeys, Audio, Chat, Embeddings, Images, Ledger, Router, Services, Usage

        self.router = Router(self)
        self.ledger = Ledger(self)
        self.services = Services(self)
        self.chat = Chat(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.embeddings = Embeddings(self)
        self.api_keys = ApiKeys(self)
        self.usage = Usage(self)

    def _runner_base(self) -> SyncRunner:
        return self._runner

    def _run(self, flow: Flow[T]) -> T:
        return self._runner.run(flow)

    def _iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        return self._runner.iterate(flow)

    def _start_background(self) -> None:
        policy = self._ctx.funding.policy
        if policy is not None and policy.mode == "background":
            self._funder = threading.Thread(target=self._background_funding, name="zerog-funding", daemon=True)
            self._funder.start()

    def pool(self, **options: Any) -> ProviderPool:
        """A failover pool: ``zg.pool(model="m")`` or ``zg.pool(providers=[a, b], strategy="price")``.

        Options: model, providers, service_type, strategy (soonest by default; priority, price, latency,
        round_robin), verifiable_only, max_input_price, max_output_price (neuron), allow, deny, cooldown,
        deadline, attempt_timeout, on_event (called with every :class:`~zerog_compute.failover.PoolEvent`),
        trust_mode ("private": Router mode only, sends ``X-0G-Provider-Trust-Mode``).
        """
        from ._resources import ProviderPool

        return ProviderPool(self, self._pool_state(**options))

    def acknowledge(self, provider: str, amount: Amount | None = None) -> SubAccount:
        """Ensure the sub-account with ``provider`` exists and is acknowledged; funds move only if ``amount``."""
        return self._run(ledger.acknowledge(self._ctx.direct("zg.acknowledge"), provider, amount))

    def verify(
        self, provider: str, chat_id: str, *, request_body: bytes | None = None, response_body: bytes | None = None
    ) -> VerificationResult:
        """Verify a response by chat id; pass the exchanged bytes to also check the content binding."""
        return self._run(signatures.verify_chat(self._ctx, provider, chat_id, request_body, response_body))

    def attestation(self, provider: str) -> AttestationReport:
        """Fetch ``/v1/quote`` and check that it names the TEE signer registered on chain."""
        return self._run(signatures.attestation(self._ctx, provider))

    def _background_funding(self) -> None:
        policy = self._ctx.funding.policy
        while policy is not None and not self._stop.wait(policy.interval):
            try:
                self._run(funding.background_round(self._ctx, self._ctx.funding))
            except Exception:  # keep the loop alive; the next round retries
                log.exception("background funding round failed")

    def close(self) -> None:
        """Close HTTP clients after background verifications finish; stop background funding."""
        self._stop.set()
        if self._funder is not None:
            self._funder.join(timeout=5)
        self._runner.close()
        if self._usage is not None:
            self._usage.flush()  # background verdicts are in by now
        for own in self._owned_http:
            own.close()

    def __enter__(self) -> ZeroG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncZeroG(_ClientBase):
    """Asynchronous client. Use ``async with`` or await :meth:`aclose`.

    ``http_client=`` and ``rpc_http_client=`` take your own ``httpx.AsyncClient`` (see :class:`ZeroG`);
    :meth:`aclose` closes only the clients it created.
    """

    def __init__(
        self,
        *,
        http_client: httpx.AsyncClient | None = None,
        rpc_http_client: httpx.AsyncClient | None = None,
        **config: Any,
    ) -> None:
        super().__init__(**config)
        self._http = http_client or httpx.AsyncClient(timeout=self._ctx.timeout)
        self._rpc_http = rpc_http_client or httpx.AsyncClient(timeout=30.0)
        self._owned_http = [
            own for own, given in ((self._http, http_client), (self._rpc_http, rpc_http_client)) if given is None
        ]
        self._runner = AsyncRunner(
            self.network.rpc_url, self.network.chain_id, self._http, self._rpc_http, self._wallet_state.lane
        )
        _bound(self._runner, self._ctx)
        self._funder: asyncio.Task[None] | None = None
        from ._aresources import ApiKeys, Audio, Chat, Embeddings, Images, Ledger, Router, Services, Usage

        self.router = Router(self)
        self.ledger = Ledger(self)
        self.services = Services(self)
        self.chat = Chat(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.embeddings = Embeddings(self)
        self.api_keys = ApiKeys(self)
        self.usage = Usage(self)

    def _runner_base(self) -> AsyncRunner:
        return self._runner

    def _start_background(self) -> None:
        policy = self._ctx.funding.policy
        if policy is not None and policy.mode == "background" and self._funder is None:
            self._funder = asyncio.get_running_loop().create_task(self._background_funding())

    async def _run(self, flow: Flow[T]) -> T:
        self._start_background()
        return await self._runner.run(flow)

    def _iterate(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        self._start_background()
        return self._runner.aiterate(flow)

    def pool(self, **options: Any) -> AsyncProviderPool:
        """A failover pool (see :meth:`ZeroG.pool`); its methods are awaited."""
        from ._aresources import AsyncProviderPool

        return AsyncProviderPool(self, self._pool_state(**options))

    async def acknowledge(self, provider: str, amount: Amount | None = None) -> SubAccount:
        """Ensure the sub-account with ``provider`` exists and is acknowledged; funds move only if ``amount``."""
        return await self._run(ledger.acknowledge(self._ctx.direct("zg.acknowledge"), provider, amount))

    async def verify(
        self, provider: str, chat_id: str, *, request_body: bytes | None = None, response_body: bytes | None = None
    ) -> VerificationResult:
        """Verify a response by chat id; pass the exchanged bytes to also check the content binding."""
        return await self._run(signatures.verify_chat(self._ctx, provider, chat_id, request_body, response_body))

    async def attestation(self, provider: str) -> AttestationReport:
        """Fetch ``/v1/quote`` and check that it names the TEE signer registered on chain."""
        return await self._run(signatures.attestation(self._ctx, provider))

    async def _background_funding(self) -> None:
        policy = self._ctx.funding.policy
        while policy is not None:
            await asyncio.sleep(policy.interval)
            try:
                await self._run(funding.background_round(self._ctx, self._ctx.funding))
            except Exception:  # keep the loop alive; the next round retries
                log.exception("background funding round failed")

    async def aclose(self) -> None:
        """Close HTTP clients after background verifications finish; stop background funding."""
        if self._funder is not None:
            self._funder.cancel()
            await asyncio.gather(self._funder, return_exceptions=True)
        await self._runner.aclose()
        if self._usage is not None:
            await asyncio.to_thread(self._usage.flush)  # background verdicts are in by now
        for own in self._owned_http:
            await own.aclose()

    async def __aenter__(self) -> AsyncZeroG:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def pool_config(
    *,
    model: str | None,
    providers: Sequence[str] | None,
    service_type: str,
    strategy: Strategy,
    verifiable_only: bool,
    max_input_price: int | None,
    max_output_price: int | None,
    allow: Sequence[str],
    deny: Sequence[str],
    cooldown: float,
    deadline: float | None,
    on_event: Callable[[failover.PoolEvent], Any] | None,
    attempt_timeout: float | None = None,
    trust_mode: _router.TrustMode | None = None,
) -> PoolConfig:
    """Validate pool options (shared by both clients)."""
    return PoolConfig(
        model=model,
        service_type=service_type,
        providers=_provider_list(providers),
        strategy=strategy,
        verifiable_only=verifiable_only,
        max_input_price=max_input_price,
        max_output_price=max_output_price,
        allow=frozenset(a.lower() for a in allow),
        deny=frozenset(d.lower() for d in deny),
        cooldown=cooldown,
        deadline=deadline,
        attempt_timeout=attempt_timeout,
        on_event=on_event,
        trust_mode=_router.check_trust_mode(trust_mode),
    )


def _provider_list(providers: Sequence[str] | None) -> tuple[str, ...]:
    if isinstance(providers, str):
        raise ConfigurationError("providers must be a list of addresses, e.g. providers=[address], not one string")
    return tuple(providers or ())
