"""Contract ABI and bytecode, read at run time from the installed npm packages.

Nothing here is committed to the repository: the 0G contracts come from the typechain factories
inside ``@0gfoundation/0g-compute-ts-sdk`` and the beacon proxy contracts from
``@openzeppelin/contracts@4.8.3``. ``node_modules`` is found through ``ZG_DEVNET_NODE_MODULES``,
by walking up from the current directory, in ``~/.zerog/node_modules`` (``zerog-devnet install-node``),
or by walking up from this file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import NodeModulesMissing

SDK_PACKAGE = "@0gfoundation/0g-compute-ts-sdk"
OZ_PACKAGE = "@openzeppelin/contracts"
ENV_NODE_MODULES = "ZG_DEVNET_NODE_MODULES"

_FACTORIES = {
    "LedgerManager": "lib.commonjs/ledger/contract/typechain/factories/LedgerManager__factory.js",
    "InferenceServing": "lib.commonjs/inference/contract/typechain/factories/InferenceServing__factory.js",
    "FineTuningServing": ("lib.commonjs/fine-tuning/contract/typechain/factories/FineTuningServing__factory.js"),
}
_OZ_ARTIFACTS = {
    "UpgradeableBeacon": "build/contracts/UpgradeableBeacon.json",
    "BeaconProxy": "build/contracts/BeaconProxy.json",
}
_INSTALL_HINT = (
    "run `zerog-devnet install-node` (installs the pinned npm packages into ~/.zerog/node_modules), "
    "or `make install` in the repository, or set ZG_DEVNET_NODE_MODULES"
)


@dataclass(frozen=True)
class Artifact:
    """ABI and creation bytecode of one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def find_node_modules() -> Path:
    """Return the ``node_modules`` directory that holds the 0G SDK."""
    env = os.environ.get(ENV_NODE_MODULES)
    if env:
        path = Path(env)
        if (path / SDK_PACKAGE).is_dir():
            return path
        raise NodeModulesMissing(f"{ENV_NODE_MODULES}={env} has no {SDK_PACKAGE}; {_INSTALL_HINT}")
    candidates = [folder / "node_modules" for folder in (Path.cwd(), *Path.cwd().parents)]
    candidates.append(Path.home() / ".zerog" / "node_modules")  # zerog-devnet install-node
    here = Path(__file__).resolve().parent
    candidates += [folder / "node_modules" for folder in (here, *here.parents)]
    for candidate in candidates:
        if (candidate / SDK_PACKAGE).is_dir():
            return candidate
    raise NodeModulesMissing(f"npm package {SDK_PACKAGE} not found; {_INSTALL_HINT}")


def js_literal_to_json(text: str) -> Any:
    """Parse the ``const _abi = [...]`` JavaScript literal of a typechain factory."""
    quoted_keys = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r'\1"\2":', text)
    double_quoted = re.sub(r"'([^'\\]*)'", lambda m: json.dumps(m.group(1)), quoted_keys)
    no_trailing_commas = re.sub(r",(\s*[\]}])", r"\1", double_quoted)
    return json.loads(no_trailing_commas)


def _parse_factory(name: str, source: str) -> Artifact:
    abi_match = re.search(r"const _abi = (\[.*?\n\]);", source, re.S)
    code_match = re.search(r"const _bytecode = '(0x[0-9a-fA-F]+)'", source)
    if not abi_match or not code_match:
        raise NodeModulesMissing(f"cannot read the {name} factory of {SDK_PACKAGE}; reinstall it")
    return Artifact(name, js_literal_to_json(abi_match.group(1)), code_match.group(1))


@cache
def load(name: str, node_modules: Path | None = None) -> Artifact:
    """Load one contract artifact by name (see ``_FACTORIES`` and ``_OZ_ARTIFACTS``)."""
    root = node_modules or find_node_modules()
    if name in _FACTORIES:
        path = root / SDK_PACKAGE / _FACTORIES[name]
        if not path.is_file():
            raise NodeModulesMissing(f"{path} is missing; {_INSTALL_HINT}")
        return _parse_factory(name, path.read_text())
    if name in _OZ_ARTIFACTS:
        path = root / OZ_PACKAGE / _OZ_ARTIFACTS[name]
        if not path.is_file():
            raise NodeModulesMissing(f"{OZ_PACKAGE}@4.8.3 is not installed; {_INSTALL_HINT}")
        data = json.loads(path.read_text())
        return Artifact(name, data["abi"], data["bytecode"])
    raise KeyError(f"unknown contract artifact {name!r}")
