"""What zerog-compute and the official TS SDK add on top of a bare HTTP call to the same provider, side by side.

    uv run python bench/overhead.py [--requests 1000] [--batch 50] [--warmup 50] [--clients ...] [--in-process]
                                    [--json]

A devnet with one chat provider (per-user rate limit off, settlement only on demand) runs in a child process, so
the provider's Python work does not share this process's GIL or its CPU accounting (``--in-process`` serves it
from a thread of this process instead, the old way). Users 0 (Python clients) and 1 (TS SDK) are funded.

Clients, all sending the same chat request to the same provider route:

* ``raw``        floor: ``httpx.Client.post`` of the exact URL, body bytes and ``Authorization`` header a zerog
                 client sends (captured once, through the public ``http_client=`` hook);
* ``off`` / ``warn`` / ``enforce``: ``ZeroG(verification=..., rate_limit=None).chat.completions.create``;
* ``fetch``      Node floor: ``fetch`` of the same request, in the Node process below;
* ``ts-sdk``     the official ``@0gfoundation/0g-compute-ts-sdk`` under Node: ``getRequestHeaders`` + ``fetch`` +
                 ``processResponse``, with the SDK's defaults (an inline balance check in ``getRequestHeaders``);
* ``ts-sdk-bg``  the same after ``startAutoFunding`` (the SDK then skips the inline check).

Every client first makes one cold request (reported), then ``--warmup`` untimed requests, then ``--requests``
timed ones in rounds of ``--batch``: each round runs one batch per client, and the order of the clients rotates
from round to round, so load drift hits all of them alike. The provider settles between rounds (untimed).

Per client: wall time per request (p50 / p90 / mean), client CPU per request (CPU time of the client's own
process over its batches: ``time.process_time`` here, ``process.cpuUsage`` in Node; for ``warn`` it includes the
background verification, waited for at the end of each batch), chain RPCs per request and errors. Ratios are
against the floors measured in the same run: the httpx floor for every client, and the fetch floor for Node's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Protocol

import _machine
import httpx

from zerog_compute import Network, ZeroG, ZeroGRecord
from zerog_devnet import Devnet, ProviderSpec

MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
PYTHON_CLIENTS = ("raw", "off", "warn", "enforce")
NODE_CLIENTS = ("fetch", "ts-sdk", "ts-sdk-bg")
ALL_CLIENTS = PYTHON_CLIENTS + NODE_CLIENTS
LABELS = {
    "raw": "httpx POST (floor)",
    "off": "zerog off",
    "warn": "zerog warn",
    "enforce": "zerog enforce",
    "fetch": "node fetch (floor)",
    "ts-sdk": "TS SDK",
    "ts-sdk-bg": "TS SDK, autofund timer",
}
NODE_SCRIPT = Path(__file__).with_name("ts_sdk_client.cjs")
NODE_PREFIX = "@@bench "
log = logging.getLogger("bench.overhead")


# ---------------------------------------------------------------------------------------------------------
# the devnet: in a child process (default) or in this one


def start_devnet() -> Devnet:
    """One chat provider without per-user limits, users 0 and 1 funded; settlement only when asked."""
    spec = ProviderSpec("bench", rpm=0, max_concurrent=1000, max_global_concurrent=1000)
    net = Devnet.start([spec], users=2, settle_interval=3600, router=False)
    try:
        for user in net.users:
            net.fund(user, ["bench"], ledger=100 * 10**18, each=50 * 10**18)
    except BaseException:
        net.stop()
        raise
    return net


def describe(net: Devnet) -> dict[str, Any]:
    return {
        "chain_id": net.chain_id,
        "rpc_url": net.rpc_url,
        "ledger": net.contracts.ledger,
        "inference": net.contracts.inference,
        "python_user_key": net.users[0].private_key,
        "node_user_key": net.users[1].private_key,
        "provider": net.provider("bench").info.address,
        "started_in_s": net.started_in,
    }


def _child(conn: Connection) -> None:
    """The devnet process: start, send the description, then obey "settle" / "stop"."""
    try:
        net = start_devnet()
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise
    try:
        conn.send(describe(net))
        while _recv(conn) not in (None, "stop"):
            net.provider("bench").settle_now()
            conn.send("settled")
    finally:
        net.stop()
        conn.close()


def _recv(conn: Connection) -> Any:
    try:
        return conn.recv()
    except EOFError:
        return None


class DevnetHost:
    """The running devnet as the bench sees it: its description, ``settle()`` and ``stop()``."""

    def __init__(self, in_process: bool) -> None:
        self.in_process = in_process
        self._net: Devnet | None = None
        self._conn: Connection | None = None
        self._proc: Any = None
        if in_process:
            self._net = start_devnet()
            self.info = describe(self._net)
        else:
            self.info = self._spawn()

    def _spawn(self) -> dict[str, Any]:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(child_conn,), name="zerog-devnet", daemon=True)
        self._proc.start()
        child_conn.close()
        info: dict[str, Any] = self._conn.recv()
        if "error" in info:
            self.stop()
            raise RuntimeError(f"the devnet process failed to start: {info['error']}")
        return info

    def settle(self) -> None:
        """Settle the provider's unsettled fees: its admission check sums them on every request."""
        if self._net is not None:
            self._net.provider("bench").settle_now()
        elif self._conn is not None:
            self._conn.send("settle")
            self._conn.recv()

    def stop(self) -> None:
        if self._net is not None:
            self._net.stop()
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the child may be gone already
                self._conn.send("stop")
            self._conn.close()
        if self._proc is not None:
            self._proc.join(30)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)


# ---------------------------------------------------------------------------------------------------------
# clients


@dataclass
class Batch:
    """One client's batch: wall ms per request, CPU ms of the batch, errors, chain RPCs."""

    wall_ms: list[float]
    cpu_ms: float
    errors: int = 0
    rpcs: int = 0
    rpc_methods: dict[str, int] = field(default_factory=dict)


class Client(Protocol):
    name: str
    cold: dict[str, Any]

    def run(self, n: int) -> Batch: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Captured:
    """The request a zerog client sends: URL, body bytes and session ``Authorization`` header."""

    url: str
    body: bytes
    authorization: str = field(repr=False)


def network_of(info: dict[str, Any]) -> Network:
    return Network(
        name="devnet",
        chain_id=info["chain_id"],
        rpc_url=info["rpc_url"],
        ledger=info["ledger"],
        inference=info["inference"],
    )


def new_zerog(info: dict[str, Any], verification: str, http_client: httpx.Client | None = None) -> ZeroG:
    return ZeroG(
        private_key=info["python_user_key"],
        network=network_of(info),
        verification=verification,
        rate_limit=None,
        http_client=http_client,
    )


def capture_request(info: dict[str, Any]) -> Captured:
    """One chat call of a throwaway client, recorded by an httpx request hook (public API only)."""
    seen: list[httpx.Request] = []

    def hook(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/chat/completions"):
            seen.append(request)

    with httpx.Client(timeout=60.0, event_hooks={"request": [hook]}) as http, new_zerog(info, "off", http) as zg:
        zg.chat.completions.create(provider=info["provider"], messages=MESSAGES)
    request = seen[-1]
    return Captured(str(request.url), request.content, request.headers["Authorization"])


def timed_loop(n: int, call: Callable[[], bool], finish: Callable[[], None] = lambda: None) -> Batch:
    """``n`` calls timed one by one; the process CPU time spans the calls and ``finish``."""
    wall: list[float] = []
    errors = 0
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        ok = call()
        wall.append((time.perf_counter() - t0) * 1000)
        errors += not ok
    finish()
    return Batch(wall, (time.process_time() - cpu0) * 1000, errors)


class RawClient:
    """The floor: a plain ``httpx.Client.post`` of the captured request."""

    name = "raw"

    def __init__(self, captured: Captured) -> None:
        self.cold: dict[str, Any] = {}
        self._captured = captured
        self._headers = {"Authorization": captured.authorization, "Content-Type": "application/json"}
        self._http = httpx.Client(timeout=60.0)

    def _call(self) -> bool:
        response = self._http.post(self._captured.url, content=self._captured.body, headers=self._headers)
        return response.status_code == 200

    def run(self, n: int) -> Batch:
        return timed_loop(n, self._call)

    def close(self) -> None:
        self._http.close()


class ZeroGClient:
    """``ZeroG(verification=policy)``; its first request is the cold start."""

    def __init__(self, info: dict[str, Any], policy: str) -> None:
        self.name = policy
        self._provider = info["provider"]
        self._zg = new_zerog(info, policy)
        self._pending: list[ZeroGRecord] = []
        self.verdicts: dict[str, int] = {}
        t0 = time.perf_counter()
        self._call()
        self.cold = {"ms": (time.perf_counter() - t0) * 1000, "rpcs": self._zg.rpc_calls}
        self._drain()

    def _call(self) -> bool:
        reply = self._zg.chat.completions.create(provider=self._provider, messages=MESSAGES)
        if reply.zerog is not None:
            self._pending.append(reply.zerog)
        return bool(reply.choices)

    def _drain(self) -> None:
        """Wait for the verdicts of the batch ("warn" verifies in the background) and count them."""
        for record in self._pending:
            verdict = record.verdict()
            name = "none" if verdict is None else str(verdict.verdict.value)
            self.verdicts[name] = self.verdicts.get(name, 0) + 1
        self._pending.clear()

    def run(self, n: int) -> Batch:
        rpcs0 = self._zg.rpc_calls
        batch = timed_loop(n, self._call, self._drain)
        batch.rpcs = self._zg.rpc_calls - rpcs0
        return batch

    def close(self) -> None:
        self._zg.close()


class NodeSide:
    """The Node process of ``ts_sdk_client.cjs``: the TS SDK and the fetch floor, one JSON line per command."""

    def __init__(self, info: dict[str, Any], captured: Captured) -> None:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node (Node.js >= 20) is needed for the Node clients; or pass --clients raw,off,...")
        env = {
            **os.environ,
            "ZG_RPC_URL": info["rpc_url"],
            "ZG_USER_KEY": info["node_user_key"],
            "ZG_PROVIDER": info["provider"],
            "ZG_RAW_URL": captured.url,
            "ZG_RAW_BODY": captured.body.decode(),
            "ZG_RAW_AUTH": captured.authorization,
        }
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [node, str(NODE_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode(errors="replace")
            if line.startswith(NODE_PREFIX):
                message: dict[str, Any] = json.loads(line[len(NODE_PREFIX) :])
                if "error" in message:
                    raise RuntimeError(f"the Node client failed: {message['error']}")
                return message
        self._stderr.seek(0)
        raise RuntimeError(f"the Node client exited: {self._stderr.read().decode(errors='replace')[-2000:]}")

    def run(self, client: str, n: int) -> Batch:
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"cmd": "run", "client": client, "n": n}) + "\n").encode())
        self._proc.stdin.flush()
        result = self._read()
        return Batch(result["wall_ms"], result["cpu_ms"], result["errors"], result["rpcs"], result["rpc_methods"])

    def close(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.write(b'{"cmd": "stop"}\n')
                self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._stderr.close()


class NodeClient:
    """One of the Node clients, run in the shared Node process."""

    def __init__(self, side: NodeSide, name: str) -> None:
        self.name = name
        self._side = side
        self.cold: dict[str, Any] = side.ready["cold"] if name == "ts-sdk" else {}

    def run(self, n: int) -> Batch:
        return self._side.run(self.name, n)

    def close(self) -> None:
        pass


def build_clients(info: dict[str, Any], names: list[str]) -> tuple[list[Client], NodeSide | None]:
    captured = capture_request(info)
    clients: list[Client] = []
    side = NodeSide(info, captured) if any(n in NODE_CLIENTS for n in names) else None
    for name in names:
        if name == "raw":
            clients.append(RawClient(captured))
        elif name in PYTHON_CLIENTS:
            clients.append(ZeroGClient(info, name))
        else:
            assert side is not None
            clients.append(NodeClient(side, name))
    return clients, side


# ---------------------------------------------------------------------------------------------------------
# the interleaved run


@dataclass
class Totals:
    """All timed batches of one client."""

    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: float = 0.0
    errors: int = 0
    rpcs: int = 0
    rpc_methods: dict[str, int] = field(default_factory=dict)

    def add(self, batch: Batch) -> None:
        self.wall_ms.extend(batch.wall_ms)
        self.cpu_ms += batch.cpu_ms
        self.errors += batch.errors
        self.rpcs += batch.rpcs
        for method, count in batch.rpc_methods.items():
            self.rpc_methods[method] = self.rpc_methods.get(method, 0) + count


def batch_sizes(requests: int, batch: int) -> list[int]:
    full, rest = divmod(requests, batch)
    return [batch] * full + ([rest] if rest else [])


def run_rounds(clients: list[Client], host: DevnetHost, requests: int, batch: int, warmup: int) -> dict[str, Totals]:
    """Warm-up, then rounds of one batch per client, the client order rotating each round."""
    if warmup:
        for client in clients:
            client.run(warmup)
    host.settle()
    totals = {c.name: Totals() for c in clients}
    for index, size in enumerate(batch_sizes(requests, batch)):
        shift = index % len(clients)
        for client in clients[shift:] + clients[:shift]:
            totals[client.name].add(client.run(size))
        host.settle()  # untimed: keeps the provider's per-request work constant
    return totals


# ---------------------------------------------------------------------------------------------------------
# results


@dataclass
class Result:
    client: str
    label: str
    requests: int
    p50_ms: float
    p90_ms: float
    mean_ms: float
    cpu_per_request_ms: float
    rpcs_per_request: float
    rpc_methods: dict[str, int]
    errors: int
    cold: dict[str, Any]
    floor: str
    p50_vs_httpx: float | None = None
    cpu_vs_httpx: float | None = None
    p50_vs_own_floor: float | None = None
    cpu_vs_own_floor: float | None = None
    added_p50_ms: float | None = None
    added_cpu_ms: float | None = None
    verdicts: dict[str, int] = field(default_factory=dict)


def summarise(client: Client, totals: Totals) -> Result:
    wall = totals.wall_ms
    n = len(wall)
    p90 = statistics.quantiles(wall, n=10, method="inclusive")[8] if n > 1 else wall[0]
    return Result(
        client=client.name,
        label=LABELS[client.name],
        requests=n,
        p50_ms=statistics.median(wall),
        p90_ms=p90,
        mean_ms=statistics.mean(wall),
        cpu_per_request_ms=totals.cpu_ms / n,
        rpcs_per_request=totals.rpcs / n,
        rpc_methods=totals.rpc_methods,
        errors=totals.errors,
        cold=client.cold,
        floor="fetch" if client.name in NODE_CLIENTS else "raw",
        verdicts=dict(getattr(client, "verdicts", {})),
    )


def compare(results: dict[str, Result]) -> None:
    """Fill in the ratios against the httpx floor and each client's own-language floor."""
    httpx_floor = results.get("raw")
    for result in results.values():
        if httpx_floor is not None:
            result.p50_vs_httpx = result.p50_ms / httpx_floor.p50_ms
            result.cpu_vs_httpx = result.cpu_per_request_ms / httpx_floor.cpu_per_request_ms
        own = results.get(result.floor)
        if own is not None:
            result.p50_vs_own_floor = result.p50_ms / own.p50_ms
            result.cpu_vs_own_floor = result.cpu_per_request_ms / own.cpu_per_request_ms
            result.added_p50_ms = result.p50_ms - own.p50_ms
            result.added_cpu_ms = result.cpu_per_request_ms - own.cpu_per_request_ms


# ---------------------------------------------------------------------------------------------------------
# reporting


def methods_text(methods: dict[str, int], per: int = 1) -> str:
    return ", ".join(f"{k} x{v / per:g}" for k, v in sorted(methods.items()))


def print_cold(results: list[Result]) -> None:
    print("cold start: the first request of a new client (TS SDK: createZGComputeNetworkBroker + first request)")
    for r in results:
        if r.cold:
            methods = f" ({methods_text(r.cold['rpc_methods'])})" if r.cold.get("rpc_methods") else ""
            print(f"  {r.label:<24} {r.cold['ms']:8.1f} ms  {r.cold['rpcs']:>3} chain RPCs{methods}")
    print()


def num(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def print_table(results: list[Result]) -> None:
    print("warm: per request; CPU = CPU time of the client's own process (ms)")
    print(
        f"  {'client':<24} {'n':>5} {'p50':>7} {'p90':>7} {'mean':>7} {'CPU':>7}  "
        f"{'p50 x':>6} {'CPU x':>6}  {'+p50':>6} {'+CPU':>6}  {'RPCs':>5} {'errors':>6}"
    )
    for r in results:
        print(
            f"  {r.label:<24} {r.requests:>5} {r.p50_ms:>7.3f} {r.p90_ms:>7.3f} {r.mean_ms:>7.3f} "
            f"{r.cpu_per_request_ms:>7.3f}  {num(r.p50_vs_own_floor, 6, 3)} {num(r.cpu_vs_own_floor, 6, 2)}  "
            f"{num(r.added_p50_ms, 6, 3)} {num(r.added_cpu_ms, 6, 3)}  {r.rpcs_per_request:>5.2f} {r.errors:>6}"
        )
    print("  x: ratio to the client's own floor (httpx for Python, fetch for Node); +: added over that floor (ms)")
    print()


def print_vs_httpx(results: list[Result]) -> None:
    print("against the httpx floor of this run (p50 ratio, CPU ratio)")
    for r in results:
        print(f"  {r.label:<24} p50 {num(r.p50_vs_httpx, 6, 3)}x   CPU {num(r.cpu_vs_httpx, 6, 2)}x")
    print()


def print_verdicts(results: list[Result]) -> None:
    for r in results:
        if r.rpc_methods:
            print(f"{r.label}: chain RPCs per warm request: {methods_text(r.rpc_methods, r.requests)}")
        if r.verdicts:
            verdicts = ", ".join(f"{k} x{v}" for k, v in sorted(r.verdicts.items()))
            print(f"{r.label}: verdicts {verdicts}")


def report(setup: dict[str, Any], results: list[Result]) -> None:
    print(_machine.describe(setup["machine"]))
    print(", ".join(f"{k} {v}" for k, v in setup["versions"].items()))
    where = "a thread of this process (CPU includes the provider's)" if setup["in_process"] else "a child process"
    print(f"provider in {where}; devnet ready in {setup['devnet_s']:.2f} s")
    print(
        f"{setup['requests']} timed requests per client after {setup['warmup']} warm-up, in rounds of "
        f"{setup['batch']} rotating over {len(results)} clients; total run {setup['total_s']:.1f} s"
    )
    print()
    print_cold(results)
    print_table(results)
    print_vs_httpx(results)
    print_verdicts(results)


# ---------------------------------------------------------------------------------------------------------
# main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per client (default 1000)")
    parser.add_argument("--batch", type=int, default=50, help="requests per client per round (default 50)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests per client first (default 50)")
    parser.add_argument("--clients", default=",".join(ALL_CLIENTS), help=f"subset of {','.join(ALL_CLIENTS)}")
    parser.add_argument("--in-process", action="store_true", help="serve the provider from a thread of this process")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    args = parser.parse_args()
    names = [n.strip() for n in args.clients.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL_CLIENTS))
    if unknown or not names:
        parser.error(f"--clients: unknown {unknown}; choose from {','.join(ALL_CLIENTS)}")
    if args.requests < 1 or args.batch < 1 or args.warmup < 0:
        parser.error("--requests and --batch must be >= 1, --warmup >= 0")
    names.append("raw")  # the floors are always measured
    if any(n in NODE_CLIENTS for n in names):
        names.append("fetch")
    args.names = [n for n in ALL_CLIENTS if n in names]
    return args


def measure(args: argparse.Namespace, host: DevnetHost) -> tuple[list[Result], dict[str, str]]:
    clients, side = build_clients(host.info, args.names)
    try:
        totals = run_rounds(clients, host, args.requests, args.batch, args.warmup)
    finally:
        for client in clients:
            client.close()
        if side is not None:
            side.close()
    results = {c.name: summarise(c, totals[c.name]) for c in clients}
    compare(results)
    versions = {"httpx": httpx.__version__}
    if side is not None:
        versions.update({"node": side.ready["node"], "ts-sdk": side.ready["sdk"], "ethers": side.ready["ethers"]})
    return list(results.values()), versions


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    machine = _machine.snapshot()
    t0 = time.perf_counter()
    host = DevnetHost(args.in_process)
    try:
        results, versions = measure(args, host)
    finally:
        host.stop()
    setup = {
        "machine": machine,
        "versions": versions,
        "in_process": args.in_process,
        "devnet_s": host.info["started_in_s"],
        "requests": args.requests,
        "batch": args.batch,
        "warmup": args.warmup,
        "total_s": time.perf_counter() - t0,
    }
    report(setup, results)
    end_line, end = _machine.describe_end()
    print(end_line)
    if args.json:
        print(json.dumps({**setup, "end": end, "results": [asdict(r) for r in results]}))


if __name__ == "__main__":
    main()
