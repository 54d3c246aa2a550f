"""Start and stop anvil (from the npm package ``@foundry-rs/anvil``) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .artifacts import find_node_modules
from .errors import AnvilNotFound, AnvilStartError, NodeModulesMissing, PortInUse

log = logging.getLogger(__name__)

CHAIN_ID = 31337
ENV_ANVIL = "ZG_DEVNET_ANVIL"
_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}


def find_anvil() -> Path:
    """Locate the anvil binary: ``$ZG_DEVNET_ANVIL``, node_modules, then ``PATH``."""
    env = os.environ.get(ENV_ANVIL)
    if env:
        if Path(env).is_file():
            return Path(env)
        raise AnvilNotFound(f"{ENV_ANVIL}={env} does not exist; point it at an anvil binary or unset it")
    package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
    with contextlib.suppress(NodeModulesMissing):
        root = find_node_modules()
        if package and (root / "@foundry-rs" / package / "bin" / "anvil").is_file():
            return root / "@foundry-rs" / package / "bin" / "anvil"
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilNotFound(
        "anvil not found: run `zerog-devnet install-node` (or `make install` in the repository; npm package "
        "@foundry-rs/anvil) or set ZG_DEVNET_ANVIL"
    )


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int) -> None:
    """Raise :class:`PortInUse` if ``port`` cannot be bound on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(f"port {port} on 127.0.0.1 is already in use; pick another or pass 0") from None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGKILL the child when the parent dies, so anvil never outlives us."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class AnvilProcess:
    """A running anvil."""

    port: int
    process: subprocess.Popen[bytes]
    binary: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Kill anvil and reap it (state is throwaway, so no graceful shutdown)."""
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_anvil(*, port: int = 0, accounts: int = 20, timeout: float = 15.0) -> AnvilProcess:
    """Start anvil on 127.0.0.1 with chain id 31337 and wait until it answers."""
    binary = find_anvil()
    if port:
        ensure_port_free(port)
    port = port or free_port()
    args = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(CHAIN_ID)]
    args += ["--accounts", str(accounts), "--silent"]
    preexec = _die_with_parent if platform.system() == "Linux" else None
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec)
    anvil = AnvilProcess(port, proc, binary)
    try:
        _wait_ready(anvil, timeout)
    except BaseException:
        anvil.stop()
        raise
    log.info("anvil %s ready on %s", binary, anvil.rpc_url)
    return anvil


def _wait_ready(anvil: AnvilProcess, timeout: float) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if anvil.process.poll() is not None:
                err = (anvil.process.stderr.read() if anvil.process.stderr else b"").decode(errors="replace")
                raise AnvilStartError(f"anvil exited with code {anvil.process.returncode}: {err.strip()[:300]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.post(anvil.rpc_url, json=body).json().get("result") == hex(CHAIN_ID):
                    return
            time.sleep(0.02)
    raise AnvilStartError(f"anvil did not answer on {anvil.rpc_url} within {timeout:.0f}s")
