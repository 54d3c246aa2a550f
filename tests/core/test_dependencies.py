"""zerog-compute declares what it imports, and importing it stays light (no web3, aiohttp, websockets)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

CORE = Path(__file__).resolve().parents[2] / "packages" / "core"
HEAVY = ("web3", "aiohttp", "websockets")


def loaded_modules(*modules: str) -> list[str]:
    """The modules a fresh interpreter has loaded after importing ``modules``."""
    code = f"import json, sys\nimport {', '.join(modules)}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return list(json.loads(result.stdout))


@pytest.mark.parametrize("modules", [("zerog_compute",), ("zerog_compute.cli", "zerog_compute.cli.app")])
def test_import_loads_no_web3(modules: tuple[str, ...]) -> None:
    loaded = loaded_modules(*modules)
    assert set(modules) <= set(loaded)
    heavy = [name for name in loaded if name.partition(".")[0] in HEAVY]
    assert not heavy, f"importing {modules} loads {heavy[:10]}"


def third_party_imports(source_root: Path) -> set[str]:
    """Top-level names of every absolute, non-stdlib module the sources import (lazy imports too)."""
    found: set[str] = set()
    for path in source_root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "zerog_compute"}


def declared() -> set[str]:
    """Distributions core requires, extras included."""
    project = tomllib.loads((CORE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    return {canonicalize_name(Requirement(line).name) for line in lines}


def test_core_declares_every_distribution_it_imports() -> None:
    providers = packages_distributions()
    imported = third_party_imports(CORE / "src")
    assert {"eth_abi", "eth_account", "eth_keys", "eth_utils", "httpx", "pydantic"} <= imported
    undeclared = {
        module: dists
        for module in sorted(imported)
        if not (dists := {canonicalize_name(d) for d in providers.get(module, [])}) & declared()
    }
    assert not undeclared, f"imported but not declared in packages/core/pyproject.toml: {undeclared}"
    assert "web3" not in declared()
