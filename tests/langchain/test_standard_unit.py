"""langchain-tests standard unit suites (offline): chat model, embeddings and tools."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests, ToolsUnitTests

from langchain_zerog import (
    ChatZeroG,
    ZeroGBalanceTool,
    ZeroGEmbeddings,
    ZeroGImageGenerationTool,
    ZeroGProvidersTool,
    ZeroGSpeechToTextTool,
    ZeroGTransferTool,
)

KEY = "0x" + "5a" * 32
PROVIDER = "0x" + "ab" * 20
OFFLINE = {"network": "testnet", "private_key": KEY}


class TestChatZeroGUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatZeroG]:
        return ChatZeroG

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "zerog-devnet/scripted-chat", "network": "testnet"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"ZG_PRIVATE_KEY": KEY}, {"model": "zerog-devnet/scripted-chat"}, {"private_key": KEY}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @pytest.mark.xfail(
        reason="langchain-core 1.8 load(allowed_objects='all') admits only the classes listed in "
        "langchain_core.load.mapping, and ChatZeroG (a new partner) is not listed there, so the reload "
        "step is refused by langchain-core. The dumpd snapshot step before it passes; "
        "test_secrets.py::test_serialization_round_trip reloads with allowed_objects=[ChatZeroG].",
        raises=ValueError,
        strict=True,
    )
    def test_serdes(self, model: BaseChatModel, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


class TestZeroGEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[ZeroGEmbeddings]:
        return ZeroGEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "zerog-devnet/scripted-embed", "network": "testnet"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"ZG_PRIVATE_KEY": KEY}, {"model": "zerog-devnet/scripted-embed"}, {"private_key": KEY}


class TestImageGenerationToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[ZeroGImageGenerationTool]:
        return ZeroGImageGenerationTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"provider": PROVIDER, **OFFLINE}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"prompt": "a red fox in the snow", "size": "64x64", "n": 1}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"ZG_PRIVATE_KEY": KEY}, {"provider": PROVIDER}, {"private_key": KEY}


class TestSpeechToTextToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[ZeroGSpeechToTextTool]:
        return ZeroGSpeechToTextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"provider": PROVIDER, **OFFLINE}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"file_path": "/tmp/clip.wav", "language": "en"}


class TestBalanceToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[ZeroGBalanceTool]:
        return ZeroGBalanceTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return dict(OFFLINE)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {}


class TestProvidersToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[ZeroGProvidersTool]:
        return ZeroGProvidersTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return dict(OFFLINE)

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"service_type": "chatbot", "model": "zerog-devnet/scripted-chat"}


class TestTransferToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[ZeroGTransferTool]:
        return ZeroGTransferTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"max_transfer": "0.5", **OFFLINE}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"provider": PROVIDER, "amount": "0.25"}
