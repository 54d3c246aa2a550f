"""Run one hostile call in a fresh process and report its RSS growth (``python -m tests.adversarial.probe``).

Reads its orders as JSON from ``$HOSTILE_PROBE`` and the wallet key from ``$ZG_PRIVATE_KEY`` (never argv);
prints one JSON line: the error type, seconds taken and the peak-RSS growth in bytes over a warmed-up client.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

from zerog_compute import Network, ZeroG

MESSAGES = [{"role": "user", "content": "hi"}]


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def call(zg: ZeroG, orders: dict[str, Any]) -> None:
    provider, kind = orders["provider"], orders["kind"]
    if kind == "stream":
        for _ in zg.chat.completions.create(messages=MESSAGES, provider=provider, stream=True):
            pass
    elif kind == "image":
        record = zg.images.generate(prompt="a cat", provider=provider, response_format="url").zerog
        print(json.dumps({"verdict": record.verdict(timeout=120).verdict.value, "detail": record.verdict().detail}))  # noqa: T201 - the report
    else:
        zg.chat.completions.create(messages=MESSAGES, provider=provider)


def main() -> None:
    orders = json.loads(os.environ["HOSTILE_PROBE"])
    network = Network(**orders["network"])
    options = orders.get("options", {})
    with ZeroG(network=network, **options) as zg:
        warm = {**orders, "kind": "image" if orders["kind"] == "image" else "chat"}
        call(zg, warm)  # imports, token, connection pool: all warm before measuring
        before, started = peak_rss(), time.monotonic()
        error = None
        try:
            call(zg, orders)
        except Exception as exc:
            error = type(exc).__name__
        print(json.dumps({"error": error, "seconds": time.monotonic() - started, "growth": peak_rss() - before}))  # noqa: T201


if __name__ == "__main__":
    main()
