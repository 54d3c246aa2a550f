"""LlamaIndex embeddings for the 0G Compute Network: ``from llama_index.embeddings.zerog import ZeroGEmbedding``."""

from .base import ZeroGEmbedding

__all__ = ["ZeroGEmbedding"]
