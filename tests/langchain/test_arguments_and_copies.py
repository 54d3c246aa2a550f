"""ChatZeroG as ChatOpenAI users expect it: unknown arguments reach the request through ``model_kwargs`` (with a
warning), copies are copies (their own client: another wallet, another timeout), and ``llm_output`` carries
``token_usage``."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from langchain_zerog import ChatZeroG, ZeroGEmbeddings, ZeroGToolkit
from zerog_compute import DeadlineExceededError, ProviderTimeoutError, RequestRejectedError

from .conftest import CHAT_MODEL, G, LcNet

ASK = "What is 2 + 3?"
KEY = "0x" + "ab" * 32


def build(**kwargs: Any) -> tuple[ChatZeroG, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = ChatZeroG(model="m", network="testnet", **kwargs)
    return llm, [str(w.message) for w in caught]


# --------------------------------------------------------------------------- unknown arguments


def test_unknown_arguments_move_to_model_kwargs_with_a_warning() -> None:
    llm, said = build(seed=1, frequency_penalty=0.5, temprature=0)
    assert llm.model_kwargs == {"seed": 1, "frequency_penalty": 0.5, "temprature": 0}
    assert llm.temperature is None and len(said) == 3
    assert all("moved to model_kwargs" in message for message in said)
    assert "Did you mean temperature=?" in said[2] and "Did you mean" not in said[0]
    merged, _ = build(seed=1, model_kwargs={"logprobs": True})
    assert merged.model_kwargs == {"logprobs": True, "seed": 1}


def test_known_arguments_and_aliases_give_no_warning() -> None:
    llm, said = build(
        api_key="sk-test-0123456789", timeout=3, max_retries=1, stop=["x"], max_completion_tokens=5, streaming=True
    )
    assert said == [] and llm.model_kwargs == {} and llm.max_tokens == 5 and llm.timeout == 3


def test_secrets_are_never_moved_into_the_request() -> None:
    for bad in ({"private_kye": KEY}, {"wallet": KEY}, {"token": "sk-0123456789abcdef"}, {"x": KEY[2:]}):
        with pytest.raises(TypeError, match="looks like a secret") as info:
            build(**bad)
        assert KEY[2:12] not in str(info.value) and "0123456789abcdef" not in str(info.value)
    with pytest.raises(TypeError, match="looks like a secret"):
        build(model_kwargs={"auth": KEY})


def test_model_kwargs_may_not_repeat_own_arguments_or_fixed_parts() -> None:
    with pytest.raises(ValueError, match="pass temperature= to ChatZeroG as its own argument"):
        build(model_kwargs={"temperature": 0.3})
    with pytest.raises(ValueError, match="sets 'messages' itself"):
        build(model_kwargs={"messages": []})
    with pytest.raises(ValueError, match="passed both"):
        build(seed=1, model_kwargs={"seed": 2})


def test_embeddings_keep_unknown_arguments_too() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embeddings = ZeroGEmbeddings(model="m", network="testnet", user="me", dimensons=8)
    assert embeddings.model_kwargs == {"user": "me", "dimensons": 8} and embeddings.dimensions is None
    assert "Did you mean dimensions=?" in str(caught[1].message)
    with pytest.raises(ValueError, match="sets 'input' itself"):
        ZeroGEmbeddings(model="m", model_kwargs={"input": ["x"]})


@pytest.mark.devnet
def test_moved_arguments_reach_the_provider(lc: LcNet) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_json = ChatZeroG(model=CHAT_MODEL, response_format={"type": "json_object"}, **lc.connection())
        two = ChatZeroG(model=CHAT_MODEL, provider=lc.address("lc-a"), n=2, **lc.connection())
    assert isinstance(json.loads(str(as_json.invoke("Reply with a JSON object: what is 2 + 3?").content)), dict)
    with pytest.raises(RequestRejectedError, match="n=2"):  # the scripted model serves n=1 only: it got n=2
        two.invoke(ASK)


# --------------------------------------------------------------------------- copies


def test_copies_get_their_own_client() -> None:
    llm, _ = build(private_key=KEY)
    original = llm.zerog_clients
    for copied in (llm.model_copy(), llm.model_copy(deep=True), copy.copy(llm), copy.deepcopy(llm)):
        assert copied.zerog_clients is not original
    assert llm.zerog_clients is original
    other = llm.model_copy(update={"private_key": "0x" + "cd" * 32, "api_key": "sk-0123456789", "timeout": 1})
    assert other.private_key is not None and other.private_key.get_secret_value() == "0x" + "cd" * 32
    assert "cd" * 8 not in repr(other) and other.router_api_key is not None and other.timeout == 1


def test_a_toolkit_copy_builds_its_own_tools() -> None:
    toolkit = ZeroGToolkit(network="testnet", private_key=KEY)
    tools = toolkit.get_tools()
    other = toolkit.model_copy(update={"private_key": "0x" + "cd" * 32})
    copied_tools = other.get_tools()
    assert {id(t) for t in copied_tools}.isdisjoint(id(t) for t in tools)
    assert all(t.zerog_clients is other.zerog_clients is not toolkit.zerog_clients for t in copied_tools)
    assert all(t.private_key is not None and t.private_key.get_secret_value() == "0x" + "cd" * 32 for t in copied_tools)


@pytest.mark.devnet
def test_a_copy_with_another_key_bills_that_wallet(lc: LcNet) -> None:
    second = lc.net.users[1]
    lc.net.fund(second, ["lc-a"], ledger=5 * G, each=2 * G)
    lc_a = lc.net.provider("lc-a")
    llm = ChatZeroG(model=CHAT_MODEL, provider=lc.address("lc-a"), **lc.connection())
    first = llm.invoke(ASK)  # the original's client exists now
    first_wallet = lc_a.unsettled(lc.net.users[0].address)
    assert first_wallet == first.response_metadata["zerog_fee"] > 0
    copied = llm.model_copy(update={"private_key": second.private_key})
    answer = copied.invoke(ASK)
    assert lc_a.unsettled(second.address) == answer.response_metadata["zerog_fee"] > 0
    assert lc_a.unsettled(lc.net.users[0].address) == first_wallet  # the first wallet paid nothing more
    llm.invoke(ASK)
    assert lc_a.unsettled(lc.net.users[0].address) > first_wallet  # and the original still bills it


@pytest.mark.devnet
def test_a_copy_with_another_timeout_uses_it(lc: LcNet) -> None:
    llm = ChatZeroG(model=CHAT_MODEL, provider=lc.address("lc-a"), timeout=30, deadline=3, **lc.connection())
    assert llm.invoke(ASK).content == "2 + 3 = 5"
    lc.net.provider("lc-a").faults.set(hang=True)
    with pytest.raises(DeadlineExceededError):  # the original: 30 s reads, cut by its 3 s deadline
        llm.invoke(ASK)
    quick = llm.model_copy(update={"timeout": 1, "deadline": 60})
    with pytest.raises(ProviderTimeoutError) as info:  # the copy: its own 1 s read timeout, well before 60 s
        quick.invoke(ASK)
    assert not isinstance(info.value, DeadlineExceededError)


# --------------------------------------------------------------------------- llm_output


@pytest.mark.devnet
def test_llm_output_carries_token_usage(lc: LcNet) -> None:
    llm = ChatZeroG(model=CHAT_MODEL, provider=lc.address("lc-a"), **lc.connection())
    one = llm.generate([[HumanMessage(ASK)]])
    usage = one.generations[0][0].message.usage_metadata  # type: ignore[attr-defined]
    assert one.llm_output is not None and one.llm_output["model_provider"] == "zerog"
    token_usage = one.llm_output["token_usage"]
    assert token_usage["prompt_tokens"] == usage["input_tokens"] > 0
    assert token_usage["completion_tokens"] == usage["output_tokens"] > 0
    assert token_usage["total_tokens"] == usage["total_tokens"]
    two = llm.generate([[HumanMessage(ASK)], [HumanMessage("say one two three")]])
    assert two.llm_output is not None
    summed = sum(g[0].message.usage_metadata["total_tokens"] for g in two.generations)  # type: ignore[attr-defined]
    assert two.llm_output["token_usage"]["total_tokens"] == summed
