"""llama-index-zerog: LlamaIndex integration for the 0G Compute Network."""

__version__ = "0.1.0"

__all__ = ["__version__"]
