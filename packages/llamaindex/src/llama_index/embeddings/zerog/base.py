"""``ZeroGEmbedding``: a LlamaIndex ``BaseEmbedding`` over 0G providers that serve ``/embeddings``."""

from __future__ import annotations

import base64
import struct
from typing import Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, SecretStr, model_validator
from llama_index.llms.zerog._client import PoolHookField, ZeroGConnection, cached_pool, check_target, pool_settings
from llama_index.llms.zerog._options import EMBEDDING_BODY_PARAMS

from zerog_compute import DEFAULT_STRATEGY, AsyncZeroG, EmbeddingsResponse, Strategy
from zerog_compute import ZeroG as ZeroGClient

DEFAULT_BATCH_SIZE = 64


def _vectors(response: EmbeddingsResponse, count: int) -> list[Embedding]:
    items = sorted(response.data, key=lambda item: item.index)
    if len(items) != count:
        raise ValueError(f"the provider returned {len(items)} embeddings for {count} inputs")
    vectors: list[Embedding] = []
    for item in items:
        value = item.embedding
        if isinstance(value, str):  # encoding_format="base64": little-endian float32
            raw = base64.b64decode(value)
            vectors.append(list(struct.unpack(f"<{len(raw) // 4}f", raw)))
        else:
            vectors.append([float(x) for x in value])
    return vectors


class ZeroGEmbedding(ZeroGConnection, BaseEmbedding):
    """Embeddings from 0G Compute providers (service type ``embedding``), sync and async, batched.

    Choose ``provider="0x..."``, ``providers=[...]`` (failover) or ``model="..."`` (discovery among
    embedding providers). One request embeds up to ``embed_batch_size`` texts. The private key comes
    from ``private_key=`` or ``$ZG_PRIVATE_KEY`` and is never serialised.

    Examples:
        ```python
        from llama_index.embeddings.zerog import ZeroGEmbedding

        embed_model = ZeroGEmbedding(provider="0x...", network="testnet")
        vector = embed_model.get_text_embedding("hello 0G")
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
    pool_options: dict[str, Any] = Field(default_factory=dict, description="Failover options (see ZeroG).")
    on_event: PoolHookField = Field(default=None, exclude=True, description="Called with every failover event.")
    dimensions: int | None = Field(default=None, gt=0, description="Requested vector size, if the model supports it.")
    additional_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra request body parameters.")

    _body_params: ClassVar[frozenset[str]] = EMBEDDING_BODY_PARAMS

    def __init__(
        self,
        model: str | None = None,
        *,
        private_key: str | bytes | SecretStr | None = None,
        router_api_key: str | SecretStr | None = None,
        client: ZeroGClient | None = None,
        async_client: AsyncZeroG | None = None,
        embed_batch_size: int = DEFAULT_BATCH_SIZE,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("model_name", model or "zerog-embedding")
        super().__init__(model=model, embed_batch_size=embed_batch_size, **kwargs)
        self._attach_clients(private_key, client, async_client, router_api_key)

    @model_validator(mode="after")
    def _check_target(self) -> ZeroGEmbedding:
        check_target(self.provider, self.providers, self.model, "ZeroGEmbedding")
        pool_settings(**self._pool_args())
        return self

    @classmethod
    def class_name(cls) -> str:
        return "zerog_embedding"

    def _pool_args(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "providers": self.providers,
            "service_type": "embedding",
            "strategy": self.strategy,
            "pool_options": self.pool_options,
            "on_event": self.on_event,
        }

    def _target(self, client: ZeroGClient | AsyncZeroG) -> tuple[Any, dict[str, Any]]:
        if self.provider:
            return client.embeddings, {"provider": self.provider}
        return cached_pool(self._holder, client, pool_settings(**self._pool_args())).embeddings, {}

    def _request(self, texts: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {**self.additional_kwargs, "input": list(texts), "model": self.model}
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        return params

    # ------------------------------------------------------------------ sync

    def _embed(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        embeddings, where = self._target(self._holder.sync())
        return _vectors(embeddings.create(**where, **self._request(texts)), len(texts))

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed([query])[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(texts)

    # ------------------------------------------------------------------ async (AsyncZeroG only)

    async def _aembed(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        embeddings, where = self._target(self._holder.aio())
        return _vectors(await embeddings.create(**where, **self._request(texts)), len(texts))

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aembed([query]))[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed(texts)
