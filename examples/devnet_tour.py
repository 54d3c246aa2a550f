"""A tour of the local 0G network at the protocol level: fund, ask, verify, settle.

    uv run python examples/devnet_tour.py

It starts the devnet, funds a dev user (ledger + provider sub-account), sends one chat
completion with a wallet-signed ``app-sk-`` session token, verifies the provider's TEE signature
against the on-chain signer and the bytes actually exchanged, then waits for the provider's
delayed settlement and shows the sub-account balance drop by exactly the billed fee.
(``zerog-compute`` wraps all of this in one call; this tour shows what happens underneath.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from zerog_devnet import Devnet
from zerog_devnet.chain import contract

NEURON = 10**18


def session_token(user_key: str, user: str, provider: str) -> str:
    now = int(time.time() * 1000)
    raw = json.dumps(
        {
            "address": user,
            "provider": provider,
            "timestamp": now,
            "expiresAt": now + 86_400_000,
            "nonce": f"{now}-tour".ljust(32, "0"),
            "generation": 0,
            "tokenId": 255,
        },
        separators=(",", ":"),
    )
    signature = Account.sign_message(encode_defunct(primitive=keccak(text=raw)), user_key).signature
    return "app-sk-" + base64.b64encode(f"{raw}|0x{bytes(signature).hex()}".encode()).decode()


def main() -> None:
    print("starting the devnet (anvil + real 0G contracts + 6 providers)...")
    with Devnet.start(settle_interval=1.0) as net:
        print(f"ready in {net.started_in:.2f}s; RPC {net.rpc_url}")
        user, chat = net.users[0], net.provider("chat-a")
        net.fund(user, ["chat-a"], ledger=5 * NEURON, each=2 * NEURON)
        inference = contract(net.w3, "InferenceServing", net.contracts.inference)
        balance = inference.functions.getAccount(user.address, chat.info.address).call()[3]
        print(f"user {user.address} funded: sub-account with {chat.info.name} holds {balance / NEURON} 0G")

        body = json.dumps({"model": chat.info.model, "messages": [{"role": "user", "content": "What is 6 * 7?"}]})
        token = session_token(user.private_key, user.address, chat.info.address)
        response = httpx.post(
            f"{chat.info.url}/v1/proxy/chat/completions",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        answer = response.json()
        usage = answer["usage"]
        fee = usage["prompt_tokens"] * chat.info.input_price + usage["completion_tokens"] * chat.info.output_price
        print(f"answer: {answer['choices'][0]['message']['content']!r}")
        print(f"provider {chat.info.address}, chat id {response.headers['ZG-Res-Key']}, fee {fee / NEURON:.9f} 0G")

        sig = httpx.get(f"{chat.info.url}/v1/proxy/signature/{response.headers['ZG-Res-Key']}").json()
        signer = Account.recover_message(encode_defunct(text=sig["text"]), signature=sig["signature"])
        bound = (
            sig["text"] == f"{hashlib.sha256(body.encode()).hexdigest()}:{hashlib.sha256(response.content).hexdigest()}"
        )
        verdict = "verified" if signer == chat.info.tee_signer and bound else "NOT verified"
        print(f"signature: signer {signer} (on chain {chat.info.tee_signer}), content bound: {bound} -> {verdict}")

        print("waiting for the provider's settlement...")
        deadline = time.monotonic() + 15
        while chat.unsettled(user.address) and time.monotonic() < deadline:
            time.sleep(0.2)
        after = inference.functions.getAccount(user.address, chat.info.address).call()[3]
        print(f"settled: sub-account {balance / NEURON} -> {after / NEURON} 0G (drop {(balance - after) / NEURON:.9f})")
        assert balance - after == fee, "the settled amount should equal the billed fee"


if __name__ == "__main__":
    main()
