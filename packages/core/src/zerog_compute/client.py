"""``ZeroG`` and ``AsyncZeroG``: the clients. Both are thin shells over the same flows.

Construction does no network I/O. Configuration is keyword-only with environment fallbacks:
``private_key`` ← ``$ZG_PRIVATE_KEY``, ``network`` ← ``$ZG_NETWORK`` (default testnet),
``rpc_url`` ← ``$ZG_RPC_URL``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from . import inference, ledger
from ._context import Context
from ._io import AsyncRunner, Flow, Http, SyncRunner, T
from .errors import ConfigurationError, ProviderError
from .ledger import SubAccount
from .networks import Network, resolve_network
from .signer import Wallet
from .stream import StreamState
from .types import ZeroGRecord
from .units import Amount
from .verification import AttestationReport, VerificationPolicy, VerificationResult, apply_policy

POLICIES = ("off", "warn", "enforce")


class Completed:
    """A finished non-streamed request: the prepared request, the response and its record."""

    def __init__(self, prepared: inference.Prepared, content: bytes, data: dict[str, Any], record: ZeroGRecord) -> None:
        self.prepared = prepared
        self.content = content
        self.data = data
        self.record = record


def complete(
    ctx: Context,
    provider: str,
    route: str,
    payload: dict[str, Any],
    *,
    model: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> Flow[Completed]:
    """Send one request and account for its response."""
    prepared = yield from inference.prepare_payload(ctx, provider, route, payload, model=model, files=files)
    result = yield Http("POST", prepared.url, prepared.headers, prepared.body, ctx.timeout)
    inference.check_status(ctx, prepared, result.status, result.content, result.headers)
    try:
        data = json.loads(result.content)
    except ValueError:
        raise ProviderError(
            f"provider {prepared.service.provider} sent a non-JSON body for {route}", status_code=result.status
        ) from None
    if not isinstance(data, dict):
        raise ProviderError(f"provider {prepared.service.provider} sent an unexpected body for {route}")
    return Completed(prepared, result.content, data, inference.record_for(prepared, result, data))


class _ClientBase:
    """Configuration and pure helpers shared by both clients."""

    def __init__(
        self,
        *,
        private_key: str | None = None,
        network: str | Network | None = None,
        rpc_url: str | None = None,
        verification: VerificationPolicy = "warn",
        timeout: float = 60.0,
    ) -> None:
        if verification not in POLICIES:
            raise ConfigurationError(f"verification must be one of {POLICIES}, got {verification!r}")
        wallet = Wallet(private_key) if private_key is not None else Wallet.from_env()
        self._ctx = Context(resolve_network(network, rpc_url), wallet, verification, timeout)

    @property
    def address(self) -> str:
        """The wallet address."""
        return self._ctx.user

    @property
    def network(self) -> Network:
        return self._ctx.network

    @property
    def rpc_calls(self) -> int:
        """JSON-RPC calls made so far (for diagnostics and benchmarks)."""
        return int(self._runner_base().rpc_counter.count)

    def _runner_base(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address!r}, network={self.network.name!r})"

    @staticmethod
    def _verify_flow(completed: Completed, images: list[bytes] | None) -> Flow[VerificationResult]:
        return inference.verify(
            completed.prepared.service,
            completed.record.chat_id,
            completed.prepared.body,
            completed.content,
            images,
        )


class ZeroG(_ClientBase):
    """Synchronous client. Use as a context manager or call :meth:`close`."""

    def __init__(self, *, http_client: httpx.Client | None = None, **config: Any) -> None:
        super().__init__(**config)
        self._http = http_client or httpx.Client(timeout=self._ctx.timeout)
        self._rpc_http = httpx.Client(timeout=30.0)
        self._runner = SyncRunner(self.network.rpc_url, self.network.chain_id, self._http, self._rpc_http)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        from ._resources import Audio, Chat, Embeddings, Images, Ledger, Services

        self.ledger = Ledger(self)
        self.services = Services(self)
        self.chat = Chat(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.embeddings = Embeddings(self)

    def _runner_base(self) -> SyncRunner:
        return self._runner

    def _run(self, flow: Flow[T]) -> T:
        return self._runner.run(flow)

    def _finish(self, completed: Completed, images: list[bytes] | None = None) -> ZeroGRecord:
        """Attach verification according to the policy and return the record."""
        record, policy = completed.record, self._ctx.verification
        if policy == "off":
            record.verification = VerificationResult.skipped(chat_id=record.chat_id, provider=record.provider)
        elif policy == "enforce":
            record.verification = apply_policy(self._run(self._verify_flow(completed, images)), "enforce")
        else:
            flow = self._verify_flow(completed, images)
            record.verification_future = self._verifier().submit(lambda: inference.warn(self._run(flow)))
        return record

    def acknowledge(self, provider: str, amount: Amount | None = None) -> SubAccount:
        """Ensure the sub-account with ``provider`` exists and is acknowledged; funds move only if ``amount``."""
        return self._run(ledger.acknowledge(self._ctx, provider, amount))

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

    def _stream(self, provider: str, model: str | None, payload: dict[str, Any]) -> Iterator[Any]:
        flow = inference.prepare_payload(self._ctx, provider, "/chat/completions", payload, model=model)
        prepared = self._run(flow)
        state = StreamState(prepared)
        try:
            with self._http.stream("POST", prepared.url, headers=prepared.headers, content=prepared.body) as response:
                if response.status_code != 200:
                    response.read()
                    inference.check_status(
                        self._ctx, prepared, response.status_code, response.content, response.headers
                    )
                state.start(response.headers)
                for data in response.iter_raw():
                    yield from state.feed(data)
        except httpx.HTTPError as exc:
            raise state.interrupted(exc) from exc
        last, record = state.finish()
        self._finish(Completed(prepared, bytes(state.raw), {}, record))
        yield from last

    def close(self) -> None:
        """Close HTTP clients and stop background verification threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._http.close()
        self._rpc_http.close()

    def __enter__(self) -> ZeroG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncZeroG(_ClientBase):
    """Asynchronous client. Use ``async with`` or await :meth:`aclose`."""

    def __init__(self, *, http_client: httpx.AsyncClient | None = None, **config: Any) -> None:
        super().__init__(**config)
        self._http = http_client or httpx.AsyncClient(timeout=self._ctx.timeout)
        self._rpc_http = httpx.AsyncClient(timeout=30.0)
        self._runner = AsyncRunner(self.network.rpc_url, self.network.chain_id, self._http, self._rpc_http)
        self._tasks: set[asyncio.Task[Any]] = set()
        from ._aresources import Audio, Chat, Embeddings, Images, Ledger, Services

        self.ledger = Ledger(self)
        self.services = Services(self)
        self.chat = Chat(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.embeddings = Embeddings(self)

    def _runner_base(self) -> AsyncRunner:
        return self._runner

    async def _run(self, flow: Flow[T]) -> T:
        return await self._runner.run(flow)

    async def _finish(self, completed: Completed, images: list[bytes] | None = None) -> ZeroGRecord:
        """Attach verification according to the policy and return the record."""
        record, policy = completed.record, self._ctx.verification
        if policy == "off":
            record.verification = VerificationResult.skipped(chat_id=record.chat_id, provider=record.provider)
        elif policy == "enforce":
            record.verification = apply_policy(await self._run(self._verify_flow(completed, images)), "enforce")
        else:
            task = asyncio.get_running_loop().create_task(self._verify_warn(completed, images))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            record.verification_future = task
        return record

    async def acknowledge(self, provider: str, amount: Amount | None = None) -> SubAccount:
        """Ensure the sub-account with ``provider`` exists and is acknowledged; funds move only if ``amount``."""
        return await self._run(ledger.acknowledge(self._ctx, provider, amount))

    async def verify(
        self, provider: str, chat_id: str, *, request_body: bytes | None = None, response_body: bytes | None = None
    ) -> VerificationResult:
        """Verify a response by chat id; pass the exchanged bytes to also check the content binding."""
        return await self._run(inference.verify_chat(self._ctx, provider, chat_id, request_body, response_body))

    async def attestation(self, provider: str) -> AttestationReport:
        """Fetch ``/v1/quote`` and check that it names the TEE signer registered on chain."""
        return await self._run(inference.attestation(self._ctx, provider))

    async def _verify_warn(self, completed: Completed, images: list[bytes] | None) -> VerificationResult:
        return inference.warn(await self._run(self._verify_flow(completed, images)))

    async def _stream(self, provider: str, model: str | None, payload: dict[str, Any]) -> AsyncIterator[Any]:
        flow = inference.prepare_payload(self._ctx, provider, "/chat/completions", payload, model=model)
        prepared = await self._run(flow)
        state = StreamState(prepared)
        try:
            async with self._http.stream(
                "POST", prepared.url, headers=prepared.headers, content=prepared.body
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    inference.check_status(
                        self._ctx, prepared, response.status_code, response.content, response.headers
                    )
                state.start(response.headers)
                async for data in response.aiter_raw():
                    for chunk in state.feed(data):
                        yield chunk
        except httpx.HTTPError as exc:
            raise state.interrupted(exc) from exc
        last, record = state.finish()
        await self._finish(Completed(prepared, bytes(state.raw), {}, record))
        for chunk in last:
            yield chunk

    async def aclose(self) -> None:
        """Close HTTP clients after background verifications finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()
        await self._rpc_http.aclose()

    async def __aenter__(self) -> AsyncZeroG:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
