"""How long the devnet takes to become ready, against bare anvil measured in the same run.

    uv run python bench/devnet_startup.py [--runs 5]

After one untimed warm-up start, prints median and worst wall time for (a) anvil alone until it answers
``eth_chainId`` — the floor — and (b) ``Devnet.start()`` with the default providers (anvil, the contract
deployment, two registration transactions and one HTTP server per provider — the TeeTLS one also its HTTPS
upstream with a certificate made at start — the Router emulator and its funding), and their ratio, with the date
and load average of the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _machine

from zerog_devnet import DEFAULT_PROVIDERS, Devnet
from zerog_devnet.anvil import start_anvil


def timed(fn: object) -> float:
    start = time.perf_counter()
    handle = fn()  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    handle.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(_machine.describe(_machine.snapshot()))
    Devnet.start().stop()  # warm imports, artifact parsing and OS caches
    anvil = [timed(start_anvil) for _ in range(args.runs)]
    devnet = [timed(Devnet.start) for _ in range(args.runs)]
    print(f"{'what':<28} {'median s':>9} {'max s':>7}")
    print(f"{'anvil alone (baseline)':<28} {statistics.median(anvil):>9.3f} {max(anvil):>7.3f}")
    label = f"Devnet.start() {len(DEFAULT_PROVIDERS)} providers"
    print(f"{label:<28} {statistics.median(devnet):>9.3f} {max(devnet):>7.3f}")
    print(f"ratio devnet/anvil (median): {statistics.median(devnet) / statistics.median(anvil):.1f}x")
    print(_machine.describe_end()[0])


if __name__ == "__main__":
    main()
