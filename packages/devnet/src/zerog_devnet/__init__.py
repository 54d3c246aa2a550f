"""zerog-devnet: a real local 0G Compute Network for tests, examples and demos.

``Devnet.start()`` runs anvil with the official 0G contracts (read from the installed npm
packages), registers providers on chain and serves each with a Python implementation of the
provider broker protocol, backed by a deterministic scripted model or any OpenAI-compatible
upstream.
"""

from .accounts import DevAccount
from .broker.timing import PRODUCTION, TimingProfile
from .chain import Contracts
from .errors import (
    AnvilNotFound,
    AnvilStartError,
    ConfigError,
    DeploymentError,
    DevnetError,
    NodeModulesMissing,
    PortInUse,
)
from .network import DEFAULT_PROVIDERS, Devnet, ProviderHandle, ProviderInfo, ProviderSpec

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PROVIDERS",
    "AnvilNotFound",
    "AnvilStartError",
    "ConfigError",
    "Contracts",
    "DeploymentError",
    "DevAccount",
    "Devnet",
    "DevnetError",
    "NodeModulesMissing",
    "PRODUCTION",
    "PortInUse",
    "ProviderHandle",
    "ProviderInfo",
    "ProviderSpec",
    "TimingProfile",
    "__version__",
]
