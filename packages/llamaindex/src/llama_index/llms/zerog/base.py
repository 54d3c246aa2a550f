"""``ZeroG``: a LlamaIndex ``FunctionCallingLLM`` served by the 0G Compute Network."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr, model_validator
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection

from zerog_compute import DEFAULT_STRATEGY, AsyncZeroG, ChatCompletion, ChatCompletionChunk, Strategy, ZeroGRecord
from zerog_compute import ZeroG as ZeroGClient

from ._catalog import Catalog, supports_images, supports_tools
from ._client import PoolHookField, ZeroGConnection, cached_pool, check_target, in_event_loop, pool_settings
from ._convert import (
    StreamAccumulator,
    chat_response,
    has_images,
    keep_first_tool_call,
    resolve_tool_choice,
    to_openai_messages,
    tool_selections,
)

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool


class ZeroG(ZeroGConnection, FunctionCallingLLM):
    """Chat, completion, tool calling and vision on 0G Compute providers, sync and async.

    Choose where requests go with one of:

    * ``provider="0x..."``: one provider;
    * ``providers=["0x...", "0x..."]``: client-side failover in that order, sending to whichever can take the
      request first when rate limits bite (or ``strategy=``);
    * ``model="org/name"`` alone: failover over every provider discovered for the model.

    The private key comes from ``private_key=`` or ``$ZG_PRIVATE_KEY``; it is never a field, so it is
    never serialised, shown or sent to callbacks. Construction does no network I/O. Every response's
    ``additional_kwargs`` carry the token usage, ``provider``, ``chat_id``, ``fee`` (neuron), ``fee_0g``
    and ``verdict``; ``raw`` is the zerog-compute ``ChatCompletion`` (or chunk) with its ``.zerog`` record.

    Examples:
        ```python
        from llama_index.llms.zerog import ZeroG

        llm = ZeroG(providers=["0xA...", "0xB..."], network="testnet")
        answer = llm.complete("What is 2 + 3?")  # answer.text, answer.additional_kwargs["verdict"]
        ```
    """

    model: str | None = Field(default=None, description="Model id; None: the provider's registered model.")
    provider: str | None = Field(default=None, description="The one provider to use (0x address).")
    providers: list[str] | None = Field(default=None, description="Providers for client-side failover.")
    strategy: Strategy = Field(
        default=DEFAULT_STRATEGY,
        description="Failover order: soonest (free by the rate limits, then list order), priority, price, latency, "
        "round_robin.",
    )
    pool_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Failover options: cooldown, deadline, verifiable_only, max_input_price, max_output_price, "
        "allow, deny.",
    )
    on_event: PoolHookField = Field(default=None, exclude=True, description="Called with every failover event.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int | None = Field(default=None, gt=0, description="Maximum tokens to generate.")
    additional_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra request body parameters.")
    context_window: int | None = Field(default=None, gt=0, description="Override the catalog's context length.")
    is_function_calling_model: bool = Field(
        default=True, description="Set False for models that do not take tools (the catalog can also say so)."
    )

    _catalog: Catalog = PrivateAttr(default_factory=Catalog)

    def __init__(
        self,
        model: str | None = None,
        *,
        private_key: str | bytes | SecretStr | None = None,
        router_api_key: str | SecretStr | None = None,
        client: ZeroGClient | None = None,
        async_client: AsyncZeroG | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self._attach_clients(private_key, client, async_client, router_api_key)

    @model_validator(mode="after")
    def _check_target(self) -> ZeroG:
        check_target(self.provider, self.providers, self.model, "ZeroG")
        pool_settings(**self._pool_args())  # validates pool_options
        return self

    @classmethod
    def class_name(cls) -> str:
        return "zerog_llm"

    # ------------------------------------------------------------------ metadata

    @property
    def metadata(self) -> LLMMetadata:
        """From the provider catalog, fetched once on first use.

        Inside a running event loop the fetch runs on a worker thread (the loop does no I/O itself) and the first
        read waits for it, at most 5 s; ``await aload_metadata()`` beforehand spares even that wait.
        """
        if self._catalog.due():
            if in_event_loop():
                self._catalog.fetch_aside(self._holder.sync, self._catalog_provider(), self.model, "chatbot")
            else:
                try:
                    client = self._holder.sync()
                except Exception:  # no key yet: defaults now, the catalog on a later call
                    client = None
                if client is not None:
                    self._catalog.fetch(client, self._catalog_provider(), self.model, "chatbot")
        return self.known_metadata()

    def known_metadata(self) -> LLMMetadata:
        """The metadata from what is known now, with no fetch (the catalog if loaded, else settings and defaults)."""
        info = self._catalog.info
        tools = supports_tools(info)
        return LLMMetadata(
            context_window=self.context_window or (info.context_length if info else None) or DEFAULT_CONTEXT_WINDOW,
            num_output=self.max_tokens or (info.max_completion_tokens if info else None) or DEFAULT_NUM_OUTPUTS,
            is_chat_model=True,
            is_function_calling_model=self.is_function_calling_model and tools is not False,
            model_name=self.model or (info.id if info else None) or "zerog",
            system_role=MessageRole.SYSTEM,
        )

    def to_payload(self) -> dict[str, Any]:
        """What callbacks and instrumentation events see before every call: no key, no RPC URL, and no fetch
        (an async call must not wait for the sync client): the metadata known now."""
        return {"class_name": self.class_name(), **self.known_metadata().model_dump()}

    async def aload_metadata(self) -> LLMMetadata:
        """Fetch the catalog with the async client (if not loaded yet) and return the metadata."""
        if self._catalog.due():
            await self._catalog.afetch(self._holder.aio(), self._catalog_provider(), self.model, "chatbot")
        return self.metadata

    def _catalog_provider(self) -> str | None:
        return self.provider or (self.providers[0] if self.providers else None)

    # ------------------------------------------------------------------ request plumbing

    def _pool_args(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "providers": self.providers,
            "service_type": "chatbot",
            "strategy": self.strategy,
            "pool_options": self.pool_options,
            "on_event": self.on_event,
        }

    def _target(self, client: ZeroGClient | AsyncZeroG) -> tuple[Any, dict[str, Any]]:
        """``(completions resource, provider kwargs)``: the client's for one provider, else a cached pool's."""
        if self.provider:
            return client.chat.completions, {"provider": self.provider}
        pool = cached_pool(self._holder, client, pool_settings(**self._pool_args()))
        return pool.chat.completions, {}

    def _request(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        if has_images(messages) and supports_images(self._catalog.info) is False:
            raise ValueError(f"model {self.metadata.model_name!r} takes no image input according to its catalog")
        params = dict(self.additional_kwargs)
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        params.update({k: v for k, v in kwargs.items() if v is not None})
        model = params.pop("model", None) or self.model
        return {"messages": to_openai_messages(messages), "model": model, **params}

    def _verdict(self, record: ZeroGRecord | None) -> str | None:
        """The final verdict when ``await_verification`` (None: report what is known now)."""
        if record is None or not self.await_verification:
            return None
        result = record.verdict(timeout=self.timeout)
        return "none" if result is None else str(result.verdict.value)

    async def _averdict(self, record: ZeroGRecord | None) -> str | None:
        if record is None or not self.await_verification:
            return None
        result = await record.averdict()
        return "none" if result is None else str(result.verdict.value)

    # ------------------------------------------------------------------ sync

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        request = self._request(messages, kwargs)
        completions, where = self._target(self._holder.sync())
        completion: ChatCompletion = completions.create(**where, **request)
        return chat_response(completion, self._verdict(completion.zerog))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        request = self._request(messages, kwargs)
        completions, where = self._target(self._holder.sync())

        def gen() -> Generator[ChatResponse, None, None]:
            accumulator = StreamAccumulator()
            chunk: ChatCompletionChunk
            for chunk in completions.create(**where, **request, stream=True):
                response = accumulator.feed(chunk)
                if chunk.zerog is not None and self.await_verification:
                    response.additional_kwargs["verdict"] = self._verdict(chunk.zerog)
                yield response

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:  # noqa: ARG002
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:  # noqa: ARG002
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    # ------------------------------------------------------------------ async (AsyncZeroG only)

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        client = self._holder.aio()
        if self._catalog.due():
            await self._catalog.afetch(client, self._catalog_provider(), self.model, "chatbot")
        request = self._request(messages, kwargs)
        completions, where = self._target(client)
        completion: ChatCompletion = await completions.create(**where, **request)
        return chat_response(completion, await self._averdict(completion.zerog))

    async def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        client = self._holder.aio()
        if self._catalog.due():
            await self._catalog.afetch(client, self._catalog_provider(), self.model, "chatbot")
        request = self._request(messages, kwargs)
        completions, where = self._target(client)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            accumulator = StreamAccumulator()
            stream: AsyncIterator[ChatCompletionChunk] = await completions.create(**where, **request, stream=True)
            async for chunk in stream:
                response = accumulator.feed(chunk)
                if chunk.zerog is not None and self.await_verification:
                    response.additional_kwargs["verdict"] = await self._averdict(chunk.zerog)
                yield response

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return await self._astream_chat(messages, **kwargs)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:  # noqa: ARG002
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self,
        prompt: str,
        formatted: bool = False,  # noqa: ARG002
        **kwargs: Any,
    ) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self._astream_chat)(prompt, **kwargs)

    # ------------------------------------------------------------------ tools

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,  # noqa: ARG002 (part of the base signature)
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` arguments for a tool-calling turn (OpenAI ``tools`` / ``tool_choice``)."""
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        prepared: dict[str, Any] = {"messages": messages, **kwargs}
        if specs:
            prepared.update(
                tools=specs,
                tool_choice=resolve_tool_choice(tool_choice, tool_required),
                parallel_tool_calls=allow_parallel_tool_calls,
            )
        return prepared

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],  # noqa: ARG002 (part of the base signature)
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResponse:
        if not allow_parallel_tool_calls:
            keep_first_tool_call(response)
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,  # noqa: ARG002 (part of the base signature)
    ) -> list[ToolSelection]:
        """The tool calls of a response (``ToolCallBlock``\\ s; partial JSON of streamed calls is parsed)."""
        return tool_selections(response, error_on_no_tool_call)
