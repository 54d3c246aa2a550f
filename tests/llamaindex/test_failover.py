"""Failover through ``ZeroG(providers=[...])``: faults, a provider dying mid agent run, streams."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool

from zerog_compute import StreamInterruptedError
from zerog_compute.failover import ExhaustedError, PoolEvent

from .conftest import Kit

pytestmark = pytest.mark.devnet
ASK = [ChatMessage(role="user", content="What is 2 + 3?")]


def served(kit: Kit, events: list[PoolEvent]) -> list[tuple[str, str]]:
    return [(e.kind, kit.name_of(e.provider)) for e in events if e.kind in ("success", "failover")]


@pytest.mark.parametrize("fault", [{"http_status": 502}, {"drop_connection": True}, {"rate_limit_storm": True}])
def test_faulty_provider_fails_over(kit: Kit, fault: dict[str, Any]) -> None:
    kit.net.provider("chat-a").faults.set(**fault)
    events: list[PoolEvent] = []
    llm = kit.llm(providers=[kit.address("chat-a"), kit.address("chat-b")], on_event=events.append)
    response = llm.chat(ASK)
    assert response.message.content == "2 + 3 = 5"
    assert response.additional_kwargs["provider"] == kit.address("chat-b")
    assert served(kit, events) == [("failover", "chat-a"), ("success", "chat-b")]
    events.clear()
    llm.chat(ASK)  # chat-a is cooling down: chat-b answers at once
    assert served(kit, events) == [("success", "chat-b")]


def test_stream_fails_over_before_the_first_chunk_only(kit: Kit) -> None:
    providers = [kit.address("chat-a"), kit.address("chat-b")]
    kit.net.provider("chat-a").faults.set(http_status=500)
    chunks = list(kit.llm(providers=providers).stream_chat(ASK))
    assert chunks[-1].message.content == "2 + 3 = 5"
    assert chunks[-1].additional_kwargs["provider"] == kit.address("chat-b")
    kit.net.provider("chat-a").faults.clear()
    kit.net.provider("chat-a").faults.set(stream_cut_after=2)
    received = []
    with pytest.raises(StreamInterruptedError):
        for chunk in kit.llm(providers=providers).stream_chat([ChatMessage(role="user", content="say 'a b c d e'")]):
            received.append(chunk)
    assert received  # the partial answer reached the caller before the cut


def test_everything_down_is_one_error(kit: Kit) -> None:
    for name in ("chat-a", "chat-b"):
        kit.net.provider(name).faults.set(http_status=503)
    with pytest.raises(ExhaustedError, match="all providers failed"):
        kit.llm(providers=[kit.address("chat-a"), kit.address("chat-b")]).chat(ASK)


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_provider_dies_mid_agent_run(akit: Kit) -> None:
    """The tool kills chat-a between the agent's two LLM calls; the second call fails over to chat-b."""
    events: list[PoolEvent] = []

    def multiply(a: int, b: int) -> int:
        """Multiply two integers a and b."""
        akit.net.provider("chat-a").stop()
        return a * b

    llm = akit.llm(providers=[akit.address("chat-a"), akit.address("chat-b")], on_event=events.append)
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(fn=multiply)], llm=llm)
    output = await agent.run(user_msg="multiply 3 by 4")
    assert str(output) == "Tool result (multiply): 12"
    assert served(akit, events) == [("success", "chat-a"), ("failover", "chat-a"), ("success", "chat-b")]
    assert output.raw["zerog"]["provider"] == akit.address("chat-b")
