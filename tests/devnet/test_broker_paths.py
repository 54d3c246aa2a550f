"""``/v1/proxy/*`` route classification (provider-protocol §2.1)."""

from __future__ import annotations

import pytest

from zerog_devnet.broker.paths import (
    UNSUPPORTED_ENDPOINT_ERROR,
    classify,
    image_ref,
    normalize,
    signature_chat_id,
)


@pytest.mark.parametrize(
    ("path", "kind", "normalized"),
    [
        ("/v1/proxy/chat/completions", "billed", "/chat/completions"),
        ("/v1/proxy/v1/chat/completions", "billed", "/chat/completions"),
        ("/v1/proxy/chat/completions/", "billed", "/chat/completions"),
        ("/v1/proxy/chat/completions?x=1", "billed", "/chat/completions"),
        ("/v1/proxy/chat/completions//", "billed", "/chat/completions"),
        ("/v1/proxy/messages", "billed", "/messages"),
        ("/v1/proxy/v1/messages", "billed", "/messages"),
        ("/v1/proxy/v1/v1/messages", "billed", "/v1/messages"),
        ("/v1/proxy/images/generations", "billed", "/images/generations"),
        ("/v1/proxy/images/edits", "billed", "/images/edits"),
        ("/v1/proxy/audio/transcriptions", "billed", "/audio/transcriptions"),
        ("/v1/proxy/embeddings", "billed", "/embeddings"),
        ("/v1/proxy/videos", "billed", "/videos"),
        ("/v1/proxy/videos/", "billed", "/videos"),
        ("/v1/proxy/videos/job-1", "auth_only", "/videos/job-1"),
        ("/v1/proxy/videos/job-1/content", "auth_only", "/videos/job-1/content"),
        ("/v1/proxy/signature/abc", "signature", "/signature/abc"),
        ("/v1/proxy/v1/signature/abc", "signature", "/signature/abc"),
        ("/v1/proxy/Signature/ABC?model=m", "signature", "/Signature/ABC"),
        ("/v1/proxy/signature", "free", "/signature"),
        ("/v1/proxy/signatures", "free", "/signatures"),
        ("/v1/proxy/attestation/report?model=m", "free", "/attestation/report"),
        ("/v1/proxy/images/key-1/0", "image", "/images/key-1/0"),
        ("/v1/proxy/images/key-1", "unsupported", "/images/key-1"),
        ("/v1/proxy/IMAGES/key-1/0", "unsupported", "/IMAGES/key-1/0"),
        ("/v1/proxy/Chat/Completions", "unsupported", "/Chat/Completions"),
        ("/v1/proxy/models", "unsupported", "/models"),
        ("/v1/proxy/v1/models", "unsupported", "/models"),
        ("/v1/proxy/completions", "unsupported", "/completions"),
        ("/v1/proxy", "unsupported", ""),
        ("/v1/proxy/", "unsupported", "/"),
        ("/v1/proxy/v1", "unsupported", "/"),
        ("/chat/completions", "billed", "/chat/completions"),
    ],
)
def test_classify(path: str, kind: str, normalized: str) -> None:
    assert classify(path) == (kind, normalized)


def test_normalize_keeps_a_single_slash() -> None:
    assert normalize("/v1/proxy/") == "/"


def test_image_ref() -> None:
    assert image_ref("/images/key-1/0") == ("key-1", "0")
    assert image_ref("/images/key-1/0/extra") == ("key-1", "0/extra")
    assert image_ref("/images//0") is None
    assert image_ref("/images/key-1") is None


@pytest.mark.parametrize(
    ("path", "chat_id"),
    [
        ("/v1/proxy/signature/ABC-def", "abc-def"),
        ("/v1/proxy/signature/abc?model=m", "abc"),
        ("/signature/abc", "abc"),
        ("/v1/proxy/signature/abc/", "abc/"),  # the broker looks up the raw remainder
        ("/v1/proxy/v1/signature/abc", "/v1/signature/abc"),
    ],
)
def test_signature_chat_id(path: str, chat_id: str) -> None:
    assert signature_chat_id(path) == chat_id


def test_unsupported_message() -> None:
    assert UNSUPPORTED_ENDPOINT_ERROR == "unsupported endpoint: endpoint not supported"
