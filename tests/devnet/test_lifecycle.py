"""Start-up, shutdown, the CLI, automatic settlement and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from zerog_devnet import DEFAULT_PROVIDERS, ConfigError, Devnet, NodeModulesMissing, PortInUse, ProviderSpec
from zerog_devnet.chain import contract

from .conftest import make_auth

pytestmark = pytest.mark.devnet


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z" if Path(f"/proc/{pid}").exists() else False


def test_settlement_loop_settles_in_batches_by_itself() -> None:
    with Devnet.start([ProviderSpec("solo")], users=1, settle_interval=0.5) as net:
        info = net.provider("solo").info
        user = net.users[0]
        net.fund(user, ["solo"])
        inference = contract(net.w3, "InferenceServing", net.contracts.inference)
        before = inference.functions.getAccount(user.address, info.address).call()[3]
        body = {"model": info.model, "messages": [{"role": "user", "content": "hello"}]}
        auth = make_auth(user, info.address)
        for _ in range(2):
            response = httpx.post(f"{info.url}/v1/proxy/chat/completions", json=body, headers={"Authorization": auth})
            assert response.status_code == 200
        owed = sum(net.provider("solo").runtime.fees.unsettled(user.address) for _ in [0])
        deadline = time.monotonic() + 10
        while net.provider("solo").unsettled(user.address) and time.monotonic() < deadline:
            time.sleep(0.1)
        after = inference.functions.getAccount(user.address, info.address).call()[3]
        assert owed > 0 and before - after == owed


def test_stop_leaves_no_processes_behind() -> None:
    net = Devnet.start([ProviderSpec("solo")], users=1)
    pid = net.anvil.process.pid
    url = net.provider("solo").info.url
    net.stop()
    assert not pid_alive(pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/models")
    net.stop()  # idempotent


def test_taken_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} .* already in use"):
            Devnet.start([ProviderSpec("solo")], port=port)


def test_bad_config_is_refused_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="service_type"):
        Devnet.start([ProviderSpec("x", service_type="video")])
    with pytest.raises(ConfigError, match="unique"):
        Devnet.start([ProviderSpec("x"), ProviderSpec("x")])


def test_missing_node_modules_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_DEVNET_NODE_MODULES", str(tmp_path))
    with pytest.raises(NodeModulesMissing, match="make install"):
        Devnet.start([ProviderSpec("solo")])


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zerog_devnet.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_cli_up_prints_a_table_writes_the_description_and_stops_cleanly(tmp_path: Path) -> None:
    description = tmp_path / "devnet.json"
    proc = _cli("up", "--file", str(description), "--settle-interval", "1")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("zerog devnet ready in")
        data = json.loads(description.read_text())
        assert data["chain_id"] == 31337 and len(data["providers"]) == len(DEFAULT_PROVIDERS)
        chat = next(p for p in data["providers"] if p["name"] == "chat-a")
        assert httpx.get(f"{chat['url']}/v1/models").json()["data"][0]["id"] == chat["model"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{chat['url']}/v1/models")


def test_cli_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    proc = _cli("up", env={"ZG_DEVNET_NODE_MODULES": str(tmp_path)})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().count("\n") == 0 and "make install" in err


ORPHAN_SCRIPT = """
import json, sys, time
from zerog_devnet import Devnet, ProviderSpec
net = Devnet.start([ProviderSpec("solo")], users=1)
print(net.anvil.process.pid, flush=True)
time.sleep(60)
"""


def test_anvil_dies_with_a_killed_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    anvil_pid = int(parent.stdout.readline())
    assert pid_alive(anvil_pid)
    parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only PR_SET_PDEATHSIG can save us
    parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while pid_alive(anvil_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(anvil_pid)
