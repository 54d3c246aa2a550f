"""``zerog-devnet install-node``: the devnet's npm packages for users outside the repository.

The devnet reads anvil and the official 0G contracts from npm packages at run time. In the repository
``make install`` installs them (``npm ci``); a ``pip install zerog-devnet`` user has no lock file, so this
package ships a copy of the repository's ``package.json`` and ``package-lock.json`` (``zerog_devnet/npm/``,
kept equal to the repository's by ``tools/sync_npm_lock.py``) and installs exactly those versions with npm's
integrity checks into ``~/.zerog/node_modules``, where :func:`zerog_devnet.artifacts.find_node_modules`
looks after the repository's own.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from .errors import DevnetError

log = logging.getLogger(__name__)
LOCK_FILES = ("package.json", "package-lock.json")
NPM_TIMEOUT_S = 900.0


def user_dir() -> Path:
    """Where ``install-node`` installs: ``~/.zerog`` (its ``node_modules`` is searched automatically)."""
    return Path.home() / ".zerog"


def shipped_lock(name: str) -> bytes:
    """One of the lock files shipped in this package (``package.json`` or ``package-lock.json``)."""
    return resources.files("zerog_devnet").joinpath("npm").joinpath(name).read_bytes()


def install_node(target: Path | None = None, *, npm: str | None = None) -> Path:
    """Install the pinned npm packages (``npm ci`` against the shipped lock file) into ``target`` (default
    :func:`user_dir`) and return its ``node_modules``. Needs Node.js's ``npm`` on ``PATH``."""
    folder = target or user_dir()
    command = npm or shutil.which("npm")
    if command is None:
        raise DevnetError("zerog-devnet install-node needs npm: install Node.js 18 or newer (https://nodejs.org)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in LOCK_FILES:
        (folder / name).write_bytes(shipped_lock(name))
    log.info("installing the devnet's npm packages into %s", folder / "node_modules")
    try:
        subprocess.run(
            [command, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=NPM_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        raise DevnetError(f"npm ci failed in {folder} (exit {exc.returncode}); see npm's output above") from None
    except subprocess.TimeoutExpired:
        raise DevnetError(f"npm ci in {folder} took longer than {NPM_TIMEOUT_S:.0f} s") from None
    return folder / "node_modules"
