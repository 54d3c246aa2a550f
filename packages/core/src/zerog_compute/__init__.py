"""zerog-compute: the Python client for the 0G Compute Network.

>>> from zerog_compute import ZeroG
>>> zg = ZeroG(network="testnet")          # key from $ZG_PRIVATE_KEY
>>> zg.ledger.create("3")                   # 3 0G into the ledger
>>> zg.acknowledge(provider, amount="1")    # open a sub-account with 1 0G
>>> reply = zg.chat.completions.create(provider=provider, messages=[{"role": "user", "content": "hi"}])
>>> reply.zerog.fee_0g, reply.zerog.verdict().verdict

Router mode (the hosted 0G Router, no wallet needed), with the same calls:

>>> zg = ZeroG(router_api_key="sk-…")      # or $ZG_ROUTER_API_KEY
>>> zg.chat.completions.create(model="…", messages=[{"role": "user", "content": "hi"}])
"""

from .client import AsyncZeroG, ZeroG
from .errors import (
    BudgetExhaustedError,
    ChainError,
    ConfigurationError,
    ContractRevertError,
    InsufficientBalanceError,
    InvalidTokenError,
    LedgerError,
    LedgerNotFoundError,
    NetworkMismatchError,
    NotAcknowledgedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    StreamInterruptedError,
    VerificationError,
    ZeroGError,
)
from .ledger import LedgerInfo, SubAccount
from .networks import MAINNET, TESTNET, Network
from .router import RouterBalance, RouterModel, RouterProvider
from .services import ModelInfo, Service
from .types import (
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingsResponse,
    ImagesResponse,
    Transcription,
    ZeroGRecord,
)
from .verification import Verdict, VerificationResult

__version__ = "0.1.0"

__all__ = [
    "MAINNET",
    "TESTNET",
    "AsyncZeroG",
    "BudgetExhaustedError",
    "ChainError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ConfigurationError",
    "ContractRevertError",
    "EmbeddingsResponse",
    "ImagesResponse",
    "InsufficientBalanceError",
    "InvalidTokenError",
    "LedgerError",
    "LedgerInfo",
    "LedgerNotFoundError",
    "ModelInfo",
    "Network",
    "NetworkMismatchError",
    "NotAcknowledgedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "RequestRejectedError",
    "RouterBalance",
    "RouterModel",
    "RouterProvider",
    "Service",
    "ServiceNotFoundError",
    "StreamInterruptedError",
    "SubAccount",
    "Transcription",
    "Verdict",
    "VerificationError",
    "VerificationResult",
    "ZeroG",
    "ZeroGError",
    "ZeroGRecord",
    "__version__",
]
