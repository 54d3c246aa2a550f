"""``ZeroGMultiModal``: the legacy ``MultiModalLLM`` interface over ``llama_index.llms.zerog.ZeroG``.

New code should pass ``ImageBlock``\\ s in ``ChatMessage``\\ s to :class:`~llama_index.llms.zerog.ZeroG`
directly; this shim keeps apps written against ``MultiModalLLM`` (``complete(prompt, image_documents)``)
working. It delegates every call to an internal ``ZeroG`` that shares its clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.generic_utils import (
    chat_response_to_completion_response,
    image_node_to_image_block,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    ImageBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr
from llama_index.core.constants import DEFAULT_NUM_INPUT_FILES
from llama_index.core.multi_modal_llms import MultiModalLLM, MultiModalLLMMetadata
from llama_index.core.schema import ImageNode
from llama_index.llms.zerog import ZeroG
from llama_index.llms.zerog._client import PoolHookField, ZeroGConnection

from zerog_compute import DEFAULT_STRATEGY, AsyncZeroG, Strategy
from zerog_compute import ZeroG as ZeroGClient

SHARED_FIELDS = (
    "model",
    "provider",
    "providers",
    "strategy",
    "pool_options",
    "on_event",
    "temperature",
    "max_tokens",
    "additional_kwargs",
    "context_window",
    "network",
    "rpc_url",
    "router_url",
    "trust_mode",
    "verification",
    "await_verification",
    "timeout",
    "max_retries",
    "deadline",
    "max_response_bytes",
    "rate_limit",
    "funding",
)


def _blocks(prompt: str, image_documents: Sequence[ImageNode | ImageBlock]) -> list[Any]:
    images = [d if isinstance(d, ImageBlock) else image_node_to_image_block(d) for d in image_documents]
    return [TextBlock(text=prompt), *images]


class ZeroGMultiModal(ZeroGConnection, MultiModalLLM):
    """Vision chat/completion on 0G Compute providers through the ``MultiModalLLM`` interface.

    Same options as :class:`~llama_index.llms.zerog.ZeroG` (``provider``, ``providers``, ``model``,
    verification, funding, ``private_key`` / ``$ZG_PRIVATE_KEY``).

    Examples:
        ```python
        from llama_index.core.schema import ImageDocument
        from llama_index.multi_modal_llms.zerog import ZeroGMultiModal

        mm = ZeroGMultiModal(provider="0x...")
        answer = mm.complete("Describe the image", image_documents=[ImageDocument(image_path="cat.png")])
        ```
    """

    model: str | None = Field(default=None, description="Model id; None: the provider's registered model.")
    provider: str | None = Field(default=None, description="The one provider to use (0x address).")
    providers: list[str] | None = Field(default=None, description="Providers for client-side failover.")
    strategy: Strategy = Field(default=DEFAULT_STRATEGY, description="Failover order.")
    pool_options: dict[str, Any] = Field(default_factory=dict, description="Failover options (see ZeroG).")
    on_event: PoolHookField = Field(default=None, exclude=True, description="Called with every failover event.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int | None = Field(default=None, gt=0, description="Maximum tokens to generate.")
    additional_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra request body parameters.")
    context_window: int | None = Field(default=None, gt=0, description="Override the catalog's context length.")
    rate_limiter: Any | None = Field(default=None, exclude=True, description="LlamaIndex rate limiter (optional).")

    _llm: ZeroG = PrivateAttr()

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
        self._llm = ZeroG(**{name: getattr(self, name) for name in SHARED_FIELDS})
        self._llm._holder = self._holder  # one set of clients (and pools) for both

    @classmethod
    def class_name(cls) -> str:
        return "zerog_multi_modal_llm"

    @property
    def llm(self) -> ZeroG:
        """The ``ZeroG`` LLM this shim delegates to (use it directly with ``ImageBlock``\\ s)."""
        return self._llm

    @property
    def metadata(self) -> MultiModalLLMMetadata:
        return self._multimodal(self._llm.metadata)

    @staticmethod
    def _multimodal(meta: LLMMetadata) -> MultiModalLLMMetadata:
        return MultiModalLLMMetadata(
            context_window=meta.context_window,
            num_output=meta.num_output,
            num_input_files=DEFAULT_NUM_INPUT_FILES,
            is_function_calling_model=meta.is_function_calling_model,
            model_name=meta.model_name,
            is_chat_model=True,
        )

    def to_payload(self) -> dict[str, Any]:
        """Non-sensitive description for callbacks and instrumentation (no key, no RPC URL)."""
        return {"class_name": self.class_name(), **self._multimodal(self._llm.known_metadata()).model_dump()}

    # MultiModalLLM.__init_subclass__ wraps these public methods with the LLM callbacks.

    def complete(
        self, prompt: str, image_documents: Sequence[ImageNode | ImageBlock] = (), **kwargs: Any
    ) -> CompletionResponse:
        message = ChatMessage(role=MessageRole.USER, blocks=_blocks(prompt, image_documents))
        return chat_response_to_completion_response(self._llm._chat([message], **kwargs))

    def stream_complete(
        self, prompt: str, image_documents: Sequence[ImageNode | ImageBlock] = (), **kwargs: Any
    ) -> CompletionResponseGen:
        message = ChatMessage(role=MessageRole.USER, blocks=_blocks(prompt, image_documents))
        return (chat_response_to_completion_response(r) for r in self._llm._stream_chat([message], **kwargs))

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._llm._chat(messages, **kwargs)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._llm._stream_chat(messages, **kwargs)

    async def acomplete(
        self, prompt: str, image_documents: Sequence[ImageNode | ImageBlock] = (), **kwargs: Any
    ) -> CompletionResponse:
        message = ChatMessage(role=MessageRole.USER, blocks=_blocks(prompt, image_documents))
        return chat_response_to_completion_response(await self._llm._achat([message], **kwargs))

    async def astream_complete(
        self, prompt: str, image_documents: Sequence[ImageNode | ImageBlock] = (), **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        message = ChatMessage(role=MessageRole.USER, blocks=_blocks(prompt, image_documents))
        stream = await self._llm._astream_chat([message], **kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            async for response in stream:
                yield chat_response_to_completion_response(response)

        return gen()

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._llm._achat(messages, **kwargs)

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return await self._llm._astream_chat(messages, **kwargs)
