"""``zerog-devnet install-node``: a pip user outside the repository gets the pinned npm packages, found afterwards.

The lock data shipped in zerog-devnet must be the repository's (same versions, same integrity pins); the real
``npm ci`` runs into a temporary HOME (quick from npm's cache) and the devnet then finds anvil and the 0G
contracts there with no environment variable, from a directory outside any repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zerog_devnet import NodeModulesMissing
from zerog_devnet.artifacts import find_node_modules
from zerog_devnet.node_install import LOCK_FILES, shipped_lock

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from zerog_devnet.anvil import find_anvil
from zerog_devnet.artifacts import find_node_modules, load
print(find_node_modules()); print(find_anvil()); print(len(load("LedgerManager", find_node_modules()).abi))
"""


def test_the_shipped_lock_is_the_repositorys() -> None:
    for name in LOCK_FILES:
        assert shipped_lock(name) == (ROOT / name).read_bytes(), f"run `python tools/sync_npm_lock.py` ({name})"
    lock = json.loads(shipped_lock("package-lock.json"))
    assert all(p.get("integrity", "").startswith("sha512-") for k, p in lock["packages"].items() if k)


def test_the_missing_packages_error_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_DEVNET_NODE_MODULES", str(tmp_path))
    with pytest.raises(NodeModulesMissing, match="zerog-devnet install-node"):
        find_node_modules()


@pytest.mark.node
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm (Node.js)")
def test_install_node_into_a_fresh_home_is_found_automatically(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ZG_DEVNET_NODE_MODULES", "ZG_DEVNET_ANVIL")}
    env |= {"HOME": str(home), "npm_config_cache": str(Path.home() / ".npm")}  # npm's cache: no downloads
    cli = Path(sys.executable).with_name("zerog-devnet")
    try:
        check_install(cli, home, elsewhere, env)
    finally:
        shutil.rmtree(home / ".zerog", ignore_errors=True)  # ~230 MB: do not keep it among pytest's temp dirs


def check_install(cli: Path, home: Path, elsewhere: Path, env: dict[str, str]) -> None:
    done = subprocess.run([cli, "install-node"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    installed = home / ".zerog" / "node_modules"
    assert str(installed) in done.stdout
    for name in LOCK_FILES:
        assert (home / ".zerog" / name).read_bytes() == (ROOT / name).read_bytes()
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    found, anvil, abi_entries = probe.stdout.split()
    assert Path(found) == installed and Path(anvil).is_relative_to(installed) and int(abi_entries) > 10
