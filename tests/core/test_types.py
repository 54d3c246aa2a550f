"""Result models (zerog_compute.types): lenient parsing, the ZeroGRecord and its verdict helpers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import typing
from decimal import Decimal
from typing import Any

import pytest

from zerog_compute.errors import ConfigurationError
from zerog_compute.types import (
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingsResponse,
    ImagesResponse,
    Transcription,
    Usage,
    ZeroGRecord,
)
from zerog_compute.verification import Verdict, VerificationResult
from zerog_devnet.scripted import chat_completion, chat_completion_chunks, embed, generate_images, transcribe

MODEL = "scripted-test-model"


def record(**extra: Any) -> ZeroGRecord:
    return ZeroGRecord(provider="0xP", model=MODEL, chat_id="chat-1", fee=1_500_000_000_000_000, **extra)


def test_chat_completion_round_trip() -> None:
    raw = chat_completion({"model": MODEL, "messages": [{"role": "user", "content": "2 + 2?"}]}, model=MODEL)
    completion = ChatCompletion.model_validate(raw)
    assert completion.choices[0].message.content == "2 + 2 = 4"
    assert completion.usage is not None and completion.usage.total_tokens == raw["usage"]["total_tokens"]
    dumped = completion.model_dump(exclude={"zerog"})
    assert dumped == {
        **raw,
        "choices": [
            {
                **raw["choices"][0],
                "message": {**raw["choices"][0]["message"], "tool_calls": None, "reasoning_content": None},
            }
        ],
        "usage": {**raw["usage"], "prompt_tokens_details": None, "completion_tokens_details": None},
    }


def test_chunks_parse() -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    chunks = [ChatCompletionChunk.model_validate(c) for c in chat_completion_chunks(body, model=MODEL)]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_tool_calls_parse() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
        },
    }
    raw = chat_completion({"messages": [{"role": "user", "content": "add 1 and 2"}], "tools": [tool]}, model=MODEL)
    message = ChatCompletion.model_validate(raw).choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "add"
    assert json.loads(message.tool_calls[0].function.arguments) == {"a": 1, "b": 2}


def test_unknown_fields_are_kept_and_missing_ones_defaulted() -> None:
    completion = ChatCompletion.model_validate(
        {"id": "x", "choices": [{"message": {"content": "hi", "annotations": []}}], "service_tier": "default"}
    )
    assert completion.model_dump()["service_tier"] == "default"
    assert completion.choices[0].message.model_dump()["annotations"] == []
    assert completion.choices[0].message.role == "assistant"
    assert completion.usage is None and completion.zerog is None


def test_usage_null_counters() -> None:
    usage = Usage.model_validate({"prompt_tokens": 4, "completion_tokens": None, "prompt_tokens_details": {"x": 1}})
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 0, 0)
    assert usage.prompt_tokens_details == {"x": 1}


def test_images_transcription_embeddings() -> None:
    images = ImagesResponse.model_validate(generate_images({"prompt": "a cat", "n": 2}, model=MODEL))
    assert len(images.data) == 2 and images.data[0].b64_json and images.data[0].revised_prompt == "a cat"
    text = Transcription.model_validate(
        transcribe(b"\0" * 32000, filename="a.wav", model=MODEL, response_format="verbose_json")
    )
    assert text.text.startswith("scripted transcript of a.wav") and text.usage == {"type": "duration", "seconds": 2}
    assert text.language == "en" and text.duration is not None and text.segments
    vectors = EmbeddingsResponse.model_validate(embed({"input": ["a b", "c"]}, model=MODEL, dimensions=8))
    assert [e.index for e in vectors.data] == [0, 1]
    assert isinstance(vectors.data[0].embedding, list) and len(vectors.data[0].embedding) == 8
    assert vectors.usage is not None and vectors.usage.completion_tokens == 0
    b64 = EmbeddingsResponse.model_validate(embed({"input": "a", "encoding_format": "base64"}, model=MODEL))
    assert isinstance(b64.data[0].embedding, str)


def test_record_fee_and_dump() -> None:
    rec = record(input_tokens=3, output_tokens=4, verification_future=concurrent.futures.Future())
    assert rec.fee_0g == Decimal("0.0015")
    dumped = rec.model_dump()
    assert "verification_future" not in dumped
    assert dumped["fee"] == 1_500_000_000_000_000 and dumped["service_type"] == "chatbot"
    assert "verification_future" not in repr(rec)
    completion = ChatCompletion(id="x", zerog=rec)
    assert completion.model_dump()["zerog"]["provider"] == "0xP"
    assert json.loads(completion.model_dump_json())["zerog"]["chat_id"] == "chat-1"


def test_verdict_without_verification() -> None:
    rec = record()
    assert rec.verdict() is None
    assert asyncio.run(rec.averdict()) is None


def test_verdict_waits_for_a_thread_future() -> None:
    future: concurrent.futures.Future[str] = concurrent.futures.Future()
    rec = record(verification_future=future)
    threading.Timer(0.05, future.set_result, ("verified",)).start()
    assert rec.verdict(timeout=5) == "verified"
    assert rec.verification == "verified"
    assert rec.verdict() == "verified"


def test_verdict_timeout_and_error() -> None:
    future: concurrent.futures.Future[str] = concurrent.futures.Future()
    rec = record(verification_future=future)
    with pytest.raises(TimeoutError):
        rec.verdict(timeout=0.01)
    future.set_exception(RuntimeError("signature fetch failed"))
    with pytest.raises(RuntimeError, match="signature fetch failed"):
        rec.verdict()
    assert rec.verification is None


def test_averdict_with_thread_future() -> None:
    future: concurrent.futures.Future[str] = concurrent.futures.Future()
    rec = record(verification_future=future)

    async def main() -> Any:
        asyncio.get_running_loop().call_later(0.02, future.set_result, "ok")
        return await rec.averdict()

    assert asyncio.run(main()) == "ok"
    assert rec.verification == "ok"


def test_averdict_with_asyncio_future_and_sync_verdict_on_loop() -> None:
    async def main() -> tuple[Any, Any]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        rec = record(verification_future=future)
        with pytest.raises(ConfigurationError, match="averdict"):
            rec.verdict()
        asyncio.get_running_loop().call_later(0.02, future.set_result, "ok")
        first = await rec.averdict()
        fresh = record(verification_future=future)
        return first, fresh.verdict()  # done now: the sync helper returns it

    assert asyncio.run(main()) == ("ok", "ok")


def test_averdict_cancellation_does_not_cancel_the_verification() -> None:
    async def main() -> bool:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        rec = record(verification_future=future)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(rec.averdict(), 0.01)
        return future.cancelled()

    assert asyncio.run(main()) is False


def test_verification_is_typed() -> None:
    assert ZeroGRecord.model_fields["verification"].annotation == VerificationResult | None
    for method in (ZeroGRecord.verdict, ZeroGRecord.averdict):
        assert typing.get_type_hints(method)["return"] == VerificationResult | None


def test_verification_serialises_and_round_trips() -> None:
    result = VerificationResult(verdict=Verdict.verified, chat_id="chat-1", provider="0xP", content_bound=True)
    rec = record(verification=result)
    assert rec.model_dump(mode="json")["verification"]["verdict"] == "verified"
    again = ZeroGRecord.model_validate_json(rec.model_dump_json())
    assert again.verification == result and isinstance(again.verification, VerificationResult)
    completion = ChatCompletion.model_validate_json(ChatCompletion(id="x", zerog=rec).model_dump_json())
    assert completion.zerog is not None and completion.zerog.verdict() == result
    assert record(verification={"verdict": "skipped"}).verification == VerificationResult(verdict=Verdict.skipped)
