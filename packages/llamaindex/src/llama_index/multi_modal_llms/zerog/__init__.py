"""Legacy ``MultiModalLLM`` for 0G: ``from llama_index.multi_modal_llms.zerog import ZeroGMultiModal``."""

from .base import ZeroGMultiModal

__all__ = ["ZeroGMultiModal"]
