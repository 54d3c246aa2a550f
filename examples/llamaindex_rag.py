"""RAG with LlamaIndex on 0G: embed a few documents with ``ZeroGEmbedding``, answer with ``ZeroG``.

Runs against a local devnet by default: with ``ZG_NETWORK`` unset it starts one in-process
(``zerog_devnet.Devnet.start()``) and funds a dev account. With ``ZG_NETWORK`` (``devnet``,
``testnet`` or ``mainnet``) and ``ZG_PRIVATE_KEY`` set it uses that network and wallet, and the
providers you already have sub-accounts with (or ``ZG_CHAT_PROVIDER`` / ``ZG_EMBED_PROVIDER``).

    uv run python examples/llamaindex_rag.py

The devnet's scripted model echoes its prompt instead of reasoning, so the "answer" shows the
retrieved context; the sources are what the hashed-bag-of-words embeddings found closest.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from typing import Any

import llama_index.core.instrumentation as instrument
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatResponse
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.embeddings.zerog import ZeroGEmbedding
from llama_index.llms.zerog import ZeroG

from zerog_compute import Network
from zerog_compute import ZeroG as ZeroGClient

QUESTION = "How do honey bees tell each other where the flowers are?"
DOCUMENTS = [
    Document(
        text="Honey bees share the location of flowers with a waggle dance: the angle of the run gives the "
        "direction relative to the sun, and its length gives the distance.",
        metadata={"title": "Bee communication"},
    ),
    Document(
        text="Saturn has the largest and brightest rings in the solar system, made mostly of ice and rock.",
        metadata={"title": "Saturn"},
    ),
    Document(
        text="Sourdough bread rises because wild yeast and lactic acid bacteria ferment the flour and release gas.",
        metadata={"title": "Sourdough"},
    ),
    Document(
        text="The Rust compiler checks ownership and borrowing at compile time, which prevents data races.",
        metadata={"title": "Rust ownership"},
    ),
]


class LastChat(BaseEventHandler):
    """Keeps the last LLM ChatResponse (its additional_kwargs and raw carry the 0G record)."""

    response: ChatResponse | None = None

    @classmethod
    def class_name(cls) -> str:
        return "LastChat"

    def handle(self, event: BaseEvent, **_: Any) -> None:
        if isinstance(event, LLMChatEndEvent) and event.response is not None:
            self.response = event.response


def start_devnet(stack: ExitStack) -> dict[str, Any]:
    """An in-process devnet with a funded dev account; returns the connection settings."""
    from zerog_devnet import Devnet

    net = stack.enter_context(Devnet.start(settle_interval=3600))
    user = net.users[0]
    net.fund(user, ["chat-a", "chat-b", "embed"])
    network = Network(
        name="devnet",
        chain_id=net.chain_id,
        rpc_url=net.rpc_url,
        ledger=net.contracts.ledger,
        inference=net.contracts.inference,
        fine_tuning=net.contracts.fine_tuning,
    )
    print(f"started a local devnet in {net.started_in:.2f}s at {net.rpc_url}")
    return {"private_key": user.private_key, "network": network}


def funded(settings: dict[str, Any], service_type: str, override: str | None) -> list[str]:
    """Providers of ``service_type`` the wallet has a sub-account with (all of them if it has none)."""
    if override:
        return [override]
    with ZeroGClient(**settings) as zg:
        services = [s.provider for s in zg.services.list(service_type=service_type)]
        accounts = {a.provider.lower() for a in zg.ledger.sub_accounts()}
    chosen = [p for p in services if p.lower() in accounts] or services
    if not chosen:
        sys.exit(f"no {service_type} provider on this network")
    return chosen


def main() -> None:
    started = time.perf_counter()
    with ExitStack() as stack:
        settings = start_devnet(stack) if not os.environ.get("ZG_NETWORK") else {}
        embed_model = ZeroGEmbedding(
            providers=funded(settings, "embedding", os.environ.get("ZG_EMBED_PROVIDER")), **settings
        )
        llm = ZeroG(providers=funded(settings, "chatbot", os.environ.get("ZG_CHAT_PROVIDER")), **settings)
        stack.callback(embed_model.close)
        stack.callback(llm.close)

        index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=embed_model)
        last = LastChat()
        instrument.get_dispatcher().add_event_handler(last)  # type: ignore[attr-defined]
        engine = index.as_query_engine(llm=llm, similarity_top_k=2)
        response = engine.query(QUESTION)

        chat = last.response
        record = getattr(chat.raw, "zerog", None) if chat is not None else None
        if chat is None or record is None:
            sys.exit("the query engine made no 0G chat call")
        print(f"\nQ: {QUESTION}\nA: {str(response).strip()[:300]}")
        print("\nSources:")
        for source in response.source_nodes:
            print(f"  {source.score:.3f}  {source.node.metadata['title']}: {source.node.get_content()[:70]}...")
        print(f"\nprovider {record.provider}  model {record.model}")
        print(f"fee {record.fee_0g} 0G  tokens {chat.additional_kwargs.get('total_tokens')}")
        print(f"verdict {record.verdict(timeout=30).verdict.value}  chat id {record.chat_id}")
    print(f"\ndone in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
