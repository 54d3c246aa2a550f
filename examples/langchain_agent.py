"""A LangChain agent on the 0G Compute Network: ChatZeroG + a calculator tool + the read-only balance tool.

    uv run python examples/langchain_agent.py

With ``ZG_NETWORK`` unset it starts a local devnet in-process (anvil + the real 0G contracts +
providers backed by a deterministic scripted model), funds a dev wallet and runs there in a few
seconds. On a real network set ``ZG_NETWORK=testnet`` (or ``mainnet``), ``ZG_PRIVATE_KEY`` (a
wallet with a ledger and acknowledged provider sub-accounts) and ``ZG_MODEL`` (a chat model that
providers serve with tool calling); the providers for it are discovered on chain and used with
failover. ``ZG_NETWORK=devnet`` uses a running ``zerog-devnet up`` (as ``make demo`` does) and its
scripted model unless ``ZG_MODEL`` says otherwise.

The scripted model calls the tools the question names and then answers with the tool results, so
the question names both tools.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from langchain_zerog import ChatZeroG, ZeroGBalanceTool

DEVNET_MODEL = "zerog-devnet/scripted-chat"
QUESTION = "Please multiply 6 by 7, and show my zerog_balance too."


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers (a calculator)."""
    return a * b


@contextlib.contextmanager
def connection() -> Iterator[dict[str, Any]]:
    """Where to run: the devnet started here, or the network named by $ZG_NETWORK."""
    network = os.environ.get("ZG_NETWORK")
    if network:
        model = os.environ.get("ZG_MODEL") or (DEVNET_MODEL if network == "devnet" else None)
        if not model:
            raise SystemExit("set ZG_MODEL to a chat model served on that network (see `zerog providers`)")
        yield {"model": model}  # key and network from $ZG_PRIVATE_KEY / $ZG_NETWORK
        return
    from zerog_compute import Network
    from zerog_devnet import Devnet

    print("starting a local devnet (ZG_NETWORK is unset)...")
    with Devnet.start(settle_interval=3600) as net:
        user = net.users[0]
        net.fund(user, ["chat-a", "chat-b"])
        network = Network(
            name="devnet",
            chain_id=net.chain_id,
            rpc_url=net.rpc_url,
            ledger=net.contracts.ledger,
            inference=net.contracts.inference,
        )
        providers = [net.provider(name).info.address for name in ("chat-a", "chat-b")]
        print(f"devnet ready in {net.started_in:.1f}s; wallet {user.address} funded")
        yield {
            "model": net.provider("chat-a").info.model,
            "providers": providers,
            "network": network,
            "private_key": user.private_key,
        }


def main() -> None:
    with connection() as where:
        llm = ChatZeroG(temperature=0, **where)
        balance = ZeroGBalanceTool(**{k: v for k, v in where.items() if k in ("network", "private_key")})
        agent = create_agent(llm, [multiply, balance], system_prompt="You are a helpful assistant.")
        result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})

        replies = [m for m in result["messages"] if isinstance(m, AIMessage)]
        for message in result["messages"]:
            calls = getattr(message, "tool_calls", None)
            if calls:
                print("tool calls:", ", ".join(f"{c['name']}({c['args']})" for c in calls))
        answer = replies[-1]
        print("\nanswer:\n" + str(answer.content))
        fee = sum(Decimal(m.response_metadata.get("zerog_fee_0g", "0")) for m in replies)
        meta = answer.response_metadata
        verdict = llm.verdict(answer, timeout=30)
        print(f"\nserved by {meta['zerog_provider']} ({meta['model_name']}), chat id {meta['zerog_chat_id']}")
        print(f"fee for the {len(replies)} model calls: {fee} 0G")
        print(f"TEE verification: {verdict.verdict.value if verdict else 'off'}")
        llm.close()
        balance.close()


if __name__ == "__main__":
    main()
