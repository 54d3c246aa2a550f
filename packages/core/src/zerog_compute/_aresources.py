"""Resources of the asynchronous client: each method only awaits a shared flow."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import SecretStr

from . import apikeys, failover, funding, ledger, payloads, services, usage
from . import router as _router
from ._context import Context
from .backend import Call, Completed
from .errors import ConfigurationError
from .failover import PoolState
from .payloads import Files
from .types import ChatCompletion, ChatCompletionChunk, EmbeddingsResponse, ImagesResponse, Transcription
from .units import Amount

if TYPE_CHECKING:
    from .client import AsyncZeroG

R = TypeVar("R", ChatCompletion, ImagesResponse, Transcription, EmbeddingsResponse)


class _Resource:
    def __init__(self, client: AsyncZeroG, pool: PoolState | None = None) -> None:
        self._client = client
        self._pool = pool

    def _call(
        self, route: str, payload: dict[str, Any], provider: str | None, model: str | None, files: Files | None = None
    ) -> Call:
        return Call(route, payload, model=model, provider=provider, files=files, pool=self._pool)

    async def _complete(self, call: Call) -> Completed:
        return await self._client._run(self._client._backend.complete(call))

    @staticmethod
    def _result(model: type[R], done: Completed) -> R:
        result = payloads.parse_result(model, done.data, done.record.provider)
        result.zerog = done.record
        return result

    @property
    def _ctx(self) -> Context:
        return self._client._ctx


class Router(_Resource):
    """``zg.router``: the hosted 0G Router's listings and account (Router mode only)."""

    @property
    def url(self) -> str:
        return _router.require(self._client._router).url

    async def models(self) -> builtins.list[_router.RouterModel]:
        """``GET /v1/models`` (cached 10 minutes)."""
        return await self._client._run(_router.list_models(_router.require(self._client._router)))

    async def providers(self, model: str | None = None) -> builtins.list[_router.RouterProvider]:
        """``GET /v1/providers?model=``: who serves ``model`` (all providers without it), with prices."""
        return await self._client._run(_router.list_providers(_router.require(self._client._router), model))

    async def balance(self, management_key: str | SecretStr | None = None) -> _router.RouterBalance:
        """``GET /v1/account/balance``: the Router ledger; show ``total_balance`` (neuron).

        Account calls take an ``mk-`` key: ``management_key=``, else ``$ZG_ROUTER_MANAGEMENT_KEY``.
        """
        return await self._client._run(_router.balance(_router.require(self._client._router), management_key))

    async def messages(
        self,
        *,
        model: str | None = None,
        messages: builtins.list[dict[str, Any]],
        max_tokens: int,
        system: str | None = None,
        provider: str | None = None,
        **params: Any,
    ) -> _router.AnthropicMessage:
        """``POST /v1/messages`` (Anthropic format, not streamed): the answer with the usual record."""
        state = _router.require(self._client._router)
        body = _router.messages.payload(messages, max_tokens, system, params)
        call = self._call("/chat/completions", body, provider, model)
        return await self._client._run(_router.messages.create(state, call))

    async def funds(self, management_key: str | SecretStr | None = None) -> _router.RouterFunds:
        """``GET /v1/account/funds``: ledger + Payment Layer vault − pending charges (``total`` may be negative)."""
        return await self._client._run(_router.funds(_router.require(self._client._router), management_key))

    async def usage_stats(
        self,
        management_key: str | SecretStr | None = None,
        *,
        start_date: str | None = None,
        end_date: str | None = None,
        api_key_id: str | None = None,
        source: str | None = None,
    ) -> _router.UsageStats:
        """``GET /v1/account/usage/stats``: requests, tokens and cost (neuron) of a window (dates ``YYYY-MM-DD``)."""
        flow = _router.usage_stats(
            _router.require(self._client._router),
            management_key,
            start_date=start_date,
            end_date=end_date,
            api_key_id=api_key_id,
            source=source,
        )
        return await self._client._run(flow)

    async def usage_history(
        self,
        management_key: str | SecretStr | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        start_date: str | None = None,
        end_date: str | None = None,
        api_key_id: str | None = None,
        source: str | None = None,
    ) -> _router.UsageHistory:
        """``GET /v1/account/usage/history``: one page of billed requests, newest first."""
        flow = _router.usage_history(
            _router.require(self._client._router),
            management_key,
            limit=limit,
            offset=offset,
            start_date=start_date,
            end_date=end_date,
            api_key_id=api_key_id,
            source=source,
        )
        return await self._client._run(flow)


class Ledger(_Resource):
    """``zg.ledger``: the ledger and the sub-accounts."""

    @property
    def _ctx(self) -> Context:  # Router mode without a wallet: a Direct-mode feature
        return self._client._ctx.direct("zg.ledger")

    async def get(self) -> ledger.LedgerInfo:
        return await self._client._run(ledger.get(self._ctx))

    async def wallet_balance(self) -> int:
        """The wallet's own native balance (neuron), outside the ledger: what a deposit can move."""
        return await self._client._run(ledger.wallet_balance(self._ctx))

    async def create(self, amount: Amount) -> ledger.LedgerInfo:
        return await self._client._run(ledger.create(self._ctx, amount))

    async def deposit(self, amount: Amount) -> ledger.LedgerInfo:
        return await self._client._run(ledger.deposit(self._ctx, amount))

    async def refund(self, amount: Amount) -> ledger.LedgerInfo:
        return await self._client._run(ledger.refund(self._ctx, amount))

    async def transfer(self, provider: str, amount: Amount) -> ledger.SubAccount:
        return await self._client._run(ledger.transfer(self._ctx, provider, amount))

    async def retrieve(self, providers: Sequence[str] | None = None) -> list[ledger.SubAccount]:
        return await self._client._run(ledger.retrieve(self._ctx, providers))

    async def sub_account(self, provider: str) -> ledger.SubAccount | None:
        return await self._client._run(ledger.sub_account(self._ctx, provider))

    async def sub_accounts(self) -> list[ledger.SubAccount]:
        return await self._client._run(ledger.sub_accounts(self._ctx))

    async def unsettled_fee(self, provider: str, *, timeout: float = funding.UNSETTLED_TIMEOUT_S) -> int | None:
        """Fees ``provider`` billed this wallet and has not settled on chain yet (neuron); None when it cannot tell."""
        return await self._client._run(funding.provider_unsettled_fee(self._ctx, provider, timeout=timeout))


class Services(_Resource):
    """``zg.services``: discovery."""

    async def list(
        self,
        service_type: str | None = None,
        model: str | None = None,
        verifiable_only: bool = False,
        include_unacknowledged: bool = False,
    ) -> builtins.list[services.Service]:
        flow = services.list_services(
            self._ctx,
            service_type=service_type,
            model=model,
            verifiable_only=verifiable_only,
            include_unacknowledged=include_unacknowledged,
        )
        return await self._client._run(flow)

    async def get(self, provider: str) -> services.Service:
        return await self._client._run(services.get_service(self._ctx, provider, fresh=True))

    async def models(self, provider: str) -> builtins.list[services.ModelInfo]:
        return await self._client._run(services.list_models(self._ctx, provider))


class Completions(_Resource):
    """``zg.chat.completions``."""

    @overload
    async def create(
        self,
        *,
        provider: str | None = None,
        messages: Iterable[Mapping[str, Any]],
        model: str | None = ...,
        stream: Literal[False] = ...,
        **params: Any,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        provider: str | None = None,
        messages: Iterable[Mapping[str, Any]],
        model: str | None = ...,
        stream: Literal[True],
        **params: Any,
    ) -> AsyncIterator[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        provider: str | None = None,
        messages: Iterable[Mapping[str, Any]],
        model: str | None = None,
        stream: bool = False,
        **params: Any,
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
        """An OpenAI-style chat completion from ``provider`` (``stream=True`` yields chunks)."""
        payload = payloads.chat_payload(messages, stream=stream, params=params)
        call = self._call("/chat/completions", payload, provider, model)
        if stream:
            return self._client._iterate(self._client._backend.stream(call))
        return self._result(ChatCompletion, await self._complete(call))


class Chat:
    """``zg.chat``."""

    def __init__(self, client: AsyncZeroG, pool: PoolState | None = None) -> None:
        self.completions = Completions(client, pool)


class ImageJobs(_Resource):
    """``zg.images.jobs``: the Router's async image jobs (Router mode only)."""

    async def submit(
        self,
        *,
        provider: str | None = None,
        prompt: str,
        model: str | None = None,
        n: int = 1,
        size: str | None = None,
        **params: Any,
    ) -> _router.ImageJob:
        """Queue an image generation; returns at once with the job (``wait`` it, or ``get`` its status)."""
        payload = payloads.image_payload(prompt, n=n, size=size, response_format=None, params=params)
        state = _router.require(self._client._router)
        call = self._call("/images/generations", payload, provider, model)
        return await self._client._run(_router.jobs.submit(state, call))

    async def get(self, job: _router.ImageJob) -> _router.ImageJob:
        """One poll: the job's status now."""
        return await self._client._run(_router.jobs.get(_router.require(self._client._router), job))

    async def wait(self, job: _router.ImageJob, *, timeout: float = _router.jobs.DEFAULT_WAIT_S) -> ImagesResponse:
        """Poll with backoff (0.5 s growing to 10 s) until done, at most ``timeout`` s; the images with a record."""
        return await self._client._run(_router.jobs.wait(_router.require(self._client._router), job, timeout=timeout))

    async def create(
        self, *, provider: str | None = None, prompt: str, model: str | None = None, **params: Any
    ) -> ImagesResponse:
        """Submit and wait: the recommended production path for Router image generation."""
        job = await self.submit(provider=provider, prompt=prompt, model=model, **params)
        return await self.wait(job)


class Images(_Resource):
    """``zg.images`` (``zg.images.jobs``: the Router's async jobs)."""

    def __init__(self, client: AsyncZeroG, pool: PoolState | None = None) -> None:
        super().__init__(client, pool)
        self.jobs = ImageJobs(client, pool)

    async def generate(
        self,
        *,
        provider: str | None = None,
        prompt: str,
        model: str | None = None,
        n: int = 1,
        size: str | None = None,
        response_format: str | None = None,
        **params: Any,
    ) -> ImagesResponse:
        """Generate images; in Router mode ``response_format`` defaults to (and must be) ``"b64_json"``."""
        payload = payloads.image_payload(prompt, n=n, size=size, response_format=response_format, params=params)
        return self._result(
            ImagesResponse, await self._complete(self._call("/images/generations", payload, provider, model))
        )

    async def edit(
        self,
        *,
        provider: str | None = None,
        image: payloads.FileInput,
        prompt: str,
        model: str | None = None,
        mask: payloads.FileInput | None = None,
        n: int = 1,
        size: str | None = None,
        **params: Any,
    ) -> ImagesResponse:
        """Edit an image (``POST /v1/images/edits``, multipart; Router mode only): ``b64_json`` images back."""
        _router.require(self._client._router)
        payload = payloads.image_payload(prompt, n=n, size=size, response_format=None, params=params)
        files = await asyncio.to_thread(payloads.image_files, image, mask)
        call = self._call("/images/edits", payload, provider, model, files)
        return self._result(ImagesResponse, await self._complete(call))


class Transcriptions(_Resource):
    """``zg.audio.transcriptions``."""

    async def create(
        self, *, provider: str | None = None, file: payloads.FileInput, model: str | None = None, **params: Any
    ) -> Transcription:
        files = await asyncio.to_thread(payloads.transcription_files, file)  # file reads stay off the event loop
        call = self._call("/audio/transcriptions", dict(params), provider, model, files)
        return self._result(Transcription, await self._complete(call))


class Audio:
    """``zg.audio``."""

    def __init__(self, client: AsyncZeroG, pool: PoolState | None = None) -> None:
        self.transcriptions = Transcriptions(client, pool)


class Embeddings(_Resource):
    """``zg.embeddings``."""

    async def create(
        self,
        *,
        provider: str | None = None,
        input: str | list[str] | list[int] | list[list[int]],
        model: str | None = None,
        **params: Any,
    ) -> EmbeddingsResponse:
        payload = payloads.embedding_payload(input, params)
        return self._result(
            EmbeddingsResponse, await self._complete(self._call("/embeddings", payload, provider, model))
        )


class ApiKeys(_Resource):
    """``zg.api_keys``: persistent keys, revocable on chain."""

    @property
    def _ctx(self) -> Context:  # Router mode without a wallet: a Direct-mode feature
        return self._client._ctx.direct("zg.api_keys")

    async def create(
        self, provider: str, *, token_id: int | None = None, expires_in: float | None = None
    ) -> apikeys.ApiKey:
        return await self._client._run(apikeys.create(self._ctx, provider, token_id=token_id, expires_in=expires_in))

    async def revoke(self, provider: str, token_id: int) -> None:
        await self._client._run(apikeys.revoke(self._ctx, provider, token_id))

    async def revoke_all(self, provider: str) -> None:
        await self._client._run(apikeys.revoke_all(self._ctx, provider))


class Usage(_Resource):
    """``zg.usage``: the usage history of this client's wallet and its audit against the chain.

    Reads default to this wallet on this chain; pass ``wallet=None`` or ``chain_id=None`` for every one, and any
    other :class:`~zerog_compute.usage.UsageFilter` field (provider, model, backend, since, until, limit).
    """

    @property
    def ledger(self) -> usage.UsageLedger:
        """The usage ledger this client writes to (ConfigurationError when it is switched off)."""
        found = self._client._usage
        if found is None:
            raise ConfigurationError("the usage ledger is off for this client: pass usage=True (or unset $ZG_USAGE)")
        return found

    def _where(self, conditions: dict[str, Any]) -> usage.UsageFilter:
        recorder = self._client._ctx.usage
        if recorder is not None:
            conditions.setdefault("wallet", recorder.wallet)
            conditions.setdefault("chain_id", recorder.chain_id)
        return usage.UsageFilter(**conditions)

    async def records(self, **conditions: Any) -> builtins.list[usage.UsageRecord]:
        """This wallet's records, oldest first (see :class:`~zerog_compute.usage.UsageFilter`)."""
        return await asyncio.to_thread(self.ledger.records, self._where(conditions))

    async def totals(self, by: usage.GroupBy = "day_provider", **conditions: Any) -> builtins.list[usage.UsageTotals]:
        """Requests, tokens and fees per ``"day"``, ``"provider"`` or ``"day_provider"``."""
        records = await asyncio.to_thread(self.ledger.records, self._where(conditions))
        return usage.group(records, by)

    async def reconcile(
        self, *, from_block: int = 0, to_block: int | None = None, providers: Sequence[str] | None = None
    ) -> usage.Reconciliation:
        """Audit this wallet's Direct-mode records against the chain's settlements (see ``docs/usage.md``)."""
        ledger = self.ledger
        ctx = self._client._ctx.direct("zg.usage.reconcile")
        flow = usage.reconcile(ctx, ledger, from_block=from_block, to_block=to_block, providers=providers)
        return await self._client._run(flow)


class AsyncProviderPool:
    """One logical model over several providers, with failover (see :mod:`zerog_compute.failover`).

    Same request API as the client, without ``provider=``: ``pool.chat.completions.create(...)``.
    """

    def __init__(self, client: AsyncZeroG, state: PoolState) -> None:
        self.state = state
        self.chat = Chat(client, state)
        self.images = Images(client, state)
        self.audio = Audio(client, state)
        self.embeddings = Embeddings(client, state)

    @property
    def config(self) -> failover.PoolConfig:
        return self.state.config
