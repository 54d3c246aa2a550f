"""The LangChain agent example runs end to end on its own in-process devnet."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.devnet
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_agent.py"


def test_agent_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZG_NETWORK", raising=False)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "tool calls: multiply({'a': 6, 'b': 7}), zerog_balance({})" in out
    assert "Tool result (multiply): 42" in out and "Tool result (zerog_balance):" in out
    assert "TEE verification: verified" in out and "fee for the 2 model calls:" in out
