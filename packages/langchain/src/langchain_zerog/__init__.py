"""langchain-zerog: LangChain integration for the 0G Compute Network, built on ``zerog-compute``.

>>> from langchain_zerog import ChatZeroG
>>> llm = ChatZeroG(model="...", network="testnet")  # key from $ZG_PRIVATE_KEY; no I/O yet
>>> msg = llm.invoke("What is 2 + 3?")
>>> msg.response_metadata["zerog_provider"], msg.response_metadata["zerog_fee_0g"], llm.verdict(msg).verdict
>>> routed = ChatZeroG(model="...", router_api_key="sk-...")  # Router mode: the hosted 0G Router, same calls
"""

from .chat_models import ChatZeroG
from .embeddings import ZeroGEmbeddings
from .tools import (
    ZeroGBalanceTool,
    ZeroGImageGenerationTool,
    ZeroGProvidersTool,
    ZeroGSpeechToTextTool,
    ZeroGToolkit,
    ZeroGTransferTool,
)

__version__ = "0.1.0"

__all__ = [
    "ChatZeroG",
    "ZeroGBalanceTool",
    "ZeroGEmbeddings",
    "ZeroGImageGenerationTool",
    "ZeroGProvidersTool",
    "ZeroGSpeechToTextTool",
    "ZeroGToolkit",
    "ZeroGTransferTool",
    "__version__",
]
