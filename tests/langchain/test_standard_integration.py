"""langchain-tests standard integration suites against the devnet's scripted model.

Every standard test runs. The ones that cannot say anything about this integration are skipped with
the reason written in ``SKIPS`` (the capability the scripted model lacks); none is skipped because
``langchain-zerog`` lacks a feature. The image tests fetch a picture from the internet, which this
environment cannot reach: the fetch is served locally with a generated PNG instead, and the picture
then really travels through ChatZeroG to the provider (the scripted model answers "I see 1 image").
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    ToolsIntegrationTests,
)

from langchain_zerog import (
    ChatZeroG,
    ZeroGBalanceTool,
    ZeroGEmbeddings,
    ZeroGImageGenerationTool,
    ZeroGProvidersTool,
    ZeroGSpeechToTextTool,
    ZeroGTransferTool,
)
from zerog_devnet.media import silent_wav as _wav

from .conftest import ALT_MODEL, CHAT_MODEL, EMBED_MODEL, LcNet, current

pytestmark = [pytest.mark.devnet, pytest.mark.anyio]

SKIPS = {
    "test_pdf_inputs": "the scripted model cannot read files: it ignores `file` content parts (PDF input is a "
    "capability of the serving model; ChatZeroG forwards the parts as OpenAI `file` parts)",
    "test_pdf_tool_message": "the scripted model cannot read files: it ignores `file` parts, in tool messages too",
    "test_audio_inputs": "the scripted model cannot hear: it ignores `input_audio` parts (ChatZeroG forwards them)",
    "test_stream_time": "a VCR benchmark: devnet responses are signed per run (chat ids, ports, signatures), so "
    "a recorded cassette cannot be replayed against them",
}
IMAGE_URL_PREFIX = "https://raw.githubusercontent.com/langchain-ai/docs/"


def _png(width: int = 8, height: int = 8) -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes([(x * 32) % 256, (y * 32) % 256, 128]) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(autouse=True)
def _standard_setup(lc_net: LcNet, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our written skip reasons, and the image download served locally."""
    reason = SKIPS.get(request.node.originalname)
    if reason:
        pytest.skip(reason)
    real_get = httpx.get

    def get(url: str, *args: Any, **kwargs: Any) -> Any:
        if str(url).startswith(IMAGE_URL_PREFIX):
            return httpx.Response(200, content=_png(), request=httpx.Request("GET", url))
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(httpx, "get", get)


class TestChatZeroGIntegration(ChatModelIntegrationTests):
    """Model discovery mode: the pool finds lc-a, lc-b and lc-c for CHAT_MODEL, lc-alt for ALT_MODEL."""

    @property
    def chat_model_class(self) -> type[ChatZeroG]:
        return ChatZeroG

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": CHAT_MODEL, **current().connection()}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return ALT_MODEL


class TestZeroGEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[ZeroGEmbeddings]:
        return ZeroGEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": EMBED_MODEL, "chunk_size": 2, **current().connection()}


@pytest.fixture(scope="module")
def wav_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    path.write_bytes(_wav(1.5))
    yield path


WAV: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _wav_path(wav_file: Path) -> None:
    WAV["path"] = wav_file


class TestImageGenerationToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[ZeroGImageGenerationTool]:
        return ZeroGImageGenerationTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"provider": current().address("lc-image"), **current().connection()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"prompt": "a red fox in the snow", "size": "32x32", "n": 1}


class TestSpeechToTextToolIntegration(ToolsIntegrationTests):
    """No provider given: every speech-to-text provider of the network is a candidate."""

    @property
    def tool_constructor(self) -> type[ZeroGSpeechToTextTool]:
        return ZeroGSpeechToTextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return dict(current().connection())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"file_path": str(WAV["path"])}


class TestBalanceToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[ZeroGBalanceTool]:
        return ZeroGBalanceTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return dict(current().connection())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {}


class TestProvidersToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[ZeroGProvidersTool]:
        return ZeroGProvidersTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return dict(current().connection())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"service_type": "chatbot", "model": CHAT_MODEL}


class TestTransferToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[ZeroGTransferTool]:
        return ZeroGTransferTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"max_transfer": "0.01", **current().connection()}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"provider": current().address("lc-c"), "amount": "0.001"}


def test_png_helper_is_a_png() -> None:
    assert base64.b64encode(_png()).startswith(b"iVBORw0KGgo")
