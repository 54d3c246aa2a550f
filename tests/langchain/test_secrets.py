"""Secret hygiene: the wallet and Router keys never show in repr, serialisation, logs, errors or callback payloads."""

from __future__ import annotations

import logging
import os
import traceback
from typing import Any
from unittest import mock

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps, load

from langchain_zerog import (
    ChatZeroG,
    ZeroGBalanceTool,
    ZeroGEmbeddings,
    ZeroGImageGenerationTool,
    ZeroGToolkit,
    ZeroGTransferTool,
)

from .conftest import CHAT_MODEL, LcNet

OFFLINE_KEY = "0x" + "7e" * 32
ROUTER_KEY = "sk-router-secret-value"


def leaks(text: str, key: str) -> bool:
    bare = key.lower().removeprefix("0x")
    return bare in text.lower()


class Recorder(BaseCallbackHandler):
    """Keeps the repr of every argument of every callback."""

    def __init__(self) -> None:
        self.payloads: list[str] = []

    def _keep(self, *args: Any, **kwargs: Any) -> None:
        self.payloads.append(repr(args) + repr(kwargs))

    on_chat_model_start = on_llm_start = on_llm_new_token = on_llm_end = on_llm_error = _keep  # type: ignore[assignment]
    on_custom_event = on_chain_start = on_chain_end = on_chain_error = on_tool_start = on_tool_end = _keep  # type: ignore[assignment]


def offline_objects() -> list[Any]:
    common = {"private_key": OFFLINE_KEY, "api_key": ROUTER_KEY, "network": "testnet"}
    return [
        ChatZeroG(model="m", **common),
        ZeroGEmbeddings(model="e", **common),
        ZeroGImageGenerationTool(provider="0x" + "ab" * 20, **common),
        ZeroGBalanceTool(**common),
        ZeroGTransferTool(**common),
        ZeroGToolkit(allow_fund_transfers=True, **common),
    ]


@pytest.mark.parametrize("obj", offline_objects(), ids=lambda o: type(o).__name__)
def test_repr_str_and_dumps_hide_the_keys(obj: Any) -> None:
    shown = [repr(obj), str(obj), repr(obj.model_dump())]
    if not hasattr(obj, "args_schema"):  # a tool's args_schema is a class: pydantic cannot dump it as JSON
        shown.append(obj.model_dump_json())
    if hasattr(obj, "to_json"):
        shown += [dumps(obj), repr(dumpd(obj))]
    for text in shown:
        assert not leaks(text, OFFLINE_KEY) and ROUTER_KEY not in text


def test_serialisation_names_the_env_vars_instead() -> None:
    data = dumpd(ChatZeroG(model="m", private_key=OFFLINE_KEY, api_key=ROUTER_KEY))
    assert data["kwargs"]["private_key"] == {"lc": 1, "type": "secret", "id": ["ZG_PRIVATE_KEY"]}
    assert data["kwargs"]["router_api_key"] == {"lc": 1, "type": "secret", "id": ["ZG_ROUTER_API_KEY"]}


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_serialization_round_trip() -> None:
    model = ChatZeroG(model="m", network="testnet", temperature=0.2, private_key=OFFLINE_KEY)
    with mock.patch.dict(os.environ, {"ZG_PRIVATE_KEY": OFFLINE_KEY}):
        loaded = load(
            dumpd(model), valid_namespaces=["langchain_zerog"], allowed_objects=[ChatZeroG], secrets_from_env=True
        )
    assert isinstance(loaded, ChatZeroG) and dumpd(loaded) == dumpd(model)  # (asdict() only from langchain-core 1.5)
    assert loaded.private_key is not None and loaded.private_key.get_secret_value() == OFFLINE_KEY


def test_a_bad_key_is_not_echoed() -> None:
    bad = "0x" + "zz" * 32
    with pytest.raises(Exception) as info:
        ChatZeroG(model="m", private_key=bad, network="testnet").invoke("hi")
    assert "zz" * 8 not in str(info.value)


@pytest.mark.devnet
def test_logs_and_callbacks_never_carry_the_key(lc: LcNet, caplog: pytest.LogCaptureFixture) -> None:
    key = lc.net.users[0].private_key
    lc.net.provider("lc-a").faults.set(http_status=502)  # failover: errors and warnings get logged
    recorder = Recorder()
    llm = ChatZeroG(
        model=CHAT_MODEL, providers=[lc.address("lc-a"), lc.address("lc-b")], await_verification=True, **lc.connection()
    )
    config: Any = {"callbacks": [recorder]}
    with caplog.at_level(logging.DEBUG):
        msg = llm.invoke("What is 2 + 3?", config=config)
        list(llm.stream("What is 2 + 3?", config=config))
        llm.batch(["hello", "there"], config=config)
        with pytest.raises(Exception):  # noqa: B017 - any failure will do: its message must not leak
            llm.invoke("hello", model="no-such-model", config=config)
        logging.getLogger("probe").debug("model: %r", llm)
    assert msg.response_metadata["zerog_provider"] == lc.address("lc-b")
    assert recorder.payloads and caplog.records
    for text in [caplog.text, *recorder.payloads, repr(msg), repr(llm), dumps(llm)]:
        assert not leaks(text, key)


@pytest.mark.devnet
@pytest.mark.anyio
async def test_the_router_key_never_leaks(lc: LcNet, caplog: pytest.LogCaptureFixture) -> None:
    """Router mode over a real socket: requests, streams, server-side failover, errors, async, callbacks."""
    secret = lc.net.router.create_key()
    secrets = [secret, secret.removeprefix("sk-")]
    lc.net.provider("lc-a").faults.set(http_status=502)  # the Router fails over; errors get logged
    recorder = Recorder()
    config: Any = {"callbacks": [recorder]}
    connection = {**lc.router_connection(), "router_api_key": secret}
    llm = ChatZeroG(model=CHAT_MODEL, **connection)
    embeddings = ZeroGEmbeddings(model="zerog-devnet/scripted-embed", **connection)
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        msg = llm.invoke("What is 2 + 3?", config=config)
        chunks = list(llm.stream("What is 2 + 3?", config=config))
        llm.batch(["hello", "there"], config=config)
        await llm.ainvoke("hello", config=config)
        for trigger in (
            lambda: embeddings.embed_query("hello"),  # refused in Router mode (no documented /v1/embeddings)
            lambda: llm.invoke("hello", model="no-such-model", config=config),
            lambda: ChatZeroG(provider=lc.address("lc-a"), **connection).invoke("hello", config=config),
        ):
            try:
                trigger()
            except Exception as exc:
                errors.append(exc)
        lc.net.router.revoke(secret)
        try:
            llm.invoke("hello", config=config)
        except Exception as exc:
            errors.append(exc)
        logging.getLogger("probe").debug("model: %r %s %r", llm, llm, llm.zerog_clients.sync())
    assert msg.response_metadata["zerog_backend"] == "router" and len(errors) == 4
    assert recorder.payloads and caplog.records
    texts = [caplog.text, *recorder.payloads, repr(msg), repr(chunks), repr(llm), str(llm), dumps(llm)]
    texts += [
        repr(llm.model_dump()),
        repr(embeddings),
        dumps(embeddings),
        repr(llm.zerog_clients),
        repr(vars(llm.zerog_clients)),
    ]
    texts += [repr(vars(llm.zerog_clients.sync())), repr(llm.zerog_clients.sync()._router)]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error)), repr(vars(error))]
    for text in texts:
        for value in secrets:
            assert value not in text
    await llm.aclose()
