"""LlamaIndex tools for the 0G Compute Network: ``from llama_index.tools.zerog import ZeroGToolSpec``."""

from .base import ZeroGToolSpec

__all__ = ["ZeroGToolSpec"]
