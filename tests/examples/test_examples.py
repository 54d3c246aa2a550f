"""The examples run end to end on the devnet, and with DEBUG logging on nothing secret leaks."""

from __future__ import annotations

import logging
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from zerog_devnet import Devnet

pytestmark = pytest.mark.devnet
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.debug_records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.debug_records += record.levelno == logging.DEBUG
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def debug_logs() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.parametrize("example", ["langchain_agent.py", "llamaindex_rag.py"])
def test_example_on_the_devnet_leaks_no_secret(
    example: str,
    devnet: Devnet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    debug_logs: _Capture,
) -> None:
    user = devnet.users[0]
    devnet.fund(user, ["chat-a", "chat-b", "embed"])
    monkeypatch.setenv("ZG_NETWORK", "devnet")
    monkeypatch.setenv("ZG_DEVNET_FILE", str(devnet.write_description(tmp_path / "devnet.json")))
    monkeypatch.setenv("ZG_PRIVATE_KEY", user.private_key)
    runpy.run_path(str(EXAMPLES / example), run_name="__main__")
    out = capsys.readouterr()
    text = out.out + out.err + "\n".join(debug_logs.lines)
    assert "verified" in out.out  # the example printed its verdict
    assert debug_logs.debug_records > 0  # DEBUG logging really was on (httpx, httpcore, zerog...)
    key = user.private_key.lower().removeprefix("0x")
    assert key not in text.lower()
    assert "app-sk-" not in text
