"""A long document through LlamaIndex's ``SentenceSplitter``: its nltk tokenizer data must open in our venv.

nltk refuses multiply-linked files, and uv hard-links packages from its cache unless told to copy
(``[tool.uv] link-mode = "copy"`` in pyproject.toml; ``make install`` repairs older venvs).
"""

from __future__ import annotations

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter


def test_sentence_splitter_splits_a_long_document() -> None:
    sentences = [f"Dr. Lee wrote note {i} about the 0G network." for i in range(1500)]
    nodes = SentenceSplitter(chunk_size=128, chunk_overlap=16).get_nodes_from_documents(
        [Document(text=" ".join(sentences))]
    )
    assert len(nodes) > 50
    assert all(node.get_content().endswith(".") for node in nodes)  # cut at sentence ends, "Dr." kept inside
    assert "note 1499 about" in nodes[-1].get_content()
