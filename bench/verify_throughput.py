"""How many response signatures zerog-compute verifies per second, against the bare eth-account call.

    uv run python bench/verify_throughput.py [--n 2000] [--rounds 3] [--json]

Makes ``--n`` distinct (request, response) byte pairs, signs each ``sha256hex(req):sha256hex(resp)`` text with a
fixed test key (EIP-191, as a TEE signer does), then times every method over the same inputs, taking turns in chunks of
100 pairs so drift hits all alike; of ``--rounds`` rounds the best is kept per method (load from other processes only
ever slows a round down):

* ``evaluate``        ``zerog_compute.verification.evaluate`` — the full verdict (service checks, signer recovery,
                      content binding: both SHA-256s recomputed);
* ``recover_signer``  ``zerog_compute.verification.recover_signer`` — recovery of the signer alone;
* ``eth_account``     baseline: ``eth_account.Account.recover_message(encode_defunct(text=...), signature=...)``;
* ``eth_keys``        floor: ``eth_keys`` public-key recovery from a precomputed EIP-191 hash (no hashing, no
                      address formatting).

Printed with the date and load average of the machine; compare the ratios to ``eth_account`` across machines, not
the absolute rates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import _machine
import eth_keys
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.main import KeyAPI
from eth_utils.crypto import keccak

from zerog_compute.verification import Verdict, evaluate, recover_signer

TEST_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SIGNER = Account.from_key(TEST_KEY).address
CHUNK = 100
SERVICE = {
    "provider": "0x" + "00" * 19 + "01",
    "verifiability": "TeeML",
    "tee_signer_acknowledged": True,
    "additional_info": "{}",
    "tee_signer_address": SIGNER,
}
KEYS = KeyAPI()


@dataclass(frozen=True)
class Pair:
    """One signed exchange, with the inputs each method needs precomputed."""

    index: int
    request: bytes
    response: bytes
    text: str
    signature: str
    sig_bytes: bytes
    eip191_hash: bytes


def backend_name() -> str:
    """The eth_keys ECC backend in use: coincurve (libsecp256k1) or the pure-Python native one."""
    backend = KEYS.backend
    return f"{type(backend).__module__}.{type(backend).__name__}"


def make_pairs(n: int) -> list[Pair]:
    account = Account.from_key(TEST_KEY)
    pairs = []
    for i in range(n):
        request = json.dumps({"model": "bench", "messages": [{"role": "user", "content": f"question {i}"}]}).encode()
        response = json.dumps({"id": f"chatcmpl-{i}", "choices": [{"message": {"content": f"answer {i}"}}]}).encode()
        text = f"{hashlib.sha256(request).hexdigest()}:{hashlib.sha256(response).hexdigest()}"
        sig_bytes = bytes(account.sign_message(encode_defunct(text=text)).signature)
        digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(text)).encode() + text.encode())
        pairs.append(Pair(i, request, response, text, "0x" + sig_bytes.hex(), sig_bytes, digest))
    return pairs


def fail(method: str, pair: Pair, what: str) -> None:
    raise SystemExit(f"{method}: {what} for pair {pair.index}")


def run_evaluate(chunk: list[Pair]) -> None:
    for pair in chunk:
        result = evaluate(
            service=SERVICE,
            chat_id=f"chatcmpl-{pair.index}",
            signature_payload={"text": pair.text, "signature": pair.signature},
            request_body=pair.request,
            response_body=pair.response,
        )
        if result.verdict is not Verdict.verified:
            fail("evaluate", pair, f"verdict {result.verdict.value} ({result.detail})")


def run_recover_signer(chunk: list[Pair]) -> None:
    for pair in chunk:
        if recover_signer(pair.text, pair.signature) != SIGNER:
            fail("recover_signer", pair, "wrong signer")


def run_eth_account(chunk: list[Pair]) -> None:
    for pair in chunk:
        if Account.recover_message(encode_defunct(text=pair.text), signature=pair.sig_bytes) != SIGNER:
            fail("eth_account", pair, "wrong signer")


def run_eth_keys(chunk: list[Pair]) -> None:
    for pair in chunk:
        raw = pair.sig_bytes
        vrs = (raw[64] - 27, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"))
        if KEYS.Signature(vrs=vrs).recover_public_key_from_msg_hash(pair.eip191_hash).to_checksum_address() != SIGNER:
            fail("eth_keys", pair, "wrong signer")


METHODS: dict[str, Callable[[list[Pair]], None]] = {
    "evaluate": run_evaluate,
    "recover_signer": run_recover_signer,
    "eth_account": run_eth_account,
    "eth_keys": run_eth_keys,
}


def measure(pairs: list[Pair], rounds: int) -> dict[str, float]:
    """Verifications per second per method (best round).

    Every method sees every pair once per round; the methods take turns chunk by chunk so that machine drift
    (other processes, CPU frequency) spreads over all of them alike.
    """
    chunks = [pairs[k : k + CHUNK] for k in range(0, len(pairs), CHUNK)]
    best = dict.fromkeys(METHODS, float("inf"))
    for _ in range(rounds):
        spent = dict.fromkeys(METHODS, 0.0)
        for chunk in chunks:
            for name, fn in METHODS.items():
                t0 = time.perf_counter()
                fn(chunk)
                spent[name] += time.perf_counter() - t0
        best = {name: min(best[name], spent[name]) for name in METHODS}
    return {name: len(pairs) / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="distinct signed (request, response) pairs")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, best kept per method (default 3)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    args = parser.parse_args()
    if args.n < 1 or args.rounds < 1:
        parser.error("--n and --rounds must be >= 1")

    machine = _machine.snapshot()
    start = time.perf_counter()
    pairs = make_pairs(args.n)
    sign_s = time.perf_counter() - start
    per_s = measure(pairs, args.rounds)
    baseline = per_s["eth_account"]

    print(_machine.describe(machine))
    print(f"eth_keys {eth_keys.__version__}, backend {backend_name()}")
    print(f"{args.n} distinct pairs signed in {sign_s:.2f} s; best of {args.rounds} round(s), chunks of {CHUNK}")
    print()
    print(f"  {'method':<16} {'sig/s':>10} {'us/sig':>9} {'vs eth_account':>15}")
    for name, value in per_s.items():
        print(f"  {name:<16} {value:>10.0f} {1e6 / value:>9.1f} {value / baseline:>14.2f}x")
    print()
    end_line, end = _machine.describe_end()
    print(end_line)
    if args.json:
        summary = {
            "machine": machine,
            "end": end,
            "eth_keys_backend": backend_name(),
            "n": args.n,
            "rounds": args.rounds,
            "per_second": per_s,
            "ratio_vs_eth_account": {name: value / baseline for name, value in per_s.items()},
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
