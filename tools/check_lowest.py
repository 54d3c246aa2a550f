"""Check that the "lowest versions" virtualenv really has the adapters' declared floors (``make test-lowest``).

Run with that virtualenv's Python: it reads each floor (``name>=X``) from the adapter's pyproject.toml and fails
unless the installed distribution is exactly ``X``, so a resolver change cannot silently test newer versions.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {
    "langchain-core": ROOT / "packages" / "langchain" / "pyproject.toml",
    "llama-index-core": ROOT / "packages" / "llamaindex" / "pyproject.toml",
}


def floor(name: str, pyproject: Path) -> str:
    """The ``>=`` bound of ``name`` in ``pyproject``'s dependencies."""
    found = re.search(rf'"{re.escape(name)}>=([0-9][0-9.]*)', pyproject.read_text())
    if found is None:
        raise SystemExit(f"{pyproject} declares no floor for {name}")
    return found.group(1)


def numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def main() -> int:
    wrong = []
    for name, pyproject in FLOORS.items():
        declared, installed = floor(name, pyproject), importlib.metadata.version(name)
        print(f"{name}: declared floor {declared}, installed {installed}")
        if numbers(declared) != numbers(installed):
            wrong.append(name)
    if wrong:
        print(f"not at their floors: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
