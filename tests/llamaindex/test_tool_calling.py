"""Tool calling, structured prediction and a FunctionAgent run against the devnet's scripted model."""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool

from .conftest import Kit

pytestmark = pytest.mark.devnet


def multiply(a: int, b: int) -> int:
    """Multiply two integers a and b."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers a and b."""
    return a + b


TOOLS = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]


class Invoice(BaseModel):
    """An invoice."""

    customer: str
    total: int


PROMPT = PromptTemplate("Extract the invoice from: {text}")
TEXT = "customer is Alice and total is 42"


def test_chat_with_tools_and_get_tool_calls(kit: Kit) -> None:
    llm = kit.llm()
    response = llm.chat_with_tools(TOOLS, user_msg="multiply 3 by 4")
    calls = llm.get_tool_calls_from_response(response)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("multiply", {"a": 3, "b": 4})]
    assert calls[0].tool_id.startswith("call_")
    assert response.additional_kwargs["finish_reason"] == "tool_calls"
    plain = llm.chat([ChatMessage(role="user", content="What is 2 + 3?")])
    assert llm.get_tool_calls_from_response(plain, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="tool call"):
        llm.get_tool_calls_from_response(plain)


def test_parallel_calls_and_the_result_round_trip(kit: Kit) -> None:
    llm = kit.llm()
    message = ChatMessage(role="user", content="multiply 3 by 4 and add 5 and 6")
    response = llm.chat_with_tools(TOOLS, chat_history=[message], allow_parallel_tool_calls=True)
    calls = llm.get_tool_calls_from_response(response)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("multiply", {"a": 3, "b": 4}), ("add", {"a": 5, "b": 6})]
    single = llm.chat_with_tools(TOOLS, chat_history=[message], allow_parallel_tool_calls=False)
    assert len(llm.get_tool_calls_from_response(single)) == 1
    history = [message, response.message]
    for call in calls:
        result = str(multiply(**call.tool_kwargs) if call.tool_name == "multiply" else add(**call.tool_kwargs))
        history.append(ChatMessage(role="tool", content=result, additional_kwargs={"tool_call_id": call.tool_id}))
    final = llm.chat(history)
    assert final.message.content == "Tool result (multiply): 12\nTool result (add): 11"


def test_tool_choice_and_required(kit: Kit) -> None:
    llm = kit.llm()
    named = llm.chat_with_tools(TOOLS, user_msg="hello there", tool_choice="add")
    assert [c.tool_name for c in llm.get_tool_calls_from_response(named)] == ["add"]
    required = llm.chat_with_tools(TOOLS, user_msg="hello there", tool_required=True)
    assert [c.tool_name for c in llm.get_tool_calls_from_response(required)] == ["multiply"]


def test_predict_and_call(kit: Kit) -> None:
    llm = kit.llm()
    output = llm.predict_and_call(TOOLS, user_msg="multiply 6 by 7")
    assert output.response == "42" and output.sources[0].tool_name == "multiply"


@pytest.mark.anyio
async def test_apredict_and_call(akit: Kit) -> None:
    output = await akit.llm().apredict_and_call(TOOLS, user_msg="add 6 and 7")
    assert output.response == "13"


def test_streamed_tool_calls_are_assembled(kit: Kit) -> None:
    llm = kit.llm()
    chunks = list(llm.stream_chat_with_tools(TOOLS, user_msg="multiply 12345 by 67890"))
    final = chunks[-1]
    blocks = [b for b in final.message.blocks if isinstance(b, ToolCallBlock)]
    assert len(blocks) == 1 and blocks[0].tool_kwargs == {"a": 12345, "b": 67890}
    partial = [llm.get_tool_calls_from_response(c, error_on_no_tool_call=False) for c in chunks]
    assert any(p and p[0].tool_kwargs != {"a": 12345, "b": 67890} for p in partial)  # fragments arrived first
    assert final.additional_kwargs["fee"] > 0


@pytest.mark.anyio
async def test_astream_chat_with_tools(akit: Kit) -> None:
    llm = akit.llm()
    chunks = [c async for c in await llm.astream_chat_with_tools(TOOLS, user_msg="add 2 and 40")]
    calls = llm.get_tool_calls_from_response(chunks[-1])
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("add", {"a": 2, "b": 40})]


def test_structured_predict(kit: Kit) -> None:
    llm = kit.llm()
    assert llm.structured_predict(Invoice, PROMPT, text=TEXT) == Invoice(customer="Alice", total=42)
    streamed = list(llm.stream_structured_predict(Invoice, PROMPT, text=TEXT))
    assert streamed[-1] == Invoice(customer="Alice", total=42)
    assert llm.as_structured_llm(Invoice).complete(f"Extract the invoice from: {TEXT}").raw == Invoice(
        customer="Alice", total=42
    )


@pytest.mark.anyio
async def test_astructured_predict(akit: Kit) -> None:
    result = await akit.llm().astructured_predict(Invoice, PROMPT, text=TEXT)
    assert result == Invoice(customer="Alice", total=42)


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the workflow inspects pydantic attributes
@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_run(akit: Kit, streaming: bool) -> None:
    agent = FunctionAgent(tools=TOOLS, llm=akit.llm(), streaming=streaming, system_prompt="You are a calculator.")
    handler = agent.run(user_msg="multiply 3 by 4")
    results, deltas = [], []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            results.append((event.tool_name, event.tool_kwargs, event.tool_output.content))
        elif isinstance(event, AgentStream):
            deltas.append(event.delta)
    output = await handler
    assert results == [("multiply", {"a": 3, "b": 4}, "12")]
    assert str(output) == "Tool result (multiply): 12"
    assert bool("".join(deltas)) is streaming
