"""``ZeroGEmbedding`` (sync, async, batched) and a RAG pipeline: VectorStoreIndex + ZeroG query engine."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding, similarity

from zerog_compute import AsyncZeroG, ZeroG

from .conftest import CHAT_MODEL, Kit

pytestmark = pytest.mark.devnet
DOCS = [
    Document(text="Saturn is the planet with the largest rings in the solar system.", metadata={"topic": "saturn"}),
    Document(text="Sourdough bread rises because wild yeast ferments the flour.", metadata={"topic": "bread"}),
    Document(text="The Rust compiler checks ownership and borrowing at compile time.", metadata={"topic": "rust"}),
    Document(text="Honey bees communicate the location of flowers with a waggle dance.", metadata={"topic": "bees"}),
]


def spy(monkeypatch: pytest.MonkeyPatch, client_cls: type[ZeroG] | type[AsyncZeroG]) -> list[int]:
    """Record the batch size of every embeddings request made by ``client_cls`` instances."""
    from zerog_compute import _aresources, _resources

    module = _resources if client_cls is ZeroG else _aresources
    sizes: list[int] = []
    original = module.Embeddings.create

    def create(self: Any, **kwargs: Any) -> Any:
        sizes.append(len(kwargs["input"]))
        return original(self, **kwargs)

    monkeypatch.setattr(module.Embeddings, "create", create)
    return sizes


def test_is_a_base_embedding_and_embeds(kit: Kit) -> None:
    embed = kit.embedding()
    assert isinstance(embed, BaseEmbedding) and embed.class_name() == "zerog_embedding"
    cat, kitten, market = (
        embed.get_text_embedding("the cat sat on the mat"),
        embed.get_query_embedding("a cat on a mat"),
        embed.get_text_embedding("stock market prices fell sharply"),
    )
    assert len(cat) == 256
    assert similarity(cat, kitten) > 0.5 > abs(similarity(cat, market))


def test_batches(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = spy(monkeypatch, ZeroG)
    embed = kit.embedding(embed_batch_size=2, dimensions=64)
    vectors = embed.get_text_embedding_batch([f"text number {i}" for i in range(5)])
    assert len(vectors) == 5 and all(len(v) == 64 for v in vectors)
    assert sizes == [2, 2, 1]
    assert vectors[3] == embed.get_text_embedding("text number 3")


@pytest.mark.anyio
async def test_async_embeddings(akit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = spy(monkeypatch, AsyncZeroG)
    embed = akit.embedding(embed_batch_size=3)
    query = await embed.aget_query_embedding("the cat sat")
    texts = await embed.aget_text_embedding_batch(["the cat sat", "dogs bark", "a cat", "rain"])
    assert query == texts[0] and len(texts) == 4
    assert sizes == [1, 3, 1]


def test_embedding_failover(kit: Kit) -> None:
    events: list[Any] = []
    embed = kit.embedding(providers=[kit.address("embed"), kit.address("embed-b")], on_event=events.append)
    before = embed.get_text_embedding("hello world")
    kit.net.provider("embed").stop()
    assert embed.get_text_embedding("hello world") == before  # served by embed-b, same model
    assert [(e.kind, kit.name_of(e.provider)) for e in events if e.kind in ("failover", "success")] == [
        ("success", "embed"),
        ("failover", "embed"),
        ("success", "embed-b"),
    ]
    discovered = kit.embedding(model="zerog-devnet/scripted-embed")
    assert len(discovered.get_query_embedding("hello world")) == 256


def test_vector_store_index_query(kit: Kit) -> None:
    index = VectorStoreIndex.from_documents(DOCS, embed_model=kit.embedding())
    retrieved = index.as_retriever(similarity_top_k=1).retrieve("Which planet has rings?")
    assert retrieved[0].node.metadata["topic"] == "saturn"
    engine = index.as_query_engine(llm=kit.llm(), similarity_top_k=1)
    response = engine.query("How do honey bees share where flowers are?")
    assert response.source_nodes[0].node.metadata["topic"] == "bees"
    assert "waggle dance" in str(response)  # the scripted model echoes the prompt, context included


@pytest.mark.anyio
async def test_async_query_engine(akit: Kit) -> None:
    index = VectorStoreIndex.from_documents(DOCS, embed_model=akit.embedding(), use_async=True)
    engine = index.as_query_engine(llm=akit.llm(model=CHAT_MODEL), similarity_top_k=1)
    response = await engine.aquery("Why does sourdough bread rise?")
    assert response.source_nodes[0].node.metadata["topic"] == "bread"
