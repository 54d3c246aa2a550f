"""Secret hygiene: the private key never appears in repr, serialisation, pickles, logs or events."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import llama_index.core.instrumentation as instrument
import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.zerog import ZeroGEmbedding
from llama_index.llms.zerog import ZeroG
from llama_index.multi_modal_llms.zerog import ZeroGMultiModal

from .conftest import Kit

pytestmark = pytest.mark.devnet
ASK = [ChatMessage(role="user", content="What is 2 + 3?")]


def forms(key: str) -> list[str]:
    bare = key.removeprefix("0x").lower()
    return [bare, bare.upper(), bare[:24], bare[-24:]]


def assert_clean(text: str, key: str) -> None:
    for form in forms(key):
        assert form not in text


EVENTS: list[BaseEvent] = []


class Recorder(BaseEventHandler):
    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        EVENTS.append(event)


def multiply(a: int, b: int) -> int:
    """Multiply two integers a and b."""
    return a * b


def dump(component: Any) -> str:
    return "\n".join(
        [repr(component), str(component), json.dumps(component.to_dict(), default=str), component.to_json()]
    )


def test_key_is_not_in_repr_serialisation_or_pickles(kit: Kit) -> None:
    components: list[Any] = [
        kit.llm(),
        kit.embedding(),
        kit.multimodal(),
        kit.tools(allow_funding=True),
        kit.reader(),
    ]
    components[0].chat(ASK)  # built clients must not leak either
    components[1].get_text_embedding("hello")
    for component in components:
        text = repr(component) + str(component) + repr(vars(component))
        if hasattr(component, "to_dict"):
            text += dump(component)
            assert "private_key" not in component.to_dict()
        assert_clean(text, kit.key)
    for component in components[:3]:
        blob = pickle.dumps(component)
        assert_clean(blob.hex(), kit.key)
        assert kit.key.removeprefix("0x").encode() not in blob
    assert "private_key" not in ZeroG.model_json_schema()["properties"]
    assert_clean(json.dumps(ZeroG.model_json_schema()), kit.key)


def test_round_trip_needs_the_key_and_the_rpc_url_again(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    for cls, component in ((ZeroG, kit.llm()), (ZeroGEmbedding, kit.embedding()), (ZeroGMultiModal, kit.multimodal())):
        data = component.to_dict()
        assert "rpc_url" not in data and kit.net.rpc_url not in json.dumps(data)  # RPC URLs often embed API keys
        restored = cls.from_dict(data, private_key=kit.key, rpc_url=kit.net.rpc_url)
        assert restored.to_dict() == data
    monkeypatch.setenv("ZG_PRIVATE_KEY", kit.key)
    monkeypatch.setenv("ZG_RPC_URL", kit.net.rpc_url)
    restored_llm = ZeroG.from_json(kit.llm().to_json())  # key from the environment
    assert restored_llm.chat(ASK).message.content == "2 + 3 = 5"
    restored_llm.close()
    unpickled = pickle.loads(pickle.dumps(kit.llm()))
    assert unpickled.chat(ASK).message.content == "2 + 3 = 5"
    unpickled.close()


def test_key_is_not_in_logs_or_events(kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    debug = LlamaDebugHandler()
    recorder = Recorder()
    EVENTS.clear()
    dispatcher = instrument.get_dispatcher()
    dispatcher.add_event_handler(recorder)
    try:
        llm = kit.llm(callback_manager=CallbackManager([debug]), await_verification=True)
        llm.chat(ASK)
        list(llm.stream_chat(ASK))
        llm.complete("What is 1 + 1?")
        llm.predict_and_call([FunctionTool.from_defaults(fn=multiply)], user_msg="multiply 2 by 3")
        kit.embedding(callback_manager=CallbackManager([debug])).get_text_embedding_batch(["a b", "c d"])
        kit.multimodal().complete("What is 2 + 2?")
    finally:
        dispatcher.event_handlers.remove(recorder)
    assert len(EVENTS) > 5 and debug.get_llm_inputs_outputs()
    assert_clean(caplog.text, kit.key)
    for event in EVENTS:
        assert_clean(event.model_dump_json(), kit.key)
        assert_clean(repr(event), kit.key)
    for pair in debug.get_llm_inputs_outputs():
        for item in pair:
            assert_clean(json.dumps(item.payload, default=repr), kit.key)
    if hasattr(ZeroG, "to_payload"):  # llama-index-core >= 0.14.x; older ones put the class name in events
        payload = kit.llm().to_payload()
        assert "private_key" not in payload and "rpc_url" not in payload
