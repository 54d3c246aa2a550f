"""LlamaIndex LLM for the 0G Compute Network: ``from llama_index.llms.zerog import ZeroG``."""

from .base import ZeroG

__version__ = "0.1.0"

__all__ = ["ZeroG", "__version__"]
