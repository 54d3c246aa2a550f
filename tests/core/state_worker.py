"""One worker process of the multi-process state tests: a client on a shared state store, its outcomes as JSON."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import httpx

from zerog_compute import BudgetExhaustedError, FundingPolicy, Network, RateLimit, ZeroG

ASK = [{"role": "user", "content": "What is 2 + 3?"}]


def main(config: dict[str, Any]) -> dict[str, Any]:
    network = Network(name="devnet", **config["network"])
    statuses: dict[str, int] = {}
    lock, outcomes = threading.Lock(), list[str]()

    def hook(response: httpx.Response) -> None:
        if response.request.method == "POST":
            with lock:
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

    policy = FundingPolicy.of(min_balance="2", target_balance="3", max_per_transfer="2", budget="2")
    options: dict[str, Any] = {"funding": policy} if config["funding"] else {}
    http = httpx.Client(timeout=60.0, event_hooks={"response": [hook]})
    limit = RateLimit(rpm=600, burst=5, max_concurrent=5, max_retries=config.get("max_retries", 0))
    with ZeroG(network=network, http_client=http, rate_limit=limit, state=config["state"], **options) as zg:

        def worker() -> None:
            for _ in range(config["requests"]):
                try:
                    zg.chat.completions.create(provider=config["provider"], messages=ASK)
                    outcome = "ok"
                except BudgetExhaustedError:
                    outcome = "budget"
                except Exception as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                with lock:
                    outcomes.append(outcome)

        threads = [threading.Thread(target=worker) for _ in range(config["threads"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        spent = zg.funding.spent
    return {"outcomes": outcomes, "statuses": statuses, "spent": spent, "pid": os.getpid()}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(json.loads(sys.argv[1]))) + "\n")
