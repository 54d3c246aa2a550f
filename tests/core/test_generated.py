"""The sync resources are generated from the async ones (tools/gen_sync.py) and must not drift from them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gen_sync.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_sync = _load_generator()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False, cwd=ROOT)


def _sync(source: str) -> str:
    return str(gen_sync.generate(source, Path("pkg/_amod.py"), Path("pkg/_mod.py")))


def test_committed_sync_resources_are_what_the_async_ones_generate() -> None:
    done = _run("--check")
    assert done.returncode == 0, done.stderr
    sync = (ROOT / "packages/core/src/zerog_compute/_resources.py").read_text(encoding="utf-8")
    assert sync.startswith("# Generated from packages/core/src/zerog_compute/_aresources.py by tools/gen_sync.py")


def test_check_fails_when_either_twin_is_edited_by_hand(tmp_path: Path) -> None:
    source, target = tmp_path / "_amod.py", tmp_path / "_mod.py"
    source.write_text('"""Mod."""\n\n\nasync def get(client: AsyncClient) -> int:\n    return await client.get()\n')
    assert _run(str(source), str(target)).returncode == 0
    assert _run("--check", str(source), str(target)).returncode == 0
    assert "def get(client: Client) -> int:\n    return client.get()\n" in target.read_text()

    target.write_text(target.read_text() + "\nEXTRA = 1\n")
    done = _run("--check", str(source), str(target))
    assert done.returncode == 1
    assert "+++ generated" in done.stderr and "-EXTRA = 1" in done.stderr
    assert _run(str(source), str(target)).returncode == 0  # regenerating repairs it
    source.write_text(source.read_text().replace("int", "str"))
    assert _run("--check", str(source), str(target)).returncode == 1


def test_names_lose_their_async_prefix_and_dunders_their_a() -> None:
    sync = _sync(
        "from collections.abc import AsyncIterator\n\nimport httpx\n\n\n"
        "class AsyncPool:\n"
        "    async def __aenter__(self) -> AsyncPool:\n        return self\n\n"
        "    async def __aexit__(self, *exc: object) -> None:\n        await self.aclose()\n\n"
        "    async def aclose(self) -> None:\n        async with httpx.AsyncClient() as http:\n"
        "            async for line in (await http.get('x')).aiter_lines():\n                pass\n\n"
        "    async def lines(self) -> AsyncIterator[str]:\n        yield 'a'\n"
    )
    assert "class Pool:" in sync and "def __enter__(self) -> Pool:" in sync and "def __exit__(self" in sync
    assert "self.close()" in sync and "def close(self) -> None:" in sync
    assert "with httpx.Client() as http:" in sync and 'for line in (http.get("x")).iter_lines():' in sync
    assert "from collections.abc import Iterator" in sync and "-> Iterator[str]:" in sync
    code = sync.split("\n", 2)[2]  # below the header, which names the async source
    assert "async" not in code.lower() and "await" not in code


def test_to_thread_becomes_a_direct_call_and_asyncio_goes() -> None:
    sync = _sync(
        "import asyncio\n\nimport os\n\n\n"
        "async def size(path: str) -> int:\n"
        "    stat = await asyncio.to_thread(os.stat, path)  # off the event loop\n"
        "    empty = await asyncio.to_thread(list)\n"
        "    return stat.st_size + len(empty)\n"
    )
    assert "    stat = os.stat(path)\n    empty = list()\n" in sync
    assert "asyncio" not in sync and "event loop" not in sync

    split = _sync(
        "import asyncio\nimport os\n\n\nasync def size(path: str) -> int:\n"
        "    stat = await asyncio.to_thread(\n        os.stat,\n        path,\n    )\n    return stat.st_size\n"
    )
    assert "    stat = os.stat(\n        path,\n    )\n" in split


def test_comments_and_docstrings_follow_the_code() -> None:
    sync = _sync(
        '"""The asynchronous client: each call awaits a flow."""\n\n\n'
        "class AsyncZeroG:\n"
        '    """Use ``async with AsyncZeroG()`` or :meth:`aclose`."""  # see AsyncZeroG.aclose\n'
    )
    assert '"""The synchronous client: each call runs a flow."""' in sync
    assert '"""Use ``with ZeroG()`` or :meth:`close`."""  # see ZeroG.close' in sync


def test_generated_file_carries_the_do_not_edit_header_and_is_ruff_formatted() -> None:
    sync = _sync("async def f(\n    x: int,\n) -> int:\n    return await g(x)\n")
    assert sync.splitlines()[0] == "# Generated from pkg/_amod.py by tools/gen_sync.py — do not edit."
    assert "def f(\n    x: int,\n) -> int:\n    return g(x)\n" in sync  # magic trailing comma kept
    assert sync == _run_ruff_format(sync)


def _run_ruff_format(code: str) -> str:
    cmd = [sys.executable, "-m", "ruff", "format", "--stdin-filename", "pkg/_mod.py", "-"]
    return subprocess.run(cmd, input=code, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_async_constructs_without_a_rule_are_refused() -> None:
    with pytest.raises(gen_sync.GenerationError, match=r"asyncio left on line\(s\) \[1, 6\]"):
        _sync("import asyncio\n\n\nasync def nap() -> None:\n    # wait\n    await asyncio.sleep(1)\n")
    assert _run("--check", "only-one").returncode == 2
