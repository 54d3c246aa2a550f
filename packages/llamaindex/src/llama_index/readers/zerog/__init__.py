"""LlamaIndex reader for the 0G Compute Network: ``from llama_index.readers.zerog import ZeroGTranscriptionReader``."""

from .base import ZeroGTranscriptionReader

__all__ = ["ZeroGTranscriptionReader"]
