"""``make demo``: a local 0G network, a LangChain agent and a LlamaIndex RAG query against it.

1. starts the devnet (anvil + the real 0G contracts + six providers) and funds a dev user;
2. runs ``examples/langchain_agent.py`` and ``examples/llamaindex_rag.py`` against it — each
   prints its answer with provider, model, fee and verification verdict;
3. asks the providers to settle and shows each sub-account's balance before and after;
4. shows the usage history the examples left (``zerog usage``) and audits it against the chain's settlements
   (``zerog usage reconcile``: every provider should match to the neuron).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zerog_compute import ZeroG, format_0g
from zerog_devnet import Devnet

HERE = Path(__file__).parent
EXAMPLES = ["langchain_agent.py", "llamaindex_rag.py"]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def balances(zg: ZeroG) -> dict[str, int]:
    return {account.provider: account.balance for account in zg.ledger.sub_accounts()}


def main() -> int:
    started = time.perf_counter()
    step("starting the devnet: anvil, LedgerManager/InferenceServing/FineTuningServing, 6 providers")
    with Devnet.start() as net, tempfile.TemporaryDirectory() as scratch:
        print(f"ready in {net.started_in:.2f}s at {net.rpc_url}")
        user = net.users[0]
        description = net.write_description(Path(scratch) / "devnet.json")
        env = {
            **os.environ,
            "ZG_NETWORK": "devnet",
            "ZG_DEVNET_FILE": str(description),
            "ZG_PRIVATE_KEY": user.private_key,
            "ZG_USAGE": f"sqlite://{Path(scratch) / 'usage.db'}",  # this devnet's history only (chain ids repeat)
        }
        with _client(env) as zg:
            step(f"funding {user.address}: a 10 0G ledger, 2 0G for each provider the examples use")
            zg.ledger.create("10")
            for name in ("chat-a", "chat-b", "embed"):
                zg.acknowledge(net.provider(name).info.address, amount="2")
            before = balances(zg)
            for example in EXAMPLES:
                step(f"running examples/{example}")
                result = subprocess.run([sys.executable, str(HERE / example)], env=env, check=False)
                if result.returncode != 0:
                    print(f"examples/{example} failed with exit code {result.returncode}", file=sys.stderr)
                    return result.returncode
            step("delayed settlement: the providers settle their fees on chain")
            for name in ("chat-a", "chat-b", "embed"):
                net.provider(name).settle_now()
            after = balances(zg)
            names = {net.provider(n).info.address: n for n in ("chat-a", "chat-b", "embed")}
            for address, old in before.items():
                new = after.get(address, 0)
                label = names.get(address, address)
                print(f"  {label:<7} {format_0g(old)} -> {format_0g(new)}  (settled {format_0g(old - new)})")
            for command in (["usage"], ["usage", "reconcile"]):
                step("zerog " + " ".join(command))
                audit = subprocess.run([sys.executable, "-m", "zerog_compute.cli", *command], env=env, check=False)
                if audit.returncode != 0:
                    return audit.returncode
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
    return 0


def _client(env: dict[str, str]) -> ZeroG:
    os.environ.update({k: env[k] for k in ("ZG_NETWORK", "ZG_DEVNET_FILE", "ZG_USAGE")})
    return ZeroG(private_key=env["ZG_PRIVATE_KEY"])


if __name__ == "__main__":
    sys.exit(main())
