"""One wallet, several processes: budget, top-ups, nonces and the provider's limits hold across them.

SQLite: 3 processes of one machine share a state file. Redis: 2 "hosts" (processes that share nothing but
the Redis URL). Each worker is a real process with its own client, against the devnet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zerog_compute import ZeroG
from zerog_devnet import Devnet, ProviderSpec
from zerog_devnet.accounts import DevAccount

from .conftest import devnet_network, provider

G = 10**18
WORKER = Path(__file__).with_name("state_worker.py")


@pytest.fixture(scope="module")
def net() -> Iterator[Devnet]:
    """A provider that limits like a real one (burst 5, 5 in flight) at 600/min; users 0-1 for SQLite, 2-3 Redis."""
    with Devnet.start([ProviderSpec("fast", rpm=600, burst=5, max_concurrent=5)], users=4, settle_interval=3600) as net:
        for user in (net.users[0], net.users[2]):
            net.fund(user, ["fast"], ledger=50 * G, each=10 * G)
        for user in (net.users[1], net.users[3]):
            net.fund(user, [], ledger=20 * G)
        yield net


def run_workers(net: Devnet, user: DevAccount, states: list[str], **config: Any) -> list[dict[str, Any]]:
    """Start one worker process per entry of ``states`` at once; their JSON results."""
    network = devnet_network(net).model_dump(include={"chain_id", "rpc_url", "ledger", "inference", "fine_tuning"})
    env = {**os.environ, "ZG_PRIVATE_KEY": user.private_key}
    env.pop("ZG_STATE_URL", None)
    base = {"network": network, "provider": provider(net, "fast"), **config}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps({**base, "state": state})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for state in states
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def stores(kind: str, tmp_path: Path, redis_url: str | None) -> list[str]:
    if kind == "sqlite":
        return [f"sqlite://{tmp_path / 'state.db'}"] * 3
    assert redis_url is not None
    return [redis_url] * 2


@pytest.fixture(params=["sqlite", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.devnet
def test_processes_share_the_providers_limits(net: Devnet, kind: str, tmp_path: Path, request: Any) -> None:
    """Every process sends at once on 3 threads with the provider's own limits and no retries: no 429."""
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    user = net.users[0] if kind == "sqlite" else net.users[2]
    results = run_workers(net, user, stores(kind, tmp_path, redis_url), funding=False, threads=3, requests=4)
    outcomes = [o for r in results for o in r["outcomes"]]
    assert outcomes == ["ok"] * 12 * len(results), outcomes
    statuses: dict[str, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    assert statuses == {"200": len(outcomes)}, statuses  # the provider never had to refuse one


@pytest.mark.devnet
def test_one_budget_and_one_top_up_across_processes(net: Devnet, kind: str, tmp_path: Path, request: Any) -> None:
    """Auto-funding with a 2 0G budget in every process at once: one transfer of 2 0G in all, no nonce error."""
    redis_url = request.getfixturevalue("redis_url") if kind == "redis" else None
    user = net.users[1] if kind == "sqlite" else net.users[3]
    # retries allowed here (this test is about money and nonces; the one above is about 429s)
    states = stores(kind, tmp_path, redis_url)
    results = run_workers(net, user, states, funding=True, threads=2, requests=2, max_retries=2)
    outcomes = [o for r in results for o in r["outcomes"]]
    assert set(outcomes) <= {"ok", "budget"} and "ok" in outcomes, results  # no nonce or other error
    assert all(r["spent"] == 2 * G for r in results)  # every process sees the one budget
    with ZeroG(private_key=user.private_key, network=devnet_network(net)) as zg:
        moved = 20 * G - zg.ledger.get().available
        account = zg.ledger.sub_account(provider(net, "fast"))
    assert moved == 2 * G and account is not None and account.balance == 2 * G  # exactly one top-up
