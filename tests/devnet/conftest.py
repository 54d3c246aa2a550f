"""Helpers for devnet tests: client-side session tokens built the way the TS SDK builds them."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from zerog_devnet import DevAccount


def make_auth(user: DevAccount, provider: str, **overrides: Any) -> str:
    """``Bearer app-sk-…`` for ``user`` → ``provider`` (ephemeral, 24 h) with optional field overrides."""
    now = int(time.time() * 1000)
    token: dict[str, Any] = {
        "address": user.address,
        "provider": provider,
        "timestamp": now,
        "expiresAt": now + 86_400_000,
        "nonce": f"{now}-testnonce".ljust(32, "0"),
        "generation": 0,
        "tokenId": 255,
    }
    token.update(overrides)
    raw = json.dumps(token, separators=(",", ":"))
    signed = Account.sign_message(encode_defunct(primitive=keccak(text=raw)), user.private_key)
    signature = "0x" + bytes(signed.signature).hex()
    return "Bearer app-sk-" + base64.b64encode(f"{raw}|{signature}".encode()).decode()
