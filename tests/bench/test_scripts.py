"""The bench scripts run end to end with tiny counts: smoke tests only, no timing is asserted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
ZEROG = {"off": "skipped", "warn": "verified", "enforce": "verified"}


def run(script: str, *args: str) -> tuple[str, dict[str, Any] | None]:
    """Run ``bench/<script>`` with ``args``; its stdout and, with ``--json``, the JSON object it prints last."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args], cwd=BENCH.parent, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return proc.stdout, json.loads(last) if "--json" in args else None


def by_client(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["client"]: r for r in summary["results"]}


@pytest.mark.devnet
@pytest.mark.node
def test_overhead_runs_every_client_against_a_provider_process() -> None:
    assert shutil.which("node"), "Node.js is required for the TS SDK clients"
    out, summary = run("overhead.py", "--requests", "3", "--batch", "2", "--warmup", "1", "--json")
    assert summary is not None
    assert "load average" in out and summary["machine"]["date"] and summary["in_process"] is False
    results = by_client(summary)
    assert list(results) == ["raw", "off", "warn", "enforce", "fetch", "ts-sdk", "ts-sdk-bg"]
    for name, r in results.items():
        assert r["requests"] == 3 and r["errors"] == 0, name
        assert r["p50_ms"] > 0 and r["cpu_per_request_ms"] > 0, name
        assert r["p50_vs_httpx"] is not None and r["cpu_vs_httpx"] is not None, name
    for name, verdict in ZEROG.items():
        assert results[name]["verdicts"] == {verdict: 5}, name  # cold + warm-up + 3 timed
        assert results[name]["rpcs_per_request"] == 0, name
        assert results[name]["cold"]["rpcs"] > 0, name
    assert results["ts-sdk"]["cold"]["ok"] is True
    assert results["fetch"]["p50_vs_own_floor"] == 1.0 and results["ts-sdk"]["p50_vs_own_floor"] is not None
    assert summary["versions"]["ts-sdk"] and summary["versions"]["node"].startswith("v")


@pytest.mark.devnet
def test_overhead_in_process_always_measures_the_httpx_floor() -> None:
    _, summary = run("overhead.py", "--clients", "off", "--requests", "2", "--warmup", "0", "--in-process", "--json")
    assert summary is not None and summary["in_process"] is True
    results = by_client(summary)
    assert list(results) == ["raw", "off"]
    assert results["off"]["p50_vs_own_floor"] == results["off"]["p50_ms"] / results["raw"]["p50_ms"]


def test_overhead_rejects_unknown_clients() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "overhead.py"), "--clients", "raw,nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "nope" in proc.stderr


def test_verify_throughput_reports_ratios_to_eth_account() -> None:
    out, summary = run("verify_throughput.py", "--n", "20", "--rounds", "1", "--json")
    assert summary is not None and "load average" in out
    assert set(summary["per_second"]) == {"evaluate", "recover_signer", "eth_account", "eth_keys"}
    assert summary["ratio_vs_eth_account"]["eth_account"] == 1.0


@pytest.mark.devnet
def test_devnet_startup_runs() -> None:
    out, _ = run("devnet_startup.py", "--runs", "1")
    assert "ratio devnet/anvil" in out and "load average" in out


@pytest.mark.devnet
def test_state_overhead_measures_every_store_beside_the_floor() -> None:
    out, summary = run(
        "state_overhead.py", "--n", "20", "--rounds", "2", "--requests", "3", "--batch", "2", "--warmup", "1", "--json"
    )
    assert summary is not None and "load average" in out and summary["floor_p50_ms"] > 0
    measured = [r["store"] for r in summary["micro"]]
    redis = ["redis"] if shutil.which("redis-server") else []
    assert measured == ["memory", "sqlite", *redis]
    assert redis or "redis-server" in summary["skipped"]["redis"]  # skipped, saying why
    for r in summary["micro"]:
        assert r["n"] == 20 and r["p50_ms"] > 0 and set(r["op_p50_ms"]) == {"tally", "take", "release", "record_fee"}
        assert r["share_of_floor"] == r["p50_ms"] / summary["floor_p50_ms"]
        assert r["goal_ms"] == {"memory": 0.02, "sqlite": 0.3, "redis": 0.5}[r["store"]]
    e2e = {r["client"]: r for r in summary["e2e"]}
    assert list(e2e) == ["raw", "bare", *measured]
    for name, r in e2e.items():
        assert r["requests"] == 3 and r["errors"] == 0 and r["rpcs_per_request"] == 0, name
        assert (r["added_vs_bare_ms"] is None) == (name in ("raw", "bare")), name
    assert e2e["raw"]["p50_vs_floor"] == 1.0


@pytest.mark.devnet
def test_state_overhead_without_end_to_end_still_measures_the_floor() -> None:
    _, summary = run("state_overhead.py", "--stores", "memory", "--n", "5", "--requests", "2", "--no-e2e", "--json")
    assert summary is not None and summary["e2e"] == [] and summary["floor_p50_ms"] > 0
    assert [r["store"] for r in summary["micro"]] == ["memory"] and summary["skipped"] == {}


def test_state_overhead_rejects_unknown_stores() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "state_overhead.py"), "--stores", "memory,mysql"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "mysql" in proc.stderr
