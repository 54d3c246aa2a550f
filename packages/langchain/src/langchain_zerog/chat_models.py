"""``ChatZeroG``: a LangChain chat model over the 0G Compute Network, built on ``zerog_compute``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.base import OutputParserLike
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import ConfigDict, Field, model_validator
from typing_extensions import Self

from zerog_compute import DEFAULT_STRATEGY, Network, Strategy, VerificationResult, ZeroGRecord

from ._client import ENV_PRIVATE_KEY, ENV_ROUTER_API_KEY, ZeroGClientFields
from ._convert import (
    ArgsGuard,
    chunk_to_generation,
    completion_to_result,
    format_tool_choice,
    record_metadata,
    response_format,
    to_openai_messages,
)
from ._events import EventLog, adispatch, collecting, sink
from ._llm_output import MODEL_PROVIDER, combine_llm_outputs
from ._model_kwargs import field_names, move_unknown
from .errors import bridge_errors

log = logging.getLogger(__name__)
StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]


class ChatZeroG(ZeroGClientFields, BaseChatModel):
    """Chat model served by 0G Compute providers, in Direct mode (your wallet pays each provider, responses
    are TEE-verified by this client) or Router mode (the hosted 0G Router: one API key and balance,
    server-side routing, failover and TEE verification).

    Setup: ``pip install langchain-zerog``, then ``export ZG_PRIVATE_KEY=0x...`` (Direct: a wallet with a
    funded 0G ledger and acknowledged provider sub-accounts, see ``zerog-compute``) or
    ``export ZG_ROUTER_API_KEY=sk-...`` (Router: a key from pc.0g.ai).

    Key init args:
        model: model name. Direct mode: without ``provider``/``providers``, providers serving it are
            discovered on chain and used through a failover pool. Router mode: the Router routes it.
        provider / providers: one provider address (pinned in Router mode too), or an ordered list
            for failover (Direct mode only).
        network, private_key, router_api_key, router_url, verification, funding: see ``zerog_compute.ZeroG``.
        temperature, max_tokens, stop, timeout, max_retries, model_kwargs: request options.

    Example:
        .. code-block:: python

            from langchain_zerog import ChatZeroG

            llm = ChatZeroG(model="qwen/qwen-2.5-7b-instruct", network="testnet")
            msg = llm.invoke("What is 2 + 3?")
            msg.response_metadata["zerog_provider"], msg.usage_metadata
            llm.verdict(msg).verdict  # waits for the background TEE verification

            routed = ChatZeroG(model="qwen/qwen-2.5-7b-instruct", router_api_key="sk-...")  # Router mode

    Every answer's ``response_metadata`` carries ``model_provider="zerog"``, the serving provider
    (``zerog_provider``), the chat id, the fee (``zerog_fee`` in neuron, ``zerog_fee_0g``), the
    verification verdict (``"pending"`` while ``verification="warn"`` still checks in the background,
    unless ``await_verification=True``; in Router mode the Router's ``verify_tee`` verdict, known at once),
    the backend (``zerog_backend``) and the pool/funding events of the call (``zerog_events``, also
    dispatched as LangChain custom events ``zerog_pool_event`` / ``zerog_funding_event``; Direct mode only,
    the Router's failover is server-side).
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str | None = Field(default=None, alias="model_name")
    """Model name (``None``: the provider's own model)."""
    provider: str | None = None
    """A single provider address (no failover)."""
    providers: list[str] | None = None
    """Provider addresses for a failover pool, tried in ``strategy`` order (Direct mode only)."""
    strategy: Strategy = DEFAULT_STRATEGY
    """Pool order; in Router mode ``price`` / ``latency`` become the Router's sort order (``X-0G-Provider-Sort``)."""
    pool_options: dict[str, Any] = Field(default_factory=dict)
    """More ``zg.pool(...)`` options: cooldown, deadline, verifiable_only, max_input_price, allow, deny, on_event
    (Router mode refuses the provider restrictions: the Router chooses the provider)."""
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, alias="max_completion_tokens")
    top_p: float | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    streaming: bool = False
    """Use the streaming API for ``invoke`` too."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other OpenAI-compatible request parameters (seed, frequency_penalty, ...), sent with every request; unknown
    constructor arguments land here too, with a warning."""
    await_verification: bool = False
    """With ``verification="warn"``, wait for the background verdict so ``response_metadata`` carries it."""

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: Any) -> Any:
        """Unknown arguments go to ``model_kwargs`` with a warning (as ChatOpenAI does); see ``_model_kwargs``."""
        own = field_names(cls) - field_names(BaseChatModel)
        return move_unknown(values, owner=cls.__name__, known=field_names(cls), own=own)

    @model_validator(mode="after")
    def _check_target(self) -> Self:
        if self.provider and self.providers:
            raise ValueError("pass provider=... (one provider) or providers=[...] (a failover pool), not both")
        if not (self.model or self.provider or self.providers):
            raise ValueError("pass model=... (providers are discovered for it), provider=... or providers=[...]")
        return self

    # ------------------------------------------------------------------ identity

    @property
    def _llm_type(self) -> str:
        return "chat-zerog"

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"private_key": ENV_PRIVATE_KEY, "router_api_key": ENV_ROUTER_API_KEY}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_zerog", "chat_models"]

    @property
    def _identifying_params(self) -> dict[str, Any]:
        network = self.network.name if isinstance(self.network, Network) else self.network
        return {
            "model": self.model,
            "provider": self.provider,
            "providers": self.providers,
            "strategy": self.strategy,
            "network": network,
            "verification": self.verification,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            **self.model_kwargs,
        }

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
        """Token usage summed over the answers of one ``generate`` call (as ChatOpenAI does)."""
        return combine_llm_outputs(llm_outputs, self.model)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=MODEL_PROVIDER,
            ls_model_name=kwargs.get("model") or self.model or self.provider or "",
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := stop or kwargs.get("stop") or self.stop:
            params["ls_stop"] = stop
        return params

    def get_num_tokens(self, text: str) -> int:
        """Approximate: about 4 characters a token (0G models use many tokenizers; counting needs no I/O)."""
        return max(1, -(-len(text) // 4)) if text else 0

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Sequence[Any] | None = None) -> int:
        """Approximate token count of a conversation (``count_tokens_approximately``)."""
        return count_tokens_approximately(messages, tools=list(tools) if tools else None)

    # ------------------------------------------------------------------ requests

    def _request(self, stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """The model to ask for and the OpenAI-compatible request parameters."""
        kwargs = dict(kwargs)
        model = kwargs.pop("model", None) or self.model
        kwargs.pop("stream", None)
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p}
        params.update(self.model_kwargs)
        params.update(kwargs)
        if stop is not None or self.stop:
            params["stop"] = stop if stop is not None else self.stop
        return model, {k: v for k, v in params.items() if v is not None and v != []}

    def _pool_options(self, model: str | None) -> dict[str, Any]:
        return {"model": model, "providers": self.providers, "strategy": self.strategy, **self.pool_options}

    def _create(self, model: str | None, **request: Any) -> Any:
        clients = self.zerog_clients
        if self.provider:
            return clients.sync().chat.completions.create(provider=self.provider, model=model, **request)
        return clients.pool(**self._pool_options(model)).chat.completions.create(**request)

    async def _acreate(self, model: str | None, **request: Any) -> Any:
        clients = self.zerog_clients
        if self.provider:
            return await clients.aio().chat.completions.create(provider=self.provider, model=model, **request)
        return await clients.apool(**self._pool_options(model)).chat.completions.create(**request)

    def _metadata(self, record: ZeroGRecord | None, events: EventLog) -> dict[str, Any]:
        meta = record_metadata(record, verification_enabled=self.verification != "off")
        if events.events:
            meta["zerog_events"] = list(events.events)
        return meta

    def _settle(self, record: ZeroGRecord | None) -> None:
        if record is None:
            return
        self.zerog_clients.remember(record)
        if self.await_verification and record.verification is None and record.verification_future is not None:
            try:
                record.verdict(timeout=self.timeout or 60.0)
            except Exception as exc:  # the verdict stays "pending"; the warning is logged by the core
                log.warning("verification of chat %s not available: %s", record.chat_id, type(exc).__name__)

    async def _asettle(self, record: ZeroGRecord | None) -> None:
        if record is None:
            return
        self.zerog_clients.remember(record)
        if self.await_verification and record.verification is None and record.verification_future is not None:
            try:
                await asyncio.wait_for(record.averdict(), timeout=self.timeout or 60.0)
            except Exception as exc:
                log.warning("verification of chat %s not available: %s", record.chat_id, type(exc).__name__)

    @bridge_errors
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        model, params = self._request(stop, kwargs)
        with collecting(sink(run_manager)) as events:
            completion = self._create(model, messages=to_openai_messages(messages), **params)
        self._settle(completion.zerog)
        return completion_to_result(completion, self._metadata(completion.zerog, events))

    @bridge_errors
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop=stop, run_manager=run_manager, **kwargs))
        model, params = self._request(stop, kwargs)
        with collecting() as events:
            try:
                completion = await self._acreate(model, messages=to_openai_messages(messages), **params)
            finally:
                await adispatch(run_manager, events)
        await self._asettle(completion.zerog)
        return completion_to_result(completion, self._metadata(completion.zerog, events))

    @bridge_errors
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        model, params = self._request(stop, kwargs)
        guard = ArgsGuard()
        with collecting(sink(run_manager, fallback=True)) as events:
            last = None
            for chunk in self._create(model, messages=to_openai_messages(messages), stream=True, **params):
                if chunk.zerog is not None:  # the final chunk: let the core finish first (its success event)
                    last = chunk
                    continue
                yield self._emit(chunk_to_generation(chunk, guard=guard), run_manager)
            if last is not None:
                self._settle(last.zerog)
                generation = chunk_to_generation(last, self._metadata(last.zerog, events), guard)
                yield self._emit(generation, run_manager)

    @staticmethod
    def _emit(generation: ChatGenerationChunk, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
        if run_manager is not None:  # only set when called from _generate; stream() reports tokens itself
            run_manager.on_llm_new_token(generation.text, chunk=generation)
        return generation

    @bridge_errors
    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        model, params = self._request(stop, kwargs)
        guard = ArgsGuard()
        with collecting() as events:
            try:
                stream = await self._acreate(model, messages=to_openai_messages(messages), stream=True, **params)
                last = None
                async for chunk in stream:
                    await adispatch(run_manager, events)
                    if chunk.zerog is not None:
                        last = chunk
                        continue
                    generation = chunk_to_generation(chunk, guard=guard)
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(generation.text, chunk=generation)
                    yield generation
                await adispatch(run_manager, events)
                if last is not None:
                    await self._asettle(last.zerog)
                    generation = chunk_to_generation(last, self._metadata(last.zerog, events), guard)
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(generation.text, chunk=generation)
                    yield generation
            finally:
                await adispatch(run_manager, events)

    # ------------------------------------------------------------------ verification

    @bridge_errors
    def verdict(self, message: BaseMessage | str, timeout: float | None = 30.0) -> VerificationResult | None:
        """The TEE verification result of an answer (waits for a background check; ``None`` when off)."""
        chat_id, provider = _chat_ref(message)
        record = self.zerog_clients.record(chat_id)
        if record is not None:
            return record.verdict(timeout)
        if provider is None:
            raise ValueError(f"unknown chat id {chat_id!r}: pass the AIMessage (it names its provider)")
        return self.zerog_clients.sync().verify(provider, chat_id)

    @bridge_errors
    async def averdict(self, message: BaseMessage | str) -> VerificationResult | None:
        """Async :meth:`verdict`."""
        chat_id, provider = _chat_ref(message)
        record = self.zerog_clients.record(chat_id)
        if record is not None:
            return await record.averdict()
        if provider is None:
            raise ValueError(f"unknown chat id {chat_id!r}: pass the AIMessage (it names its provider)")
        return await self.zerog_clients.aio().verify(provider, chat_id)

    # ------------------------------------------------------------------ tools and structured output

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI format). ``tool_choice``: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True``
        (must call a tool) or a tool name; ``parallel_tool_calls=False`` allows one call per turn."""
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        choice = format_tool_choice(tool_choice)
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredMethod = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Structured output: ``json_schema`` (default, the provider's guided decoding), ``function_calling``
        (a forced tool call) or ``json_mode`` (JSON object; describe the keys in the prompt)."""
        if kwargs:
            raise ValueError(f"unsupported arguments {sorted(kwargs)}")
        if schema is None and method != "json_mode":
            raise ValueError(f"schema is required for method={method!r}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        trace: dict[str, Any] = {}
        if schema is not None:
            trace = {"ls_structured_output_format": {"kwargs": {"method": method, "strict": strict}, "schema": schema}}
        parser: OutputParserLike[Any]
        if method == "function_calling":
            assert schema is not None
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, strict=strict, parallel_tool_calls=False, **trace)
            if is_pydantic:
                parser = PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
            else:
                parser = JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        elif method in ("json_mode", "json_schema"):
            wire_format = {"type": "json_object"} if method == "json_mode" else response_format(schema, strict)
            llm = self.bind(response_format=wire_format, **trace)
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        else:
            raise ValueError(f"method must be 'function_calling', 'json_mode' or 'json_schema', got {method!r}")
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([fallback], exception_key="parsing_error")


def _chat_ref(message: BaseMessage | str) -> tuple[str, str | None]:
    if isinstance(message, str):
        return message, None
    chat_id = message.response_metadata.get("zerog_chat_id")
    if not chat_id:
        raise ValueError("this message has no zerog_chat_id in its response_metadata")
    return str(chat_id), message.response_metadata.get("zerog_provider")
