"""``ZeroGEmbeddings``: LangChain embeddings from 0G providers that serve ``/embeddings``."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field, model_validator
from typing_extensions import Self

from zerog_compute import DEFAULT_STRATEGY, EmbeddingsResponse, Strategy

from ._client import ENV_PRIVATE_KEY, ENV_ROUTER_API_KEY, ZeroGClientFields
from ._model_kwargs import field_names, move_unknown
from .errors import bridge_errors

SERVICE_TYPE = "embedding"


class ZeroGEmbeddings(ZeroGClientFields, Embeddings):
    """Text embeddings served by 0G Compute ``embedding`` providers (Direct or Router mode), sync and async.

    Example:
        .. code-block:: python

            from langchain_zerog import ZeroGEmbeddings

            embeddings = ZeroGEmbeddings(model="BAAI/bge-m3", network="testnet")  # providers discovered
            vectors = embeddings.embed_documents(["the cat sat", "a dog ran"])

    ``provider=`` pins one provider, ``providers=[...]`` fails over in order, ``model=`` discovers the
    providers serving that model; with none of them every acknowledged embedding provider is a
    candidate. In Router mode (``router_api_key=``) pass ``model=`` (or ``provider=`` to pin): the
    Router picks the provider. Texts are sent in batches of ``chunk_size`` (async batches run concurrently).
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str | None = Field(default=None, alias="model_name")
    provider: str | None = None
    providers: list[str] | None = None
    strategy: Strategy = DEFAULT_STRATEGY
    pool_options: dict[str, Any] = Field(default_factory=dict)
    chunk_size: int = Field(default=256, ge=1, le=2048)
    """Texts per request (a provider accepts at most 2048 inputs)."""
    dimensions: int | None = None
    """Output dimensions, for models that support shortening."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other ``/embeddings`` request parameters, sent with every request; unknown arguments land here too (warned)."""

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: Any) -> Any:
        """Unknown arguments go to ``model_kwargs`` with a warning, as in ``ChatZeroG``; see ``_model_kwargs``."""
        return move_unknown(values, owner=cls.__name__, known=field_names(cls), own=field_names(cls))

    @model_validator(mode="after")
    def _check_target(self) -> Self:
        if self.provider and self.providers:
            raise ValueError("pass provider=... (one provider) or providers=[...] (a failover pool), not both")
        return self

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"private_key": ENV_PRIVATE_KEY, "router_api_key": ENV_ROUTER_API_KEY}

    def _target_options(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "providers": self.providers,
            "model": self.model,
            "strategy": self.strategy,
            **self.pool_options,
        }

    def _params(self) -> dict[str, Any]:
        params = dict(self.model_kwargs)
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        if self.provider and self.model:
            params["model"] = self.model
        return params

    def _batches(self, texts: list[str]) -> list[list[str]]:
        return [texts[i : i + self.chunk_size] for i in range(0, len(texts), self.chunk_size)]

    @bridge_errors
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts, ``chunk_size`` per request; the vectors come back in input order."""
        if not texts:
            return []
        target, where = self.zerog_clients.target(SERVICE_TYPE, **self._target_options())
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            vectors.extend(_vectors(target.embeddings.create(input=batch, **where, **self._params()), len(batch)))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    @bridge_errors
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`; the batches are sent concurrently."""
        if not texts:
            return []
        target, where = await self.zerog_clients.atarget(SERVICE_TYPE, **self._target_options())
        batches = self._batches(texts)
        replies = await asyncio.gather(
            *(target.embeddings.create(input=batch, **where, **self._params()) for batch in batches)
        )
        return [vector for reply, batch in zip(replies, batches, strict=True) for vector in _vectors(reply, len(batch))]

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]


def _vectors(reply: EmbeddingsResponse, expected: int) -> list[list[float]]:
    data = sorted(reply.data, key=lambda item: item.index)
    if len(data) != expected:
        raise ValueError(f"the provider returned {len(data)} embeddings for {expected} inputs")
    vectors = []
    for item in data:
        if isinstance(item.embedding, str):
            raise ValueError("got a base64 embedding: do not set encoding_format in model_kwargs")
        vectors.append([float(x) for x in item.embedding])
    return vectors
