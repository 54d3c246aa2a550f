"""Requests through zerog-compute to devnet providers: results, records, fees, verification."""

from __future__ import annotations

from typing import Any

import pytest

from zerog_compute import (
    AsyncZeroG,
    ConfigurationError,
    NotAcknowledgedError,
    RequestRejectedError,
    Verdict,
    VerificationError,
    ZeroG,
)
from zerog_devnet import Devnet
from zerog_devnet.media import silent_wav as _wav

from .conftest import devnet_network, expected_chat_fee, provider

pytestmark = pytest.mark.devnet
ASK = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture
def funded(devnet: Devnet) -> Devnet:
    devnet.fund(devnet.users[0], ["chat-a", "chat-b", "image", "speech", "embed"])
    return devnet


def test_chat_completion_has_a_verified_record(zg: ZeroG, funded: Devnet) -> None:
    reply = zg.chat.completions.create(provider=provider(funded), messages=ASK)
    assert reply.choices[0].message.content == "2 + 3 = 5"
    record = reply.zerog
    assert record is not None
    assert record.provider == provider(funded) and record.model == funded.provider("chat-a").info.model
    assert record.chat_id and reply.id == f"chatcmpl-{record.chat_id}"
    assert record.fee == expected_chat_fee(funded, reply.usage) > 0
    assert record.fee == funded.provider("chat-a").unsettled(zg.address)  # what the provider will settle
    result = record.verdict(timeout=10)
    assert result.verdict is Verdict.verified and result.content_bound is True


def test_warm_requests_make_no_rpc(zg: ZeroG, funded: Devnet) -> None:
    zg.chat.completions.create(provider=provider(funded), messages=ASK)
    before = zg.rpc_calls
    for _ in range(3):
        zg.chat.completions.create(provider=provider(funded), messages=ASK)
    assert zg.rpc_calls == before


def test_stream_yields_chunks_and_a_final_record(zg: ZeroG, funded: Devnet) -> None:
    chunks = list(zg.chat.completions.create(provider=provider(funded), messages=ASK, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "2 + 3 = 5"
    assert len(chunks) >= 4
    final = chunks[-1]
    assert final.usage is not None and final.zerog is not None
    assert all(c.zerog is None for c in chunks[:-1])
    assert final.zerog.fee == expected_chat_fee(funded, final.usage)
    assert final.zerog.verdict(timeout=10).verdict is Verdict.verified


def test_enforce_raises_on_a_bad_signature(devnet: Devnet, funded: Devnet) -> None:
    funded.provider("chat-a").faults.set(wrong_signature=True)
    key, network = devnet.users[0].private_key, devnet_network(devnet)
    with (
        ZeroG(private_key=key, network=network, verification="enforce") as zg,
        pytest.raises(VerificationError, match="invalid_signature"),
    ):
        zg.chat.completions.create(provider=provider(funded), messages=ASK)


@pytest.mark.parametrize(
    ("fault", "verdict"),
    [("sign_other_content", Verdict.content_mismatch), ("missing_res_key", Verdict.unavailable)],
)
def test_warn_flags_bad_responses_without_raising(zg: ZeroG, funded: Devnet, fault: str, verdict: Verdict) -> None:
    funded.provider("chat-a").faults.set(**{fault: True})
    reply = zg.chat.completions.create(provider=provider(funded), messages=ASK)
    assert reply.zerog is not None and reply.zerog.verdict(timeout=10).verdict is verdict


def test_verification_off(devnet: Devnet, funded: Devnet) -> None:
    with ZeroG(private_key=devnet.users[0].private_key, network=devnet_network(devnet), verification="off") as zg:
        reply = zg.chat.completions.create(provider=provider(funded), messages=ASK)
    assert reply.zerog is not None and reply.zerog.verdict().verdict is Verdict.skipped


def test_explicit_verify_and_attestation(zg: ZeroG, funded: Devnet) -> None:
    reply = zg.chat.completions.create(provider=provider(funded), messages=ASK)
    assert reply.zerog is not None and reply.zerog.chat_id is not None
    assert zg.verify(provider(funded), reply.zerog.chat_id).verdict is Verdict.verified
    report = zg.attestation(provider(funded))
    assert report.matches


def test_no_sub_account_is_a_clear_error(zg: ZeroG, funded: Devnet) -> None:
    with pytest.raises(NotAcknowledgedError, match="zg.acknowledge"):
        zg.chat.completions.create(provider=provider(funded, "chat-c"), messages=ASK)


def test_wrong_service_type_and_unknown_model(zg: ZeroG, funded: Devnet) -> None:
    with pytest.raises(ConfigurationError, match="text-to-image"):
        zg.chat.completions.create(provider=provider(funded, "image"), messages=ASK)
    with pytest.raises(RequestRejectedError, match="model not supported"):
        zg.chat.completions.create(provider=provider(funded), messages=ASK, model="gpt-4")


def test_images(zg: ZeroG, funded: Devnet) -> None:
    result = zg.images.generate(provider=provider(funded, "image"), prompt="a red fox", n=2, size="32x32")
    assert len(result.data) == 2 and result.data[0].b64_json
    assert result.zerog is not None and result.zerog.fee == 2 * funded.provider("image").info.output_price
    verdict = result.zerog.verdict(timeout=10)
    assert verdict.verdict is Verdict.verified and verdict.content_bound is True


def test_transcription(zg: ZeroG, funded: Devnet) -> None:
    result = zg.audio.transcriptions.create(provider=provider(funded, "speech"), file=("clip.wav", _wav(2.0)))
    assert "clip.wav" in result.text
    assert result.zerog is not None and result.zerog.fee == 2 * funded.provider("speech").info.input_price
    assert result.zerog.verdict(timeout=10).verdict is Verdict.verified


def test_embeddings(zg: ZeroG, funded: Devnet) -> None:
    result = zg.embeddings.create(provider=provider(funded, "embed"), input=["the cat sat", "a dog ran"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert result.usage is not None and result.zerog is not None
    assert result.zerog.fee == result.usage.prompt_tokens * funded.provider("embed").info.input_price


@pytest.mark.anyio
async def test_async_requests(azg: AsyncZeroG, funded: Devnet) -> None:
    reply = await azg.chat.completions.create(provider=provider(funded), messages=ASK)
    assert reply.choices[0].message.content == "2 + 3 = 5"
    assert reply.zerog is not None and (await reply.zerog.averdict()).verdict is Verdict.verified
    chunks: list[Any] = [
        c async for c in await azg.chat.completions.create(provider=provider(funded), messages=ASK, stream=True)
    ]
    assert chunks[-1].zerog is not None and chunks[-1].zerog.fee > 0
    images = await azg.images.generate(provider=provider(funded, "image"), prompt="x", size="16x16")
    assert images.zerog is not None
    embeddings = await azg.embeddings.create(provider=provider(funded, "embed"), input="hello")
    assert embeddings.zerog is not None
    transcript = await azg.audio.transcriptions.create(provider=provider(funded, "speech"), file=("a.wav", _wav(1.0)))
    assert transcript.zerog is not None
    assert (await azg.attestation(provider(funded))).matches


def test_images_as_urls_are_downloaded_and_verified(zg: ZeroG, funded: Devnet) -> None:
    result = zg.images.generate(provider=provider(funded, "image"), prompt="a fox", size="16x16", response_format="url")
    assert result.data[0].url and result.zerog is not None
    verdict = result.zerog.verdict(timeout=10)
    assert verdict.verdict is Verdict.verified and verdict.content_bound is True
