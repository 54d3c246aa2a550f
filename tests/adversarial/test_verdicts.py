"""A valid TEE signature over text that does not bind this exchange is never reported ``verified``.

The hostile provider signs, with its registered and acknowledged TEE key, texts that carry no hashes of the
exchange (or the wrong kind): ``warn`` returns the answer and logs the verdict, ``enforce`` refuses it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import pytest

from zerog_compute import AsyncZeroG, Verdict, VerificationError, ZeroG

from .conftest import Hostile
from .hostile import CHAT, SIGNATURE, completion, signed, sse

MESSAGES = [{"role": "user", "content": "hi"}]
FINGERPRINT = "cd" * 32


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


UNBOUND: dict[str, Callable[[bytes], str]] = {
    "plain text": lambda request: "hello",
    "request hash and junk": lambda request: f"{sha(request)}:junk",
    "routing proof with a junk response part": lambda request: f"{sha(request)}:junk:centralized:openai:{FINGERPRINT}",
    "e2ee-style tag": lambda request: f"zg-sig-v1/e2ee:{sha(request)}:{sha(completion())}",
}


def sign_with(hostile: Hostile, text_of: Callable[[bytes], str]) -> None:
    hostile.server.script(SIGNATURE, signed(hostile.server, hostile.tee_key, text_of))


def test_the_honest_form_is_verified(hostile: Hostile) -> None:
    """Control: the same provider, signing ``sha256(request):sha256(response)``, is verified."""
    sign_with(hostile, lambda request: f"{sha(request)}:{sha(completion())}")
    with ZeroG(private_key=hostile.private_key, network=hostile.network, verification="enforce") as zg:
        reply = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
    assert reply.zerog is not None and reply.zerog.verification is not None
    assert reply.zerog.verification.verdict is Verdict.verified and reply.zerog.verification.content_bound is True


@pytest.mark.parametrize("case", sorted(UNBOUND))
def test_unbound_text_is_signed_unbound_and_warned(
    hostile: Hostile, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_with(hostile, UNBOUND[case])
    with (
        caplog.at_level(logging.WARNING, logger="zerog_compute"),
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="warn") as zg,
    ):
        reply = zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)
        assert reply.zerog is not None
        result = reply.zerog.verdict(timeout=30)
    assert result is not None and result.verdict is Verdict.signed_unbound and not result.ok
    assert result.content_bound is None and result.recovered_signer == result.expected_signer
    assert any("signed_unbound" in record.getMessage() for record in caplog.records), caplog.text


@pytest.mark.parametrize("case", sorted(UNBOUND))
def test_unbound_text_is_refused_under_enforce(hostile: Hostile, case: str) -> None:
    sign_with(hostile, UNBOUND[case])
    with (
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="enforce") as zg,
        pytest.raises(VerificationError, match="signed_unbound"),
    ):
        zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)


def test_an_image_hash_list_on_a_chat_reply_is_a_mismatch(hostile: Hostile) -> None:
    sign_with(hostile, lambda request: f"{sha(request)}:{sha(b'img-0')},{sha(b'img-1')}")
    with (
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="enforce") as zg,
        pytest.raises(VerificationError, match="content_mismatch"),
    ):
        zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)


@pytest.mark.anyio
async def test_unbound_text_is_refused_under_enforce_async(hostile: Hostile) -> None:
    sign_with(hostile, UNBOUND["plain text"])
    async with AsyncZeroG(private_key=hostile.private_key, network=hostile.network, verification="enforce") as zg:
        with pytest.raises(VerificationError, match="signed_unbound"):
            await zg.chat.completions.create(messages=MESSAGES, provider=hostile.address)


def test_a_stream_signed_with_unbound_text_is_refused(hostile: Hostile) -> None:
    chunk = b'{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}]}'
    hostile.server.script(CHAT, sse(chunk, b"[DONE]"))
    sign_with(hostile, UNBOUND["request hash and junk"])
    with (
        ZeroG(private_key=hostile.private_key, network=hostile.network, verification="enforce") as zg,
        pytest.raises(VerificationError, match="signed_unbound"),
    ):
        list(zg.chat.completions.create(messages=MESSAGES, provider=hostile.address, stream=True))
