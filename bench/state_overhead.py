"""What the wallet's shared state adds to a request: in-process, SQLite and Redis, beside the raw-call floor.

    uv run python bench/state_overhead.py [--n 5000] [--rounds 5] [--requests 300] [--batch 50] [--warmup 20]
                                          [--stores memory,sqlite,redis] [--no-e2e] [--json]

A warm request pays for the state with four store operations: the funding tally read (inline funding), the
limiter's take (token bucket and in-flight slot) and release, and the fee added to the tally. The release and
the fee are queued and sent with the next take (or by a flusher thread within ~2 ms). Two measures:

* **micro**: those four operations on each store, timed one "request" at a time (``--n`` per store, in
  ``--rounds`` rounds rotating the store order), p50 / p90 / mean, and the p50 of each operation;
* **end to end**: ``ZeroG(state=..., funding=inline policy, rate_limit=high rpm)`` chat requests against a devnet
  provider in a child process (as ``overhead.py`` runs it), p50 per store, beside ``bare`` (the same client
  without limiter or funding: the least state a request touches) and the httpx floor (``raw``).

SQLite lives in a temporary directory; Redis is a real ``redis-server`` started here on a free loopback port
(skipped, saying why, when the binary or the ``redis`` client is missing). Ratios are to the httpx floor of the
same run; the goals (p50 added: in-process <= 0.02 ms, SQLite <= 0.3 ms, Redis <= 0.5 ms) are printed beside the
numbers and never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _machine
import overhead

from zerog_compute import FundingPolicy, RateLimit, ZeroG
from zerog_compute.funding import Tally
from zerog_compute.state import MemoryStore, StateStore

STORES = ("memory", "sqlite", "redis")
GOALS_MS = {"memory": 0.02, "sqlite": 0.3, "redis": 0.5}
OPS = ("tally", "take", "release", "record_fee")
FAST = RateLimit(rpm=10_000_000, burst=1_000_000, max_concurrent=1_000_000)
"""Limits that never make a request wait: the limiter does all its bookkeeping and never sleeps."""
PROVIDER = "0x" + "ab" * 20
WALLET = (31337, "0x" + "cd" * 20)


# ---------------------------------------------------------------------------------------------------------
# where the stores live


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A ``redis-server`` on a free loopback port without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LookupError("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", ""]
    server = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {port}") from None
            time.sleep(0.02)


def open_urls(wanted: list[str], stack: contextlib.ExitStack, workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The URL of every wanted store that can run here, and why the others cannot."""
    urls, skipped = {}, {}
    for name in wanted:
        if name == "memory":
            urls[name] = "memory"
        elif name == "sqlite":
            urls[name] = f"sqlite://{workdir / 'state.db'}"
        else:
            try:
                import redis  # noqa: F401 - the optional extra zerog-compute[redis]
            except ImportError:
                skipped[name] = "the redis client is not installed (pip install 'zerog-compute[redis]')"
                continue
            try:
                urls[name] = stack.enter_context(redis_server(workdir))
            except (LookupError, RuntimeError) as exc:
                skipped[name] = str(exc)
    return urls, skipped


def new_store(url: str) -> StateStore:
    """A store object of its own (not the process-wide one): nothing else touches its connection."""
    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite://"):
        from zerog_compute.state.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite://"))
    from zerog_compute.state.redis import RedisStore

    return RedisStore(url)


# ---------------------------------------------------------------------------------------------------------
# micro: the store operations of one warm request


class Micro:
    """One store's buckets and book for a made-up wallet, with a healthy tally for the provider."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.store = new_store(url)
        self.buckets = self.store.buckets(*WALLET)
        self.book = self.store.book(*WALLET)
        self.book.set_tally(PROVIDER, Tally(10**24, 0, 0, True, time.monotonic()))
        self.total_ms: list[float] = []
        self.op_ms: dict[str, list[float]] = {op: [] for op in OPS}
        self._ops: dict[str, Callable[[], object]] = {
            "tally": lambda: self.book.tally(PROVIDER),
            "take": lambda: self.buckets.take(PROVIDER, FAST),
            "release": lambda: self.buckets.release(PROVIDER),
            "record_fee": lambda: self.book.record_fee(PROVIDER, 1000),
        }

    def request(self, timed: bool) -> None:
        start = before = time.perf_counter()
        for op, call in self._ops.items():
            call()
            after = time.perf_counter()
            if timed:
                self.op_ms[op].append((after - before) * 1000)
            before = after
        if timed:
            self.total_ms.append((before - start) * 1000)

    def run(self, n: int, timed: bool = True) -> None:
        for _ in range(n):
            self.request(timed)

    def close(self) -> None:
        self.store.close()


@dataclass
class MicroResult:
    store: str
    n: int
    p50_ms: float
    p90_ms: float
    mean_ms: float
    op_p50_ms: dict[str, float]
    goal_ms: float
    meets_goal: bool
    share_of_floor: float | None = None


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]


def run_micro(urls: dict[str, str], n: int, rounds: int) -> list[MicroResult]:
    """``n`` warm "requests" per store after ``n // 10`` untimed, in rounds rotating the store order."""
    micros = [Micro(name, url) for name, url in urls.items()]
    try:
        for micro in micros:
            micro.run(max(1, n // 10), timed=False)
        sizes = overhead.batch_sizes(n, max(1, -(-n // rounds)))
        for index, size in enumerate(sizes):
            shift = index % len(micros)
            for micro in micros[shift:] + micros[:shift]:
                micro.run(size)
    finally:
        for micro in micros:
            micro.close()
    return [summarise_micro(m) for m in micros]


def summarise_micro(micro: Micro) -> MicroResult:
    p50 = statistics.median(micro.total_ms)
    return MicroResult(
        store=micro.name,
        n=len(micro.total_ms),
        p50_ms=p50,
        p90_ms=p90(micro.total_ms),
        mean_ms=statistics.mean(micro.total_ms),
        op_p50_ms={op: statistics.median(values) for op, values in micro.op_ms.items()},
        goal_ms=GOALS_MS[micro.name],
        meets_goal=p50 <= GOALS_MS[micro.name],
    )


# ---------------------------------------------------------------------------------------------------------
# end to end: chat requests against a devnet provider in a child process


class StateClient:
    """``ZeroG`` with a limiter and inline funding, its wallet state in one store; ``bare``: neither."""

    def __init__(self, info: dict[str, Any], name: str, url: str) -> None:
        self.name = name
        self._provider = info["provider"]
        options: dict[str, Any] = {"rate_limit": None}
        if name != "bare":
            policy = FundingPolicy.of(min_balance="1", target_balance="2", budget="10", budget_name=f"bench-{name}")
            options = {"rate_limit": FAST, "funding": policy, "state": url}
        self._zg = ZeroG(
            private_key=info["python_user_key"], network=overhead.network_of(info), verification="off", **options
        )
        t0 = time.perf_counter()
        self._call()
        self.cold = {"ms": (time.perf_counter() - t0) * 1000, "rpcs": self._zg.rpc_calls}

    def _call(self) -> bool:
        return bool(self._zg.chat.completions.create(provider=self._provider, messages=overhead.MESSAGES).choices)

    def run(self, n: int) -> overhead.Batch:
        rpcs0 = self._zg.rpc_calls
        batch = overhead.timed_loop(n, self._call)
        batch.rpcs = self._zg.rpc_calls - rpcs0
        return batch

    def close(self) -> None:
        self._zg.close()


@dataclass
class EndToEnd:
    client: str
    requests: int
    p50_ms: float
    p90_ms: float
    cpu_per_request_ms: float
    rpcs_per_request: float
    errors: int
    p50_vs_floor: float
    added_vs_bare_ms: float | None = None
    added_cpu_vs_bare_ms: float | None = None
    cold: dict[str, Any] = field(default_factory=dict)


def run_e2e(urls: dict[str, str], args: argparse.Namespace, host: overhead.DevnetHost) -> list[EndToEnd]:
    captured = overhead.capture_request(host.info)
    clients: list[Any] = [overhead.RawClient(captured), StateClient(host.info, "bare", "memory")]
    try:
        clients += [StateClient(host.info, name, url) for name, url in urls.items()]
        totals = overhead.run_rounds(clients, host, args.requests, args.batch, args.warmup)
    finally:
        for client in clients:
            client.close()
    floor = statistics.median(totals["raw"].wall_ms)
    bare = statistics.median(totals["bare"].wall_ms)
    bare_cpu = totals["bare"].cpu_ms / len(totals["bare"].wall_ms)
    results = []
    for client in clients:
        total = totals[client.name]
        p50, n = statistics.median(total.wall_ms), len(total.wall_ms)
        cpu, stateful = total.cpu_ms / n, client.name in GOALS_MS
        added, added_cpu = (p50 - bare, cpu - bare_cpu) if stateful else (None, None)
        results.append(
            EndToEnd(client.name, n, p50, p90(total.wall_ms), cpu, total.rpcs / n, total.errors, p50 / floor,
                     added, added_cpu, client.cold)
        )  # fmt: skip
    return results


# ---------------------------------------------------------------------------------------------------------
# reporting


def print_micro(results: list[MicroResult], floor_ms: float | None) -> None:
    print("micro: the state operations of one warm request (tally + take + release + record_fee), ms")
    print(f"  {'store':<8} {'n':>6} {'p50':>8} {'p90':>8} {'mean':>8}  {'goal':>6}  {'of floor':>8}  per op p50")
    for r in results:
        if floor_ms:
            r.share_of_floor = r.p50_ms / floor_ms
        verdict = "met" if r.meets_goal else "MISSED"
        share = f"{r.share_of_floor:8.4f}" if r.share_of_floor is not None else f"{'-':>8}"
        ops = ", ".join(f"{op} {ms:.4f}" for op, ms in r.op_p50_ms.items())
        print(
            f"  {r.store:<8} {r.n:>6} {r.p50_ms:>8.4f} {r.p90_ms:>8.4f} {r.mean_ms:>8.4f}  "
            f"<={r.goal_ms:<4} {verdict:<6} {share}  {ops}"
        )
    print("  goal: p50 added per request; of floor: p50 / the httpx floor's p50 in this run")
    print()


def opt(value: float | None) -> str:
    return f"{value:7.3f}" if value is not None else f"{'-':>7}"


def print_e2e(results: list[EndToEnd]) -> None:
    print("end to end: chat requests against the devnet provider (child process), ms")
    print(
        f"  {'client':<8} {'n':>5} {'p50':>8} {'p90':>8} {'CPU':>7}  {'x floor':>7}  {'+p50':>7} {'+CPU':>7}  "
        f"{'errors':>6}"
    )
    for r in results:
        print(
            f"  {r.client:<8} {r.requests:>5} {r.p50_ms:>8.3f} {r.p90_ms:>8.3f} {r.cpu_per_request_ms:>7.3f}  "
            f"{r.p50_vs_floor:>7.3f}  {opt(r.added_vs_bare_ms)} {opt(r.added_cpu_vs_bare_ms)}  {r.errors:>6}"
        )
    print("  x floor: p50 / the httpx floor's; +p50, +CPU: over bare (CPU: this process's, all threads)")
    print("  raw: httpx POST of the same request (floor); bare: ZeroG without limiter or funding;")
    print("  memory / sqlite / redis: ZeroG with a limiter and inline funding, its state in that store.")
    print("  +p50 moves by milliseconds from run to run (a ~15 ms call, other processes); +CPU is the steadier figure.")
    print()


# ---------------------------------------------------------------------------------------------------------
# main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="micro: timed requests per store (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="micro: rounds rotating the stores (default 5)")
    parser.add_argument("--requests", type=int, default=300, help="end to end: timed requests per client")
    parser.add_argument("--batch", type=int, default=50, help="end to end: requests per client per round")
    parser.add_argument("--warmup", type=int, default=20, help="end to end: untimed requests per client first")
    parser.add_argument("--stores", default=",".join(STORES), help=f"subset of {','.join(STORES)}")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end requests (the floor still runs)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    args = parser.parse_args()
    args.names = [n.strip() for n in args.stores.split(",") if n.strip()]
    unknown = sorted(set(args.names) - set(STORES))
    if unknown or not args.names:
        parser.error(f"--stores: unknown {unknown}; choose from {','.join(STORES)}")
    if min(args.n, args.rounds, args.requests, args.batch) < 1 or args.warmup < 0:
        parser.error("--n, --rounds, --requests and --batch must be >= 1, --warmup >= 0")
    return args


def floor_only(host: overhead.DevnetHost, args: argparse.Namespace) -> float:
    """The httpx floor's p50 alone (``--no-e2e``)."""
    raw = overhead.RawClient(overhead.capture_request(host.info))
    try:
        totals = overhead.run_rounds([raw], host, args.requests, args.batch, args.warmup)
    finally:
        raw.close()
    return statistics.median(totals["raw"].wall_ms)


def measure(args: argparse.Namespace, urls: dict[str, str]) -> tuple[list[MicroResult], list[EndToEnd], float]:
    micro = run_micro(urls, args.n, args.rounds)
    host = overhead.DevnetHost(in_process=False)
    try:
        e2e = [] if args.no_e2e else run_e2e(urls, args, host)
        floor = floor_only(host, args) if args.no_e2e else next(r.p50_ms for r in e2e if r.client == "raw")
    finally:
        host.stop()
    return micro, e2e, floor


def main() -> None:
    args = parse_args()
    machine = _machine.snapshot()
    print(_machine.describe(machine))
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zerog-state-bench-")))
        urls, skipped = open_urls(args.names, stack, workdir)
        for name, reason in skipped.items():
            print(f"{name}: skipped, {reason}")
        micro, e2e, floor = measure(args, urls)
    print(f"httpx floor (raw call) p50 {floor:.3f} ms; total run {time.perf_counter() - t0:.1f} s")
    print()
    print_micro(micro, floor)
    if e2e:
        print_e2e(e2e)
    end_line, end = _machine.describe_end()
    print(end_line)
    if args.json:
        summary = {"machine": machine, "end": end, "floor_p50_ms": floor, "skipped": skipped}
        summary |= {"micro": [asdict(r) for r in micro], "e2e": [asdict(r) for r in e2e]}
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
