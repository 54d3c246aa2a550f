"""``ZeroG`` and ``AsyncZeroG``: the clients. Both are thin shells over the same flows.

Construction does no network I/O. Configuration is keyword-only with environment fallbacks:
``private_key`` ← ``$ZG_PRIVATE_KEY``, ``network`` ← ``$ZG_NETWORK`` (default testnet),
``rpc_url`` ← ``$ZG_RPC_URL``.

Router mode (the hosted 0G Router, see :mod:`zerog_compute.router`): ``router_api_key`` ←
``$ZG_ROUTER_API_KEY`` (the environment is used only when no ``private_key=`` is passed),
``router_url`` ← ``$ZG_ROUTER_URL`` (default ``https://router-api.0g.ai/v1``, or the devnet's Router for
``network="devnet"``). Inference then goes through the Router with the same calls; no wallet is needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from . import calls, failover, funding, inference, ledger, ratelimit
from . import router as _router
from ._context import Context
from ._io import AsyncRunner, Flow, SyncRunner, T
from .errors import ConfigurationError, ZeroGError
from .failover import PoolConfig, PoolState, Strategy
from .funding import FundingPolicy, FundingState
from .ledger import SubAccount
from .networks import Network, resolve_network
from .ratelimit import Limiter, RateLimit
from .signer import Wallet
from .stream import StreamState
from .types import ZeroGRecord

if TYPE_CHECKING:
    from ._aresources import AsyncProviderPool
    from ._resources import ProviderPool
from .units import Amount
from .verification import AttestationReport, VerificationPolicy, VerificationResult, apply_policy

log = logging.getLogger(__name__)
POLICIES = ("off", "warn", "enforce")


class _ClientBase:
    """Configuration and pure helpers shared by both clients."""

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
        router_api_key: str | SecretStr | None = None,
        router_url: str | None = None,
    ) -> None:
        if verification not in POLICIES:
            raise ConfigurationError(f"verification must be one of {POLICIES}, got {verification!r}")
        if funding is not None and not isinstance(funding, FundingPolicy):
            raise ConfigurationError("funding must be a FundingPolicy (or None to never move funds automatically)")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ConfigurationError("rate_limit must be a RateLimit(...) (or None to switch client-side limiting off)")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < float("inf"):
            raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
        resolved = resolve_network(network, rpc_url)
        self._router = _router.configure(
            router_api_key,
            router_url,
            resolved,
            explicit_private_key=private_key is not None,
            verification=verification,
            timeout=timeout,
            max_retries=rate_limit.max_retries if rate_limit is not None else 0,
        )
        if private_key is not None:
            wallet = Wallet(private_key)
        elif self._router is not None:
            wallet = _router.router_wallet()
        else:
            wallet = Wallet.from_env()
        if funding is not None and isinstance(wallet, _router.NoWallet):
            raise ConfigurationError(f"funding= {_router.DIRECT_ONLY}")
        self._ctx = Context(resolved, wallet, verification, timeout)
        self._ctx.funding = FundingState(funding)
        self._ctx.limiter = Limiter(rate_limit) if rate_limit is not None else None
        self._ctx.max_retries = rate_limit.max_retries if rate_limit is not None else 0

    @property
    def funding(self) -> FundingState:
        """Auto-funding state: the policy, what it has spent and every transfer it made."""
        return self._ctx.funding

    @property
    def address(self) -> str:
        """The wallet address (Router mode without a wallet: raises ConfigurationError)."""
        return self._ctx.user

    @property
    def backend(self) -> str:
        """``"router"`` (hosted 0G Router, ``router_api_key=``) or ``"direct"`` (wallet and providers)."""
        return "router" if self._router is not None else "direct"

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
        strategy: Strategy = "priority",
        verifiable_only: bool = False,
        max_input_price: int | None = None,
        max_output_price: int | None = None,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        cooldown: float = 30.0,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        on_event: Callable[[failover.PoolEvent], Any] | None = None,
    ) -> PoolState:
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
        )
        return PoolState(config)

    def __repr__(self) -> str:
        if self._router is not None:
            return f"{type(self).__name__}(router={self._router.url!r}, network={self.network.name!r})"
        return f"{type(self).__name__}(address={self.address!r}, network={self.network.name!r})"

    def _needs_no_run(self, completed: calls.Completed | _router.RouterCompleted) -> bool:
        """True when nothing is left to verify: the Router already did, or the policy is off (recorded here)."""
        if isinstance(completed, _router.RouterCompleted):
            return True  # the Router verified (or not); the flow applied the policy
        if self._ctx.verification == "off":
            record = completed.record
            record.verification = VerificationResult.skipped(chat_id=record.chat_id, provider=record.provider)
            return True
        return False

    @staticmethod
    def _verify_flow(completed: calls.Completed, images: list[bytes] | None) -> Flow[VerificationResult]:
        return inference.verify(
            completed.prepared.service,
            completed.record.chat_id,
            completed.prepared.body,
            completed.content,
            images,
        )


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
        self._runner = SyncRunner(self.network.rpc_url, self.network.chain_id, self._http, self._rpc_http)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._funder: threading.Thread | None = None
        self._start_background()
        from ._resources import ApiKeys, Audio, Chat, Embeddings, Images, Ledger, Router, Services

        self.router = Router(self)
        self.ledger = Ledger(self)
        self.services = Services(self)
        self.chat = Chat(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.embeddings = Embeddings(self)
        self.api_keys = ApiKeys(self)

    def _runner_base(self) -> SyncRunner:
        return self._runner

    def _run(self, flow: Flow[T]) -> T:
        return self._runner.run(flow)

    def _start_background(self) -> None:
        policy = self._ctx.funding.policy
        if policy is not None and policy.mode == "background":
            self._funder = threading.Thread(target=self._background_funding, name="zerog-funding", daemon=True)
            self._funder.start()

    def _finish(
        self, completed: calls.Completed | _router.RouterCompleted, images: list[bytes] | None = None
    ) -> ZeroGRecord:
        """Attach verification according to the policy and return the record."""
        if self._needs_no_run(completed):
            return completed.record
        assert isinstance(completed, calls.Completed)
        record, policy = completed.record, self._ctx.verification
        if policy == "enforce":
            record.verification = apply_policy(self._run(self._verify_flow(completed, images)), "enforce")
        else:
            flow = self._verify_flow(completed, images)
            record.verification_future = self._verifier().submit(lambda: inference.warn(self._run(flow)))
        return record

    def pool(self, **options: Any) -> ProviderPool:
        """A failover pool: ``zg.pool(model="m")`` or ``zg.pool(providers=[a, b], strategy="price")``.

        Options: model, providers, service_type, strategy (priority | price | latency | round_robin),
        verifiable_only, max_input_price, max_output_price (neuron), allow, deny, cooldown, deadline,
        on_event (called with every :class:`~zerog_compute.failover.PoolEvent`).
        """
        from ._resources import ProviderPool

        return ProviderPool(self, self._pool_state(**options))

    def acknowledge(self, provider: str, amount: Amount | None = None) -> SubAccount:
        """Ensure the sub-account with ``provider`` exists and is acknowledged; funds move only if ``amount``."""
        return self._run(ledger.acknowledge(_router.direct_context(self, "zg.acknowledge"), provider, amount))

    def verify(
        self, provider: str, chat_id: str, *, request_body: bytes | None = None, response_body: bytes | None = None
    ) -> VerificationResult:
        """Verify a response by chat id; pass the exchanged bytes to also check the content binding."""
        return self._run(inference.verify_chat(self._ctx, provider, chat_id, request_body, response_body))

    def attestation(self, provider: str) -> AttestationReport:
        """Fetch ``/v1/quote`` and check that it names the TEE signer registered on chain."""
        return self._run(inference.attestation(self._ctx, provider))

    def _verifier(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="zerog-verify")
        return self._pool

    def _stream(
        self, provider: str | None, model: str | None, payload: dict[str, Any], pool: PoolState | None = None
    ) -> Iterator[Any]:
        if self._router is not None:
            yield from self._router_stream(self._router, provider, model, payload, pool)
            return
        if pool is None:
            yield from self._stream_one(_require(provider), model, payload)
            return
        tries = failover.StreamAttempts(pool, self._run(failover.candidates_in_order(self._ctx, pool)))
        for attempt, service in tries.attempts():
            timeout = tries.begin(attempt, service)
            try:
                for chunk in self._stream_one(service.provider, model or pool.config.model, payload, timeout, 0):
                    tries.received += 1
                    yield chunk
            except ZeroGError as error:
                tries.failed(attempt, service, error)
                continue
            tries.succeeded(attempt, service)
            return
        raise tries.give_up()

    def _stream_one(
        self,
        provider: str,
        model: str | None,
        payload: dict[str, Any],
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Iterator[Any]:
        ctx = self._ctx
        prepared = self._run(calls.prepare(ctx, provider, "/chat/completions", payload, model=model))
        state, address = StreamState(prepared), prepared.service.provider
        for attempt in itertools.count():
            self._run(ratelimit.acquire(ctx.limiter, address))
            try:
                with self._http.stream(
                    "POST",
                    prepared.url,
                    headers=prepared.headers,
                    content=prepared.body,
                    timeout=timeout or ctx.timeout,
                ) as response:
                    if response.status_code == 200:
                        state.start(response.headers)
                        for data in response.iter_raw():
                            yield from state.feed(data)
                        break
                    error = inference.status_error(
                        ctx, prepared, response.status_code, response.read(), response.headers
                    )
            except httpx.HTTPError as exc:
                raise state.interrupted(exc) from exc
            finally:
                if ctx.limiter is not None:
                    ctx.limiter.release(address)
            self._run(calls.after_failure(ctx, prepared, error, attempt, max_retries=max_retries))
        last, record = state.finish()
        ctx.funding.record_fee(address, record.fee)
        self._finish(calls.Completed(prepared, bytes(state.raw), {}, record))
        yield from last

    def _router_stream(
        self,
        state: _router.RouterState,
        provider: str | None,
        model: str | None,
        payload: dict[str, Any],
        pool: PoolState | None,
    ) -> Iterator[Any]:
        prepare = _router.prepare(state, "/chat/completions", payload, model=model, provider=provider, pool=pool)
        request = self._run(prepare)
        stream = _router.RouterStream(request)
        for attempt in itertools.count():
            try:
                with self._http.stream(
                    "POST", request.url, headers=request.headers, content=request.body, timeout=state.timeout
                ) as response:
                    if response.status_code == 200:
                        stream.start(response.headers)
                        for data in response.iter_raw():
                            yield from stream.feed(data)
                        break
                    error = _router.error_from_response(
                        response.status_code, response.read(), response.headers, provider=request.pinned
                    )
            except httpx.HTTPError as exc:
                raise stream.interrupted(exc) from exc
            self._run(_router.after_failure(state, error, attempt))
        last = stream.finish()
        record = self._run(stream.record(state))
        if last:
            last[-1].zerog = record
        yield from last

    def _background_funding(self) -> None:
        policy = self._ctx.funding.policy
        while policy is not None and not self._stop.wait(policy.interval):
            try:
                self._run(funding.background_round(self._ctx, self._ctx.funding))
            except Exception:  # keep the loop alive; the next round retries
                log.exception("background funding round failed")

    def close(self) -> None:
        """Close HTTP clients and stop background verification and funding threads."""
        self._stop.set()
        if self._funder is not None:
            self._funder.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
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
        self._runner = AsyncRunner(self.network.rpc_url, self.network.chain_id, self._http, self._rpc_http)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._funder: asyncio.Task[None] | None = None
        from ._aresources import ApiKeys, Audio, Chat, Embeddings, Images, Ledger, Router, Services

        self.router = Router(self)
        self.ledger = Ledger(self)
        self.services = Services(self)
        self.chat = Chat(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.embeddings = Embeddings(self)
        self.api_keys = ApiKeys(self)

    def _runner_base(self) -> AsyncRunner:
        return self._runner

    async def _run(self, flow: Flow[T]) -> T:
        policy = self._ctx.funding.policy
        if policy is not None and policy.mode == "background" and self._funder is None:
            self._funder = asyncio.get_running_loop().create_task(self._background_funding())
        return await self._runner.run(flow)

    async def _finish(
        self, completed: calls.Completed | _router.RouterCompleted, images: list[bytes] | None = None
    ) -> ZeroGRecord:
        """Attach verification according to the policy and return the record."""
        if self._needs_no_run(completed):
            return completed.record
        assert isinstance(completed, calls.Completed)
        record, policy = completed.record, self._ctx.verification
        if policy == "enforce":
            record.verification = apply_policy(await self._run(self._verify_flow(completed, images)), "enforce")
        else:
            task = asyncio.get_running_loop().create_task(self._verify_warn(completed, images))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            record.verification_future = task
        return record

    def pool(self, **options: Any) -> AsyncProviderPool:
        """A failover pool (see :meth:`ZeroG.pool`); its methods are awaited."""
        from ._aresources import AsyncProviderPool

        return AsyncProviderPool(self, self._pool_state(**options))

    async def acknowledge(self, provider: str, amount: Amount | None = None) -> SubAccount:
        """Ensure the sub-account with ``provider`` exists and is acknowledged; funds move only if ``amount``."""
        return await self._run(ledger.acknowledge(_router.direct_context(self, "zg.acknowledge"), provider, amount))

    async def verify(
        self, provider: str, chat_id: str, *, request_body: bytes | None = None, response_body: bytes | None = None
    ) -> VerificationResult:
        """Verify a response by chat id; pass the exchanged bytes to also check the content binding."""
        return await self._run(inference.verify_chat(self._ctx, provider, chat_id, request_body, response_body))

    async def attestation(self, provider: str) -> AttestationReport:
        """Fetch ``/v1/quote`` and check that it names the TEE signer registered on chain."""
        return await self._run(inference.attestation(self._ctx, provider))

    async def _verify_warn(self, completed: calls.Completed, images: list[bytes] | None) -> VerificationResult:
        return inference.warn(await self._run(self._verify_flow(completed, images)))

    async def _stream(
        self, provider: str | None, model: str | None, payload: dict[str, Any], pool: PoolState | None = None
    ) -> AsyncIterator[Any]:
        if self._router is not None:
            async for chunk in self._router_stream(self._router, provider, model, payload, pool):
                yield chunk
            return
        if pool is None:
            async for chunk in self._stream_one(_require(provider), model, payload):
                yield chunk
            return
        tries = failover.StreamAttempts(pool, await self._run(failover.candidates_in_order(self._ctx, pool)))
        for attempt, service in tries.attempts():
            timeout = tries.begin(attempt, service)
            try:
                async for chunk in self._stream_one(service.provider, model or pool.config.model, payload, timeout, 0):
                    tries.received += 1
                    yield chunk
            except ZeroGError as error:
                tries.failed(attempt, service, error)
                continue
            tries.succeeded(attempt, service)
            return
        raise tries.give_up()

    async def _stream_one(
        self,
        provider: str,
        model: str | None,
        payload: dict[str, Any],
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> AsyncIterator[Any]:
        ctx = self._ctx
        prepared = await self._run(calls.prepare(ctx, provider, "/chat/completions", payload, model=model))
        state, address = StreamState(prepared), prepared.service.provider
        for attempt in itertools.count():
            await self._run(ratelimit.acquire(ctx.limiter, address))
            try:
                async with self._http.stream(
                    "POST",
                    prepared.url,
                    headers=prepared.headers,
                    content=prepared.body,
                    timeout=timeout or ctx.timeout,
                ) as response:
                    if response.status_code == 200:
                        state.start(response.headers)
                        async for data in response.aiter_raw():
                            for chunk in state.feed(data):
                                yield chunk
                        break
                    content = await response.aread()
                    error = inference.status_error(ctx, prepared, response.status_code, content, response.headers)
            except httpx.HTTPError as exc:
                raise state.interrupted(exc) from exc
            finally:
                if ctx.limiter is not None:
                    ctx.limiter.release(address)
            await self._run(calls.after_failure(ctx, prepared, error, attempt, max_retries=max_retries))
        last, record = state.finish()
        ctx.funding.record_fee(address, record.fee)
        await self._finish(calls.Completed(prepared, bytes(state.raw), {}, record))
        for chunk in last:
            yield chunk

    async def _router_stream(
        self,
        state: _router.RouterState,
        provider: str | None,
        model: str | None,
        payload: dict[str, Any],
        pool: PoolState | None,
    ) -> AsyncIterator[Any]:
        prepare = _router.prepare(state, "/chat/completions", payload, model=model, provider=provider, pool=pool)
        request = await self._run(prepare)
        stream = _router.RouterStream(request)
        for attempt in itertools.count():
            try:
                async with self._http.stream(
                    "POST", request.url, headers=request.headers, content=request.body, timeout=state.timeout
                ) as response:
                    if response.status_code == 200:
                        stream.start(response.headers)
                        async for data in response.aiter_raw():
                            for chunk in stream.feed(data):
                                yield chunk
                        break
                    content = await response.aread()
                    error = _router.error_from_response(
                        response.status_code, content, response.headers, provider=request.pinned
                    )
            except httpx.HTTPError as exc:
                raise stream.interrupted(exc) from exc
            await self._run(_router.after_failure(state, error, attempt))
        last = stream.finish()
        record = await self._run(stream.record(state))
        if last:
            last[-1].zerog = record
        for chunk in last:
            yield chunk

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
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for own in self._owned_http:
            await own.aclose()

    async def __aenter__(self) -> AsyncZeroG:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _require(provider: str | None) -> str:
    if not provider:
        raise ConfigurationError("pass provider=... (or use zg.pool(...) to let the client choose providers)")
    return provider


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
    )


def _provider_list(providers: Sequence[str] | None) -> tuple[str, ...]:
    if isinstance(providers, str):
        raise ConfigurationError("providers must be a list of addresses, e.g. providers=[address], not one string")
    return tuple(providers or ())
